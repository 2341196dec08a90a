"""Stored models and hidden-state activations of RNN runs, and their loader (spec §5.1 ``checkpoints/``).

A checkpoint (``--store_during_models``: ``checkpoints/models_task_<t>``; ``--store_final_models``:
``checkpoints/final_models``) is one safetensors file plus a JSON sidecar (:mod:`utils.checkpoints`). Its tensors
are the state dicts of every network of the run (``mnet.*``, ``hnet.*``, ``decoder.*``, ``dec_hnet.*``, ``wembs.*``),
the per-task masks (``masks.<task>.<i>``) and what the CL method carries: the online-EWC Fisher and anchors
(``ewc.fisher.<i>``, ``ewc.anchor.<i>``) and the SI importances (``si.omega.<i>``, ``si.start.<i>``), ``i``
indexing the main network's own weights. As in the original, the importances are those computed after the task
(none after the last task).

``--store_activations`` writes ``activations/task_<j>`` for every task of the final test: ``y`` (Elman: the
recurrent layer's outputs ``y_t``; LSTM: ``h_t``), ``h_int`` (Elman: the internal state ``h_t``; LSTM: the cell
state ``c_t``), and the head outputs, each ``[T, N, ·]`` (the last recurrent layer).

:func:`load_run` rebuilds data and networks from ``config.json`` and loads a checkpoint into them, without
re-running training.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from utils.checkpoints import checkpoint_exists, load_checkpoint, save_checkpoint

NET_PARTS = ("mnet", "hnet", "decoder", "dec_hnet", "wembs")
#: MethodState attribute -> checkpoint prefix.
METHOD_TENSORS = {"fisher": "ewc.fisher", "anchors": "ewc.anchor", "si_big_omega": "si.omega", "si_start": "si.start"}


def during_name(task: int) -> str:
    """Checkpoint name of the model stored after task ``task`` (``--store_during_models``)."""
    return f"models_task_{task}"


FINAL_NAME = "final_models"


def checkpoint_tensors(model, state=None) -> dict[str, Tensor]:
    """Every tensor a checkpoint holds (see the module docstring) of a runner ``Model`` and ``MethodState``."""
    tensors: dict[str, Tensor] = {}
    for part in NET_PARTS:
        net = getattr(model, part)
        if net is not None:
            tensors.update({f"{part}.{k}": v for k, v in net.state_dict().items()})
    for t, masks in enumerate(model.masks or []):
        tensors.update({f"masks.{t}.{i}": m for i, m in enumerate(masks)})
    if state is not None:
        for attr, prefix in METHOD_TENSORS.items():
            values = getattr(state, attr)
            if values is not None:
                tensors.update({f"{prefix}.{i}": v for i, v in enumerate(values)})
    return tensors


def save_models(out_dir: str | Path, name: str, model, meta: dict, state=None) -> None:
    """Checkpoint ``model`` (and the method state) as ``out_dir/checkpoints/<name>``."""
    save_checkpoint(Path(out_dir) / "checkpoints" / name, checkpoint_tensors(model, state), meta)


@dataclass
class MethodTensors:
    """What a checkpoint holds of the CL method (lists in ``model.main_weights()`` order; None if absent)."""

    fisher: list[Tensor] | None = None
    anchors: list[Tensor] | None = None
    si_big_omega: list[Tensor] | None = None
    si_start: list[Tensor] | None = None

    def importance(self) -> list[Tensor] | None:
        """The weight importances: the EWC Fisher, else SI's Omega."""
        return self.fisher if self.fisher is not None else self.si_big_omega


def _indexed(tensors: dict[str, Tensor], prefix: str) -> list[Tensor] | None:
    keys = sorted((int(k[len(prefix) + 1:]), k) for k in tensors if k.startswith(prefix + "."))
    return [tensors[k] for _, k in keys] or None


