"""Figures of the hidden-state analyses, each written as PNG and PDF (spec §5.2 lists them).

Every function takes the plain results dict of :func:`sequential.ht_analyses.state_analysis.analyse_run` (or lists
of them) and a path stem (``.../dimension_per_task``), and writes ``<stem>.png`` and ``<stem>.pdf``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display (also on clusters)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig, stem: str | Path) -> list[Path]:
    """Write ``<stem>.png`` and ``<stem>.pdf`` and close the figure."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = [stem.with_suffix(".png"), stem.with_suffix(".pdf")]
    fig.tight_layout()
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths


def _tasks(values: Sequence) -> np.ndarray:
    return np.arange(1, len(values) + 1)


def importance_vs_task(results: dict, stem: str | Path) -> list[Path]:
    """Mean importance (Fisher or Omega) of the hidden-to-hidden (and Elman hidden-to-output) weights per task."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    ax.plot(_tasks(results["mean_importance"]), results["mean_importance"], "o-", label="hidden-to-hidden")
    if np.isfinite(results["mean_importance_ho"]).any():
        ax.plot(_tasks(results["mean_importance_ho"]), results["mean_importance_ho"], "s--", label="hidden-to-output")
    ax.set(xlabel="tasks learnt", ylabel=f"mean {results['importance_name']}")
    ax.legend(fontsize=8)
    return save_figure(fig, stem)


def dimension_per_task(results: dict, stem: str | Path) -> list[Path]:
    """Dimensionality (at ``p_var``) of the pooled states of tasks 1..t under the model after task t."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    for key, label in (("dim_h", "h_t (internal)"), ("dim_y", "y_t (output)")):
        ax.plot(_tasks(results[key]), results[key], "o-", label=label)
    ax.set(xlabel="tasks learnt", ylabel=f"dimensions ({100 * results['p_var']:.0f}% var.)")
    ax.legend(fontsize=8)
    return save_figure(fig, stem)


def dimension_onto_task1(results: dict, stem: str | Path) -> list[Path]:
    """Variance of each later task explained by task 1's top-k principal components (final model)."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    ks = results["overlap_k"]
    for j, curve in enumerate(results["overlap_with_task1"]):
        ax.plot(ks, curve, label=f"task {j + 2}")
    ax.set(xlabel="PCs of task 1", ylabel="explained variance", ylim=(0, 1.02))
    ax.legend(fontsize=8)
    return save_figure(fig, stem)


def dims_per_timestep(results: dict, stem: str | Path) -> list[Path]:
    """Dimensionality of the states of every timestep, one line per during model."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    for t, dims in enumerate(results["dim_per_ts_h"]):
        ax.plot(np.arange(len(dims)), dims, label=f"after task {t + 1}")
    if results.get("stop_step") is not None:
        ax.axvline(results["stop_step"], color="gray", ls=":", lw=1)
    ax.set(xlabel="timestep", ylabel="dimensions of h_t")
    ax.legend(fontsize=7)
    return save_figure(fig, stem)


def accuracy_vs_bptt(results: dict, stem: str | Path) -> list[Path]:
    """Copy accuracy of each output step against its BPTT distance (``--permute_time``), one line per task."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    for t, (ds, accs) in enumerate(zip(results["bptt_distance"], results["acc_vs_bptt"])):
        ax.plot(ds, accs, "o-", label=f"task {t + 1}")
    ax.set(xlabel="BPTT distance (steps)", ylabel="bit accuracy (%)")
    ax.legend(fontsize=7)
    return save_figure(fig, stem)


def supervised_dims(results: dict, stem: str | Path) -> list[Path]:
    """Accuracy against the number of supervised dimensions kept, one line per during model."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    for t, accs in enumerate(results["accu_n_dim_supervised"]):
        ax.plot(np.arange(1, len(accs) + 1), accs, label=f"after task {t + 1}")
    ax.set(xlabel="supervised dimensions", ylabel="accuracy (%)")
    ax.legend(fontsize=7)
    return save_figure(fig, stem)


def head_similarity(sim: np.ndarray, stem: str | Path) -> list[Path]:
    """Heat map of the output heads' subspace similarities."""
    fig, ax = plt.subplots(figsize=(3.5, 3))
    im = ax.imshow(sim, vmin=0, vmax=1, cmap="viridis")
    fig.colorbar(im, ax=ax)
    ax.set(xlabel="head", ylabel="head", xticks=range(len(sim)), yticks=range(len(sim)))
    return save_figure(fig, stem)


def complexity_effects(groups: list[dict], name: str, stem: str | Path) -> list[Path]:
    """Across runs: final performance, dimensionality, task-1 overlap and importance against the complexity
    measure (mean ± SEM over the runs of each complexity).

    Args:
        groups: One dict per complexity value: ``complexity`` and per-run lists ``final_perf``, ``dim``,
            ``overlap``, ``importance``.
    """
    keys = [("final_perf", "final accuracy / loss"), ("dim", "dimensions (all tasks)"),
            ("overlap", "var. of last task in task-1 PCs"), ("importance", "mean hh importance")]
    fig, axes = plt.subplots(1, len(keys), figsize=(3 * len(keys), 2.8))
    x = [g["complexity"] for g in groups]
    for ax, (key, label) in zip(axes, keys):
        vals = [np.asarray(g[key], dtype=float) for g in groups]
        mean = [v.mean() for v in vals]
        sem = [v.std(ddof=1) / np.sqrt(len(v)) if len(v) > 1 else 0.0 for v in vals]
        ax.errorbar(x, mean, yerr=sem, fmt="o-", capsize=3)
        ax.set(xlabel=name, ylabel=label)
    return save_figure(fig, stem)


def dims_per_timestep_by_complexity(results: list[dict], name: str, stem: str | Path) -> list[Path]:
    """Dimensionality of ``h_t`` per timestep after task 1, one line per run, aligned at the stop flag (copy task:
    x = timestep - stop step)."""
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    for r in sorted(results, key=lambda r: r["complexity"]):
        dims = r["dim_per_ts_h"][0]
        offset = r["stop_step"] or 0
        ax.plot(np.arange(len(dims)) - offset, dims, label=f"{name} {r['complexity']}")
    ax.set(xlabel="timestep - stop flag" if results[0].get("stop_step") is not None else "timestep",
           ylabel=f"dims of h_t ({100 * results[0]['p_var']:.0f}% var.)")
    if results[0].get("stop_step") is not None:
        ax.axvline(0, color="gray", ls=":", lw=1)
    ax.legend(fontsize=7)
    return save_figure(fig, stem)
