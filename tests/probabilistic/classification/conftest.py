"""Fixtures of the classification-runner tests: GMM launchers called in-process, small GMM maps."""

import importlib
import shlex
from pathlib import Path

import pytest

from probabilistic.classification import plots


@pytest.fixture
def run_gmm():
    """``run_gmm(mode, args, out_dir, extra) -> summary``: ``main(argv)`` of ``prob_gmm/train_<mode>.py``."""

    def run(mode: str, args: str, out_dir: Path, extra: list[str]) -> dict:
        launcher = importlib.import_module(f"probabilistic.prob_gmm.train_{mode}")
        return launcher.main(shlex.split(args) + extra + [f"--out_dir={out_dir}", "--loglevel_info"])

    return run


@pytest.fixture(autouse=True)
def small_grid(monkeypatch):
    """30x30 instead of 250x250 GMM map grids."""
    monkeypatch.setattr(plots, "GRID_SIZE", 30)
