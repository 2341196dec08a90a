"""Tidy a search folder after (or during) a search: ``python -m hpsearch.postprocessing <search folder>``.

For every run of ``commands.json`` (or an original ``commands.pickle``, read through :mod:`utils.safe_pickle`):
check that its flags still parse with the script's parser (``_ARGPARSE_HANDLE``), find its folder, read its summary,
and sort it into finished / unfinished / missing (no summary). Writes ``postprocessing_results.csv`` (every run with a
summary, sorted by ``_PERFORMANCE_KEY``) and ``postprocessing_{finished,unfinished,missing}_jobs.json`` (an older
file of the same name is kept with a timestamp). With ``--performance_criteria=<x>``, runs that fail
``_PERFORMANCE_EVAL_HANDLE(summary, x)`` or have no summary move into ``TO_BE_DELETED/``. Scheduler log files
``job_sim_*.out/.err`` left in ``--run_cwd`` move into their run folders.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import datetime
from pathlib import Path

from hpsearch.grid import command_argv
from hpsearch.grid_module import GridModule, GridModuleError, load_grid_module
from hpsearch.search_state import SearchState
from hpsearch.summary_parser import SummaryError, is_finished
from utils.atomic import atomic_write_text
from utils.safe_pickle import load_plain_pickle

RESULTS_FILENAME = "postprocessing_results.csv"
DELETE_FOLDER = "TO_BE_DELETED"


def read_commands(search_dir: Path) -> list[dict]:
    """The runs' flags: ``commands.json``, else an original ``commands.pickle``."""
    if (search_dir / "commands.json").is_file():
        return json.loads((search_dir / "commands.json").read_text())
    if (search_dir / "commands.pickle").is_file():
        return list(load_plain_pickle(search_dir / "commands.pickle"))
    raise FileNotFoundError(f"{search_dir}: no commands.json or commands.pickle (is it a search folder?)")


def _keep_old(path: Path) -> None:
    if path.exists():
        path.rename(path.with_name(f"{path.stem}_{datetime.now():%Y-%m-%d_%H-%M-%S}{path.suffix}"))


def move_scheduler_logs(run_cwd: Path, run_dirs: dict[str, Path]) -> int:
    """Move ``job_<run name>*.out/.err`` files from ``run_cwd`` into their run folders; returns how many."""
    moved = 0
    for log in list(run_cwd.glob("job_*.out")) + list(run_cwd.glob("job_*.err")):
        for name, folder in run_dirs.items():
            if log.name.startswith(f"job_{name}") and folder.is_dir():
                shutil.move(str(log), folder / log.name)
                moved += 1
                break
    return moved


def postprocess(search_dir: Path, module: GridModule, run_cwd: Path, criterion: float | None) -> dict[str, list]:
    """Classify, tabulate and (with a criterion) set aside the runs of a search; returns the three job lists."""
    commands = read_commands(search_dir)
    names = [Path(str(c[module.out_arg])).name for c in commands]
    folders = {name: search_dir / name for name in names}  # the search folder may have moved since
    groups: dict[str, list] = {"finished": [], "unfinished": [], "missing": []}
    state = SearchState(module.name, module.script_name, module.out_arg, module.summary_keywords,
                        module.performance_key, module.performance_sort_asc, module.grid, module.conditions, names,
                        [{**c, module.out_arg: str(folders[n])} for c, n in zip(commands, names)])
    to_delete = []
    for i, (config, name) in enumerate(zip(commands, names)):
        flags = {k: v for k, v in config.items() if k != module.out_arg}
        if module.argparse_handle is not None:
            try:
                module.argparse_handle(command_argv(flags))
            except SystemExit:
                print(f"postprocessing: run {name}: its flags no longer parse with {module.script_name}")
        try:
            summary = module.read_summary(folders[name], i)
        except (SummaryError, OSError, ValueError):
            groups["missing"].append(config)
            to_delete.append(name)
            continue
        state.results[str(i)] = summary
        groups["finished" if is_finished(summary) else "unfinished"].append(config)
        if criterion is not None and module.performance_eval is not None \
                and not module.performance_eval(summary, criterion):
            to_delete.append(name)
    if state.results:
        state.write_csv(search_dir, filename=RESULTS_FILENAME)
    for group, jobs in groups.items():
        path = search_dir / f"postprocessing_{group}_jobs.json"
        _keep_old(path)
        atomic_write_text(path, json.dumps(jobs, indent=1))
    moved = move_scheduler_logs(run_cwd, folders)
    if criterion is not None:
        (search_dir / DELETE_FOLDER).mkdir(exist_ok=True)
        for name in to_delete:
            if folders[name].is_dir():
                shutil.move(str(folders[name]), search_dir / DELETE_FOLDER / name)
    print(f"postprocessing: {len(groups['finished'])} finished, {len(groups['unfinished'])} unfinished, "
          f"{len(groups['missing'])} missing; {moved} log file(s) moved"
          + (f"; {len(to_delete)} run(s) moved to {DELETE_FOLDER}/" if criterion is not None else ""))
    return groups


def main(argv: list[str] | None = None) -> dict[str, list]:
    p = argparse.ArgumentParser(prog="python -m hpsearch.postprocessing", description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", type=str, help="The search folder.")
    p.add_argument("--grid_module", type=str, default="",
                   help="The search's grid module (default: the one recorded in the search folder).")
    p.add_argument("--run_cwd", type=str, default=".", help="Where the runs were started (scheduler logs).")
    p.add_argument("--performance_criteria", type=float, default=None,
                   help="Move runs failing the grid module's _PERFORMANCE_EVAL_HANDLE at this value to "
                        f"{DELETE_FOLDER}/.")
    args = p.parse_args(argv)
    search_dir = Path(args.out_dir).resolve()
    try:
        name = args.grid_module
        if not name:
            if not SearchState.path_in(search_dir).is_file():
                raise GridModuleError(f"{search_dir} records no grid module; pass --grid_module")
            name = SearchState.load(search_dir).grid_module
        return postprocess(search_dir, load_grid_module(name), Path(args.run_cwd).resolve(),
                           args.performance_criteria)
    except (GridModuleError, FileNotFoundError) as e:
        p.exit(2, f"postprocessing: error: {e}\n")


if __name__ == "__main__":
    main()
