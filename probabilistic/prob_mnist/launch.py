"""What every image launcher (``prob_mnist``, ``prob_cifar``) does: the GMM launcher's parse / run / exit codes,
plus a missing or corrupt dataset file ending the program with one line on stderr and exit code 2."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from data.errors import DatasetError
from probabilistic.prob_gmm import launch as gmm_launch


def launch(mode: str, run: Callable, script: str, argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) for parser ``mode`` and call ``run``.

    Exit codes: 2 for invalid flags, unsupported features and dataset errors (one line naming the file and how to
    fix it, e.g. ``--data_dir``), 1 for ``--during_acc_criterion`` failures.
    """
    try:
        return gmm_launch.launch(mode, run, script, argv)
    except DatasetError as err:
        sys.stderr.write(f"{os.path.basename(script)}: error: {err} (dataset root: --data_dir or "
                         "$HYPERCL_DATA_DIR)\n")
        raise SystemExit(2) from None
