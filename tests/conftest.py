"""Shared fixtures: paths of the spec targets and the real data beside the repository."""

import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


def load_targets(name: str) -> list[dict]:
    """README commands of one paper (``targets_posterior_replay.json`` / ``targets_cl_in_rnns.json``)."""
    path = SHARED / "spec" / name
    if not path.exists():
        pytest.skip(f"{path} not found (the specs live in ../shared beside the repository)")
    return json.loads(path.read_text())


@pytest.fixture(autouse=True)
def _no_tty_and_headless(monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")


def simulate_crash_in_task_3(out_dir: Path, task_index: int = 2) -> None:
    """Leave ``out_dir`` as a crash during task ``task_index + 1`` (default 3) would: no checkpoint of that task,
    the summary says ``finished 0``."""
    for f in (out_dir / "checkpoints").glob(f"task_{task_index}.*"):
        f.unlink()
    summary = json.loads((out_dir / "summary.json").read_text())
    (out_dir / "summary.json").write_text(json.dumps({**summary, "finished": 0}))
    text = (out_dir / "performance_overview.txt").read_text()
    (out_dir / "performance_overview.txt").write_text(text.replace("finished 1", "finished 0"))
