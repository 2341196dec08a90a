#!/usr/bin/env python3
"""Grid search over a training script's flags: ``python -m hpsearch --grid_module=<module> [options]``.

1. Import the grid module (:mod:`hpsearch.grid_module`); ``--grid_config`` may replace its ``grid`` and/or
   ``conditions`` (a JSON file, or an original pickle read through :mod:`utils.safe_pickle`).
2. Expand the grid (:func:`hpsearch.grid.expand_grid`).
3. Create ``<out_dir>/search_<YYYY-mm-dd_HH-MM-SS>`` (``--force_out_dir``: ``out_dir`` itself), copy the grid module
   there, give every run the folder ``sim_<YYYYmmddHHMMSS>_<k>`` and write ``commands.sh``, ``commands_wo_dirs.sh``
   and ``commands.json``.
4. Run everything through a backend: this machine (CPU, or a GPU pool), Slurm or LSF (``--run_cluster``).
5. As each run ends: ``hpsearch_command.sh`` into its folder; its summary parsed; if it finished, its row goes
   into ``search_results.csv`` at once. At the end: unfinished runs in ``not_completed.json``; the table sorted
   by ``_PERFORMANCE_KEY``.

**Restart:** an ``--out_dir`` that holds a search (``hpsearch_state.json``) continues it: finished runs are skipped,
unfinished ones rerun (each resumes inside its own folder), and the table ends as an uninterrupted search's would.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

if __package__ in (None, ""):  # ``python hpsearch/hpsearch.py`` as with the original path
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hpsearch.backends import Job  # noqa: E402
from hpsearch.grid import command_argv, command_line, expand_grid  # noqa: E402
from hpsearch.grid_module import GridModule, GridModuleError, load_grid_module  # noqa: E402
from hpsearch.search_state import RESULTS_FILENAME, SearchState  # noqa: E402
from hpsearch.summary_parser import SummaryError, is_finished  # noqa: E402
from utils.atomic import atomic_write_text  # noqa: E402
from utils.safe_pickle import load_plain_pickle  # noqa: E402


class SearchError(RuntimeError):
    """A search cannot start: the message is one line naming the flag or file."""


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
def add_backend_args(parser: argparse.ArgumentParser) -> None:
    """Flags choosing and configuring where runs execute (shared with seed gathering)."""
    g = parser.add_argument_group("Where runs execute")
    g.add_argument("--run_cwd", type=str, default=".",
                   help="Working directory of the runs; the script and relative out_dirs are resolved there. "
                        "Default: %(default)s.")
    g.add_argument("--run_cluster", action="store_true",
                   help="Submit the runs to a cluster's job scheduler (see --scheduler).")
    g.add_argument("--scheduler", type=str, default="lsf", choices=["lsf", "slurm"],
                   help="Job scheduler of the cluster. Default: %(default)s.")
    g.add_argument("--num_jobs", type=int, metavar="N", default=8,
                   help="Cluster: most runs queued or running at once. Default: %(default)s.")
    g.add_argument("--num_hours", type=int, metavar="N", default=24,
                   help="Cluster: wall-clock limit of each run in hours. Default: %(default)s.")
    g.add_argument("--resources", type=str, default='"rusage[mem=8000, ngpus_excl_p=1]"',
                   help="LSF: resource string of each run (bsub -R). Default: %(default)s.")
    g.add_argument("--slurm_mem", type=str, default="8G",
                   help="Slurm: memory of each run (empty: not given). Default: %(default)s.")
    g.add_argument("--slurm_gres", type=str, default="gpu:1",
                   help="Slurm: generic resources of each run (empty: not given). Default: %(default)s.")
    g.add_argument("--slurm_partition", type=str, default="",
                   help="Slurm: partition (empty: not given). Default: %(default)s.")
    g.add_argument("--slurm_qos", type=str, default="",
                   help="Slurm: quality of service (empty: not given). Default: %(default)s.")
    g.add_argument("--slurm_constraint", type=str, default="",
                   help="Slurm: node constraint (empty: not given). Default: %(default)s.")
    g.add_argument("--visible_gpus", type=str, default="",
                   help="Local: GPUs the search may use, comma-separated; empty: all; -1: no GPU management, runs "
                        "one after the other. Default: %(default)s.")
    g.add_argument("--allowed_load", type=float, default=0.5,
                   help="Local: a GPU takes a new run only below this load (0-1). Default: %(default)s.")
    g.add_argument("--allowed_memory", type=float, default=0.5,
                   help="Local: a GPU takes a new run only below this memory use (0-1). Default: %(default)s.")
    g.add_argument("--sim_startup_time", type=float, default=60,
                   help="Local: seconds after a run starts on a GPU before that GPU may take the next one. "
                        "Default: %(default)s.")
    g.add_argument("--max_num_jobs_per_gpu", type=int, metavar="N", default=1,
                   help="Local: most runs of this search per GPU. Default: %(default)s.")
    g.add_argument("--poll_interval", type=float, default=10,
                   help="Seconds between checks of running runs. Default: %(default)s.")


def build_parser() -> argparse.ArgumentParser:
    """The driver's flags (the original's, plus ``--poll_interval``)."""
    p = argparse.ArgumentParser(prog="python -m hpsearch", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("Search")
    g.add_argument("--grid_module", type=str, required=True,
                   help="Grid module: dotted name (e.g. probabilistic.prob_mnist.hpsearch_config_split_bbb) or a "
                        ".py path.")
    g.add_argument("--grid_config", type=str, default="",
                   help="JSON file (or an original pickle) with 'grid' and/or 'conditions' replacing the module's.")
    g.add_argument("--num_searches", type=int, metavar="N", default=-1,
                   help="Run at most N configurations (-1: all).")
    g.add_argument("--dont_generate_full_grid", action="store_true",
                   help="Draw num_searches + 300 random configurations instead of the full product.")
    g.add_argument("--deterministic_search", action="store_true",
                   help="Keep the grid order instead of shuffling it.")
    g.add_argument("--random_seed", type=int, metavar="N", default=42,
                   help="Seed of shuffling, random picks and GPU choice.")
    g = p.add_argument_group("Output")
    g.add_argument("--out_dir", type=str, default="./out/hyperparam_search",
                   help="Parent of the search folder search_<timestamp>; a folder holding a search continues it.")
    g.add_argument("--force_out_dir", action="store_true",
                   help="Use out_dir itself as the search folder.")
    g.add_argument("--dont_force_new_dir", action="store_true",
                   help="With --force_out_dir: allow an existing folder that holds no search.")
    add_backend_args(p)
    return p


# ----------------------------------------------------------------------------------------------------------
# Search setup
# ----------------------------------------------------------------------------------------------------------
def read_grid_config(path: str) -> dict:
    """``--grid_config``: ``{"grid": ..., "conditions": [[if, then], ...]}`` as JSON, or an original pickle."""
    file = Path(path)
    if not file.is_file():
        raise SearchError(f"--grid_config: no such file {path}")
    data = load_plain_pickle(file) if file.suffix in (".pickle", ".pkl") else json.loads(file.read_text())
    if not isinstance(data, dict) or not set(data) & {"grid", "conditions"}:
        raise SearchError(f"--grid_config={path}: expected a dict with 'grid' and/or 'conditions'")
    return data


def search_folder(args: argparse.Namespace) -> Path:
    """The search folder: an existing search to continue, ``out_dir`` (``--force_out_dir``) or a new subfolder."""
    out = Path(args.out_dir)
    if SearchState.path_in(out).is_file():
        return out
    if args.force_out_dir:
        if out.exists() and not args.dont_force_new_dir:
            raise SearchError(f"--out_dir={out} exists and holds no search; add --dont_force_new_dir to use it")
        return out
    while True:
        candidate = out / f"search_{datetime.now():%Y-%m-%d_%H-%M-%S}"
        if not candidate.exists():
            return candidate
        time.sleep(1)


def new_search(args: argparse.Namespace, module: GridModule, search_dir: Path) -> SearchState:
    """Expand the grid and write the search's files."""
    grid, conditions = module.grid, module.conditions
    if args.grid_config:
        override = read_grid_config(args.grid_config)
        grid = override.get("grid", grid)
        conditions = override.get("conditions", conditions)
    conditions = [tuple(c) for c in conditions]
    try:
        configs = expand_grid(grid, conditions, generate_full_grid=not args.dont_generate_full_grid,
                              num_searches=args.num_searches, deterministic=args.deterministic_search,
                              rng=random.Random(args.random_seed))
    except ValueError as e:
        raise SearchError(f"--grid_module={module.name}: {e}") from None
    if not configs:
        raise SearchError(f"--grid_module={module.name}: the conditions leave no configuration to run")
    if any(module.out_arg in c for c in configs):
        raise SearchError(f"--grid_module={module.name}: the grid must not set --{module.out_arg}")

    search_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now().strftime("%Y%m%d%H%M%S")
    digits = len(str(len(configs)))
    names = [f"sim_{stamp}_{str(k + 1).zfill(digits)}" for k in range(len(configs))]
    full = [{module.out_arg: str((search_dir / n).resolve()), **c} for n, c in zip(names, configs)]
    shutil.copyfile(module.path, search_dir / module.path.name)
    header = f"#!/bin/sh\n# The {len(full)} runs of this search, in run order.\n"
    atomic_write_text(search_dir / "commands.sh", header + "".join(
        command_line(module.script_name, c) + "\n" for c in full))
    atomic_write_text(search_dir / "commands_wo_dirs.sh", header + "".join(
        command_line(module.script_name, c) + "\n" for c in configs))
    atomic_write_text(search_dir / "commands.json", json.dumps(full, indent=1))
    state = SearchState(grid_module=module.name, script=module.script_name, out_arg=module.out_arg,
                        summary_keys=module.summary_keywords, performance_key=module.performance_key,
                        performance_sort_asc=module.performance_sort_asc, grid=grid,
                        conditions=[list(c) for c in conditions], names=names, configs=full)
    state.save(search_dir)
    return state


