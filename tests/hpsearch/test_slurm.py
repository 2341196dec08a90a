"""The Slurm backend: the sbatch parameters it generates, the squeue parsing, the array-task wrapper, and real runs
(a job array, a requeue, a 1D-regression sweep through ``python -m hpsearch``) on the one-node cluster of
``conftest.slurm_cluster``."""

from __future__ import annotations

import argparse
import csv
import math
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from hpsearch.backends import Job
from hpsearch.backends.slurm import RunCommand, SlurmBackend, SlurmSettings, parse_squeue, queue_states

REPO = Path(__file__).resolve().parents[2]


def sbatch_lines(script: str) -> set[str]:
    return {line for line in script.splitlines() if line.startswith("#SBATCH")}


def array_id(submitit_folder: Path) -> str:
    """The Slurm id of the (single) array submitted from ``submitit_folder`` (its script is ``<id>_submission.sh``)."""
    (script,) = submitit_folder.glob("*_submission.sh")
    return script.name.split("_")[0]


# ----------------------------------------------------------------------------------------------------------
# What is generated (no Slurm needed)
# ----------------------------------------------------------------------------------------------------------
def test_from_args_maps_the_original_flags(tmp_path):
    args = argparse.Namespace(num_jobs=3, num_hours=2, slurm_mem="16G", slurm_gres="", slurm_partition="gpu",
                              slurm_qos="", slurm_constraint="a100", poll_interval=1.5)
    backend = SlurmBackend.from_args(args, tmp_path / "search_x")
    assert backend.settings == SlurmSettings(num_jobs=3, num_hours=2, mem="16G", gres="", partition="gpu",
                                             qos="", constraint="a100")
    assert backend.folder == tmp_path / "search_x" / "submitit"
    assert backend.poll_interval_s == 1.5
    assert backend.executor_parameters() == {
        "job_name": "hpsearch_search_x", "time": 120, "array_parallelism": 3, "partition": "gpu",
        "constraint": "a100", "additional_parameters": {"mem": "16G"}}


@pytest.mark.parametrize("settings, num_runs, expected, absent", [
    pytest.param(SlurmSettings(), 5,
                 {"#SBATCH --array=0-4%5", "#SBATCH --time=1440", "#SBATCH --mem=8G", "#SBATCH --gres=gpu:1",
                  "#SBATCH --signal=USR2@90", "#SBATCH --job-name=hpsearch_s"},
                 ("--partition", "--qos", "--constraint"), id="original-defaults"),
    pytest.param(SlurmSettings(num_jobs=2, num_hours=3, mem="", gres="", partition="short", qos="high",
                               constraint="v100"), 4,
                 {"#SBATCH --array=0-3%2", "#SBATCH --time=180", "#SBATCH --partition=short",
                  "#SBATCH --qos=high", "#SBATCH --constraint=v100"},
                 ("--mem", "--gres"), id="all-given-empty-mem-gres"),
    pytest.param(SlurmSettings(num_jobs=8, gres=""), 1, {"#SBATCH --time=1440"}, ("--array", "--gres"),
                 id="one-run-no-array"),
])
def test_sbatch_script(tmp_path, settings, num_runs, expected, absent):
    script = SlurmBackend(settings, tmp_path / "submitit", job_name="hpsearch_s").sbatch_script(num_runs)
    lines = sbatch_lines(script)
    assert expected <= lines
    assert not [line for line in lines for flag in absent if line.startswith(f"#SBATCH {flag}")]
    # each array task runs submitit's wrapper through srun, logs in the submitit folder
    assert f"-m submitit.core._submit {tmp_path / 'submitit'}" in script
    assert any(str(tmp_path / "submitit") in line for line in lines if line.startswith("#SBATCH --output"))


def test_invalid_counts_are_refused():
    with pytest.raises(ValueError, match="--num_jobs"):
        SlurmSettings(num_jobs=0).executor_parameters("x")


@pytest.mark.parametrize("text, expected", [
    ("", {}),
    ("17|RUNNING\n", {"17": "RUNNING"}),
    ("12_0|COMPLETED\n12_1|RUNNING\n12_[2-4,7%2]|PENDING\n",
     {"12_0": "COMPLETED", "12_1": "RUNNING", "12_2": "PENDING", "12_3": "PENDING", "12_4": "PENDING",
      "12_7": "PENDING"}),
    ("12_[5]|PENDING\nslurm_load_jobs error\n", {"12_5": "PENDING"}),
])
def test_parse_squeue(text, expected):
    assert parse_squeue(text) == expected


