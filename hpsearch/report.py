"""Which numbers reproduce: ``python -m hpsearch.report <seeds or search folder> [--targets targets.json]``.

Collects every finished run below the folder, computes mean +/- SEM (population std / sqrt(n)) of each numeric
summary key, and writes ``report.md``: one table of all keys, and, when a targets file is given (the
``targets_*.json`` format of the spec), a first table putting each reported number of the matching README command next
to ours, with the difference in units of our SEM. ``report.png`` plots those rows, one panel per key (ours with its
SEM bar, the paper's value as a marker), or the first keys when no target matches.

The matching target is the entry for the same script whose flags agree best with the runs' own command
(``cli_call.sh`` / ``hpsearch_command.sh``); ``--target_line`` picks one by its README line or id instead.
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
from dataclasses import dataclass
from pathlib import Path

from hpsearch.gather_seeds import GatherError, argv_to_flags, run_command, seed_statistics
from hpsearch.summary_parser import is_finished, parse_value
from utils.atomic import atomic_write_text

SUMMARY_FILENAME = "performance_overview.txt"
#: Flags that differ between the seeds of one configuration, or between the README and a seed gathering.
IGNORED_FLAGS = {"out_dir", "random_seed", "data_random_seed", "val_sample_size", "store_final_model",
                 "store_final_models", "store_during_models", "during_acc_criterion"}
#: The RNN targets name their metrics; the posterior-replay targets give ``metric_summary_keys``.
RNN_METRIC_KEYS = {"final_acc": "mean_final_accuracy", "during_acc": "mean_during_accuracy",
                   "compression_ratio": "compression_ratio"}


@dataclass
class KeyStats:
    key: str
    mean: float
    sem: float
    n: int


def read_any_summary(path: Path) -> dict:
    """Every ``key value`` line of a summary file, values parsed as numbers."""
    result = {}
    for line in path.read_text().splitlines():
        key, _, rest = line.partition(" ")
        if key:
            result[key] = parse_value(rest)
    return result


def collect_runs(folder: Path) -> list[tuple[Path, dict]]:
    """The finished runs below ``folder`` (runs set aside in ``TO_BE_DELETED`` excluded)."""
    runs = []
    for path in sorted(folder.rglob(SUMMARY_FILENAME)):
        if "TO_BE_DELETED" in path.parts:
            continue
        summary = read_any_summary(path)
        if is_finished(summary):
            runs.append((path.parent, summary))
    return runs


def key_statistics(runs: list[tuple[Path, dict]]) -> list[KeyStats]:
    """Mean +/- SEM of every key that is a finite number in at least one run, in file order."""
    keys = list(dict.fromkeys(k for _, s in runs for k in s))
    stats = []
    for key in keys:
        values = [s[key] for _, s in runs if key in s and not isinstance(s[key], list) and not math.isnan(s[key])]
        if values and key != "finished":
            mean, sem = seed_statistics(values)
            stats.append(KeyStats(key, mean, sem, len(values)))
    return stats


def target_metrics(target: dict) -> dict[str, tuple[str, float]]:
    """``{label: (summary key, reported value)}`` of a target entry (numbers only)."""
    keys = target.get("metric_summary_keys") or {m: RNN_METRIC_KEYS.get(m, m) for m in target.get("metrics", {})}
    return {label: (keys[label], value) for label, value in target.get("metrics", {}).items()
            if value is not None and label in keys}


def match_target(targets: list[dict], script: str, flags: dict, line: int | None = None) -> tuple[dict | None, list]:
    """The target entry of the runs' command, and the flags in which the runs differ from it."""
    if line is not None:
        chosen = [t for t in targets if line in (t.get("readme_line"), t.get("id"))]
        if not chosen:
            raise GatherError(f"--target_line={line}: no entry with that README line or id")
        candidates = chosen
    else:
        candidates = [t for t in targets if Path(t["script"]).name == Path(script).name and target_metrics(t)]
    best, best_diff = None, None
    for t in candidates:
        wanted = {k: v for k, v in argv_to_flags(shlex.split(t["args"])).items() if k not in IGNORED_FLAGS}
        diff = sorted(k for k, v in wanted.items() if str(flags.get(k)) != str(v))
        diff += sorted(k for k in flags if k not in wanted and k not in IGNORED_FLAGS)
        if best_diff is None or len(diff) < len(best_diff):
            best, best_diff = t, diff
    return best, best_diff or []


