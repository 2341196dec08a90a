"""Where a search's runs execute: the local machine (CPU or a GPU pool), Slurm (through submitit) or LSF (bsub).

Every backend takes the list of :class:`Job` s still to run and calls ``on_finished(job)`` in the driver's thread
as soon as each one ends, so the driver records its result at once (a killed search loses no finished run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Job:
    """One run of a search."""

    index: int  # position in the search's command list (0-based)
    name: str  # the run folder's name, ``sim_<timestamp>_<k>``
    argv: list[str]  # the full process argv: [python, script, --flags..., --out_dir=...]
    command: str  # the original shell line, ``python3 <script> --out_dir=... --flags``
    out_dir: Path  # the run's own folder
    cwd: Path  # where the run is started (``--run_cwd``)
    env: dict[str, str] = field(default_factory=dict)  # extra environment variables (e.g. CUDA_VISIBLE_DEVICES)
    returncode: int | None = None  # set by the backend when known


OnFinished = Callable[[Job], None]
