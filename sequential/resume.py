"""RNN runs resume after their last finished task with the numbers an uninterrupted run would give.

After every task the runner stores (through :mod:`utils.task_state`, in ``checkpoints/task_<t>.*``) everything the
next task depends on: the networks (main network, hypernetwork, replay decoder and its hypernetwork, word
embeddings), the masks, the methods' state (hypernetwork targets, Fisher and anchors, SI's Ω, coresets, ...), the
accuracy (and F-score) matrices, and every random state: torch's, the runner's numpy generator and each task's batch
streams. A rerun with the same flags (:mod:`utils.run_folder` refuses others) loads the newest such checkpoint and
goes on with the next task. The original RNN code has no resume.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from utils.task_state import latest_task, load_task_state, save_task_state

NETWORKS = ("mnet", "hnet", "decoder", "dec_hnet", "wembs")


def _networks(model) -> nn.ModuleDict:
    return nn.ModuleDict({name: getattr(model, name) for name in NETWORKS if getattr(model, name) is not None})


def _state_tensors(state) -> tuple[dict[str, Tensor], dict]:
    """The method state's tensors (``state.<field>[.<i>]``) and its structure (None, a tensor, or a list length)."""
    tensors, layout = {}, {}
    for f in fields(state):
        value = getattr(state, f.name)
        if value is None:
            layout[f.name] = None
        elif isinstance(value, Tensor):
            tensors[f"state.{f.name}"], layout[f.name] = value.detach().clone(), "tensor"
        else:  # clones: some entries are views of others (HNET+R's decoder snapshot of the hnet targets)
            layout[f.name] = len(value)
            tensors.update({f"state.{f.name}.{i}": v.detach().clone() for i, v in enumerate(value)})
    return tensors, layout


def _restore_state(state, tensors: dict[str, Tensor], layout: dict) -> None:
    for name, kind in layout.items():
        if kind is None:
            setattr(state, name, None)
        elif kind == "tensor":
            setattr(state, name, tensors[f"state.{name}"])
        else:
            setattr(state, name, [tensors[f"state.{name}.{i}"] for i in range(kind)])


def save_after_task(out_dir: Path, task_id: int, model, state, tasks, rng: np.random.RandomState,
                    scores: dict[str, np.ndarray]) -> None:
    """Checkpoint everything the run needs to continue with task ``task_id + 1``."""
    tensors, layout = _state_tensors(state)
    for t, masks in enumerate(model.masks or []):
        tensors.update({f"masks.{t}.{i}": m for i, m in enumerate(masks)})
    for t, task in enumerate(tasks):
        for split, stream in task.streams.items():
            tensors.update({f"stream.{t}.{split}.{k}": v for k, v in stream.state_dict().items()})
    _, keys, pos, has_gauss, cached = rng.get_state()
    tensors["rng_numpy_keys"] = torch.from_numpy(keys.astype(np.int64))
    tensors.update({f"scores.{k}": torch.from_numpy(v) for k, v in scores.items()})
    meta = {"layout": layout, "rng_numpy": [int(pos), int(has_gauss), float(cached)],
            "num_masks": len(model.masks or [])}
    save_task_state(out_dir, task_id, _networks(model), tensors, meta)


def resume(out_dir: Path, num_tasks: int, model, state, tasks, rng: np.random.RandomState,
           device: torch.device) -> tuple[int, dict[str, np.ndarray]] | None:
    """Load the newest task checkpoint into ``model``, ``state``, ``tasks`` and ``rng``.

    Returns ``(first task still to train, the stored score matrices)``, or None when there is nothing to resume.
    """
    last = latest_task(out_dir, num_tasks)
    if last < 0:
        return None
    tensors, meta = load_task_state(out_dir, last, _networks(model), device)
    _restore_state(state, tensors, meta["layout"])
    if model.masks is not None:
        model.masks = [[tensors[f"masks.{t}.{i}"] for i in range(len(model.masks[t]))]
                       for t in range(meta["num_masks"])]
    for t, task in enumerate(tasks):
        for split, stream in task.streams.items():
            prefix = f"stream.{t}.{split}."
            stream.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
    pos, has_gauss, cached = meta["rng_numpy"]
    rng.set_state(("MT19937", tensors["rng_numpy_keys"].numpy().astype(np.uint32), pos, has_gauss, cached))
    scores = {k[len("scores."):]: v.cpu().numpy() for k, v in tensors.items() if k.startswith("scores.")}
    return last + 1, scores