def render(folder: Path, runs: list, stats: list[KeyStats], target: dict | None, differing: list,
           searched: bool = False) -> str:
    """The Markdown report."""
    by_key = {s.key: s for s in stats}
    out = [f"# Report: {folder}", "", f"{len(runs)} finished run(s); mean +/- SEM (population std / sqrt(n)).", ""]
    if target is None and searched:
        out += ["No entry of the targets file with reported numbers matches the runs' script.", ""]
    if target is not None:
        where = f"{target.get('readme', '?')} line {target.get('readme_line', target.get('id', '?'))}"
        out += [f"Target: {target.get('experiment', '')} / {target.get('method', '')} ({where}).",
                "Flags of the runs that differ from the target command: " + (", ".join(differing) or "none") + ".", "",
                "| metric | summary key | paper | ours (mean +/- SEM) | n | difference | difference / SEM |",
                "|---|---|---|---|---|---|---|"]
        for label, (key, value) in target_metrics(target).items():
            s = by_key.get(key)
            if s is None:
                out.append(f"| {label} | {key} | {value:g} | missing | 0 | | |")
                continue
            diff = s.mean - value
            ratio = f"{diff / s.sem:+.1f}" if s.sem > 0 else "n/a (one run or no spread)"
            ours = f"{s.mean:.4g} +/- {s.sem:.2g}"
            out.append(f"| {label} | {key} | {value:g} | {ours} | {s.n} | {diff:+.4g} | {ratio} |")
        out.append("")
    out += ["| summary key | mean +/- SEM | n |", "|---|---|---|"]
    out += [f"| {s.key} | {s.mean:.6g} +/- {s.sem:.3g} | {s.n} |" for s in stats]
    return "\n".join(out) + "\n"


def plot(path: Path, stats: list[KeyStats], target: dict | None) -> None:
    """One panel per key (each on its own scale): ours with its SEM bar, the paper's value as a marker."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_key = {s.key: s for s in stats}
    rows = [(label, by_key[key], value) for label, (key, value) in (target_metrics(target) if target else {}).items()
            if key in by_key] or [(s.key, s, None) for s in stats[:8]]
    cols = min(4, len(rows))
    nrows = -(-len(rows) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(2.6 * cols, 2.4 * nrows), squeeze=False)
    for ax, (label, s, paper) in zip(axes.flat, rows):
        ax.errorbar([0], [s.mean], yerr=[s.sem], fmt="o", color="tab:blue", capsize=5, label=f"ours (n={s.n})")
        if paper is not None:
            ax.plot([0], [paper], "D", color="tab:red", label="paper")
        ax.set_title(label, fontsize=9)
        ax.set_xticks([])
        ax.legend(fontsize=7, loc="best")
    for ax in list(axes.flat)[len(rows):]:
        ax.set_visible(False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> Path:
    p = argparse.ArgumentParser(prog="python -m hpsearch.report", description=__doc__.split("\n\n")[0])
    p.add_argument("folder", type=str, help="A seed-gathering or search folder (or a single run).")
    p.add_argument("--targets", type=str, default="", help="A targets_*.json file of the spec.")
    p.add_argument("--target_line", type=int, default=None, help="Use the target with this README line or id.")
    p.add_argument("--out", type=str, default="", help="Report path (default: <folder>/report.md).")
    args = p.parse_args(argv)
    folder = Path(args.folder).resolve()
    try:
        runs = collect_runs(folder)
        if not runs:
            raise GatherError(f"{folder}: no finished run found")
        stats = key_statistics(runs)
        target, differing = None, []
        if args.targets:
            targets_path = Path(args.targets)
            if not targets_path.is_file():
                raise GatherError(f"--targets: no such file {targets_path}")
            script, flags = run_command(runs[0][0])
            target, differing = match_target(json.loads(targets_path.read_text()), script, flags, args.target_line)
    except GatherError as e:
        p.exit(2, f"report: error: {e}\n")
    out = Path(args.out) if args.out else folder / "report.md"
    atomic_write_text(out, render(folder, runs, stats, target, differing, searched=bool(args.targets)))
    plot(out.with_suffix(".png"), stats, target)
    print(f"report: {out} and {out.with_suffix('.png')}")
    return out


if __name__ == "__main__":
    main()
