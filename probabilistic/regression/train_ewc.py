#!/usr/bin/env python3
"""1D regression with online EWC: one main network trained task after task; single head, or ``--multi_head``
with a per-head Laplace posterior for uncertainty-based task inference.

README (``probabilistic/regression``), task set 3 (about a minute on 2 CPU cores)::

    python3 train_ewc.py --n_iter=10001 --lr=0.0005 --use_adam --clip_grad_norm=-1 --prior_variance=1.0 \\
        --ll_dist_std=0.05 --mlp_arch="10,10" --net_act=relu --used_task_set=3 --ewc_gamma=1.0 --ewc_lambda=1.0 \\
        --n_fisher=-1

Expected: the last task fits well, earlier ones are partly forgotten (one head cannot represent all three
polynomials on their ranges while staying close to the old solutions).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``regression_ewc`` defaults and run the trainer with
    ``probabilistic/methods/laplace.py`` on ``probabilistic/families/regression.py``."""
    return launch("regression_ewc", __file__, argv)


if __name__ == "__main__":
    main()