def continued_search(args: argparse.Namespace, module: GridModule, search_dir: Path) -> SearchState:
    """Load a search folder's state, refusing a different grid module."""
    state = SearchState.load(search_dir)
    if state.grid_module != module.name:
        raise SearchError(f"--out_dir={search_dir} holds a search of --grid_module={state.grid_module}, not "
                          f"{module.name}; pass another --out_dir")
    return state


# ----------------------------------------------------------------------------------------------------------
# Running
# ----------------------------------------------------------------------------------------------------------
def make_backend(args: argparse.Namespace, search_dir: Path):
    """The backend ``--run_cluster`` / ``--scheduler`` ask for."""
    if not args.run_cluster:
        from hpsearch.backends.local import LocalBackend

        return LocalBackend.from_args(args, search_dir)
    if args.scheduler == "slurm":
        from hpsearch.backends.slurm import SlurmBackend

        return SlurmBackend.from_args(args, search_dir)
    from hpsearch.backends.lsf import LsfBackend

    return LsfBackend.from_args(args, search_dir)


def make_jobs(state: SearchState, module: GridModule, run_cwd: Path) -> list[Job]:
    """The unfinished runs as backend jobs."""
    script = module.script_path(run_cwd)
    return [Job(index=i, name=state.names[i], argv=[sys.executable, str(script), *command_argv(state.configs[i])],
                command=command_line(module.script_name, state.configs[i]),
                out_dir=Path(state.configs[i][module.out_arg]), cwd=run_cwd.resolve(),
                env={"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")})
            for i in state.unfinished()]


