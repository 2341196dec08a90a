"""What every ``train_gmm_*.py`` launcher does: parse with its mode's defaults, run, map failures to exit codes."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from probabilistic.args import parse_args
from probabilistic.classification.evaluate import DuringAccuracyCriterionError
from utils.cli import run_or_exit


def launch(mode: str, run: Callable, script: str, argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) for parser ``mode`` and call ``run``.

    ``--during_acc_criterion`` failures end the program with exit code 1 (as the original's ``exit(1)``) and one
    line on stderr; invalid flags with exit code 2.
    """
    config = parse_args(mode, argv)
    try:
        return run_or_exit(run, config, script_dir=os.path.dirname(os.path.abspath(script)), argv=argv)
    except DuringAccuracyCriterionError as err:
        sys.stderr.write(f"{os.path.basename(script)}: {err}\n")
        raise SystemExit(1) from None
