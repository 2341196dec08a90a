"""Checkpoints as tensors only (safetensors) plus a JSON sidecar for plain metadata, both written atomically."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from utils.atomic import atomic_write, atomic_write_text


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict | None = None) -> None:
    """Save ``tensors`` to ``<path>.safetensors`` and ``meta`` to ``<path>.json`` (the JSON is written last,
    so its presence marks a complete checkpoint)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flat = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
    atomic_write(path.with_suffix(".safetensors"), lambda tmp: save_file(flat, tmp))
    atomic_write_text(path.with_suffix(".json"), json.dumps(meta or {}, indent=1))


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> tuple[dict[str, torch.Tensor], dict]:
    """Inverse of :func:`save_checkpoint`."""
    path = Path(path)
    tensors = load_file(str(path.with_suffix(".safetensors")), device=str(device))
    meta = json.loads(path.with_suffix(".json").read_text())
    return tensors, meta


def checkpoint_exists(path: str | Path) -> bool:
    """Whether a complete checkpoint (tensors and metadata) exists at ``path``."""
    path = Path(path)
    return path.with_suffix(".safetensors").exists() and path.with_suffix(".json").exists()
