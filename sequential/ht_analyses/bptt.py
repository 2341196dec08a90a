"""Accuracy of the time-permuted Copy Task against the backpropagation-through-time distance (spec §5.2).

With ``--permute_time``, output step ``k`` of task t must reproduce input step ``P_t[k]``. The input bit enters at
time ``P_t[k]`` and is read out at time ``stop + 1 + k``, so the error signal has to travel
``d_k = stop + 1 + k - P_t[k]`` steps back in time. Grouping the per-output-step accuracies by ``d_k`` shows whether
long-range dependencies are harder.

Shapes: ``T`` timesteps, ``N`` samples, ``W`` output bits, ``p`` pattern length.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from data.timeseries.copy_task import transform_seeds


def time_permutation(data_random_seed: int, task: int, pattern_len: int) -> np.ndarray:
    """``P_t`` ``[p]`` of a ``--permute_time`` task (output step k shows input step ``P_t[k]``), as the copy
    data module draws it."""
    seed = transform_seeds(data_random_seed, task + 1)[0][task]
    return np.random.RandomState(seed).permutation(pattern_len)


def accuracy_per_output_step(outputs: Tensor, targets: Tensor, window: Tensor, stop: int, pattern_len: int
                             ) -> np.ndarray:
    """Bit accuracy (%) of each of the ``p`` steps after the stop flag, from head outputs ``[T, N, W]``, targets
    ``[T, N, W]`` and the window ``[T, N]`` (all sequences of equal length)."""
    correct = ((outputs >= 0).float() == targets).float().mean(-1)  # [T, N]
    steps = torch.arange(stop + 1, stop + 1 + pattern_len)
    return np.array([100.0 * float(correct[t][window[t]].mean()) for t in steps.tolist()])


def bptt_distances(perm: np.ndarray, stop: int) -> np.ndarray:
    """``d_k = stop + 1 + k - P[k]`` for every output step k."""
    return stop + 1 + np.arange(len(perm)) - perm


def accuracy_vs_distance(accs: np.ndarray, distances: np.ndarray) -> tuple[list[int], list[float]]:
    """Mean accuracy per distinct BPTT distance (sorted)."""
    ds = sorted(set(int(d) for d in distances))
    return ds, [float(np.mean(accs[distances == d])) for d in ds]