def load_models(out_dir: str | Path, name: str, model, device: torch.device | str = "cpu"
                ) -> tuple[MethodTensors, dict]:
    """Load checkpoint ``name`` of run ``out_dir`` into ``model`` in place (strict: every network's keys must
    match); returns the method tensors and the checkpoint's metadata."""
    path = Path(out_dir) / "checkpoints" / name
    if not checkpoint_exists(path):
        raise FileNotFoundError(f"{path}.safetensors/.json: no such checkpoint (run with --store_during_models "
                                "--store_final_models)")
    tensors, meta = load_checkpoint(path, device)
    for part in NET_PARTS:
        net = getattr(model, part)
        if net is not None:
            own = {k[len(part) + 1:]: v for k, v in tensors.items() if k.startswith(part + ".")}
            net.load_state_dict(own, strict=True)
    if model.masks is not None:
        model.masks = [_indexed(tensors, f"masks.{t}") for t in range(len(model.masks))]
    method = MethodTensors(**{attr: _indexed(tensors, prefix) for attr, prefix in METHOD_TENSORS.items()})
    return method, meta


def load_config(out_dir: str | Path) -> argparse.Namespace:
    """The resolved flags of a run (its ``config.json``)."""
    path = Path(out_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"{path}: not a run folder (no config.json)")
    return argparse.Namespace(**json.loads(path.read_text()))


@dataclass
class StoredRun:
    """A run rebuilt from its folder: flags, tasks, networks with a checkpoint loaded, and method tensors."""

    out_dir: Path
    config: argparse.Namespace
    fam: object  # sequential.families.Family
    model: object  # sequential.runner.Model
    device: torch.device = torch.device("cpu")
    method: MethodTensors = field(default_factory=MethodTensors)
    meta: dict = field(default_factory=dict)

    def load(self, name: str) -> None:
        """Swap in another checkpoint of the same run."""
        self.method, self.meta = load_models(self.out_dir, name, self.model, self.device)


def load_run(out_dir: str | Path, name: str = FINAL_NAME, device: torch.device | str = "cpu") -> StoredRun:
    """Rebuild run ``out_dir`` (data from its seeds, networks from its flags) and load checkpoint ``name``."""
    from sequential.families import build_family  # the runner imports this module: import at call time
    from sequential.runner import build_model

    out_dir = Path(out_dir)
    config = load_config(out_dir)
    device = torch.device(device)
    fam = build_family(config, device)
    model = build_model(config, fam, device)
    run = StoredRun(out_dir, config, fam, model, device)
    run.load(name)
    return run


# ----------------------------------------------------------------------------------------------------------
# Hidden states
# ----------------------------------------------------------------------------------------------------------
@torch.no_grad()
def hidden_states(config: argparse.Namespace, model, fam, task_id: int, split: str = "test",
                  max_samples: int = -1) -> dict[str, Tensor]:
    """Head outputs ``[T, N, O]`` and the last recurrent layer's ``y`` / ``h_int`` ``[T, N, H]`` of a task's split,
    run with the task's weights (see the module docstring for what ``y`` and ``h_int`` are)."""
    from data.timeseries.sequence_task import to_batch
    from sequential.runner import network_inputs, select_head

    data = fam.tasks[task_id].splits[split]
    n = len(data) if max_samples == -1 else min(max_samples, len(data))
    batch = to_batch(data.select(torch.arange(n, device=data.inputs.device)), task_id)
    was_training = model.mnet.training
    model.mnet.eval()
    try:
        out, hidden, hidden_int = model.mnet(network_inputs(config, batch, model.wembs), weights=model.task_weights(
            task_id), return_hidden=True, return_hidden_int=True)
    finally:
        model.mnet.train(was_training)
    rec = [i for i, h in enumerate(hidden_int) if h is not None][-1]  # the last recurrent layer
    return {"outputs": select_head(config, out, batch.task_ids, fam.head_dim), "y": hidden[rec],
            "h_int": hidden_int[rec]}


def store_activations(out_dir: str | Path, config: argparse.Namespace, model, fam, tasks: range) -> None:
    """``activations/task_<j>`` (checkpoint format) for every task in ``tasks`` (``--store_activations``)."""
    for j in tasks:
        states = hidden_states(config, model, fam, j)
        save_checkpoint(Path(out_dir) / "activations" / f"task_{j}", states,
                        {"task": j, "rnn": "lstm" if model.mnet.use_lstm else "elman"})


def load_activations(out_dir: str | Path, task: int) -> dict[str, Tensor]:
    """The stored activations of ``task`` (keys ``outputs``, ``y``, ``h_int``)."""
    path = Path(out_dir) / "activations" / f"task_{task}"
    if not checkpoint_exists(path):
        raise FileNotFoundError(f"{path}.safetensors: no stored activations (run with --store_activations)")
    return load_checkpoint(path)[0]
