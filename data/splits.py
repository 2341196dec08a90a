"""Carving tasks out of a labelled dataset, as the original handlers do.

A task keeps the samples of some classes in their original order and renumbers the labels ``0..K-1``;
the validation set is the **first** ``n`` (filtered) training samples, the rest is the training set.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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
