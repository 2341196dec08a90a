"""The Copy Task and its variants (spec_cl_in_rnns.md §1.1), generated in memory with NumPy's legacy RNG.

Input per timestep: ``seq_width`` random bits plus a stop-flag channel. A pattern of length ``i`` is shown,
the stop flag fires at step ``i``, and the network must output the (transformed) pattern in the window right
after it. Every task is built from ``RandomState(data_random_seed)``, so the raw inputs are identical across
tasks of equal length; tasks differ only through their output transformation, whose seeds are drawn in order
from ``RandomState(data_random_seed).randint(1000)`` (scatter positions: ``randint(1e6)``).

Shapes: ``N`` sequences, ``T`` padded length (``2 * i_max + 1``, or ``i_max + 1 + p`` with ``pat_len = p``),
``W`` = ``seq_width``, ``p`` pattern length. Targets and windows are computed once per task, vectorised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from data.timeseries.sequence_task import SeqSplit, SequenceTask


@dataclass(frozen=True)
class CopyTaskSpec:
    """Everything that defines the data of one copy task (the copy-task flags of the launcher)."""

    mean_len: int
    len_variability: int = 0
    seq_width: int = 7
    out_width: int = -1  # -1 = seq_width
    pat_len: int = -1
    random_pad: bool = False
    pad_after_stop: bool = False
    permute_time: bool = False
    permute_width: bool = False
    permute_xor: bool = False
    permute_xor_iter: int = 1
    permute_xor_separate: bool = False
    scatter_pattern: bool = False
    pairwise_permute: bool = False
    revert_output_seq: bool = False

    @property
    def max_len(self) -> int:
        return self.mean_len + self.len_variability

    @property
    def num_steps(self) -> int:
        """Padded sequence length T."""
        return 2 * self.max_len + 1 if self.pat_len == -1 else self.max_len + 1 + self.pat_len

    @property
    def width_out(self) -> int:
        return self.seq_width if self.out_width == -1 else self.out_width


def transform_seeds(data_random_seed: int, num_tasks: int) -> tuple[list[int], list[int]]:
    """Per-task seeds of the output transformation and of the scatter positions (in the original's order)."""
    rng = np.random.RandomState(data_random_seed)
    perm_seeds = [int(rng.randint(1000)) for _ in range(num_tasks)]
    rng = np.random.RandomState(data_random_seed)
    scatter_seeds = [int(rng.randint(int(1e6))) for _ in range(num_tasks)]
    return perm_seeds, scatter_seeds


def generate_inputs(spec: CopyTaskSpec, n: int, rng: np.random.RandomState) -> tuple[np.ndarray, np.ndarray]:
    """Raw inputs ``[n, T, W + 1]`` (uint8) and input lengths ``[n]`` (position of the stop flag).

    With ``pat_len = p`` only the first ``p`` steps carry pattern bits (the rest of the ``i`` input steps are
    zeros, or random bits with ``random_pad``); with ``pad_after_stop`` the input is only ``p`` steps long.
    With ``scatter_pattern`` all ``i`` input steps are random.
    """
    lo, hi = spec.mean_len - spec.len_variability, spec.mean_len + spec.len_variability
    lengths = rng.randint(lo, hi + 1, size=n) if hi > lo else np.full(n, spec.mean_len)
    W, T = spec.seq_width, spec.num_steps
    bits = rng.randint(0, 2, size=(n, spec.max_len, W)).astype(np.uint8)  # [n, i_max, W]
    steps = np.arange(spec.max_len)[None, :]  # [1, i_max]
    if spec.pat_len == -1 or spec.scatter_pattern or spec.random_pad:
        shown = steps < lengths[:, None]  # [n, i_max]
    else:
        shown = steps < spec.pat_len
    if spec.pad_after_stop:
        shown = steps < spec.pat_len
        lengths_in = np.full(n, spec.pat_len)
    else:
        lengths_in = lengths
    x = np.zeros((n, T, W + 1), dtype=np.uint8)
    x[:, : spec.max_len, :W] = bits * shown[..., None]
    x[np.arange(n), lengths_in, W] = 1  # stop flag
    return x, lengths


def _apply_perm(pattern: np.ndarray, perm: np.ndarray, time: bool, width: bool) -> np.ndarray:
    """Permute a pattern ``[n, p, W]`` in time, width or both (flattened); output step k = input step P[k]."""
    n, p, W = pattern.shape
    if time and width:
        return pattern.reshape(n, p * W)[:, perm].reshape(n, p, W)
    if time:
        return pattern[:, perm]
    return pattern[:, :, perm]


def output_pattern(spec: CopyTaskSpec, pattern: np.ndarray, lengths: np.ndarray, perm_seed: int
                   ) -> np.ndarray:
    """The target pattern ``[n, p, W_out]`` of one task for input patterns ``[n, p, W]``.

    Permutations (``permute_time`` / ``permute_width``) and XOR pattern manipulation use the task's seed; with
    ``permute_xor_separate`` r independent permutations give ``x ^ P1(x) ^ ... ^ Pr(x)``, otherwise one
    permutation is applied r times as ``y <- y ^ P(y)``.
    """
    n, p, W = pattern.shape
    rng = np.random.RandomState(perm_seed)
    time, width = spec.permute_time, spec.permute_width
    size = p * W if (time and width) else (p if time else W)
    out = pattern
    if spec.permute_xor:
        if spec.permute_xor_separate:
            perms = [rng.permutation(size) for _ in range(spec.permute_xor_iter)]
            out = pattern.copy()
            for perm in perms:
                out ^= _apply_perm(pattern, perm, time, width)
        else:
            perm = rng.permutation(size)
            for _ in range(spec.permute_xor_iter):
                out = out ^ _apply_perm(out, perm, time, width)
    elif time or width:
        out = _apply_perm(pattern, rng.permutation(size), time, width)
    steps = np.arange(p)[None, :]
    plen = lengths[:, None] if spec.pat_len == -1 else np.full((n, 1), p)
    if spec.revert_output_seq:  # step k shows input step len-1-k (per-sample length)
        src = np.where(steps < plen, plen - 1 - steps, steps)
        out = np.take_along_axis(out, src[..., None], axis=1)
    if spec.pairwise_permute:  # swap neighbouring steps (a trailing odd step stays)
        partner = steps ^ 1
        src = np.where(partner < plen, partner, steps)
        out = np.take_along_axis(out, src[..., None], axis=1)
    return out[:, :, : spec.width_out]


def make_split(spec: CopyTaskSpec, x: np.ndarray, lengths: np.ndarray, perm_seed: int, scatter_seed: int,
               inputs: tuple[torch.Tensor, torch.Tensor] | None = None) -> SeqSplit:
    """Targets ``[n, T, W_out]`` and scoring window ``[n, T]`` for inputs ``x`` of one task.

    Args:
        inputs: ``x`` and ``lengths`` as tensors, if already converted (tasks with the same input layout share
            them: converting 100,000 training sequences per task took most of the start-up).
    """
    n, T, _ = x.shape
    W = spec.seq_width
    if spec.scatter_pattern:
        pos = np.sort(np.random.RandomState(scatter_seed).choice(spec.mean_len, spec.pat_len, replace=False))
        pattern = x[:, pos, :W]
    else:
        p = spec.max_len if spec.pat_len == -1 else spec.pat_len
        pattern = x[:, :p, :W]  # [n, p, W] (steps beyond a sample's length are zero)
    out = output_pattern(spec, pattern, lengths, perm_seed)  # [n, p, W_out]
    p = out.shape[1]
    plen = lengths if spec.pat_len == -1 else np.full(n, spec.pat_len)
    start = lengths + 1  # the window starts right after the stop flag (after the padding with pad_after_stop)
    steps = np.arange(T)[None, :]
    window = (steps >= start[:, None]) & (steps < (start + plen)[:, None])  # [n, T]
    rel = np.clip(steps - start[:, None], 0, p - 1)  # [n, T] pattern step shown at time t
    shown = out[np.arange(n)[:, None], rel] * window[..., None]  # [n, T, W_out] bits (uint8: 4x less to move)
    x_t, lengths_t = inputs if inputs is not None else as_tensors(x, lengths)
    return SeqSplit(x_t, torch.from_numpy(shown).float(), lengths_t, torch.from_numpy(window))


def as_tensors(x: np.ndarray, lengths: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs as float32 and lengths as int64 tensors."""
    return torch.from_numpy(x).float(), torch.from_numpy(lengths.astype(np.int64))


def copy_tasks(specs: list[CopyTaskSpec], data_random_seed: int, num_train: int = 100_000,
               num_test: int = 1_000, num_val: int = 1_000, device: torch.device | str = "cpu"
               ) -> list[SequenceTask]:
    """One :class:`SequenceTask` per spec (task order = list order)."""
    perm_seeds, scatter_seeds = transform_seeds(data_random_seed, len(specs))
    tasks, cache = [], {}
    for t, spec in enumerate(specs):
        # Raw inputs depend only on the data seed and the input layout: tasks share them (same arrays).
        key = (spec.mean_len, spec.len_variability, spec.seq_width, spec.pat_len, spec.random_pad,
               spec.pad_after_stop, spec.scatter_pattern)
        if key not in cache:
            rng = np.random.RandomState(data_random_seed)
            raw = [generate_inputs(spec, n, rng) for n in (num_train, num_test, num_val)]
            cache[key] = [(x, lens, as_tensors(x, lens)) for x, lens in raw]
        splits = {name: make_split(spec, x, lens, perm_seeds[t], scatter_seeds[t], inputs)
                  for name, (x, lens, inputs) in zip(("train", "test", "val"), cache[key])}
        tasks.append(SequenceTask(splits, name=f"CopyTask-{t}", out_dim=spec.width_out,
                                  seed=data_random_seed + t, device=device))
    return tasks
