#!/usr/bin/env python3
"""1D regression multitask baseline: one network trained on all tasks jointly (the original script crashes; this
one works)::

    python3 train_mt.py --n_iter=10001 --lr=0.0005 --use_adam --ll_dist_std=0.05 --mlp_arch="10,10" \\
        --net_act=relu --used_task_set=3 --multi_head

Expected: good fits of all tasks (an upper bound for the continual-learning methods).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``regression_mt`` defaults and run the trainer with
    ``probabilistic/methods/multitask.py`` on ``probabilistic/families/regression.py``."""
    return launch("regression_mt", __file__, argv)


if __name__ == "__main__":
    main()
