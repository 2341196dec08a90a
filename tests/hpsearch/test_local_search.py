"""The search driver on this machine: files of a search, the results table, restart after a kill, bad input, the
GPU pool's choice of GPU. Runs use :mod:`tests.hpsearch.fake_run`, a script that finishes in a fraction of a second.
"""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from hpsearch.backends import Job
from hpsearch.backends.local import GpuStats, LocalBackend, parse_visible_gpus, pick_gpu
from hpsearch.hpsearch import main
from hpsearch.search_state import read_results

FAKE_RUN = Path(__file__).with_name("fake_run.py")
REPO = Path(__file__).resolve().parents[2]
KEYS = ["score", "neg", "tiny", "per_task", "finished"]


def write_grid_module(folder: Path, grid: dict, conditions: list | None = None) -> str:
    """A grid module file following the original contract; returns its path."""
    path = folder / f"grid_{uuid.uuid4().hex[:8]}.py"
    path.write_text(
        f"grid = {grid!r}\nconditions = {conditions or []!r}\n_SCRIPT_NAME = {str(FAKE_RUN)!r}\n"
        f"_SUMMARY_FILENAME = 'performance_overview.txt'\n_SUMMARY_KEYWORDS = {KEYS!r}\n_OUT_ARG = 'out_dir'\n"
        "_SUMMARY_PARSER_HANDLE = None\n_PERFORMANCE_EVAL_HANDLE = lambda s, x: s['score'] > x\n"
        "_PERFORMANCE_KEY = 'score'\n_PERFORMANCE_SORT_ASC = False\n_ARGPARSE_HANDLE = None\n")
    return str(path)


GRID = {"lr": [0.1, 0.2], "arch": ['"5,5"', "10"], "flag": [False]}
CONDITIONS = [({"lr": [0.2]}, {"flag": [True]})]


def test_local_search_writes_the_original_files_and_a_sorted_table(tmp_path):
    module = write_grid_module(tmp_path, GRID, CONDITIONS)
    search = main([f"--grid_module={module}", f"--out_dir={tmp_path / 'out'}", "--visible_gpus=-1",
                   "--deterministic_search", "--poll_interval=0.05"])
    assert search.parent == tmp_path / "out" and search.name.startswith("search_")
    rows = read_results(search / "search_results.csv")
    assert [float(r["score"]) for r in rows] == [6.0, 5.0, 4.0, 3.0]  # descending: accuracy-like key
    assert [r["flag"] for r in rows] == ["True", "True", "False", "False"]  # the condition turned flag on
    assert {r["arch"] for r in rows} == {"5,5", "10"}  # shell quotes of grid strings removed
    assert rows[0]["neg"] == "-3" and rows[0]["tiny"] == "2e-06" and rows[0]["per_task"] == "6,-1,0.0025"
    assert list(rows[0]) == ["out_dir", "lr", "arch", "flag", *KEYS]
    lines = (search / "commands.sh").read_text().splitlines()[2:]
    assert len(lines) == 4 and lines[0].startswith(f"python3 {FAKE_RUN} --out_dir={search}/sim_")
    assert lines[0].endswith('--lr=0.1 --arch="5,5"')  # False flags are left out, quotes kept for the shell
    assert "--flag" in lines[2]
    first = Path(rows[0]["out_dir"])
    assert (first / "hpsearch_command.sh").read_text().splitlines()[1] in lines
    assert (first / f"job_{first.name}.out").exists()  # stdout captured in the run folder
    assert len(json.loads((search / "commands.json").read_text())) == 4
    assert not (search / "not_completed.json").exists()


def test_unfinished_runs_are_listed_and_rerun_on_restart(tmp_path):
    module = write_grid_module(tmp_path, {"lr": [0.1, 0.3], "crash": [False, True]})
    args = [f"--grid_module={module}", f"--out_dir={tmp_path / 's'}", "--force_out_dir", "--visible_gpus=-1",
            "--deterministic_search"]
    search = main(args)
    assert len(read_results(search / "search_results.csv")) == 2
    assert len(json.loads((search / "not_completed.json").read_text())) == 2
    main(args)  # the same out_dir continues: only the two crashed runs start again
    starts = sorted(len((p / "starts.txt").read_text().splitlines()) for p in search.glob("sim_*"))
    assert starts == [1, 1, 2, 2]


def _rows_without_dirs(search: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "out_dir"} for r in read_results(search / "search_results.csv")]


