"""The RNN runs' output files besides the summary (spec §5.1), in safe formats (no pickle).

* ``test_acc.npy`` (``test_loss.npy`` for the student-teacher regression): the score matrix ``[t, num_tasks]``,
  row t after learning task t (one row for multitask), NaN where a task was not tested.
* ``train_loss.json``: per task a dict of lists sampled every 50 steps, with the original's keys ``task, ewc, si,
  hnet, sparse, orthogonal, rec, pm, distill`` (0 where a term is inactive) and the iterations ``iter``.
* ``results_summary.csv``: the summary numbers as one ``;``-separated row (the original's column order; lists
  written as ``[a b c]``, ``rnn_arch`` quoted).
* ``train_loss.pdf``/``.png`` (task loss per task against the iteration; not for multitask) and
  ``test_acc.pdf``/``.png`` (``test_loss`` for regression): heat map of the score matrix, trained x tested task.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from utils.atomic import atomic_write, atomic_write_text

#: ``train_step`` measurement -> key of the original's ``train_loss`` bookkeeping.
TRAIN_LOSS_KEYS = {"loss_task": "task", "loss_ewc": "ewc", "loss_si": "si", "loss_hnet": "hnet",
                   "loss_sparse": "sparse", "loss_orthogonal": "orthogonal", "loss_vae_rec": "rec",
                   "loss_vae_pm": "pm", "loss_distill": "distill"}


def train_loss_curves(measurements: list[dict]) -> dict[str, list[float]]:
    """One task's logged measurements (dicts with ``iter`` and ``loss_*`` keys) -> the original's dict of lists."""
    curves = {"iter": [int(m["iter"]) for m in measurements]}
    for src, key in TRAIN_LOSS_KEYS.items():
        curves[key] = [float(m.get(src, 0.0)) for m in measurements]
    return curves


def _csv_value(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + " ".join(f"{float(v):g}" for v in value) + "]"
    if isinstance(value, float):
        return "nan" if np.isnan(value) else repr(value)
    return str(value)


def results_summary_row(summary: dict) -> dict:
    """The columns of ``results_summary.csv`` from a summary dict (its ``*_accuracy``/``*_loss``/F-score keys in the
    original's order, then ``rnn_arch``, ``hnet_arch``, ``compression_ratio``)."""
    var = "loss" if "mean_final_loss" in summary else "accuracy"
    order = ["mean_final_fscore", "mean_during_fscore", "final_fscore", "during_fscore",
             f"mean_final_{var}", f"std_final_{var}", f"mean_during_{var}", f"std_during_{var}", f"min_final_{var}",
             f"min_during_{var}", f"during_{var}", f"final_{var}"]
    row = {k: summary[k] for k in order if k in summary}
    row["rnn_arch"] = f'"{summary["rnn_arch"]}"'
    row["hnet_arch"] = summary["hnet_arch"] if not np.isnan(summary["compression_ratio"]) else float("nan")
    row["compression_ratio"] = summary["compression_ratio"]
    return row


def write_results_csv(out_dir: str | Path, summary: dict) -> None:
    """``results_summary.csv``: header and one row, ``;``-separated."""
    row = results_summary_row(summary)
    text = ";".join(row) + "\n" + ";".join(_csv_value(v) for v in row.values()) + "\n"
    atomic_write_text(Path(out_dir) / "results_summary.csv", text)


def write_arrays(out_dir: str | Path, scores: np.ndarray, train_loss: list[dict], regression: bool) -> None:
    """``test_acc.npy`` / ``test_loss.npy`` and ``train_loss.json``."""
    out_dir = Path(out_dir)
    name = "test_loss.npy" if regression else "test_acc.npy"

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(scores, dtype=np.float64))

    atomic_write(out_dir / name, save)
    atomic_write_text(out_dir / "train_loss.json", json.dumps(train_loss))


def read_train_loss(out_dir: str | Path) -> list[dict]:
    """The per-task curves of ``train_loss.json`` (empty if there is none yet): a resumed run continues them."""
    path = Path(out_dir) / "train_loss.json"
    return json.loads(path.read_text()) if path.exists() else []


def plot_train_loss(out_dir: str | Path, train_loss: list[dict]) -> None:
    """``train_loss.pdf``/``.png``: the task loss of every task against the iteration."""
    from sequential.ht_analyses.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for t, curves in enumerate(train_loss):
        ax.plot(curves["iter"], curves["task"], label=f"task {t + 1}")
    ax.set(xlabel="iteration", ylabel="task loss")
    ax.legend(fontsize=7)
    save_figure(fig, Path(out_dir) / "train_loss")


def plot_test_scores(out_dir: str | Path, scores: np.ndarray, regression: bool) -> None:
    """``test_acc.pdf``/``.png`` (``test_loss`` for regression): scores as a trained x tested heat map."""
    from sequential.ht_analyses.plots import plt, save_figure

    fig, ax = plt.subplots(figsize=(4, 3.5))
    limits = {} if regression else {"vmin": 0, "vmax": 100}
    scores = np.asarray(scores)
    im = ax.imshow(scores.T, cmap="viridis", **limits)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="test loss" if regression else "test accuracy (%)")
    rows, cols = scores.shape
    ax.set(xlabel="trained task", ylabel="tested task", xticks=range(rows), yticks=range(cols),
           xticklabels=range(1, rows + 1), yticklabels=range(1, cols + 1))
    save_figure(fig, Path(out_dir) / ("test_loss" if regression else "test_acc"))


def write_run_outputs(out_dir: str | Path, scores: np.ndarray, train_loss: list[dict], summary: dict,
                      regression: bool, multitask: bool, finished: bool) -> None:
    """Everything of the module docstring (figures only once training finished, as the original)."""
    write_arrays(out_dir, scores, train_loss, regression)
    write_results_csv(out_dir, summary)
    if finished:
        if not multitask:
            plot_train_loss(out_dir, train_loss)
        plot_test_scores(out_dir, scores, regression)
