"""Shared fixtures: paths of the spec targets and the real data beside the repository."""

import json
import os
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


# ---------------------------------------------------------------------------------------------------------------
# Golden summaries: README commands at a fixed seed and a tiny budget must keep their numbers across refactors.
# ``GOLDEN_RECORD=1 pytest -n 2 <tests>`` (re)records those the tests check; a deliberate change of numbers is
# re-recorded in the same commit that documents it.
# ---------------------------------------------------------------------------------------------------------------
GOLDEN_DIR = REPO / "tests" / "golden"
_recorded: dict[str, dict[str, object]] = {}


def _golden_file(nodeid: str) -> Path:
    return GOLDEN_DIR / (Path(nodeid.split("::")[0]).stem.removeprefix("test_") + "__"
                         + Path(nodeid.split("::")[0]).parent.name + ".json")


def _close(a, b, rel: float, abs_: float) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel, abs_) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == pytest.approx(b, rel=rel, abs=abs_, nan_ok=True)
    return a == b


@pytest.fixture
def golden_summary(request):
    """``check(summary)``: the summary equals the one recorded for this test (all keys, float tolerance)."""

    def check(summary: dict, rel: float = 1e-5, abs_: float = 1e-6) -> None:
        key = request.node.nodeid.split("::", 1)[1]
        plain = json.loads(json.dumps(summary))
        path = _golden_file(request.node.nodeid)
        if os.environ.get("GOLDEN_RECORD"):
            _recorded.setdefault(str(path), {})[key] = plain
            return
        if not path.exists() or key not in json.loads(path.read_text()):
            pytest.fail(f"no golden summary for {key} in {path}: record it with GOLDEN_RECORD=1")
        expected = json.loads(path.read_text())[key]
        differ = [k for k in set(expected) | set(plain) if not _close(plain.get(k), expected.get(k), rel, abs_)]
        assert not differ, {k: (plain.get(k), expected.get(k)) for k in sorted(differ)}

    return check


def _merge_golden(path: Path, entries: dict) -> None:
    old = json.loads(path.read_text()) if path.exists() else {}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**old, **entries}, indent=1, sort_keys=True) + "\n")


def pytest_sessionfinish(session):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    for path, entries in _recorded.items():  # an xdist worker writes its own part; the controller merges them
        _merge_golden(Path(path + (f".{worker}" if worker else "")), entries)
    if os.environ.get("GOLDEN_RECORD") and not worker:
        for part in sorted(GOLDEN_DIR.glob("*.json.gw*")):
            _merge_golden(GOLDEN_DIR / part.name.rsplit(".", 1)[0], json.loads(part.read_text()))
            part.unlink()
