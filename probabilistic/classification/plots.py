"""2D GMM figures (spec §4.1): data, per-task entropy maps, decision maps and the maps after task inference on a
250×250 grid over [−9, 9]², rendered once after the last task into ``gmm_maps.png`` and TensorBoard
(``all_tasks/maps``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from data.dataset import Dataset
from probabilistic.classification.evaluate import PredictFn, predict_softmax
from probabilistic.heads import Heads
from probabilistic.task_inference import uncertainty

GRID_SIZE = 250
GRID_LIMIT = 9.0


def grid_inputs(device: torch.device, size: int | None = None, limit: float = GRID_LIMIT) -> torch.Tensor:
    """Grid points ``[size², 2]`` (default ``GRID_SIZE``) in row-major order (y varies slowest)."""
    size = size or GRID_SIZE
    axis = torch.linspace(-limit, limit, size, device=device)
    yy, xx = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


@torch.no_grad()
def gmm_maps(models: Sequence[object], predict: PredictFn, heads: Heads, num_samples: int, val_batch_size: int,
             device: torch.device, size: int | None = None) -> dict[str, np.ndarray]:
    """Per-model normalised entropy and decision (global class id) ``[J, size, size]``, and after entropy-based
    task inference: inferred task, decision and entropy ``[size, size]``."""
    J, size = len(models), size or GRID_SIZE
    grid = grid_inputs(device, size)
    probs, widths, offsets = predict_softmax(models, predict, grid, heads, J, num_samples, val_batch_size)
    unc = uncertainty(probs, heads.num_classes, widths)
    decision = unc.predictive.argmax(-1) + offsets.to(grid.device)[:, None]  # [J, size²]
    inferred = unc.entropy.argmin(0)  # [size²]
    idx = torch.arange(grid.shape[0], device=grid.device)
    shape = (size, size)
    return {
        "entropy": unc.entropy.reshape(J, *shape).cpu().numpy(),
        "decision": decision.reshape(J, *shape).cpu().numpy(),
        "inferred_task": inferred.reshape(shape).cpu().numpy(),
        "inferred_decision": decision[inferred, idx].reshape(shape).cpu().numpy(),
        "inferred_entropy": unc.entropy[inferred, idx].reshape(shape).cpu().numpy(),
    }


def plot_gmm_maps(maps: dict[str, np.ndarray], tasks: Sequence[Dataset], heads: Heads, out_dir: Path, writer,
                  step: int) -> Path:
    """One figure: row 1 data + entropy maps (per model, after task inference), row 2 task-inference map +
    decision maps; training points on every panel. Returns the PNG path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.image import imread

    J = maps["entropy"].shape[0]
    extent = (-GRID_LIMIT, GRID_LIMIT, -GRID_LIMIT, GRID_LIMIT)
    num_global = max(heads.num_outputs, heads.num_tasks * heads.num_classes)
    fig, axes = plt.subplots(2, J + 2, figsize=(2.6 * (J + 2), 5.4), squeeze=False)
    fig.subplots_adjust(left=0.04, right=0.92, bottom=0.05, top=0.94, wspace=0.25, hspace=0.25)
    panels = [(axes[0, 1 + j], maps["entropy"][j], "viridis", f"entropy, model {j + 1}") for j in range(J)]
    panels += [(axes[0, J + 1], maps["inferred_entropy"], "viridis", "entropy, inferred task")]
    panels += [(axes[1, 1 + j], maps["decision"][j], "tab10", f"decision, model {j + 1}") for j in range(J)]
    panels += [(axes[1, J + 1], maps["inferred_decision"], "tab10", "decision, inferred task"),
               (axes[1, 0], maps["inferred_task"], "Set2", "inferred task (entropy)")]
    for ax, image, cmap, title in panels:
        vmax = 1.0 if cmap == "viridis" else (num_global - 1 if cmap == "tab10" else max(J - 1, 1))
        im = ax.imshow(image, origin="lower", extent=extent, cmap=cmap, vmin=0, vmax=vmax,
                       interpolation="nearest", alpha=0.8 if cmap != "viridis" else 1.0)
        if cmap == "viridis":
            entropy_image = im
        ax.set_title(title, fontsize=9)
    fig.colorbar(entropy_image, cax=fig.add_axes((0.935, 0.55, 0.012, 0.39)), label="normalised entropy")
    ax = axes[0, 0]
    ax.set_xlim(extent[:2])
    ax.set_ylim(extent[2:])
    ax.set_title("training data", fontsize=9)
    markers = "os^vD*"
    for t, task in enumerate(tasks[:J]):
        x = task.inputs("train").cpu().numpy()
        y = task.targets("train", one_hot=False).cpu().numpy()
        for a in axes.flat:
            a.scatter(x[:, 0], x[:, 1], c=y + heads.label_offset(t), cmap="tab10", vmin=0, vmax=num_global - 1,
                      marker=markers[t % len(markers)], s=8, edgecolors="k", linewidths=0.3)
    for a in axes.flat:
        a.set_aspect("equal")
        a.tick_params(labelsize=7)
    path = Path(out_dir) / "gmm_maps.png"
    fig.savefig(path, dpi=80)
    plt.close(fig)
    writer.add_image("all_tasks/maps", imread(path)[..., :3], step, dataformats="HWC")
    return path
