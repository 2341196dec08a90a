"""Hypernetwork output regulariser (von Oswald et al., 2020): keep old tasks' generated weights in place.

.. math::
    L_\\text{reg} = \\frac{1}{|S|} \\sum_{j \\in S} \\lVert m_j \\odot (h(e_j; \\theta) - h(e_j; \\theta^*)) \\rVert^2

a *sum* of squares over all generated values (not a mean), averaged over the regularised tasks S. The targets
``h(e_j; θ*)`` are computed once, before training a new task, for all old tasks in one batched call; the current
outputs come from one batched call as well.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor


class _SquaredErrorSums(torch.autograd.Function):
    """Per-row sums ``Σ_p m ⊙ (c − t)²`` ``[S]``, with the gradient ``2 g m ⊙ (c − t)`` in one pass.

    The same values as autograd through ``((c - t) ** 2 * m).sum(-1)``, bit for bit for a 0/1 mask, without
    its three backward passes over ``[S, P]`` (mask, ``2 (c − t)``, product). The targets get no gradient.
    """

    @staticmethod
    def forward(current: Tensor, targets: Tensor, mask: Tensor | None) -> Tensor:
        diff = current - targets
        squares = diff.square()
        return (squares if mask is None else squares * mask).sum(-1), diff

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        ctx.mask = inputs[2]
        ctx.save_for_backward(output[1])
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad: Tensor, _):
        (diff,) = ctx.saved_tensors
        scale = (2 * grad).unsqueeze(-1)  # [S, 1]
        return diff * (scale if ctx.mask is None else ctx.mask * scale), None, None


def hnet_output_regularizer(current: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean over tasks of the squared-error sum between current outputs and targets.

    Args:
        current: ``[S, P]`` current hypernetwork outputs for the regularised tasks.
        targets: ``[S, P]`` stored targets for the same tasks (no gradient).
        mask: Optional ``[S, P]`` 0/1 mask excluding outputs (e.g. other tasks' heads).
    """
    return _SquaredErrorSums.apply(current, targets.detach(), mask)[0].mean()


def tasks_to_regularize(num_prev_tasks: int, reg_batch_size: int, rng: np.random.RandomState | None = None
                        ) -> Sequence[int]:
    """All previous tasks, or a random subset of ``reg_batch_size`` of them (``--hnet_reg_batch_size``)."""
    if reg_batch_size > 0 and num_prev_tasks > reg_batch_size:
        rng = rng or np.random
        return sorted(rng.choice(num_prev_tasks, size=reg_batch_size, replace=False).tolist())
    return list(range(num_prev_tasks))


def select_tasks(rows: Tensor, ids: Sequence[int]) -> Tensor:
    """``rows[ids]``, as a view when ``ids`` is 0, 1, ..., S−1 (all previous tasks: no per-step copy)."""
    return rows[:len(ids)] if list(ids) == list(range(len(ids))) else rows[list(ids)]


@torch.no_grad()
def compute_targets(hnet, num_prev_tasks: int) -> Tensor:
    """Detached outputs ``[num_prev_tasks, P]`` for all previous tasks (eval mode, one batched call)."""
    was_training = hnet.training
    hnet.eval()
    targets = hnet(cond_id=list(range(num_prev_tasks))).detach().clone()
    hnet.train(was_training)
    return targets