def test_missing_sbatch_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no Slurm tools at all
    job = Job(0, "sim_1", [sys.executable, "-c", "pass"], "python3 -c pass", tmp_path / "run", tmp_path)
    with pytest.raises(RuntimeError, match=r"needs Slurm's sbatch, srun, squeue on PATH") as err:
        SlurmBackend(SlurmSettings(), tmp_path / "submitit").run([job], lambda j: None)
    assert "\n" not in str(err.value)


# ----------------------------------------------------------------------------------------------------------
# The array-task wrapper (run here, without Slurm)
# ----------------------------------------------------------------------------------------------------------
def test_run_command_runs_argv_in_cwd_with_env_and_ignores_the_requeue_signal(tmp_path):
    code = ("import os, signal, sys; print(os.getcwd()); print(os.environ['HYPERCL_X']); "
            "print(signal.getsignal(signal.SIGUSR2) == signal.SIG_IGN); sys.stderr.write('oops'); sys.exit(3)")
    returncode = RunCommand()([sys.executable, "-c", code], str(tmp_path), {"HYPERCL_X": "42"},
                              str(tmp_path / "run"), "sim_7")
    assert returncode == 3
    assert (tmp_path / "run" / "job_sim_7.out").read_text().split() == [str(tmp_path), "42", "True"]
    assert (tmp_path / "run" / "job_sim_7.err").read_text() == "oops"


