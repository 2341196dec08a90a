#!/usr/bin/env python3
"""1D regression with implicit posteriors trained by adversarial variational Bayes: PR-AVB (per-task implicit
posteriors from a hyper-hypernetwork), PF-AVB (``--prior_focused``), separate networks
(``--train_from_scratch --no_hhnet``).

README (``probabilistic/regression``), PF-AVB on task set 3 (about 4 minutes on 2 CPU cores)::

    python3 train_avb.py --dis_batch_size=1 --batch_size=8 --n_iter=5001 --lr=0.0005 --use_adam \\
        --clip_grad_norm=-1 --train_sample_size=10 --prior_variance=1.0 --ll_dist_std=0.05 --kl_scale=0.001 \\
        --num_kl_samples=1 --mlp_arch="10,10" --net_act=sigmoid --dis_net_type=mlp --dis_mlp_arch="100,100" \\
        --dis_net_act=relu --imp_hnet_type=hmlp --imp_hmlp_arch="10,10" --imp_hnet_net_act=relu \\
        --std_normal_temb=1.0 --used_task_set=3 --use_cuda --latent_dim=32 --latent_std=1.0 --prior_focused \\
        --full_support_perturbation=0.02 --num_dis_steps=1 --num_ac_samples=100

Expected: fits of all three polynomials (PR) and, for PR, uncertainty-based task inference close to 100 %.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``regression_avb`` defaults and run the trainer with
    ``probabilistic/methods/implicit.py`` on ``probabilistic/families/regression.py``."""
    return launch("regression_avb", __file__, argv)


if __name__ == "__main__":
    main()
