#!/usr/bin/env python3
"""1D regression with implicit posteriors trained with the spectral Stein gradient estimator: PR-SSGE
(per-task implicit posteriors from a hyper-hypernetwork), PF-SSGE (``--prior_focused``), separate networks
(``--train_from_scratch --no_hhnet``).

README (``probabilistic/regression``), PR-SSGE on task set 3 (about 10 minutes on 2 CPU cores)::

    python3 train_ssge.py --beta=0.5 --batch_size=32 --n_iter=20001 --lr=0.0005 --use_adam --clip_grad_norm=1.0 \\
        --train_sample_size=10 --prior_variance=1.0 --ll_dist_std=0.05 --kl_scale=1.0 --num_kl_samples=10 \\
        --mlp_arch="10,10" --net_act=relu --imp_hnet_type=hmlp --imp_hmlp_arch="141,141" --imp_hnet_net_act=relu \\
        --hh_hnet_type=hmlp --hh_hmlp_arch="100,100" --hh_cond_emb_size=2 --hh_hnet_net_act=relu \\
        --std_normal_temb=1.0 --used_task_set=3 --use_cuda --latent_dim=141 --latent_std=1.0 \\
        --full_support_perturbation=-1 --num_ssge_eigenvals=-1 --thr_ssge_eigenvals=0.9 --ssge_sample_size=10

Expected: good fits of all three polynomials and uncertainty-based task inference close to 100 %.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``regression_ssge`` defaults and run the trainer with
    ``probabilistic/methods/implicit.py`` on ``probabilistic/families/regression.py``."""
    return launch("regression_ssge", __file__, argv)


if __name__ == "__main__":
    main()
