"""LSF backend: one ``bsub`` job per run, at most ``--num_jobs`` of them queued or running at once.

Each run is submitted as the original did::

    bsub -J job_<name> -R "<resources>" -n 1 -W <num_hours>:00 -o <run>/job_<name>.out -e <run>/job_<name>.err \\
         '<python> <script> --flags... --out_dir=<run>'

from the run's working directory and with its environment (LSF starts a job where it was submitted, with the
submitting environment). Job states come from ``bjobs``: a job has ended when it shows ``DONE`` or ``EXIT``, or
when LSF no longer knows it. The original called the ``bsub`` Python package; this module calls the two commands
directly, so nothing beyond LSF itself is needed.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from hpsearch.backends import Job, OnFinished

#: ``bjobs`` states of a job that has ended.
ENDED_STATES = frozenset({"DONE", "EXIT"})
#: What ``bjobs`` is asked for (``exit_code`` is ``-`` for a job that has not failed).
BJOBS_FORMAT = "jobid stat exit_code"


@dataclass(frozen=True)
class LsfSettings:
    """The ``--run_cluster --scheduler=lsf`` flags."""

    num_jobs: int = 8  # runs queued or running at once
    num_hours: int = 24  # wall-clock limit of each run (bsub -W)
    resources: str = "rusage[mem=8000, ngpus_excl_p=1]"  # bsub -R

    def __post_init__(self) -> None:
        if self.num_jobs < 1 or self.num_hours < 1:
            raise ValueError(f"--num_jobs and --num_hours must be >= 1 (got {self.num_jobs}, {self.num_hours})")


def strip_shell_quotes(text: str) -> str:
    """``'"rusage[...]"'`` -> ``'rusage[...]'``: the original's default carries the quotes its shell line needed;
    here bsub gets the value as one argument, without a shell."""
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def bsub_argv(job: Job, settings: LsfSettings) -> list[str]:
    """The ``bsub`` command line of one run (the run's argv becomes one shell-quoted command string)."""
    log = Path(job.out_dir) / f"job_{job.name}"
    return ["bsub", "-J", f"job_{job.name}", "-R", strip_shell_quotes(settings.resources), "-n", "1",
            "-W", f"{settings.num_hours}:00", "-o", f"{log}.out", "-e", f"{log}.err", shlex.join(job.argv)]


def parse_bsub_output(text: str) -> str:
    """The job id from ``Job <1234> is submitted to default queue <normal>.``"""
    match = re.search(r"Job <(\d+)>", text)
    if match is None:
        raise RuntimeError(f"bsub gave no job id: {' '.join(text.split())!r}")
    return match.group(1)


@dataclass(frozen=True)
class JobState:
    """One line of ``bjobs``."""

    stat: str  # PEND, RUN, PSUSP, USUSP, SSUSP, WAIT, ZOMBI, UNKWN, DONE, EXIT
    exit_code: int | None = None  # known only for EXIT with the ``-o`` format

    @property
    def ended(self) -> bool:
        return self.stat in ENDED_STATES

    @property
    def returncode(self) -> int | None:
        """0 for DONE; the exit code (else 1) for EXIT; ``None`` while the job has not ended."""
        if self.stat == "DONE":
            return 0
        if self.stat == "EXIT":
            return self.exit_code if self.exit_code is not None else 1
        return None


def parse_bjobs(text: str) -> dict[str, JobState]:
    """Job states from ``bjobs`` output: ``-noheader -o "jobid stat exit_code"`` (columns in that order), or any
    output with a header line, such as the default table ``JOBID USER STAT QUEUE FROM_HOST EXEC_HOST JOB_NAME
    SUBMIT_TIME`` (STAT comes before the columns that may be empty, so splitting on blanks finds it)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    has_header = bool(lines) and lines[0][0].upper() == "JOBID"
    columns = [c.upper() for c in lines.pop(0)] if has_header else BJOBS_FORMAT.upper().split()
    stat_at = columns.index("STAT")
    exit_at = columns.index("EXIT_CODE") if "EXIT_CODE" in columns else None
    states = {}
    for fields in lines:
        if not fields[0].isdigit() or len(fields) <= stat_at:
            continue  # e.g. the continuation line of a long JOB_NAME
        code = fields[exit_at] if exit_at is not None and len(fields) > exit_at else "-"
        states[fields[0]] = JobState(fields[stat_at], int(code) if code.isdigit() else None)
    return states


class BjobsError(RuntimeError):
    """``bjobs`` failed for another reason than unknown job ids (LSF busy or down)."""


def job_states(job_ids: list[str]) -> dict[str, JobState]:
    """The states of ``job_ids`` that LSF still knows (``-a``: finished ones too, for LSF's clean period)."""
    out = subprocess.run(["bjobs", "-a", "-noheader", "-o", BJOBS_FORMAT, *job_ids], capture_output=True, text=True)
    # unknown ids are reported one per line on stderr ("Job <12> is not found"); anything else is a failure
    problems = [line for line in out.stderr.splitlines() if line.strip() and "is not found" not in line]
    if out.returncode != 0 and problems:
        raise BjobsError(" ".join(problems))
    return parse_bjobs(out.stdout)


class LsfBackend:
    """Runs a search's jobs through ``bsub``, keeping at most ``num_jobs`` of them in LSF at once."""

    #: Consecutive failed ``bjobs`` calls tolerated before giving up.
    max_bjobs_failures = 30

    def __init__(self, settings: LsfSettings, poll_interval_s: float = 10.0) -> None:
        self.settings = settings
        self.poll_interval_s = poll_interval_s

    @classmethod
    def from_args(cls, args: argparse.Namespace, search_dir: Path) -> LsfBackend:
        """The backend for the hpsearch flags (LSF writes its files into the run folders, not ``search_dir``)."""
        return cls(LsfSettings(num_jobs=args.num_jobs, num_hours=args.num_hours, resources=args.resources),
                   poll_interval_s=args.poll_interval)

    def submit(self, job: Job) -> str:
        """Submit one run from its working directory with its environment; returns LSF's job id."""
        Path(job.out_dir).mkdir(parents=True, exist_ok=True)  # LSF does not create the folder of -o / -e
        out = subprocess.run(bsub_argv(job, self.settings), cwd=job.cwd, env={**os.environ, **job.env},
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"bsub failed for run {job.name}: {' '.join((out.stderr or out.stdout).split())}")
        return parse_bsub_output(out.stdout)

    def run(self, jobs: list[Job], on_finished: OnFinished) -> None:
        """Submit the jobs in order, never more than ``num_jobs`` unfinished in LSF, and call ``on_finished`` as
        each ends. If the search stops early, the runs it submitted that are still in LSF are killed (``bkill``):
        a restarted search resubmits them, and two copies must never write into one run folder."""
        if not jobs:
            return
        missing = [tool for tool in ("bsub", "bjobs") if shutil.which(tool) is None]
        if missing:
            raise RuntimeError(f"--scheduler=lsf needs LSF's {', '.join(missing)} on PATH (not found here); "
                               "run the search on an LSF login node or without --run_cluster")
        queue = list(jobs)
        active: dict[str, Job] = {}  # LSF job id -> run
        try:
            self._schedule(queue, active, on_finished)
        finally:
            if active:
                subprocess.run(["bkill", *active], capture_output=True)

    def _schedule(self, queue: list[Job], active: dict[str, Job], on_finished: OnFinished) -> None:
        failures = 0
        while queue or active:
            while queue and len(active) < self.settings.num_jobs:
                job = queue.pop(0)
                active[self.submit(job)] = job
            time.sleep(self.poll_interval_s)
            try:
                states, failures = job_states(list(active)), 0
            except BjobsError as e:  # a busy mbatchd refuses queries now and then: keep waiting
                failures += 1
                if failures > self.max_bjobs_failures:
                    raise RuntimeError(f"bjobs failed {failures} times in a row: {e}") from e
                continue
            for job_id, job in list(active.items()):
                state = states.get(job_id)
                if state is None or state.ended:  # absent: ended before LSF's clean period
                    job.returncode = state.returncode if state is not None else None
                    del active[job_id]
                    on_finished(job)
