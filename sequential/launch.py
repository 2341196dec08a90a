"""What every ``sequential/**/train_*.py`` launcher does: parse with its mode's defaults, then run
:func:`sequential.runner.run` through :func:`utils.cli.run_or_exit` (one line and an exit code for every early stop).

The arguments are parsed before torch and the runner are imported, so that ``--help`` and flag errors answer at
once.
"""

from __future__ import annotations

import os

from sequential.args import parse_args


def launch(mode: str, script: str, argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) for parser ``mode`` and run; returns the summary dict."""
    config = parse_args(mode, argv)
    from sequential.runner import run  # after parsing: torch loads only for a run
    from utils.cli import run_or_exit

    return run_or_exit(run, config, script_dir=os.path.dirname(os.path.abspath(script)), argv=argv)
