"""benchmarks/speed_table.py: its README commands run with our launchers, and its arithmetic and table;
bench_prob_fisher.py runs (its three ways agree), bench_layouts.py and bench_compile.py print their rows."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "benchmarks"))
import bench_layouts  # noqa: E402
import bench_prob_fisher  # noqa: E402
import speed_table  # noqa: E402


@pytest.mark.parametrize("index", range(len(speed_table.CONFIGS)),
                         ids=[c.name.split(",")[0].split(" (")[0] for c in speed_table.CONFIGS])
def test_each_command_reaches_its_first_step(index):
    """The start-up child runs our launcher with the row's flags to the end of the first optimizer step."""
    out = speed_table.run_child("startup", index)
    assert out["startup_s"] > 0 and out["dynamo"] is False


def test_seconds_per_iteration_from_two_runs():
    cfg = speed_table.CONFIGS[0]  # n_iter (50, 1050), 5 tasks
    assert speed_table.per_iteration(cfg, {50: 10.0, 1050: 30.0}) == pytest.approx(20.0 / (1000 * 5))
    fisher = next(c for c in speed_table.CONFIGS if c.fisher)  # seconds per Fisher: full set minus 200 sequences
    assert speed_table.per_iteration(fisher, {200: 40.0, -1: 61.5}) == pytest.approx(21.5)


def test_table_rows_and_ratios():
    results = [{"config": "A", "ours": [0.004, 0.005, 0.006], "original": [0.012, 0.015], "floor": [0.004],
                "startup": [{"startup_s": 0.8, "imports_s": 2.0, "dynamo": False}],
                "rss": {"ours": 0.4, "original": 1.6}}]
    text = speed_table.table(results, {"x --help (ours)": 0.5}, 2)
    row = text.splitlines()[2]
    assert row == "| A | 5.0 ms | 13.5 ms | 2.7x | 4.0 ms | 1.25 | 0.80 s | 0.40 / 1.60 GB |"
    assert "`x --help (ours)`: 0.50 s" in text and "torch._dynamo imported by the first step: False" in text


def test_prob_fisher_benchmark_prints_its_three_ways(monkeypatch, capsys):
    """A tiny run: the structured and vmap sums agree (checked inside), and every way gets a time."""
    monkeypatch.setattr(sys, "argv", ["bench_prob_fisher.py", "--samples=40", "--loop_samples=4", "--repeats=1"])
    bench_prob_fisher.main()
    out = capsys.readouterr().out
    assert all(f"{way}: " in out for way in ("structured", "vmap", "loop")) and "faster than loop" in out


def test_layouts_benchmark_prints_every_row(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench_layouts.py", "--repeats=1"])
    bench_layouts.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ") and "ms |" in line]
    expected = len(bench_layouts.LINEAR_CASES) + 1 + len(bench_layouts.REGULARIZED_TASKS)
    assert len(rows) == expected and all(row.endswith("x |") for row in rows)


def test_layouts_grid_prints_one_row_per_shape(monkeypatch, capsys):
    monkeypatch.setattr(bench_layouts, "GRID_INPUTS", (10,))
    monkeypatch.setattr(bench_layouts, "GRID_ROWS_OUTPUTS", ((48, 1000), (4, 1000)))
    monkeypatch.setattr(sys, "argv", ["bench_layouts.py", "--grid", "--repeats=1"])
    bench_layouts.main()
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 10 |")]
    assert [row.split(" | ")[1:3] for row in rows] == [["48", "1000"], ["4", "1000"]]


@pytest.mark.slow
def test_compile_benchmark_compiles_and_prints_a_row():
    """In its own process: the compile imports torch._dynamo, which the start-up tests check stays unloaded."""
    out = subprocess.run([sys.executable, str(REPO / "benchmarks" / "bench_compile.py"), "--max_tasks=1", "--iters=1"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    row = next(line for line in out.stdout.splitlines() if line.startswith("| 1 |"))
    assert row.count(" ms |") == 2 and row.endswith(" s |")


def test_floor_window_covers_steps_three_to_last_of_each_task():
    """Work after a task's last step (test phase, Fisher) stays out of the floor; each task's first two steps too."""
    clock = {"t": 0.0}

    class FakeProfiler:
        def __enter__(self):
            self.start = clock["t"]

        def __exit__(self, *exc):
            self.seconds = clock["t"] - self.start

    windows = speed_table.FloorWindows(5, FakeProfiler, lambda prof: prof.seconds)
    for _task in range(2):
        opt = object()  # each task builds its optimizer
        for step in range(5):
            clock["t"] += 10.0 if step < 2 else 1.0  # the first two steps are slower (warm-up)
            windows.after_step(opt)
        clock["t"] += 100.0  # test phase after the task
    windows.close()
    assert windows.per_task == [1.0, 1.0]


def test_ratios_only_runs_no_children(monkeypatch):
    """``--ratios_only``: whole runs for s/iter only, no floor or start-up child."""
    walls = iter([5.0, 15.0])
    monkeypatch.setattr(speed_table, "run_once", lambda cfg, root, python, value, ours: (next(walls), 0.3))
    monkeypatch.setattr(speed_table, "run_child", lambda *a: pytest.fail("a child ran"))
    (res,) = speed_table.measure([0], None, 1, children=False)
    assert res["ours"] == [pytest.approx(10.0 / (1000 * 5))] and res["floor"] == [] and res["startup"] == []
