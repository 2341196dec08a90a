"""Slurm backend: all runs of a search as one job array, submitted and requeued through submitit.

The original wrote one ``#SBATCH`` script per run and polled ``squeue -u $USER``. Here the whole search is a single
job array (``#SBATCH --array=0-<n-1>%<num_jobs>``), so Slurm itself keeps at most ``--num_jobs`` runs going. Each
array task is a small Python wrapper (:class:`RunCommand`) that starts the run's argv in its ``cwd`` with its
environment, streaming the run's output into ``job_<name>.out`` / ``.err`` in the run folder; submitit's own
files (the generated sbatch script, pickles, wrapper logs) live in ``<search>/submitit/``.

Requeue: Slurm sends ``USR2`` ``signal_delay_s`` (90 s) before the time limit, and submitit's preemption
convention is ``SIGTERM`` followed by ``USR2``. On ``USR2`` the wrapper stops the run (:meth:`RunCommand.checkpoint`),
and submitit requeues the same array task with the same command (``scontrol requeue``). This is safe because a run
restarted on the same ``out_dir`` resumes after its last finished task.

Finished runs are detected with ``squeue`` (array tasks one per line) plus submitit's result file, which the
wrapper writes once the run has exited; the wrapper's return value is the run's exit code.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import submitit
from submitit.core.job_environment import JobEnvironment
from submitit.helpers import Checkpointable, DelayedSubmission

from hpsearch.backends import Job, OnFinished

#: Slurm states of a job that has not ended yet (a requeued job passes through several of them).
ACTIVE_STATES = frozenset({
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
    "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "STOPPED",
})


@dataclass(frozen=True)
class SlurmSettings:
    """The ``--run_cluster --scheduler=slurm`` flags; an empty string means "not given" (no ``#SBATCH`` line)."""

    num_jobs: int = 8  # array tasks running at once (``%`` of ``--array``)
    num_hours: int = 24  # time limit of each run
    mem: str = "8G"
    gres: str = "gpu:1"
    partition: str = ""
    qos: str = ""
    constraint: str = ""

    def executor_parameters(self, job_name: str) -> dict[str, object]:
        """Keyword arguments for ``submitit.SlurmExecutor.update_parameters``."""
        if self.num_jobs < 1 or self.num_hours < 1:
            raise ValueError(f"--num_jobs and --num_hours must be >= 1 (got {self.num_jobs}, {self.num_hours})")
        params: dict[str, object] = {"job_name": job_name, "time": self.num_hours * 60,
                                     "array_parallelism": self.num_jobs}
        for key in ("gres", "partition", "qos", "constraint"):
            if getattr(self, key):
                params[key] = getattr(self, key)
        if self.mem:
            # submitit's own ``mem`` takes GB as a number; the original flag is Slurm's string (``8G``), so it goes
            # into the script verbatim
            params["additional_parameters"] = {"mem": self.mem}
        return params


class RunCommand(Checkpointable):
    """What one array task executes: run a job's argv, wait for it, return its exit code.

    Checkpointable: on Slurm's requeue signal the run is stopped and the same call is resubmitted.
    """

    #: How long a run killed by ``SIGTERM`` waits for Slurm's ``USR2`` (preemption) before reporting the exit.
    preemption_grace_s = 120.0
    #: Seconds between two looks at the run's process.
    poll_interval_s = 0.5

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None

    def __call__(self, argv: list[str], cwd: str, env: dict[str, str], out_dir: str, name: str) -> int:
        """Run ``argv`` in ``cwd`` with ``env`` added to the environment; output into ``out_dir/job_<name>.*``."""
        run_dir = Path(out_dir)
        run_dir.mkdir(parents=True, exist_ok=True)  # the run itself accepts an existing out_dir (it resumes)
        usr_signal = getattr(signal, f"SIG{JobEnvironment.USR_SIG}")  # USR2 unless $SUBMITIT_PREEMPT_SIGNAL
        with open(run_dir / f"job_{name}.out", "ab") as out, open(run_dir / f"job_{name}.err", "ab") as err:
            self._process = subprocess.Popen(
                argv, cwd=cwd, env={**os.environ, **env}, stdout=out, stderr=err,
                # Slurm signals every process of the step; the run ignores the requeue signal, so that only this
                # wrapper reacts to it (and stops the run in ``checkpoint``)
                preexec_fn=lambda: signal.signal(usr_signal, signal.SIG_IGN))
            # poll instead of wait(): submitit's signal handler runs in this thread and calls ``checkpoint``, whose
            # wait() could not take Popen's wait lock while an interrupted wait() here still held it
            while (returncode := self._process.poll()) is None:
                time.sleep(self.poll_interval_s)
        if returncode == -signal.SIGTERM:
            # Slurm preempts with SIGTERM and then USR2, which requeues us (submitit raises SystemExit in this
            # thread); a run killed by Slurm must not be reported as a finished run
            time.sleep(self.preemption_grace_s)
        return returncode

    def checkpoint(self, *args, **kwargs) -> DelayedSubmission:
        """Stop the run and resubmit the same call: the rerun resumes from the run's out_dir."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
        return DelayedSubmission(RunCommand(), *args, **kwargs)


def parse_squeue(text: str) -> dict[str, str]:
    """Job states from ``squeue --noheader --array --format=%i|%T``: ``{"123_4": "RUNNING", "124": ...}``.

    Array tasks still pending may be folded into one line (``123_[5-7,9%2]``); they are expanded.
    """
    states = {}
    for line in text.splitlines():
        if "|" not in line:
            continue
        job_id, state = (part.strip() for part in line.split("|", 1))
        folded = re.fullmatch(r"(\d+)_\[([\d,\-]+)(?:%\d+)?\]", job_id)
        if folded is None:
            states[job_id] = state
            continue
        for part in folded.group(2).split(","):
            first, _, last = part.partition("-")
            for index in range(int(first), int(last or first) + 1):
                states[f"{folded.group(1)}_{index}"] = state
    return states


class SqueueError(RuntimeError):
    """``squeue`` failed (slurmctld busy or unreachable); the message is its error output."""


def queue_states(array_id: str) -> dict[str, str]:
    """The Slurm states of one submission's jobs; jobs that ended long ago (``MinJobAge``) are absent."""
    out = subprocess.run(["squeue", "--noheader", "--array", "--states=all", f"--jobs={array_id}",
                          "--format=%i|%T"], capture_output=True, text=True)
    if out.returncode == 0:
        return parse_squeue(out.stdout)
    if "Invalid job id" in out.stderr:
        return {}  # the id already left slurmctld's memory: all its jobs ended
    raise SqueueError(out.stderr.strip() or f"squeue exited with {out.returncode}")


class SlurmBackend:
    """Runs a search's jobs as one Slurm job array (see the module docstring)."""

    #: How long a job that left the queue may take to show its result file (shared file systems lag).
    result_grace_s = 30.0
    #: Consecutive failed ``squeue`` calls tolerated before giving up.
    max_squeue_failures = 30

    def __init__(self, settings: SlurmSettings, folder: Path, job_name: str = "hpsearch",
                 poll_interval_s: float = 10.0) -> None:
        self.settings = settings
        self.folder = Path(folder).expanduser().absolute()  # submitit's files (absolute, as submitit makes it)
        self.job_name = job_name
        self.poll_interval_s = poll_interval_s  # seconds between two looks at the queue

    @classmethod
    def from_args(cls, args: argparse.Namespace, search_dir: Path) -> SlurmBackend:
        """The backend for the hpsearch flags; submitit's files go to ``<search_dir>/submitit``."""
        settings = SlurmSettings(num_jobs=args.num_jobs, num_hours=args.num_hours, mem=args.slurm_mem,
                                 gres=args.slurm_gres, partition=args.slurm_partition, qos=args.slurm_qos,
                                 constraint=args.slurm_constraint)
        return cls(settings, Path(search_dir) / "submitit", job_name=f"hpsearch_{Path(search_dir).name}",
                   poll_interval_s=args.poll_interval)

    def executor_parameters(self) -> dict[str, object]:
        """What is handed to submitit (see :meth:`SlurmSettings.executor_parameters`)."""
        return self.settings.executor_parameters(self.job_name)

    def sbatch_script(self, num_runs: int) -> str:
        """The sbatch script submitit submits for ``num_runs`` runs (for inspection and tests; needs no Slurm)."""
        from submitit.slurm.slurm import _make_sbatch_string  # the function SlurmExecutor itself uses (1.5.4)

        params = self.executor_parameters()
        if num_runs > 1:  # one run is a plain job, as submitit submits it
            params["map_count"] = num_runs
        command = f"{shlex.quote(sys.executable)} -u -m submitit.core._submit {shlex.quote(str(self.folder))}"
        return _make_sbatch_string(command=command, folder=self.folder, **params)

    def _executor(self) -> submitit.SlurmExecutor:
        missing = [tool for tool in ("sbatch", "srun", "squeue") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"--scheduler=slurm needs Slurm's {', '.join(missing)} on PATH (not found here); "
                               "run the search on a Slurm login node or without --run_cluster")
        executor = submitit.SlurmExecutor(folder=self.folder, python=sys.executable)
        executor.update_parameters(**self.executor_parameters())
        return executor

    def run(self, jobs: list[Job], on_finished: OnFinished) -> None:
        """Submit all ``jobs`` as one array and call ``on_finished`` as each ends (returncode ``None`` if the
        run never reported back, e.g. cancelled).

        If the search itself stops early (an exception, Ctrl-C, SIGTERM), the runs still queued or running are
        cancelled: a restarted search resubmits them, and two copies must never write into one run folder.
        """
        if not jobs:
            return
        executor = self._executor()
        with executor.batch():
            handles = [executor.submit(RunCommand(), job.argv, str(job.cwd), dict(job.env), str(job.out_dir),
                                       job.name) for job in jobs]
        array_id = handles[0].job_id.split("_")[0]
        print(f"hpsearch: submitted {len(jobs)} run(s) as Slurm job {array_id} (files in {self.folder})", flush=True)
        pending = dict(zip(handles, jobs))
        try:
            self._wait(array_id, pending, on_finished)
        finally:
            if pending:
                subprocess.run(["scancel", *(handle.job_id for handle in pending)], capture_output=True)

    def _wait(self, array_id: str, pending: dict[submitit.Job, Job], on_finished: OnFinished) -> None:
        """Poll until every job in ``pending`` has ended, removing each and calling ``on_finished`` on it."""
        left_queue_at: dict[submitit.Job, float] = {}  # when a job was first seen ended without a result file
        failures = 0
        while pending:
            try:
                states, failures = queue_states(array_id), 0
            except SqueueError as e:  # a busy slurmctld times out now and then: keep waiting
                states, failures = None, failures + 1
                if failures > self.max_squeue_failures:
                    raise RuntimeError(f"squeue failed {failures} times in a row (Slurm job {array_id}): {e}") from e
            now = time.monotonic()
            for handle, job in list(pending.items()):
                if handle.paths.result_pickle.exists():
                    job.returncode = _returncode(handle)
                elif states is None or states.get(handle.job_id) in ACTIVE_STATES:
                    left_queue_at.pop(handle, None)  # e.g. requeued after looking ended for a moment
                    continue
                elif now - left_queue_at.setdefault(handle, now) < self.result_grace_s:
                    continue  # ended: give its result file a moment to appear
                del pending[handle]
                on_finished(job)
            if pending:
                time.sleep(self.poll_interval_s)


def _returncode(handle: submitit.Job) -> int | None:
    """The run's exit code from submitit's result file (``None`` if the wrapper itself failed)."""
    if handle.exception() is not None:
        return None
    return handle.result()
