"""Batch normalisation whose running statistics are checkpointed per task.

The affine parameters (``bn_scale``, ``bn_shift``) are entries of the network's weight list (a hypernetwork
may generate them). The running statistics are buffers here: one set per task. After learning a task, the
runner calls :meth:`BatchNormLayer.checkpoint_stats` to start a fresh set; at test time ``stats_id=task_id``
selects the statistics of the evaluated task (``stats_id=None`` uses the newest set).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mnets.batched import batched_batch_norm


class BatchNormLayer(nn.Module):
    """Per-task running statistics plus the batch-norm computation (hypnettorch ``BatchNormLayer``).

    Args:
        num_features: Number of channels C.
        momentum: Running-statistics momentum.
        track_running_stats: If False, batch statistics are used in training and evaluation.
    """

    def __init__(self, num_features: int, momentum: float = 0.1, track_running_stats: bool = True) -> None:
        super().__init__()
        self.num_features, self.momentum = num_features, momentum
        self.track_running_stats = track_running_stats
        self.register_buffer("num_stats", torch.tensor(0, dtype=torch.long))
        if track_running_stats:
            self.checkpoint_stats()

    def checkpoint_stats(self) -> None:
        """Keep the current statistics and start a new set (mean 0, variance 1) for the next task."""
        device = self.num_stats.device
        n = int(self.num_stats)
        self.register_buffer(f"mean_{n}", torch.zeros(self.num_features, device=device))
        self.register_buffer(f"var_{n}", torch.ones(self.num_features, device=device))
        self.num_stats += 1

    def stats(self, stats_id: int | None = None) -> tuple[Tensor, Tensor] | tuple[None, None]:
        """Running mean and variance of set ``stats_id`` (None = newest)."""
        if not self.track_running_stats:
            return None, None
        n = int(self.num_stats)
        stats_id = n - 1 if stats_id is None else stats_id
        if not 0 <= stats_id < n:
            raise ValueError(f"stats_id {stats_id} out of range; {n} sets of statistics exist")
        return getattr(self, f"mean_{stats_id}"), getattr(self, f"var_{stats_id}")

    def forward(self, x: Tensor, weight: Tensor | None, bias: Tensor | None, K: int | None = None,
                stats_id: int | None = None) -> Tensor:
        """Normalise ``x`` (``[B, C, ...]``, or ``[K, B, C, ...]`` if ``K``) with set ``stats_id``."""
        mean, var = self.stats(stats_id)
        training = self.training or mean is None
        return batched_batch_norm(x, K, mean, var, weight, bias, training, self.momentum)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A checkpoint may hold more sets of statistics than a freshly built layer: create them first.
        while f"{prefix}mean_{int(self.num_stats)}" in state_dict:
            self.checkpoint_stats()
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
