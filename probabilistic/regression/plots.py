"""Figures of the regression runs, written as PNG and to TensorBoard after testing n tasks (spec §4.1).

* ``pred_dists_<n>.png``: per task, the predictive mean ± 1, 2, 3 std over the test range with the training data.
* ``val_predictions_<n>.png``: predictive means on each task's validation range, all tasks in one plot.
* ``mse_<n>.png``: in-domain MSE per task, right after learning it (during) and now.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
from torch import Tensor

from data.special.regression1d import RegressionTask


@functools.cache
def _pyplot():
    """``matplotlib.pyplot`` with the file-only Agg backend (no display, also on clusters), imported on first use:
    the import takes about a second, which a run that draws nothing (every classification run imports this
    module through the registry) should not pay."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _color(i: int) -> str:
    """The i-th colour of matplotlib's default cycle."""
    colors = _pyplot().rcParams["axes.prop_cycle"].by_key()["color"]
    return colors[i % len(colors)]


def _save(fig, path: Path, writer, tag: str, step: int, left: float = 0.11) -> None:
    """Render once; the same pixels go to the PNG file and to TensorBoard.

    Args:
        left: Left margin (figure fraction) for the y tick labels and label.
    """
    fig.subplots_adjust(left=left, right=0.97, bottom=0.11, top=0.92)  # cheaper than tight_layout
    fig.canvas.draw()
    rgba = np.asarray(fig.canvas.buffer_rgba())  # [H, W, 4] uint8
    plt = _pyplot()
    plt.close(fig)
    plt.imsave(path, rgba)
    writer.add_image(tag, rgba[..., :3], global_step=step, dataformats="HWC")


def plot_predictive_distributions(tasks: list[RegressionTask], test_preds: Tensor, out_dir: Path, writer,
                                  n: int, publication_style: bool = False) -> Path:
    """Mean ± 1/2/3 std bands of each task's own model over the test range.

    Args:
        test_preds: ``[n, V, points]`` predictions of model i on task i's test inputs.
    """
    fig, ax = _pyplot().subplots(figsize=(6, 4) if publication_style else (8, 5))
    for i, task in enumerate(tasks[:n]):
        x = task.test_x[:, 0].cpu().numpy()
        pred = test_preds[i].cpu().numpy()
        mean, std = pred.mean(0), pred.std(0)
        color = _color(i)
        for k, alpha in ((3, 0.1), (2, 0.15), (1, 0.25)):
            ax.fill_between(x, mean - k * std, mean + k * std, color=color, alpha=alpha, linewidth=0)
        ax.plot(x, mean, color=color, label=f"task {i + 1}: {task.spec.name}")
        ax.plot(x, task.test_y[:, 0].cpu().numpy(), color=color, linestyle=":", linewidth=1)
        ax.scatter(task.train_x[:, 0].cpu().numpy(), task.train_y[:, 0].cpu().numpy(), color=color, s=10,
                   edgecolors="k", linewidths=0.3, zorder=3)
    # The true functions explode outside the training ranges; frame the data instead.
    ys = np.concatenate([t.train_y[:, 0].cpu().numpy() for t in tasks[:n]])
    pad = 0.5 * (ys.max() - ys.min()) + 1e-3
    ax.set_ylim(ys.min() - pad, ys.max() + pad)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    ax.set_title(f"Predictive distributions after {n} task(s)")
    ax.legend(loc="best", fontsize="small")
    path = out_dir / f"pred_dists_{n}.png"
    _save(fig, path, writer, "test/pred_dists", n)
    return path


def plot_val_predictions(tasks: list[RegressionTask], val_preds: Tensor, out_dir: Path, writer, n: int) -> Path:
    """Predictive means of model i on task i's validation inputs, with the true function.

    Args:
        val_preds: ``[n models, V, n tasks, points]``.
    """
    fig, ax = _pyplot().subplots(figsize=(8, 5))
    for i, task in enumerate(tasks[:n]):
        color = _color(i)
        x = task.val_x[:, 0].cpu().numpy()
        ax.plot(x, task.val_y[:, 0].cpu().numpy(), color=color, linestyle=":", label=f"f{i + 1}")
        ax.plot(x, val_preds[i, :, i].mean(0).cpu().numpy(), color=color, label=f"model {i + 1}")
    ax.set_title(f"Validation predictions after {n} task(s)")
    ax.legend(loc="best", fontsize="small")
    path = out_dir / f"val_predictions_{n}.png"
    _save(fig, path, writer, "test/val_predictions", n)
    return path


def plot_mse(during: list[float], current: list[float], out_dir: Path, writer, n: int) -> Path:
    """Bar chart of the in-domain MSE per task: right after learning it and after n tasks."""
    fig, ax = _pyplot().subplots(figsize=(6, 4))
    idx = np.arange(n)
    ax.bar(idx - 0.2, during[:n], width=0.4, label="during")
    ax.bar(idx + 0.2, current[:n], width=0.4, label=f"after task {n}")
    ax.set_xticks(idx, [f"task {i + 1}" for i in idx])
    ax.set_ylabel("MSE")
    ax.set_yscale("log")
    ax.legend()
    path = out_dir / f"mse_{n}.png"
    _save(fig, path, writer, "test/mse", n, left=0.17)  # log-scale labels such as 9x10^-3 need the room
    return path
