#!/usr/bin/env python3
"""1D regression with per-task weight posteriors stored in a hypernetwork (PR-BbB, PR-Radial, PR-Dirac, VCL).

README (``probabilistic/regression``), e.g. PR-Dirac on task set 3 (about a minute on 2 CPU cores)::

    python3 train_bbb.py --beta=0.1 --regularizer=mse --n_iter=10001 --lr=0.001 --clip_grad_norm=1.0 \\
        --train_sample_size=1 --ll_dist_std=0.05 --mlp_arch="10,10" --net_act=relu --hnet_type=hmlp \\
        --hmlp_arch="50,50" --cond_emb_size=8 --hnet_net_act=relu --std_normal_temb=1.0 --used_task_set=3 \\
        --use_cuda --disable_lrt_test --mean_only

Expected: good polynomial fits (low ``aa_mse_final_mean``) and uncertainty-based task inference close to 100 %.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``regression_bbb`` defaults and run the trainer with
    ``probabilistic/methods/explicit.py`` on ``probabilistic/families/regression.py``."""
    return launch("regression_bbb", __file__, argv)


if __name__ == "__main__":
    main()
