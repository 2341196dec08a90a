"""Rerun one configuration over several random seeds and report mean +/- SEM, as every table of the papers was made.

Called by the thin ``gather_seeds_*.py`` scripts beside each family's grid modules, which fix the grid module, the
flags to force (e.g. 100 test-time weight samples) and the summary keys to report::

    python3 gather_seeds_split_bbb.py --run_dir=<a finished run, or a search folder> --start_gathering
    python3 gather_seeds_split_bbb.py --seeds_dir=<the gathering's folder>     # only aggregate

1. The reference run: ``--run_dir`` itself, or the best finished run of a search folder by ``_PERFORMANCE_KEY``.
   Its flags come from its ``cli_call.sh`` (``hpsearch_command.sh`` for sweep runs): the command as typed.
2. ``out_dir``, ``random_seed`` and the ignored flags are dropped, the forced flags set, and a grid is written
   (``seeds_grid.json``) with one value per flag and ``random_seed`` over ``--seeds_list`` or
   ``range(--num_seeds)``; ``--vary_data_seed`` ties ``data_random_seed`` to it.
3. The reference run is copied into the results folder and its seed left out of the grid when its flags already
   equal the forced ones (the original reused it even when they differed, mixing test-time settings).
4. With ``--start_gathering`` the search runs through any backend (the same flags as ``python -m hpsearch``);
   otherwise the command is printed. Then ``seeds_summary_text.txt`` (``key (mean +/- sem): m +- s`` per key,
   the number of seeds, a LaTeX row) and ``seeds_summary.json`` are written. Any numeric key works, losses too.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from hpsearch import hpsearch
from hpsearch.grid_module import GridModule, GridModuleError, load_grid_module
from hpsearch.search_state import read_results
from hpsearch.summary_parser import SummaryError, is_finished, parse_summary
from utils.atomic import atomic_write_text

SEEDS_GRID_FILENAME = "seeds_grid.json"
SUMMARY_TEXT_FILENAME = "seeds_summary_text.txt"
SUMMARY_JSON_FILENAME = "seeds_summary.json"


class GatherError(RuntimeError):
    """Seed gathering cannot proceed: the message is one line naming the flag or folder."""


# ----------------------------------------------------------------------------------------------------------
# The reference run and its flags
# ----------------------------------------------------------------------------------------------------------
def argv_to_flags(argv: Sequence[str]) -> dict[str, object]:
    """``["--lr=0.1", "--flag", "--arch", "10,10"]`` -> ``{"lr": "0.1", "flag": True, "arch": "10,10"}``."""
    flags: dict[str, object] = {}
    i = 0
    while i < len(argv):
        token = argv[i]
        if not token.startswith("--"):
            raise GatherError(f"cannot read the run's command: unexpected token {token!r}")
        name, eq, value = token[2:].partition("=")
        if eq:
            flags[name] = value
        elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
            flags[name] = argv[i + 1]
            i += 1
        else:
            flags[name] = True
        i += 1
    return flags


def run_command(run_dir: Path) -> tuple[str, dict[str, object]]:
    """The script and flags a run was started with, from its ``cli_call.sh`` or ``hpsearch_command.sh``."""
    for name in ("cli_call.sh", "hpsearch_command.sh"):
        path = run_dir / name
        if path.is_file():
            line = [ln for ln in path.read_text().splitlines() if ln.strip() and not ln.startswith("#")][0]
            tokens = shlex.split(line)
            first_flag = next((i for i, t in enumerate(tokens) if t.startswith("--")), len(tokens))
            return (tokens[first_flag - 1] if first_flag else ""), argv_to_flags(tokens[first_flag:])
    raise GatherError(f"{run_dir}: no cli_call.sh or hpsearch_command.sh recording the run's command")


def best_run_of_search(search_dir: Path, module: GridModule) -> Path:
    """The finished run with the best ``_PERFORMANCE_KEY`` of a search folder."""
    rows = read_results(search_dir / "search_results.csv")
    scored = [(float(r[module.performance_key]), r[module.out_arg]) for r in rows
              if r.get(module.performance_key) not in (None, "") and not math.isnan(float(r[module.performance_key]))]
    if not scored:
        raise GatherError(f"--run_dir={search_dir}: the search has no finished run with {module.performance_key}")
    scored.sort(key=lambda t: t[0], reverse=not module.performance_sort_asc)
    return Path(scored[0][1])


def reference_run(run_dir: Path, module: GridModule) -> Path:
    """``run_dir`` if it is a run, else the best run of the search folder it is."""
    if (run_dir / "search_results.csv").is_file():
        return best_run_of_search(run_dir, module)
    if not (run_dir / module.summary_filename).is_file():
        raise GatherError(f"--run_dir={run_dir} is neither a run (no {module.summary_filename}) nor a search folder")
    return run_dir


def _grid_value(value: object) -> object:
    """A flag value for the grid's shell line (strings quoted where the shell would split them)."""
    return value if isinstance(value, bool) else shlex.quote(str(value))