def test_checkpoint_stops_the_run_and_resubmits_the_same_call(tmp_path):
    wrapper = RunCommand()
    wrapper.preemption_grace_s = 0.0
    args = ([sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], str(tmp_path), {},
            str(tmp_path / "run"), "sim_1")
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("rc", wrapper(*args)))
    thread.start()
    out = tmp_path / "run" / "job_sim_1.out"
    deadline = time.monotonic() + 30
    while not (out.exists() and out.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    delayed = wrapper.checkpoint(*args)
    thread.join(timeout=30)
    assert result["rc"] == -signal.SIGTERM  # the run was stopped, not left running
    assert isinstance(delayed.function, RunCommand) and delayed.function is not wrapper
    assert delayed.args == args and delayed.kwargs == {}


# ----------------------------------------------------------------------------------------------------------
# Real Slurm
# ----------------------------------------------------------------------------------------------------------
def python_job(index: int, tmp_path: Path, code: str, env: dict[str, str] | None = None) -> Job:
    name = f"sim_{index}"
    return Job(index, name, [sys.executable, "-c", code], f"python3 -c {code!r}", tmp_path / name, tmp_path,
               env=env or {})


def wait_for_files(paths: list[Path], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not all(p.exists() for p in paths) and time.monotonic() < deadline:
        time.sleep(0.2)


def test_slurm_runs_all_jobs_as_one_array(slurm_cluster, tmp_path):
    code = ("import os, sys; open(os.path.join(os.environ['OUT'], 'seen.txt'), 'w')"
            ".write(os.getcwd() + ' ' + os.environ['OMP_NUM_THREADS']); sys.exit(int(os.environ['RC']))")
    jobs = [python_job(k, tmp_path, code, {"OMP_NUM_THREADS": "1", "RC": str(rc), "OUT": str(tmp_path / f"sim_{k}")})
            for k, rc in enumerate([0, 0, 3])]
    backend = SlurmBackend(SlurmSettings(num_jobs=2, mem="", gres=""), tmp_path / "submitit", poll_interval_s=0.5)
    finished: list[Job] = []
    start = time.monotonic()
    backend.run(jobs, finished.append)
    print(f"3 array tasks took {time.monotonic() - start:.1f} s")

    assert sorted(j.index for j in finished) == [0, 1, 2]
    assert [j.returncode for j in sorted(finished, key=lambda j: j.index)] == [0, 0, 3]
    for k in range(3):
        assert (tmp_path / f"sim_{k}" / "seen.txt").read_text() == f"{tmp_path} 1"
        assert (tmp_path / f"sim_{k}" / f"job_sim_{k}.out").exists()
    # one submission: one array of three tasks, at most two at once
    scripts = list((tmp_path / "submitit").glob("*_submission.sh"))
    assert len(scripts) == 1 and "#SBATCH --array=0-2%2" in sbatch_lines(scripts[0].read_text())
    records = slurm_cluster.finished_array_tasks(array_id(tmp_path / "submitit"), 3)
    assert len(records) == 3
    assert sorted(r["ExitCode"] for r in records) == ["0:0", "0:0", "0:0"]  # the wrapper itself succeeded


def test_a_single_run_is_a_plain_job(slurm_cluster, tmp_path):
    code = "import os, sys; sys.exit(7 if 'SLURM_ARRAY_TASK_ID' in os.environ else 5)"
    finished: list[Job] = []
    SlurmBackend(SlurmSettings(mem="", gres=""), tmp_path / "submitit", poll_interval_s=0.5).run(
        [python_job(0, tmp_path, code)], finished.append)
    assert [(j.index, j.returncode) for j in finished] == [(0, 5)]
    assert "--array" not in (tmp_path / "submitit" / f"{array_id(tmp_path / 'submitit')}_submission.sh").read_text()


def test_slurm_requeues_a_signalled_run_and_reruns_the_same_command(slurm_cluster, tmp_path):
    # first start: record and wait to be signalled; second start (after the requeue): record and finish
    code = textwrap.dedent("""\
        import os, time
        path = os.path.join(os.environ['OUT'], 'starts.txt')
        with open(path, 'a') as f:
            f.write('start\\n')
        if open(path).read().count('start') == 1:
            time.sleep(120)
    """)
    jobs = [python_job(k, tmp_path, code, {"OUT": str(tmp_path / f"sim_{k}")}) for k in range(2)]
    backend = SlurmBackend(SlurmSettings(num_jobs=2, mem="", gres=""), tmp_path / "submitit", poll_interval_s=0.5)
    finished: list[Job] = []
    runner = threading.Thread(target=backend.run, args=(jobs, finished.append))
    runner.start()
    starts = [tmp_path / f"sim_{k}" / "starts.txt" for k in range(2)]
    wait_for_files(starts)
    assert all(p.exists() for p in starts), slurm_cluster.logs()
    array = array_id(tmp_path / "submitit")
    # what Slurm does before the time limit (--signal=USR2@90) and submitit's preemption convention do: USR2
    for k in range(2):
        subprocess.run(["scancel", "--signal=USR2", f"{array}_{k}"], check=True)
    # Slurm holds a requeued job for about two minutes (its begin time); release them at once
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and list(queue_states(array).values()) != ["PENDING", "PENDING"]:
        time.sleep(0.2)
    for k in range(2):
        subprocess.run(["scontrol", "update", f"JobId={array}_{k}", "StartTime=now"], check=True)
    runner.join(timeout=60)
    assert not runner.is_alive(), slurm_cluster.logs()

    assert sorted(j.returncode for j in finished) == [0, 0]
    assert [p.read_text().count("start") for p in starts] == [2, 2]  # stopped once, rerun once
    restarts = subprocess.run(["scontrol", "show", "job", array], capture_output=True, text=True).stdout
    assert restarts.count("Restarts=1") == 2


SLEEPER = "import os, time; open(os.environ['OUT'] + '/up', 'w').close(); time.sleep(float(os.environ['T']))"


def test_a_run_cancelled_in_slurm_ends_with_unknown_exit_code(slurm_cluster, tmp_path):
    jobs = [python_job(k, tmp_path, SLEEPER, {"OUT": str(tmp_path / f"sim_{k}"), "T": t})
            for k, t in enumerate(["60", "0"])]
    backend = SlurmBackend(SlurmSettings(num_jobs=2, mem="", gres=""), tmp_path / "submitit", poll_interval_s=0.5)
    backend.result_grace_s = 1.0
    finished: list[Job] = []
    runner = threading.Thread(target=backend.run, args=(jobs, finished.append))
    runner.start()
    wait_for_files([tmp_path / "sim_0" / "up"])
    subprocess.run(["scancel", f"{array_id(tmp_path / 'submitit')}_0"], check=True)
    runner.join(timeout=60)
    assert not runner.is_alive(), slurm_cluster.logs()
    assert [(j.index, j.returncode) for j in finished] == [(1, 0), (0, None)]


def test_a_failing_search_cancels_its_unfinished_runs(slurm_cluster, tmp_path):
    jobs = [python_job(k, tmp_path, SLEEPER, {"OUT": str(tmp_path / f"sim_{k}"), "T": t})
            for k, t in enumerate(["0", "60"])]

    def fail(job: Job) -> None:
        raise KeyboardInterrupt  # as a Ctrl-C of the search while it records a result

    backend = SlurmBackend(SlurmSettings(num_jobs=2, mem="", gres=""), tmp_path / "submitit", poll_interval_s=0.5)
    with pytest.raises(KeyboardInterrupt):
        backend.run(jobs, fail)
    array = array_id(tmp_path / "submitit")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and queue_states(array).get(f"{array}_1") != "CANCELLED":
        time.sleep(0.2)
    assert queue_states(array) == {f"{array}_0": "COMPLETED", f"{array}_1": "CANCELLED"}


# ----------------------------------------------------------------------------------------------------------
# A sweep through the driver
# ----------------------------------------------------------------------------------------------------------
GRID_MODULE = '''\
"""A 4-configuration 1D-regression sweep at a tiny budget (Slurm end-to-end test)."""
from probabilistic.args import parse_args
from probabilistic.regression.summary_keys import SUMMARY_KEYS

grid = {
    "lr": [0.001, 0.01],
    "random_seed": [1, 2],
    "n_iter": [5], "val_iter": [5], "train_sample_size": [1], "val_sample_size": [2],
    "mlp_arch": ['"5"'], "hmlp_arch": ['"5"'], "loglevel_info": [True],
}
conditions = []

_SCRIPT_NAME = %(script)r
_SUMMARY_FILENAME = "performance_overview.txt"
_SUMMARY_KEYWORDS = SUMMARY_KEYS
_OUT_ARG = "out_dir"
_SUMMARY_PARSER_HANDLE = None


def _performance_criteria(summary_dict, performance_criteria):
    return summary_dict["aa_mse_final_inferred_mean"] < performance_criteria


_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_PERFORMANCE_KEY = "aa_mse_final_inferred_mean"
_PERFORMANCE_SORT_ASC = True
_ARGPARSE_HANDLE = lambda argv: parse_args("regression_bbb", argv)  # noqa: E731
'''


def test_regression_sweep_through_slurm(slurm_cluster, tmp_path, monkeypatch):
    from hpsearch.hpsearch import main

    script = REPO / "probabilistic" / "regression" / "train_bbb.py"
    module = tmp_path / "hpsearch_config_slurm_e2e.py"
    module.write_text(GRID_MODULE % {"script": str(script)})
    monkeypatch.chdir(tmp_path)  # the driver changes into --run_cwd; monkeypatch restores the test's cwd
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    start = time.monotonic()
    search_dir = main([f"--grid_module={module}", f"--run_cwd={tmp_path}", f"--out_dir={tmp_path / 'sweep'}",
                       "--run_cluster", "--scheduler=slurm", "--num_jobs=4", "--num_hours=1", "--slurm_gres=",
                       "--slurm_mem=", "--poll_interval=1", "--deterministic_search"])
    print(f"4-run sweep through Slurm took {time.monotonic() - start:.1f} s")

    with open(search_dir / "search_results.csv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter=";"))
    assert len(rows) == 4
    mse = [float(r["aa_mse_final_inferred_mean"]) for r in rows]
    assert all(math.isfinite(v) for v in mse)
    assert mse == sorted(mse)  # _PERFORMANCE_SORT_ASC
    assert {(r["lr"], r["random_seed"]) for r in rows} == {("0.001", "1"), ("0.001", "2"), ("0.01", "1"),
                                                           ("0.01", "2")}
    # Slurm ran (and accounted) exactly these four runs, as one array
    records = slurm_cluster.finished_array_tasks(array_id(search_dir / "submitit"), 4)
    assert len(records) == 4 and all(r["JobState"] == "COMPLETED" for r in records)
    assert len(list((search_dir / "submitit").glob("*_submission.sh"))) == 1
    for run in search_dir.glob("sim_*"):
        assert (run / f"job_{run.name}.out").exists() and (run / "hpsearch_command.sh").exists()
