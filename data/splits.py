"""Carving tasks out of a labelled dataset, as the original handlers do.

A task keeps the samples of some classes in their original order and renumbers the labels ``0..K-1``;
the validation set is the **first** ``n`` (filtered) training samples, the rest is the training set.
Split AudioSet draws its validation set by a stratified random split instead (:func:`stratified_holdout`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


def select_classes(x: Tensor, y: Tensor, classes: Sequence[int]) -> tuple[Tensor, Tensor]:
    """Keep the samples whose label is in ``classes`` (order preserved) and relabel ``classes[i]`` as ``i``.

    Args:
        x: ``[N, ...]`` inputs.
        y: ``[N]`` integer labels.
        classes: Original labels of the task, e.g. ``(2, 3)``.

    Returns:
        ``(x_task [M, ...], y_task [M] int64)``: copies, or ``(x, y)`` itself if ``classes`` is
        ``0..C-1`` with ``C`` the number of classes in ``y``.
    """
    classes = torch.as_tensor(list(classes), dtype=torch.long)
    if len(torch.unique(classes)) != len(classes):
        raise ValueError(f"duplicate classes in {classes.tolist()}")
    y = y.long()
    if classes.tolist() == list(range(int(y.max()) + 1)):  # every class, same labels: nothing to do, no copy
        return x, y
    rows = torch.isin(y, classes).nonzero().squeeze(1)  # [M] kept rows, in order
    relabel = torch.full((int(max(y.max(), classes.max())) + 1,), -1, dtype=torch.long)
    relabel[classes] = torch.arange(len(classes))
    # index_select on the rows flattened to 2D is several times faster than boolean indexing of [N, H, W].
    flat = x.reshape(x.shape[0], math.prod(x.shape[1:]))  # [N, D] view
    x_task = flat.index_select(0, rows).view(len(rows), *x.shape[1:])
    return x_task, relabel[y.index_select(0, rows)]


def holdout_first(x: Tensor, y: Tensor, n: int) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor] | None]:
    """Split off the first ``n`` samples as validation set: ``(train, val)`` views; ``val`` is None if n=0."""
    if n == 0:
        return (x, y), None
    if not 0 < n < x.shape[0]:
        raise ValueError(f"validation set size must be in [0, {x.shape[0]}), got {n}")
    return (x[n:], y[n:]), (x[:n], y[:n])


def stratified_holdout(labels: np.ndarray, n_holdout: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(keep, holdout)`` of a stratified random split with ``n_holdout`` held-out samples.

    The same split, in the same order, as scikit-learn's ``train_test_split(np.arange(N), test_size=n_holdout,
    shuffle=True, stratify=labels, random_state=seed)``, which the original Split AudioSet handler used for its
    validation set (scikit-learn is not a dependency here): every class keeps about its share of the held-out
    samples (the approximate mode of the multivariate hypergeometric), remainders are broken at random, samples
    are permuted per class, and both index sets are permuted at the end, all from one ``RandomState(seed)``.

    Args:
        labels: ``[N]`` class of every sample (any sortable values; the classes are ordered as ``np.unique``).
        n_holdout: Number of held-out samples; both parts need at least one sample per class.

    Raises:
        ValueError: a class has fewer than 2 samples, or a part would be smaller than the number of classes.
    """
    labels = np.asarray(labels)
    n = labels.shape[0]
    if not 0 < n_holdout < n:
        raise ValueError(f"the held-out set needs between 1 and {n - 1} samples, got {n_holdout}")
    classes, class_of = np.unique(labels, return_inverse=True)
    counts = np.bincount(class_of)
    n_keep = n - n_holdout
    if counts.min() < 2:
        raise ValueError("a stratified split needs at least 2 samples of every class")
    if min(n_keep, n_holdout) < len(classes):
        raise ValueError(f"both parts ({n_keep} and {n_holdout} samples) need at least one sample of each of "
                         f"the {len(classes)} classes")
    members = np.split(np.argsort(class_of, kind="mergesort"), np.cumsum(counts)[:-1])  # positions per class
    rng = np.random.RandomState(seed)
    keep_per_class = _approximate_mode(counts, n_keep, rng)
    holdout_per_class = _approximate_mode(counts - keep_per_class, n_holdout, rng)
    keep, holdout = [], []
    for c in range(len(classes)):
        shuffled = members[c][rng.permutation(counts[c])]
        keep.extend(shuffled[: keep_per_class[c]])
        holdout.extend(shuffled[keep_per_class[c]: keep_per_class[c] + holdout_per_class[c]])
    return rng.permutation(np.array(keep, dtype=np.int64)), rng.permutation(np.array(holdout, dtype=np.int64))


def _approximate_mode(counts: np.ndarray, n_draws: int, rng: np.random.RandomState) -> np.ndarray:
    """Samples per class when drawing ``n_draws`` of ``counts`` proportionally: floors first, then one more for
    the classes with the largest remainders (ties broken at random), until ``n_draws`` are reached."""
    share = counts / counts.sum() * n_draws
    drawn = np.floor(share)
    missing = int(n_draws - drawn.sum())
    remainder = share - drawn
    for value in np.sort(np.unique(remainder))[::-1]:
        if missing <= 0:
            break
        tied = np.where(remainder == value)[0]
        picked = rng.choice(tied, size=min(len(tied), missing), replace=False)
        drawn[picked] += 1
        missing -= len(picked)
    return drawn.astype(np.int64)