def seeds_grid(flags: Mapping[str, object], seeds: Sequence[int], vary_data_seed: bool) -> dict:
    """``{"grid": ..., "conditions": ...}``: every flag fixed, ``random_seed`` over ``seeds``."""
    grid = {k: [_grid_value(v)] for k, v in flags.items()}
    grid["random_seed"] = list(seeds)
    conditions = [[{"random_seed": [s]}, {"data_random_seed": [s]}] for s in seeds] if vary_data_seed else []
    return {"grid": grid, "conditions": conditions}


# ----------------------------------------------------------------------------------------------------------
# Aggregation
# ----------------------------------------------------------------------------------------------------------
def finished_runs(seeds_dir: Path, module: GridModule) -> list[tuple[Path, dict]]:
    """Every finished run below ``seeds_dir`` (any depth) with its summary, sorted by folder."""
    runs = []
    for path in sorted(seeds_dir.rglob(module.summary_filename)):
        try:
            summary = module.read_summary(path.parent, 0)
        except (SummaryError, OSError, ValueError):
            continue
        if is_finished(summary):
            runs.append((path.parent, summary))
    return runs


def _seed_of(run_dir: Path) -> int | None:
    config = run_dir / "config.json"
    if config.is_file():
        seed = json.loads(config.read_text()).get("random_seed")
        return int(seed) if seed is not None else None
    return None


def seed_statistics(values: Sequence[float], sem: bool = True) -> tuple[float, float]:
    """Mean and SEM (population std / sqrt(n), as the original) or the std itself."""
    arr = np.asarray(values, dtype=float)
    spread = arr.std()
    return float(arr.mean()), float(spread / math.sqrt(len(arr)) if sem else spread)


def write_seeds_summary(seeds_dir: Path, module: GridModule, summary_keys: Sequence[str], summary_sem: bool = True,
                        summary_precs: int | Sequence[int] | None = None) -> dict:
    """Write ``seeds_summary_text.txt`` and ``seeds_summary.json`` over the finished runs in ``seeds_dir``."""
    runs = finished_runs(seeds_dir, module)
    if not runs:
        raise GatherError(f"--seeds_dir={seeds_dir}: no finished run found")
    precs = [summary_precs if isinstance(summary_precs, int) else 2] * len(summary_keys) \
        if summary_precs is None or isinstance(summary_precs, int) else list(summary_precs)
    spread_name = "sem" if summary_sem else "std"
    lines, latex, stats = [], [], {}
    for key, prec in zip(summary_keys, precs):
        values = [s[key] for _, s in runs if not isinstance(s.get(key), list)]
        if not values:
            raise GatherError(f"summary key {key!r} is not a single number in the runs of {seeds_dir}")
        mean, spread = seed_statistics(values, summary_sem)
        stats[key] = {"mean": mean, spread_name: spread, "n": len(values), "values": values}
        lines.append(f"{key} (mean +/- {spread_name}): {mean:.{prec}f} +- {spread:.{prec}f}")
        latex.append(f"{mean:.{prec}f} $\\pm$ {spread:.{prec}f}")
    seeds = [_seed_of(d) for d, _ in runs]
    text = "\n".join(lines + [f"Number of seeds: {len(runs)}", f"Seeds: {seeds}",
                              "LaTeX row: " + " & ".join(latex)]) + "\n"
    atomic_write_text(seeds_dir / SUMMARY_TEXT_FILENAME, text)
    result = {"grid_module": module.name, "num_seeds": len(runs), "seeds": seeds,
              "runs": [str(d.relative_to(seeds_dir)) for d, _ in runs], "spread": spread_name, "keys": stats}
    atomic_write_text(seeds_dir / SUMMARY_JSON_FILENAME, json.dumps(result, indent=1))
    print(text, end="")
    return result


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
def build_parser(prog: str | None = None) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=prog, description="Gather random seeds of one configuration (see "
                                "hpsearch.gather_seeds).", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    g = p.add_argument_group("Seeds")
    g.add_argument("--run_dir", type=str, default="", help="A finished run, or a search folder (its best run).")
    g.add_argument("--seeds_dir", type=str, default="", help="Only aggregate the finished runs in this folder.")
    g.add_argument("--num_seeds", type=int, default=10, help="Seeds 0..N-1 unless --seeds_list is given.")
    g.add_argument("--seeds_list", type=str, default="", help="Comma-separated seeds, e.g. 3,5,7.")
    g.add_argument("--vary_data_seed", action="store_true", help="Set data_random_seed to each run's random_seed.")
    g.add_argument("--out_dir", type=str, default="",
                   help="Results folder (default: ./out/random_seeds/<name of the reference run>).")
    g.add_argument("--config_name", type=str, default="",
                   help=f"Where the seeds' grid JSON goes (default: <out_dir>/{SEEDS_GRID_FILENAME}).")
    g.add_argument("--start_gathering", action="store_true",
                   help="Run the seeds now (any backend flag below applies); otherwise print the command.")
    hpsearch.add_backend_args(p)
    return p


