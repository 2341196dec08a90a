#!/usr/bin/env python3
"""2D GMM mode classification with implicit posteriors learnt by SSGE (spectral Stein gradient estimator):
PR-SSGE with a hyper-hypernetwork.

README (``probabilistic/prob_gmm``), e.g.::

    python3 train_gmm_ssge.py --kl_schedule=0 --momentum=-1 --beta=0.1 --cl_scenario=3 --split_head_cl3 \\
        --batch_size=32 --n_iter=20001 --lr=0.001 --use_adam --clip_grad_norm=1.0 --train_sample_size=10 \\
        --prior_variance=1.0 --kl_scale=1.0 --num_kl_samples=1 --mlp_arch=10,10 --net_act=relu \\
        --imp_hnet_type=hmlp --imp_hmlp_arch=10,10 --imp_hnet_net_act=relu --hh_hnet_type=hmlp \\
        --hh_hmlp_arch=100,100 --hh_cond_emb_size=32 --hh_hnet_net_act=relu --std_normal_temb=1.0 \\
        --std_normal_emb=1.0 --latent_dim=32 --full_support_perturbation=0.02 --rbf_kernel_width=1.0 \\
        --num_ssge_eigenvals=-1 --thr_ssge_eigenvals=0.9 --ssge_sample_size=100

Expected: CL1 close to 100 %, CL3 (entropy) high. See docs/experiments/gmm.rst.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``gmm_ssge`` defaults and run the trainer with
    ``probabilistic/methods/implicit.py`` on ``probabilistic/families/classification.py``."""
    return launch("gmm_ssge", __file__, argv)


if __name__ == "__main__":
    main()
