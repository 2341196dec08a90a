"""Per-task checkpoints of the runners of both papers: a rerun with the same ``out_dir`` resumes after the last
task whose checkpoint is complete (tensors via safetensors + a JSON sidecar, see :mod:`utils.checkpoints`).
Only the newest :data:`KEEP` task checkpoints stay on disk (a PermutedMNIST-100 run would otherwise write one
hypernetwork copy per task)."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from utils.checkpoints import checkpoint_exists, load_checkpoint, save_checkpoint

#: Task checkpoints kept: the newest, and the one before as a fallback.
KEEP = 2


def task_checkpoint(out_dir: Path, task_id: int) -> Path:
    """Path (without suffix) of the state saved after training task ``task_id``."""
    return Path(out_dir) / "checkpoints" / f"task_{task_id}"


def save_task_state(out_dir: Path, task_id: int, models: nn.Module, tensors: dict[str, torch.Tensor],
                    meta: dict) -> None:
    """Model state, extra tensors (regulariser targets, priors, Fisher, ...) and the torch RNG state."""
    flat = {f"model.{k}": v for k, v in models.state_dict().items()}
    flat.update(tensors)
    flat["rng_torch"] = torch.get_rng_state()
    save_checkpoint(task_checkpoint(out_dir, task_id), flat, {"task_id": task_id, **meta})
    old = task_checkpoint(out_dir, task_id - KEEP)
    for suffix in (".json", ".safetensors"):  # metadata first: an incomplete checkpoint is never taken for whole
        old.with_suffix(suffix).unlink(missing_ok=True)


def latest_task(out_dir: Path, num_tasks: int) -> int:
    """Index of the last task with a complete checkpoint, or −1."""
    done = [t for t in range(num_tasks) if checkpoint_exists(task_checkpoint(out_dir, t))]
    return max(done, default=-1)


def load_task_state(out_dir: Path, task_id: int, models: nn.Module, device: torch.device
                    ) -> tuple[dict[str, torch.Tensor], dict]:
    """Restore ``models`` (which must already have the saved structure) and the RNG; return the other tensors
    and the metadata."""
    tensors, meta = load_checkpoint(task_checkpoint(out_dir, task_id), device)
    models.load_state_dict({k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")})
    torch.set_rng_state(tensors.pop("rng_torch").cpu())
    return {k: v for k, v in tensors.items() if not k.startswith("model.")}, meta


def save_final_model(out_dir: Path, models: nn.Module) -> None:
    """``--store_final_model``: the networks after the last task."""
    save_checkpoint(Path(out_dir) / "checkpoints" / "final", {f"model.{k}": v for k, v in models.state_dict().items()},
                    {"num_models": len(models) if isinstance(models, nn.ModuleList) else 1})