def read_run_summary(module: GridModule, job: Job) -> dict | None:
    """The run's summary, or ``None`` (with a note) if it is missing or malformed."""
    try:
        return module.read_summary(job.out_dir, job.index)
    except (SummaryError, OSError, ValueError) as e:
        print(f"hpsearch: run {job.index + 1} ({job.name}) left no usable summary: {e}", flush=True)
        return None


def run_search(args: argparse.Namespace) -> Path:
    module = load_grid_module(args.grid_module)
    run_cwd = Path(args.run_cwd).resolve()
    if not run_cwd.is_dir():
        raise SearchError(f"--run_cwd={args.run_cwd} is not a folder")
    os.chdir(run_cwd)  # relative --out_dir and script paths are relative to the runs' working directory
    search_dir = search_folder(args).resolve()
    continuing = SearchState.path_in(search_dir).is_file()
    state = continued_search(args, module, search_dir) if continuing else new_search(args, module, search_dir)
    jobs = make_jobs(state, module, run_cwd)
    done = len(state.configs) - len(jobs)
    print(f"hpsearch: {search_dir}: {len(state.configs)} runs"
          + (f", {done} finished earlier, {len(jobs)} to run" if continuing else ""), flush=True)

    def on_finished(job: Job) -> None:
        atomic_write_text(job.out_dir / "hpsearch_command.sh", f"#!/bin/sh\n{job.command}\n") \
            if job.out_dir.is_dir() else None
        summary = read_run_summary(module, job)
        ok = summary is not None and is_finished(summary)
        if ok:
            state.record(search_dir, job.index, summary)
        value = summary.get(module.performance_key) if summary else None
        print(f"hpsearch: run {job.index + 1}/{len(state.configs)} ({job.name}) "
              f"{'finished' if ok else 'did not finish'}"
              + (f", {module.performance_key} = {value}" if ok else f" (exit code {job.returncode})"), flush=True)

    make_backend(args, search_dir).run(jobs, on_finished)

    unfinished = state.unfinished()
    not_completed = search_dir / "not_completed.json"
    if unfinished:
        atomic_write_text(not_completed, json.dumps([state.configs[i] for i in unfinished], indent=1))
        print(f"hpsearch: {len(unfinished)} run(s) did not finish (listed in {not_completed}); rerun the same "
              f"command with --out_dir={search_dir} to continue", flush=True)
    elif not_completed.exists():
        not_completed.unlink()
    if state.results:
        state.write_csv(search_dir)
    print(f"hpsearch: results in {search_dir / RESULTS_FILENAME}", flush=True)
    return search_dir


def main(argv: list[str] | None = None) -> Path:
    """Run (or continue) a search; returns its folder. Bad input exits 2 with one line."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return run_search(args)
    except (SearchError, GridModuleError) as e:
        parser.exit(2, f"hpsearch: error: {e}\n")


def _sigterm_to_exit(signum, frame):  # let ``finally`` blocks stop running runs and keep the state consistent
    raise SystemExit(128 + signum)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _sigterm_to_exit)
    main()