def test_a_killed_search_restarts_without_losing_or_repeating_finished_runs(tmp_path):
    grid = {"lr": [0.1, 0.2, 0.3, 0.4, 0.5], "sleep": [0.4]}
    module = write_grid_module(tmp_path, grid)
    common = [f"--grid_module={module}", "--visible_gpus=-1", "--force_out_dir", "--random_seed=3"]
    reference = main(common + [f"--out_dir={tmp_path / 'ref'}"])

    killed = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "hpsearch", *common, f"--out_dir={killed}"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    table = killed / "search_results.csv"
    deadline = time.time() + 60
    while time.time() < deadline and not (table.exists() and len(read_results(table)) >= 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # no chance to clean up: the state on disk must suffice
    proc.wait()
    finished_before = {r["out_dir"] for r in read_results(table)}
    assert 2 <= len(finished_before) < 5

    main(common + [f"--out_dir={killed}"])
    for run in killed.glob("sim_*"):
        starts = len((run / "starts.txt").read_text().splitlines())
        assert starts == 1 if str(run) in finished_before else starts in (1, 2)
    assert _rows_without_dirs(killed) == _rows_without_dirs(reference)
    assert len(_rows_without_dirs(reference)) == 5


def test_grid_config_overrides_as_json_and_as_original_pickle(tmp_path):
    module = write_grid_module(tmp_path, GRID, CONDITIONS)
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"grid": {"lr": [0.7]}}))
    search = main([f"--grid_module={module}", f"--grid_config={js}", f"--out_dir={tmp_path / 'a'}",
                   "--force_out_dir", "--visible_gpus=-1"])
    assert [r["lr"] for r in read_results(search / "search_results.csv")] == ["0.7"]
    pk = tmp_path / "g.pickle"
    pk.write_bytes(pickle.dumps({"grid": {"lr": [0.1, 0.2]}, "conditions": [({"lr": [0.2]}, {"arch": ["7"]})]}))
    search = main([f"--grid_module={module}", f"--grid_config={pk}", f"--out_dir={tmp_path / 'b'}",
                   "--force_out_dir", "--visible_gpus=-1"])
    assert sorted((r["lr"], r.get("arch")) for r in read_results(search / "search_results.csv")) == [
        ("0.1", ""), ("0.2", "7")]


@pytest.mark.parametrize("extra, message", [
    (["--grid_module=no.such.module"], "--grid_module=no.such.module cannot be imported"),
    (["--force_out_dir"], "exists and holds no search; add --dont_force_new_dir"),
    (["--grid_config=/nonexistent.json"], "--grid_config: no such file"),
])
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, extra, message):
    module = write_grid_module(tmp_path, GRID)
    (tmp_path / "exists").mkdir()
    with pytest.raises(SystemExit) as exc:
        main([f"--grid_module={module}", f"--out_dir={tmp_path / 'exists'}", "--visible_gpus=-1", *extra])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and message in err and err.count("\n") == 1


def test_visible_gpus_parsing():
    assert parse_visible_gpus("") is None and parse_visible_gpus("-1") == [] and parse_visible_gpus("0,3") == [0, 3]
    with pytest.raises(ValueError, match="--visible_gpus"):
        parse_visible_gpus("a,b")


def test_gpu_choice_respects_load_memory_jobs_and_startup_time():
    import random

    stats = [GpuStats(0, 0.9, 0.1), GpuStats(1, 0.1, 0.8), GpuStats(2, 0.1, 0.1), GpuStats(3, 0.0, 0.0)]
    pick = lambda **kw: pick_gpu(**{**dict(stats=stats, visible=None, jobs_per_gpu={}, last_start={}, now=100.0,  # noqa: E731
                                        allowed_load=0.5, allowed_memory=0.5, max_jobs_per_gpu=1,
                                        startup_time=60, rng=random.Random(0)), **kw})
    assert {pick(rng=random.Random(s)) for s in range(20)} == {2, 3}  # 0 too loaded, 1 memory too full
    assert pick(visible=[0, 1, 2]) == 2
    assert pick(jobs_per_gpu={2: 1, 3: 1}) is None
    assert pick(jobs_per_gpu={2: 1, 3: 1}, max_jobs_per_gpu=2, last_start={2: 90.0}) == 3  # 2 still starting
    assert pick(last_start={2: 90.0, 3: 10.0}) == 3


def test_gpu_pool_gives_each_run_its_gpu(tmp_path):
    jobs = [Job(i, f"sim_{i}", [sys.executable, str(FAKE_RUN), f"--out_dir={tmp_path / str(i)}"], "", tmp_path / str(i),
                tmp_path) for i in range(3)]
    backend = LocalBackend("", sim_startup_time=0, poll_interval=0.02, max_num_jobs_per_gpu=1,
                           gpu_stats=lambda: [GpuStats(0, 0.0, 0.0), GpuStats(5, 0.0, 0.0)])
    ended = []
    backend.run(jobs, lambda job: ended.append((job.index, job.returncode)))
    assert sorted(ended) == [(0, 0), (1, 0), (2, 0)]
    assert {(tmp_path / str(i) / "gpu.txt").read_text() for i in range(3)} <= {"0", "5"}
