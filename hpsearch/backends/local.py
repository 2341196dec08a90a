"""Run a search on this machine: one run after the other on the CPU, or one run per free GPU.

GPU mode (``--visible_gpus`` empty = all GPUs, or a comma list) asks NVML (``nvidia-ml-py``) for each GPU's load and
memory use. A run starts on a GPU picked at random among those with load below ``--allowed_load``, memory use below
``--allowed_memory``, fewer than ``--max_num_jobs_per_gpu`` runs of this search, and no run started on it within the
last ``--sim_startup_time`` seconds (a starting run does not show its load yet). The run sees only that GPU
(``CUDA_VISIBLE_DEVICES``). ``--visible_gpus=-1``, or a machine without NVML or GPUs, runs everything one after the
other. Each run's stdout and stderr go to ``job_<name>.out`` / ``.err`` in its folder.

Runs die with the search: a run gets SIGTERM when the search process ends, however it ends, so a restarted search
never finds an orphan still writing into a run folder.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hpsearch.backends import Job, OnFinished

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class GpuStats:
    """Utilisation of one GPU as fractions in [0, 1]."""

    index: int
    load: float
    memory: float


def nvml_gpu_stats() -> list[GpuStats] | None:
    """Load and memory use of every GPU, or ``None`` if NVML (``nvidia-ml-py``) or a driver is unavailable."""
    try:
        import pynvml
    except ImportError:
        return None
    try:
        pynvml.nvmlInit()
    except Exception:  # no driver, no device: NVMLError_* subclasses
        return None
    try:
        stats = []
        for i in range(pynvml.nvmlDeviceGetCount()):
            handle = pynvml.nvmlDeviceGetHandleByIndex(i)
            util = pynvml.nvmlDeviceGetUtilizationRates(handle)
            mem = pynvml.nvmlDeviceGetMemoryInfo(handle)
            stats.append(GpuStats(i, util.gpu / 100.0, mem.used / max(mem.total, 1)))
        return stats
    finally:
        pynvml.nvmlShutdown()


def parse_visible_gpus(text: str) -> list[int] | None:
    """``--visible_gpus``: ``""`` -> all (``None``), ``"-1"`` -> none (``[]``), ``"0,2"`` -> ``[0, 2]``."""
    text = text.strip()
    if text == "":
        return None
    if text == "-1":
        return []
    try:
        return [int(t) for t in text.split(",") if t.strip()]
    except ValueError:
        raise ValueError(f"--visible_gpus must be empty, -1 or comma-separated integers (got {text!r})") from None


def pick_gpu(stats: list[GpuStats], visible: list[int] | None, jobs_per_gpu: dict[int, int],
             last_start: dict[int, float], now: float, allowed_load: float, allowed_memory: float,
             max_jobs_per_gpu: int, startup_time: float, rng: random.Random) -> int | None:
    """The GPU the next run goes to, or ``None`` if no GPU qualifies now (see the module docstring)."""
    free = [s.index for s in stats
            if (visible is None or s.index in visible)
            and s.load < allowed_load and s.memory < allowed_memory
            and jobs_per_gpu.get(s.index, 0) < max_jobs_per_gpu
            and now - last_start.get(s.index, -float("inf")) > startup_time]
    return rng.choice(free) if free else None


def _die_with_parent() -> None:
    """Ask Linux to send SIGTERM to this (child) process when its parent dies."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:  # not glibc Linux: runs may outlive a killed search
        pass


def start_job(job: Job, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start one run with its output in ``job_<name>.out/.err`` inside its folder."""
    job.out_dir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, **job.env, **(extra_env or {})}
    with open(job.out_dir / f"job_{job.name}.out", "ab") as out, open(job.out_dir / f"job_{job.name}.err", "ab") as err:
        return subprocess.Popen(job.argv, cwd=job.cwd, env=env, stdout=out, stderr=err,
                                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None)


class LocalBackend:
    """Runs jobs on this machine (see the module docstring)."""

    def __init__(self, visible_gpus: str = "", allowed_load: float = 0.5, allowed_memory: float = 0.5,
                 max_num_jobs_per_gpu: int = 1, sim_startup_time: float = 60, poll_interval: float = 10,
                 gpu_stats: Callable[[], list[GpuStats] | None] = nvml_gpu_stats, seed: int = 42):
        self.visible = parse_visible_gpus(visible_gpus)
        self.allowed_load, self.allowed_memory = allowed_load, allowed_memory
        self.max_jobs_per_gpu, self.startup_time = max_num_jobs_per_gpu, sim_startup_time
        self.poll_interval = poll_interval
        self.gpu_stats = gpu_stats
        self.rng = random.Random(seed)

    @classmethod
    def from_args(cls, args: argparse.Namespace, search_dir: Path) -> LocalBackend:
        return cls(args.visible_gpus, args.allowed_load, args.allowed_memory, args.max_num_jobs_per_gpu,
                   args.sim_startup_time, args.poll_interval, seed=args.random_seed)

    def run(self, jobs: list[Job], on_finished: OnFinished) -> None:
        stats = None if self.visible == [] else self.gpu_stats()
        if not stats:
            if self.visible != []:
                warnings.warn("no GPU visible to the search (NVML or driver missing): runs execute one after the "
                              "other on this machine", stacklevel=2)
            self._run_sequentially(jobs, on_finished)
        else:
            self._run_on_gpus(jobs, on_finished)

    def _run_sequentially(self, jobs: list[Job], on_finished: OnFinished) -> None:
        for job in jobs:
            proc = start_job(job)
            try:
                job.returncode = proc.wait()
            except BaseException:
                _stop([proc])
                raise
            on_finished(job)

    def _run_on_gpus(self, jobs: list[Job], on_finished: OnFinished) -> None:
        queue = list(jobs)
        running: list[tuple[Job, subprocess.Popen, int]] = []
        last_start: dict[int, float] = {}
        try:
            while queue or running:
                still = []
                for job, proc, gpu in running:
                    if proc.poll() is None:
                        still.append((job, proc, gpu))
                    else:
                        job.returncode = proc.returncode
                        on_finished(job)
                running = still
                if queue:
                    per_gpu: dict[int, int] = {}
                    for _, _, gpu in running:
                        per_gpu[gpu] = per_gpu.get(gpu, 0) + 1
                    gpu = pick_gpu(self.gpu_stats() or [], self.visible, per_gpu, last_start, time.time(),
                                   self.allowed_load, self.allowed_memory, self.max_jobs_per_gpu, self.startup_time,
                                   self.rng)
                    if gpu is not None:
                        job = queue.pop(0)
                        print(f"hpsearch: run {job.index + 1} ({job.name}) starts on GPU {gpu}", flush=True)
                        running.append((job, start_job(job, {"CUDA_VISIBLE_DEVICES": str(gpu)}), gpu))
                        last_start[gpu] = time.time()
                        continue
                time.sleep(self.poll_interval)
        except BaseException:
            _stop([proc for _, proc, _ in running])
            raise


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate running runs (they stay resumable) and reap them."""
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
