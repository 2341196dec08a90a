"""Everything a run sets up before its first step: out_dir, config.json, logging, seeds, device, TensorBoard.

Phase order follows the originals (spec §2.1): create ``out_dir`` -> write ``config.json`` -> logger
(``logfile.txt``) -> seeds -> device -> TensorBoard writer (``out_dir/summary``) -> ``cli_call.sh``.
An existing ``out_dir`` resumes after its last finished task, only with the same flags (:mod:`utils.run_folder`) —
never an interactive prompt.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from utils.atomic import atomic_write_text
from utils.run_folder import claim_out_dir, release_out_dir
from utils.tb_hparams import log_final_hparams
from utils.tb_resume import drop_events_after_last_task

TIMESTAMP_PLACEHOLDERS = ("<timestamp>", "<date>_<time>")


@dataclass
class RunEnv:
    """What a runner needs from the environment."""

    out_dir: Path
    device: torch.device
    logger: logging.Logger
    writer: object  # torch.utils.tensorboard.SummaryWriter, or a no-op stand-in

    def close(self) -> None:
        log_final_hparams(self.writer, self.out_dir)
        self.writer.close()
        release_out_dir(self.out_dir)
        for handler in list(self.logger.handlers):
            handler.close()
            self.logger.removeHandler(handler)


def resolve_out_dir(out_dir: str, script_dir: str | Path | None = None) -> Path:
    """Replace the ``<timestamp>`` placeholder of the default out_dir and anchor relative paths.

    The original scripts run from their own folder, so a *default* relative out_dir lands there; explicit
    relative paths are taken relative to the current directory, as the user typed them.
    """
    resolved = out_dir
    is_default = any(p in out_dir for p in TIMESTAMP_PLACEHOLDERS)
    for placeholder in TIMESTAMP_PLACEHOLDERS:
        resolved = resolved.replace(placeholder, time.strftime("%Y-%m-%d_%H-%M-%S"))
    path = Path(resolved)
    if is_default and not path.is_absolute() and script_dir is not None:
        path = Path(script_dir) / path
    return path


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed torch, numpy and random; optionally request deterministic kernels (``--deterministic_run``)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


def select_device(config: argparse.Namespace) -> torch.device:
    """GPU if the script's flags ask for it (``--use_cuda``) or allow it (no ``--no_cuda``) and one exists."""
    c = vars(config)
    wants_cuda = c["use_cuda"] if "use_cuda" in c else not c.get("no_cuda", False)
    return torch.device("cuda" if wants_cuda and torch.cuda.is_available() else "cpu")


def make_logger(out_dir: Path, loglevel_info: bool) -> logging.Logger:
    """Console logger (DEBUG, or INFO with ``--loglevel_info``) plus a DEBUG ``logfile.txt`` in out_dir."""
    logger = logging.getLogger(f"hypercl.{out_dir}")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    fmt = logging.Formatter("%(asctime)s - %(levelname)s - %(message)s", "%H:%M:%S")
    console = logging.StreamHandler(sys.stdout)
    console.setLevel(logging.INFO if loglevel_info else logging.DEBUG)
    console.setFormatter(fmt)
    logfile = logging.FileHandler(out_dir / "logfile.txt")
    logfile.setLevel(logging.DEBUG)
    logfile.setFormatter(fmt)
    logger.addHandler(console)
    logger.addHandler(logfile)
    return logger


class _NullWriter:
    """Stand-in for SummaryWriter when TensorBoard is disabled."""

    def __getattr__(self, name):
        return lambda *args, **kwargs: None


def make_writer(out_dir: Path, enabled: bool = True):
    """TensorBoard writer logging to ``out_dir/summary``."""
    if not enabled:
        return _NullWriter()
    from torch.utils.tensorboard import SummaryWriter  # imported lazily: it is slow to import

    return SummaryWriter(log_dir=str(out_dir / "summary"))


def write_config(config: argparse.Namespace, out_dir: Path) -> None:
    """``config.json``: every resolved argument (written atomically)."""
    atomic_write_text(out_dir / "config.json", json.dumps(vars(config), indent=2, sort_keys=True, default=str))


def limit_cpu_threads(device: torch.device) -> None:
    """One intra-op thread on the CPU unless ``OMP_NUM_THREADS`` says otherwise.

    The papers' networks are small for a CPU; with several threads on a shared or oversubscribed machine every
    parallel region waits for a time slice (measured on 2 busy cores: 20 ms per element-wise op on 89k weights,
    an LSTM step 30x slower). Set ``OMP_NUM_THREADS`` to use more threads on an idle many-core machine.
    """
    if device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(1)


def setup_environment(config: argparse.Namespace, script_dir: str | Path | None = None,
                      argv: list[str] | None = None, tensorboard: bool = True) -> RunEnv:
    """Create out_dir and everything listed in the module docstring; updates ``config.out_dir`` in place."""
    out_dir = resolve_out_dir(config.out_dir, script_dir)
    claim_out_dir(config, out_dir)  # lock; refuse other flags; a finished run raises RunFinished
    config.out_dir = str(out_dir)
    write_config(config, out_dir)
    logger = make_logger(out_dir, getattr(config, "loglevel_info", False))
    seed_everything(config.random_seed, getattr(config, "deterministic_run", False))
    device = select_device(config)
    limit_cpu_threads(device)
    logger.info(f"Output directory: {out_dir} | device: {device}")
    dropped = drop_events_after_last_task(out_dir, out_dir / "summary")  # a resume: no TensorBoard step twice
    if dropped:
        logger.info(f"Resuming: {dropped} TensorBoard events of the interrupted attempt dropped")
    writer = make_writer(out_dir, tensorboard)
    call = " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    script = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "script"
    atomic_write_text(out_dir / "cli_call.sh", f"python3 {script} {call}\n")
    os.environ.setdefault("PYTHONHASHSEED", str(config.random_seed))
    return RunEnv(out_dir=out_dir, device=device, logger=logger, writer=writer)
