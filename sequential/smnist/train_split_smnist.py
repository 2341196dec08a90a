#!/usr/bin/env python3
"""Continual learning on Split Stroke-MNIST (5 tasks of 2 digits, LSTM 256, multi-head).

README (``sequential/smnist``), e.g. coresets of 100 samples per task::

    python3 train_split_smnist.py --multi_head --num_tasks=5 --batch_size=64 --n_iter=5000 --lr=0.0001 \\
        --rnn_arch="256" --use_cuda --use_replay --replay_distill_reg=10.0 --coreset_size=100

Needs de Jong's ``sequences.tar.gz`` in ``$HYPERCL_DATA_DIR/stroke_mnist/`` (parsed once into a cache).
Expected accuracies and measured numbers: ``docs/experiments/smnist.rst``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``split_smnist`` defaults and run."""
    return launch("split_smnist", __file__, argv)


if __name__ == "__main__":
    main()
