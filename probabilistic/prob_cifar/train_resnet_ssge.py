#!/usr/bin/env python3
"""SplitCIFAR launcher (``--net_type`` resnet = ResNet-32 by default; wrn, iresnet, lenet, mlp).

Posterior replay with implicit posteriors trained by SSGE (PR-SSGE; hyper-hypernetwork).

Usage (README ``probabilistic/prob_cifar``; commands in ``docs/experiments/split_cifar.rst``)::

    python3 train_resnet_ssge.py --data_dir=/path/to/datasets [README flags]

SplitCIFAR-10: ``--num_tasks=5 --num_classes_per_task=2``; SplitCIFAR-100: ``--num_tasks=10 --num_classes_per_task=10
--skip_tasks=1``. The dataset root holds ``cifar-10-batches-py/`` and/or ``cifar-100-python/`` (``--data_dir``, else
``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``).
Flags that no README command uses and that are not implemented (``--calibrate_temp``, ``--distill_iter``,
``--training_set_size``) end the run with one line naming the flag (exit code 2).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``cifar_resnet_ssge`` defaults and run the trainer with
    ``probabilistic/methods/implicit.py`` on ``probabilistic/families/classification.py``."""
    return launch("cifar_resnet_ssge", __file__, argv)


if __name__ == "__main__":
    main()