def _seeds(args: argparse.Namespace) -> list[int]:
    if args.seeds_list:
        try:
            return [int(s) for s in args.seeds_list.split(",") if s.strip()]
        except ValueError:
            raise GatherError(f"--seeds_list must be comma-separated integers (got {args.seeds_list!r})") from None
    if args.num_seeds < 1:
        raise GatherError(f"--num_seeds must be >= 1 (got {args.num_seeds})")
    return list(range(args.num_seeds))


def _backend_argv(args: argparse.Namespace) -> list[str]:
    """The backend flags the user changed from their defaults, passed on to the search."""
    backend = argparse.ArgumentParser(add_help=False)
    hpsearch.add_backend_args(backend)
    argv = []
    for dest, default in vars(backend.parse_args([])).items():
        value = getattr(args, dest)
        if value != default:
            argv.append(f"--{dest}" if value is True else f"--{dest}={value}")
    return argv


def gather(args: argparse.Namespace, module: GridModule,
           ignore_kwds: Sequence[str], forced_params: Mapping[str, object]) -> Path:
    """Write the seeds' grid, copy the reference run, and run (or print) the search. Returns the results folder."""
    ref = reference_run(Path(args.run_dir).resolve(), module)
    _, flags = run_command(ref)
    ref_seed = flags.get("random_seed")
    for key in (module.out_arg, "random_seed", *ignore_kwds):
        flags.pop(key, None)
    forced = dict(flags)
    for key, value in forced_params.items():
        if value is False:
            forced.pop(key, None)
        else:
            forced[key] = value
    seeds = _seeds(args)
    out_dir = Path(args.out_dir or Path("out") / "random_seeds" / ref.name).resolve()
    reuse = forced == flags and is_finished(parse_summary(ref / module.summary_filename, module.summary_keywords))
    if reuse and ref_seed is not None and int(ref_seed) in seeds:
        seeds.remove(int(ref_seed))
        out_dir.mkdir(parents=True, exist_ok=True)
        if not (out_dir / ref.name).exists():
            shutil.copytree(ref, out_dir / ref.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    config_path = Path(args.config_name or out_dir / SEEDS_GRID_FILENAME)
    atomic_write_text(config_path, json.dumps(seeds_grid(forced, seeds, args.vary_data_seed), indent=1))
    search_argv = [f"--grid_module={module.name}", f"--grid_config={config_path}", "--force_out_dir",
                   "--dont_force_new_dir", f"--out_dir={out_dir}", "--deterministic_search",
                   *_backend_argv(args)]
    if not seeds:
        print(f"gather_seeds: the reference run covers every seed; results in {out_dir}")
    elif args.start_gathering:
        hpsearch.main(search_argv)
    else:
        print("gather_seeds: start the gathering with\n  python -m hpsearch " + " ".join(map(shlex.quote, search_argv)))
    return out_dir


def run(grid_module: str, ignore_kwds: Sequence[str] = (), forced_params: Mapping[str, object] | None = None,
        summary_keys: Sequence[str] | None = None, summary_sem: bool = True,
        summary_precs: int | Sequence[int] | None = None, argv: list[str] | None = None) -> Path:
    """Entry point of the ``gather_seeds_*.py`` scripts; returns the results (or aggregated) folder."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        module = load_grid_module(grid_module)
        keys = list(summary_keys or [module.performance_key])
        if args.seeds_dir:
            seeds_dir = Path(args.seeds_dir)
            write_seeds_summary(seeds_dir, module, keys, summary_sem, summary_precs)
            return seeds_dir
        if not args.run_dir:
            raise GatherError("give --run_dir (a run or a search folder to gather seeds of) or --seeds_dir")
        out_dir = gather(args, module, ignore_kwds, forced_params or {})
        if args.start_gathering and finished_runs(out_dir, module):
            write_seeds_summary(out_dir, module, keys, summary_sem, summary_precs)
        return out_dir
    except (GatherError, GridModuleError, hpsearch.SearchError, SummaryError) as e:
        parser.exit(2, f"gather_seeds: error: {e}\n")
