#!/usr/bin/env python3
"""PermutedMNIST launcher (10 tasks of 10 digits, each with its own pixel permutation).

Classification with (online) EWC and its Laplace posterior.

Usage (README ``probabilistic/prob_mnist``; commands in ``docs/experiments/split_mnist.rst``)::

    python3 train_perm_ewc.py --data_dir=/path/to/datasets [README flags]

The dataset root holds ``mnist/*-ubyte.gz`` (``--data_dir``, else ``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``).
Flags that no README command uses and that are not implemented (``--calibrate_temp``, ``--distill_iter``,
``--training_set_size``) end the run with one line naming the flag (exit code 2).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``perm_mnist_ewc`` defaults and run the trainer with
    ``probabilistic/methods/laplace.py`` on ``probabilistic/families/classification.py``."""
    return launch("perm_mnist_ewc", __file__, argv)


if __name__ == "__main__":
    main()
