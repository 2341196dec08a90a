"""The LSF backend: bsub command lines, bjobs parsing (recorded outputs), and the scheduling loop against a fake
``bsub``/``bjobs``/``bkill`` trio on PATH (real subprocesses, a fake scheduler that runs jobs at once)."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import stat
import sys
import textwrap
from pathlib import Path

import pytest

from hpsearch.backends import Job
from hpsearch.backends.lsf import JobState, LsfBackend, LsfSettings, bsub_argv, parse_bjobs, parse_bsub_output


def make_job(index: int, root: Path, argv: list[str] | None = None, env: dict[str, str] | None = None) -> Job:
    name = f"sim_20240101120000_{index}"
    argv = argv or [sys.executable, "train.py", "--lr=0.1", f"--out_dir={root / name}"]
    return Job(index, name, argv, shlex.join(argv), root / name, root, env=env or {})


# ----------------------------------------------------------------------------------------------------------
# Command lines and parsing
# ----------------------------------------------------------------------------------------------------------
def test_bsub_command_line_is_the_originals(tmp_path):
    job = make_job(1, tmp_path, ["python3", "train.py", "--mlp_arch=10,10", "--note=a b"])
    argv = bsub_argv(job, LsfSettings(num_hours=48, resources='"rusage[mem=8000, ngpus_excl_p=1]"'))
    run = tmp_path / job.name
    assert argv == ["bsub", "-J", "job_sim_20240101120000_1", "-R", "rusage[mem=8000, ngpus_excl_p=1]", "-n", "1",
                    "-W", "48:00", "-o", f"{run}/job_sim_20240101120000_1.out",
                    "-e", f"{run}/job_sim_20240101120000_1.err", "python3 train.py --mlp_arch=10,10 '--note=a b'"]


def test_from_args(tmp_path):
    args = argparse.Namespace(num_jobs=3, num_hours=4, resources="rusage[mem=2000]", poll_interval=2.0)
    backend = LsfBackend.from_args(args, tmp_path)
    assert backend.settings == LsfSettings(num_jobs=3, num_hours=4, resources="rusage[mem=2000]")
    assert backend.poll_interval_s == 2.0
    with pytest.raises(ValueError, match="--num_jobs"):
        LsfSettings(num_jobs=0)


def test_bsub_output():
    assert parse_bsub_output("Job <4711> is submitted to queue <gpu.24h>.\n") == "4711"
    assert parse_bsub_output("Generic job.\nJob <12> is submitted to default queue <normal>.") == "12"
    with pytest.raises(RuntimeError, match="no job id"):
        parse_bsub_output("Request aborted by esub. Job not submitted.")


DEFAULT_TABLE = """\
JOBID   USER    STAT  QUEUE      FROM_HOST   EXEC_HOST   JOB_NAME   SUBMIT_TIME
101     alice   RUN   gpu.24h    eu-login-11 eu-g3-012   job_sim_20240101120000_1 Jan  1 12:00
102     alice   PEND  gpu.24h    eu-login-11             job_sim_20240101120000_2 Jan  1 12:00
99      alice   DONE  gpu.24h    eu-login-11 eu-g3-011   job_sim_20240101120000_0 Jan  1 11:00
98      alice   EXIT  gpu.24h    eu-login-11 eu-g3-011   job_sim_20240101115900_9 Jan  1 11:59
"""
FORMAT_NOHEADER = """\
101 RUN -
102 PEND -
99 DONE -
98 EXIT 2
97 EXIT -
"""
FORMAT_HEADER = """\
JOBID STAT  EXIT_CODE
101   SSUSP -
98    EXIT  137
"""


@pytest.mark.parametrize("text, expected", [
    pytest.param(DEFAULT_TABLE, {"101": JobState("RUN"), "102": JobState("PEND"), "99": JobState("DONE"),
                                 "98": JobState("EXIT")}, id="default-table"),
    pytest.param(FORMAT_NOHEADER, {"101": JobState("RUN"), "102": JobState("PEND"), "99": JobState("DONE"),
                                   "98": JobState("EXIT", 2), "97": JobState("EXIT")}, id="o-noheader"),
    pytest.param(FORMAT_HEADER, {"101": JobState("SSUSP"), "98": JobState("EXIT", 137)}, id="o-with-header"),
    pytest.param("", {}, id="no-unfinished-job"),
])
def test_parse_bjobs(text, expected):
    assert parse_bjobs(text) == expected


@pytest.mark.parametrize("state, ended, returncode", [
    (JobState("PEND"), False, None), (JobState("RUN"), False, None), (JobState("USUSP"), False, None),
    (JobState("DONE"), True, 0), (JobState("EXIT", 2), True, 2), (JobState("EXIT"), True, 1),
])
def test_job_state_meaning(state, ended, returncode):
    assert (state.ended, state.returncode) == (ended, returncode)


# ----------------------------------------------------------------------------------------------------------
# The scheduling loop against a fake LSF
# ----------------------------------------------------------------------------------------------------------
FAKE_LSF = '''\
#!{python}
"""Fake LSF command ({tool}): state in $FAKE_LSF_DIR; jobs run at once, in the background."""
import json, os, subprocess, sys
from pathlib import Path

state = Path(os.environ["FAKE_LSF_DIR"])
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
with open(state / "calls.jsonl", "a") as f:
    f.write(json.dumps({{"tool": tool, "argv": args, "cwd": os.getcwd()}}) + "\\n")

if tool == "bsub":
    opts = dict(zip(args[:-1:2], args[1:-1:2]))
    ids = sorted(int(p.stem) for p in state.glob("*.stat"))
    job_id = (ids[-1] if ids else 100) + 1
    unfinished = sum(p.read_text().split()[0] in ("PEND", "RUN") for p in state.glob("*.stat"))
    with open(state / "load.txt", "a") as f:
        f.write(f"{{unfinished + 1}}\\n")
    (state / f"{{job_id}}.stat").write_text("RUN -")
    # run the command as LSF would: through a shell, in the submission cwd and environment, output to -o / -e
    script = (f"{{args[-1]}} >{{opts['-o']}} 2>{{opts['-e']}}; c=$?; "
              f"if [ $c = 0 ]; then echo 'DONE -' >{{state}}/{{job_id}}.stat; "
              f"else echo \\"EXIT $c\\" >{{state}}/{{job_id}}.stat; fi")
    proc = subprocess.Popen(["sh", "-c", script], start_new_session=True, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # bsub returns at once
    (state / f"{{job_id}}.pid").write_text(str(proc.pid))
    print(f"Job <{{job_id}}> is submitted to default queue <normal>.")
elif tool == "bkill":
    for job_id in args:
        os.killpg(int((state / f"{{job_id}}.pid").read_text()), 15)
        (state / f"{{job_id}}.stat").write_text("EXIT 130")
elif tool == "bjobs":
    ids = [a for a in args if a.isdigit()]
    for job_id in ids:
        path = state / f"{{job_id}}.stat"
        if path.exists():
            print(job_id, *path.read_text().split())
        else:
            print(f"Job <{{job_id}}> is not found", file=sys.stderr)
    sys.exit(255 if any(not (state / f"{{i}}.stat").exists() for i in ids) else 0)
'''


@pytest.fixture
def fake_lsf(tmp_path, monkeypatch) -> Path:
    """``bsub``, ``bjobs`` and ``bkill`` on PATH, sharing a state folder; returns that folder."""
    bin_dir, state = tmp_path / "bin", tmp_path / "lsf_state"
    bin_dir.mkdir()
    state.mkdir()
    for tool in ("bsub", "bjobs", "bkill"):
        exe = bin_dir / tool
        exe.write_text(FAKE_LSF.format(python=sys.executable, tool=tool))
        exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LSF_DIR", str(state))
    return state


def calls(state: Path, tool: str) -> list[dict]:
    return [c for c in map(json.loads, (state / "calls.jsonl").read_text().splitlines()) if c["tool"] == tool]


def test_scheduling_loop_keeps_num_jobs_in_lsf_and_reports_each_run(fake_lsf, tmp_path):
    runs = tmp_path / "runs"
    code = textwrap.dedent("""\
        import os, sys, time
        time.sleep(0.6)  # long enough that the next submission finds this run still in LSF
        print(os.getcwd(), os.environ["HYPERCL_X"])
        sys.exit(int(sys.argv[1]))
    """)
    jobs = [make_job(k, runs, [sys.executable, "-c", code, str(rc)], env={"HYPERCL_X": f"x{k}"})
            for k, rc in enumerate([0, 4, 0, 0, 1])]
    finished: list[Job] = []
    LsfBackend(LsfSettings(num_jobs=2, num_hours=3, resources="rusage[mem=100]"), poll_interval_s=0.1).run(
        jobs, finished.append)

    assert sorted(j.index for j in finished) == [0, 1, 2, 3, 4]
    assert {j.index: j.returncode for j in finished} == {0: 0, 1: 4, 2: 0, 3: 0, 4: 1}
    load = [int(n) for n in (fake_lsf / "load.txt").read_text().split()]
    assert len(load) == 5 and max(load) == 2  # never more than --num_jobs in LSF
    submissions = calls(fake_lsf, "bsub")
    assert [c["argv"][:10] for c in submissions] == [
        ["-J", f"job_{j.name}", "-R", "rusage[mem=100]", "-n", "1", "-W", "3:00", "-o", f"{j.out_dir}/job_{j.name}.out"]
        for j in jobs]
    assert {c["cwd"] for c in submissions} == {str(runs)}
    for j in jobs:  # run in the submission folder, with the run's environment; output in the run folder
        assert (j.out_dir / f"job_{j.name}.out").read_text().split() == [str(runs), f"x{j.index}"]
    assert all(c["argv"][:4] == ["-a", "-noheader", "-o", "jobid stat exit_code"] for c in calls(fake_lsf, "bjobs"))
    assert calls(fake_lsf, "bkill") == []


def test_a_job_lsf_forgot_counts_as_ended(fake_lsf, tmp_path):
    job = make_job(0, tmp_path, [sys.executable, "-c", "import time; time.sleep(0.5)"])
    finished: list[Job] = []
    backend = LsfBackend(LsfSettings(num_jobs=1), poll_interval_s=0.1)
    original_submit = backend.submit

    def submit_and_forget(j: Job) -> str:
        job_id = original_submit(j)
        (fake_lsf / f"{job_id}.stat").unlink()  # as after LSF's clean period
        return job_id

    backend.submit = submit_and_forget
    backend.run([job], finished.append)
    assert [(j.index, j.returncode) for j in finished] == [(0, None)]


def test_an_interrupted_search_kills_its_submitted_jobs(fake_lsf, tmp_path):
    jobs = [make_job(k, tmp_path, [sys.executable, "-c", "import time; time.sleep(30)"]) for k in range(3)]

    def stop(job: Job) -> None:
        raise AssertionError("no job should finish")

    backend = LsfBackend(LsfSettings(num_jobs=2), poll_interval_s=0.1)
    backend.max_bjobs_failures = 0
    bjobs = Path(os.environ["PATH"].split(os.pathsep)[0]) / "bjobs"
    bjobs.write_text(f"#!{sys.executable}\nimport sys\nprint('LSF is down. Please wait ...', file=sys.stderr)\n"
                     "sys.exit(255)\n")
    with pytest.raises(RuntimeError, match="bjobs failed .*LSF is down"):
        backend.run(jobs, stop)
    kills = calls(fake_lsf, "bkill")
    assert len(kills) == 1 and sorted(kills[0]["argv"]) == ["101", "102"]  # the third was never submitted
    assert [(fake_lsf / f"{i}.stat").read_text() for i in (101, 102)] == ["EXIT 130", "EXIT 130"]


def test_missing_bsub_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match=r"needs LSF's bsub, bjobs on PATH") as err:
        LsfBackend(LsfSettings()).run([make_job(0, tmp_path)], lambda j: None)
    assert "\n" not in str(err.value)
