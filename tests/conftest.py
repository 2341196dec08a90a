"""Shared fixtures: paths of the spec targets and the real data beside the repository."""

import json
import os
import warnings
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
#
# Float results depend on the CPU (BLAS and vector kernels round differently), and a few tiny-budget runs sit on a
# knife edge (one task learnt or not), so a summary is pinned per machine kind: ``tests/golden/<kind>/`` holds the
# summaries recorded on that kind (:func:`machine_kind`), compared at float tolerance. On a kind without its own
# recording, a summary recorded elsewhere (``tests/golden/<other kind>/`` or the top-level files, recorded before
# kinds were told apart) still checks the keys, list lengths and types and that no number became NaN, and says so in
# a warning. ``GOLDEN_RECORD=1 pytest -n 2 <tests>`` (re)records this kind's summaries; a deliberate change of
# numbers is re-recorded in the same commit that documents it.
# ---------------------------------------------------------------------------------------------------------------
GOLDEN_DIR = REPO / "tests" / "golden"
_recorded: dict[str, dict[str, object]] = {}


def machine_kind() -> str:
    """CPU vendor, family and model, torch's vector ISA and torch version, e.g.
    ``AuthenticAMD-26-2-AVX512-torch2.13.0``."""
    import platform

    import torch

    cpu = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("vendor_id", "cpu family", "model") and key.strip() not in cpu:
                cpu[key.strip()] = value.strip()
    except OSError:
        cpu = {"vendor_id": platform.processor() or platform.machine()}
    parts = [cpu.get(k, "") for k in ("vendor_id", "cpu family", "model")]
    parts += [torch.backends.cpu.get_cpu_capability(), f"torch{torch.__version__.split('+')[0]}"]
    return "-".join(p.replace(" ", "_") for p in parts if p)


def _golden_name(nodeid: str) -> str:
    path = Path(nodeid.split("::")[0])
    return path.stem.removeprefix("test_") + "__" + path.parent.name + ".json"


def _golden_file(nodeid: str) -> Path:
    """Where this machine kind's summary of the test is recorded."""
    return GOLDEN_DIR / machine_kind() / _golden_name(nodeid)


def _close(a, b, rel: float, abs_: float) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_close(x, y, rel, abs_) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == pytest.approx(b, rel=rel, abs=abs_, nan_ok=True)
    return a == b


def _same_shape(a, b) -> bool:
    """Same structure and types; a number that was finite is still finite (NaN only where the golden has NaN)."""
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same_shape(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return (a == a) or (b != b)
    return type(a) is type(b)


def _foreign_golden(nodeid: str, key: str) -> tuple[Path, dict] | None:
    """A summary of the test recorded on another machine kind (or before kinds were told apart)."""
    name = _golden_name(nodeid)
    for path in [*sorted(GOLDEN_DIR.glob(f"*/{name}")), GOLDEN_DIR / name]:
        if path.exists() and key in (entries := json.loads(path.read_text())):
            return path, entries[key]
    return None


@pytest.fixture
def golden_summary(request):
    """``check(summary)``: the summary equals the one recorded for this test on this machine kind (all keys, float
    tolerance), or has the shape of one recorded on another kind (see the comment above)."""

    def check(summary: dict, rel: float = 1e-5, abs_: float = 1e-6) -> None:
        key = request.node.nodeid.split("::", 1)[1]
        plain = json.loads(json.dumps(summary))
        path = _golden_file(request.node.nodeid)
        if os.environ.get("GOLDEN_RECORD"):
            _recorded.setdefault(str(path), {})[key] = plain
            return
        if path.exists() and key in (entries := json.loads(path.read_text())):
            expected = entries[key]
            differ = [k for k in set(expected) | set(plain) if not _close(plain.get(k), expected.get(k), rel, abs_)]
            assert not differ, {k: (plain.get(k), expected.get(k)) for k in sorted(differ)}
            return
        foreign = _foreign_golden(request.node.nodeid, key)
        if foreign is None:
            pytest.fail(f"no golden summary for {key}: record it with GOLDEN_RECORD=1")
        other, expected = foreign
        differ = [k for k in set(expected) | set(plain) if not _same_shape(plain.get(k), expected.get(k))]
        assert not differ, {k: (plain.get(k), expected.get(k)) for k in sorted(differ)}
        warnings.warn(f"{key}: no golden summary for machine kind {machine_kind()}; compared keys and shapes with "
                      f"{other.relative_to(REPO)} only (record this kind's with GOLDEN_RECORD=1)", stacklevel=2)

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
        for part in sorted(GOLDEN_DIR.glob("**/*.json.gw*")):
            _merge_golden(part.with_name(part.name.rsplit(".", 1)[0]), json.loads(part.read_text()))
            part.unlink()
