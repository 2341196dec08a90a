"""One task of a sequence benchmark: tensor-resident splits and time-major batches.

Shapes: ``N`` samples, ``T`` padded length, ``F`` input features, ``O`` output features, ``B`` batch. Samples are
stored batch-major (``[N, T, F]``) and returned time-major (``[T, B, F]``), as the recurrent networks expect.
Targets are either per-timestep bit patterns ``[N, T, O]`` with a boolean window ``[N, T]`` marking the
timesteps that count (Copy Task), or one class index per sequence ``[N]`` with the unpadded input lengths
``[N]`` (Stroke-MNIST families: the label is read at the last unpadded step).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from data.dataset import IndexStream, derive_seed

SPLITS = ("train", "test", "val")


@dataclass
class SeqSplit:
    """The tensors of one split (all on the task's device)."""

    inputs: Tensor  # [N, T, F] float32
    targets: Tensor  # [N, T, O] float32 bits (copy) or [N] int64 class indices
    lengths: Tensor  # [N] int64 unpadded input lengths
    window: Tensor | None = None  # [N, T] bool: timesteps whose outputs are scored (copy)

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def to(self, device: torch.device | str) -> SeqSplit:
        def move(t):
            return (None if t is None else t.to(device))
        return SeqSplit(move(self.inputs), move(self.targets), move(self.lengths), move(self.window))

    def select(self, idx: Tensor) -> SeqSplit:
        """The samples ``idx`` (``[B]`` int64)."""
        def pick(t):
            return (None if t is None else t[idx])
        return SeqSplit(pick(self.inputs), pick(self.targets), pick(self.lengths), pick(self.window))


@dataclass
class SeqBatch:
    """A time-major batch: what the runner's losses and accuracies read."""

    inputs: Tensor  # [T, B, F]
    targets: Tensor  # [T, B, O] (copy) or [B]
    lengths: Tensor  # [B]
    window: Tensor | None  # [T, B] bool or None
    task_ids: Tensor  # [B] int64 task of every sample (multitask batches mix tasks)

    @property
    def size(self) -> int:
        return self.inputs.shape[1]


def to_batch(split: SeqSplit, task_id: int) -> SeqBatch:
    """Turn batch-major samples into a time-major :class:`SeqBatch`."""
    targets = split.targets.transpose(0, 1) if split.targets.dim() == 3 else split.targets
    window = None if split.window is None else split.window.transpose(0, 1)
    task_ids = torch.full((len(split),), task_id, dtype=torch.long, device=split.inputs.device)
    return SeqBatch(split.inputs.transpose(0, 1), targets, split.lengths, window, task_ids)


def trim_padding(batch: SeqBatch, extra: int = 1) -> SeqBatch:
    """The batch without its padded steps after step ``max(lengths) + extra``.

    A causal network's outputs at the steps kept do not depend on the steps cut, so a loss that reads only
    unpadded steps (and up to ``extra`` steps after them) is unchanged, up to float rounding in the gradient sums.
    Stroke-MNIST digits are padded to 117 steps but average 40, so batches of 128 need about 69.
    """
    T = min(batch.inputs.shape[0], int(batch.lengths.max()) + extra)
    if T == batch.inputs.shape[0]:
        return batch
    targets = batch.targets[:T] if batch.targets.dim() == 3 else batch.targets
    window = None if batch.window is None else batch.window[:T]
    return SeqBatch(batch.inputs[:T], targets, batch.lengths, window, batch.task_ids)


def pad_time(split: SeqSplit, T: int) -> SeqSplit:
    """Zero-pad a split to ``T`` timesteps (to mix tasks of different lengths in one batch)."""
    extra = T - split.inputs.shape[1]
    if extra <= 0:
        return split
    def pad(t, *rest):
        return (torch.cat([t, t.new_zeros(t.shape[0], extra, *rest)], dim=1))
    targets = pad(split.targets, split.targets.shape[2]) if split.targets.dim() == 3 else split.targets
    window = None if split.window is None else pad(split.window)
    return SeqSplit(pad(split.inputs, split.inputs.shape[2]), targets, split.lengths, window)


def concat_splits(parts: list[SeqSplit]) -> SeqSplit:
    """Concatenate samples (padded to the longest ``T``)."""
    T = max(p.inputs.shape[1] for p in parts)
    parts = [pad_time(p, T) for p in parts]
    window = None if parts[0].window is None else torch.cat([p.window for p in parts])
    return SeqSplit(torch.cat([p.inputs for p in parts]), torch.cat([p.targets for p in parts]),
                    torch.cat([p.lengths for p in parts]), window)


class SequenceTask:
    """Train / test / val splits of one task with seeded, epoch-wise reshuffled batch streams.

    Args:
        splits: ``{"train": SeqSplit, "test": ..., "val": ...}`` (``val`` optional).
        name: Name used in messages.
        out_dim: Output units one head needs (bits per step for copy, classes otherwise).
        seed: Seeds the batch streams (one independent stream per split).
        device: Device that holds the tensors.
    """

    def __init__(self, splits: dict[str, SeqSplit], name: str, out_dim: int, seed: int = 0,
                 device: torch.device | str = "cpu") -> None:
        self.name, self.out_dim, self.seed = name, out_dim, seed
        self.splits = {k: v.to(device) for k, v in splits.items()}
        self.streams = {k: IndexStream(len(v), derive_seed(seed, i)) for i, (k, v) in enumerate(self.splits.items())}

    @property
    def in_dim(self) -> int:
        return self.splits["train"].inputs.shape[2]

    @property
    def max_len(self) -> int:
        return self.splits["train"].inputs.shape[1]

    def num(self, split: str) -> int:
        return len(self.splits[split]) if split in self.splits else 0

    def take(self, split: str, n: int) -> SeqSplit:
        """The next ``n`` samples of the split's shuffled stream (batch-major)."""
        idx = self.streams[split].take(n).to(self.splits[split].inputs.device)
        return self.splits[split].select(idx)
