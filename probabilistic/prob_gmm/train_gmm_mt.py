#!/usr/bin/env python3
"""2D GMM mode classification: multitask upper bound (one network trained on all tasks jointly).

No README command; e.g. ``python3 train_gmm_mt.py --cl_scenario=3 --use_adam --n_iter=2000 --net_act=relu``.
The original script crashes (undefined ``hpgmmmt``); this one runs.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``gmm_mt`` defaults and run the trainer with
    ``probabilistic/methods/multitask.py`` on ``probabilistic/families/classification.py``."""
    return launch("gmm_mt", __file__, argv)


if __name__ == "__main__":
    main()
