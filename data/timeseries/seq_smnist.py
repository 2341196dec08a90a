"""Sequential Stroke-MNIST (spec §1.4): sequences of ``m`` stroke digits drawn from a task's two digits.

The ``2^m`` binary digit sequences of a task are its raw classes; with ``two_classes`` they are split at random
(per task) into two halves, giving a binary label (for ``m = 1`` the label is which digit). Digits keep their
own end-of-digit flag and are concatenated without gaps, then zero-padded to ``m * L_max``. Samples are
balanced over the ``2^m`` sequences and digits are drawn with replacement: train from the first 5/6 of the
SMNIST training images (50,000 of 60,000), validation from the rest, test from the test images.

Shapes: ``N`` samples, ``m`` digits per sample, ``L`` digit length (padded), ``T = m * L``.
"""

from __future__ import annotations

import numpy as np
import torch

from data.timeseries.sequence_task import SeqSplit, SequenceTask


def digit_pairs(num_tasks: int, data_random_seed: int) -> list[tuple[int, int]]:
    """(0,1), (2,3), ... for up to 5 tasks; otherwise all 45 pairs shuffled with the data seed."""
    if num_tasks <= 5:
        return [(2 * t, 2 * t + 1) for t in range(num_tasks)]
    pairs = [(a, b) for a in range(10) for b in range(a + 1, 10)]
    order = np.random.RandomState(data_random_seed).permutation(len(pairs))
    return [pairs[i] for i in order[:num_tasks]]


def concat_digits(x: np.ndarray, lens: np.ndarray, picks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Concatenate the digits ``picks`` ``[N, m]`` (rows of ``x`` ``[M, L, 4]``) -> ``[N, m*L, 4]``, lengths."""
    N, m = picks.shape
    L = x.shape[1]
    out = np.zeros((N, m * L, 4), dtype=x.dtype)
    offset = np.zeros(N, dtype=np.int64)
    rows = np.arange(N)[:, None]
    steps = np.arange(L)[None, :]  # [1, L]
    for j in range(m):  # m <= 4 digit slots; every slot is written for all samples at once
        digit_len = lens[picks[:, j]]  # [N]
        valid = steps < digit_len[:, None]  # [N, L]
        pos = offset[:, None] + steps  # [N, L]
        out[np.broadcast_to(rows, valid.shape)[valid], pos[valid]] = x[picks[:, j]][valid]
        offset += digit_len
    return out, offset


def seq_smnist_tasks(arrays: dict[str, np.ndarray], num_tasks: int, seq_len: int, two_classes: bool,
                     data_random_seed: int = 42, num_train: int = 12_000, num_test: int = 2_000,
                     num_val: int = 1_000, device: torch.device | str = "cpu") -> list[SequenceTask]:
    """One task per digit pair; see the module docstring."""
    m = seq_len
    n_classes = 2**m
    seed_rng = np.random.RandomState(data_random_seed)
    task_seeds = [int(seed_rng.randint(100000)) for _ in range(num_tasks)]
    n_train_all = arrays["y_train"].shape[0]
    cut = n_train_all * 5 // 6  # 50,000 of the 60,000 SMNIST training images
    pools = {
        "train": (arrays["x_train"][:cut], arrays["len_train"][:cut], arrays["y_train"][:cut]),
        "val": (arrays["x_train"][cut:], arrays["len_train"][cut:], arrays["y_train"][cut:]),
        "test": (arrays["x_test"], arrays["len_test"], arrays["y_test"]),
    }
    # bit j of raw class c (most significant first) says which of the two digits sits in slot j
    bits = (np.arange(n_classes)[:, None] >> np.arange(m - 1, -1, -1)[None, :]) & 1  # [2^m, m]
    tasks = []
    for t, pair in enumerate(digit_pairs(num_tasks, data_random_seed)):
        rng = np.random.RandomState(task_seeds[t])
        if two_classes and m > 1:
            label_of = np.zeros(n_classes, dtype=np.int64)
            label_of[rng.permutation(n_classes)[: n_classes // 2]] = 1
        else:
            label_of = np.arange(n_classes)
        splits = {}
        for split, n in (("train", num_train), ("test", num_test), ("val", num_val)):
            x, lens, y = pools[split]
            candidates = [np.flatnonzero(y == d) for d in pair]
            raw = np.repeat(np.arange(n_classes), int(np.ceil(n / n_classes)))[:n]  # balanced raw classes
            digit = bits[raw]  # [n, m] which digit of the pair per slot
            picks = np.empty((n, m), dtype=np.int64)
            for d in (0, 1):
                sel = digit == d
                picks[sel] = rng.choice(candidates[d], size=int(sel.sum()), replace=True)
            seqs, total = concat_digits(x, lens, picks)
            splits[split] = SeqSplit(torch.from_numpy(seqs.astype(np.float32)),
                                     torch.from_numpy(label_of[raw]), torch.from_numpy(total))
        out_dim = 2 if two_classes else n_classes
        tasks.append(SequenceTask(splits, name=f"SeqSMNIST-{t}", out_dim=out_dim, seed=data_random_seed + t,
                                  device=device))
    return tasks
