#!/usr/bin/env python3
"""2D GMM mode classification, prior-focused AVB (PF-AVB): one implicit distribution for all tasks, the
previous posterior is the next prior.

README (``probabilistic/prob_gmm``), e.g.::

    python3 train_gmm_avb_pf.py --momentum=-1 --cl_scenario=3 --split_head_cl3 --batch_size=32 --n_iter=5001 \\
        --lr=0.0005 --use_adam --clip_grad_norm=1.0 --train_sample_size=1 --prior_variance=1.0 --kl_scale=0.01 \\
        --num_kl_samples=1 --mlp_arch="10,10" --net_act=relu --dis_net_type=mlp --dis_mlp_arch="100,100" \\
        --dis_net_act=relu --imp_hnet_type=hmlp --imp_hmlp_arch="10,10" --imp_hnet_net_act=sigmoid \\
        --hyper_fan_init --latent_dim=32 --full_support_perturbation=0.02 --dis_lr=-1.0 --dis_batch_size=10 \\
        --num_dis_steps=5 --use_batchstats --num_ac_samples=100

Expected: CL1 high, CL3 lower than PR-AVB. See docs/experiments/gmm.rst.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``gmm_avb_pf`` defaults and run the trainer with
    ``probabilistic/methods/implicit.py`` on ``probabilistic/families/classification.py``."""
    return launch("gmm_avb_pf", __file__, argv)


if __name__ == "__main__":
    main()
