"""What every ``probabilistic/**/train_*.py`` launcher does: parse with its mode's defaults, then run the trainer,
mapping every way a run can stop early to one line and an exit code.

The arguments are parsed before torch and the trainer are imported, so that ``--help`` and flag errors answer
at once. Exit codes: 2 for invalid flags, unsupported options and dataset errors (one line naming the file and how
to fix it, e.g. ``--data_dir``); 1 for ``--during_acc_criterion`` failures and non-finite losses; see
:func:`utils.cli.run_or_exit` for the others.
"""

from __future__ import annotations

import os
import sys

from probabilistic.args import parse_args


def launch(mode: str, script: str, argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) for parser ``mode`` and run; returns the summary dict."""
    config = parse_args(mode, argv)
    from data.errors import DatasetError  # after parsing: torch loads only for a run
    from probabilistic.classification.evaluate import DuringAccuracyCriterionError
    from probabilistic.trainer import run
    from utils.cli import run_or_exit

    name = os.path.basename(script)
    try:
        return run_or_exit(run, config, script_dir=os.path.dirname(os.path.abspath(script)), argv=argv)
    except DuringAccuracyCriterionError as err:
        sys.stderr.write(f"{name}: {err}\n")
        raise SystemExit(1) from None
    except DatasetError as err:
        sys.stderr.write(f"{name}: error: {err} (dataset root: --data_dir or $HYPERCL_DATA_DIR)\n")
        raise SystemExit(2) from None
