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


class _RegularisedRows(torch.autograd.Function):
    """The first S rows of ``outputs [N, Q]`` against ``targets [S, P]`` (``P <= Q``): the per-row sums
    ``Σ_p m ⊙ (c − t)²`` ``[S]``, and the other rows' first P columns ``[N − S, P]`` as a view.

    The backward writes the whole gradient of ``outputs`` in one pass: ``2 g m ⊙ (c − t)`` straight into its
    first S rows, the other rows' gradient next to it and zeros in the columns past P (a chunked hypernetwork's
    padding). Autograd through ``((c - t) ** 2 * m).sum(-1)``, a row split and the padding cut would take five
    passes over ``[S, P]`` (mask, ``2 (c − t)``, product, two concatenations); the values are the same, bit for
    bit, for a 0/1 mask. The targets and the mask get no gradient.
    """

    @staticmethod
    def forward(ctx, outputs: Tensor, targets: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        S, P = targets.shape
        diff = outputs[:S, :P] - targets
        if mask is not None:
            diff.mul_(mask)  # m ⊙ (c − t); squared, m ⊙ (c − t)² for a 0/1 mask
        ctx.save_for_backward(diff)
        ctx.shape = outputs.shape
        return diff.square().sum(-1), outputs[S:, :P]

    @staticmethod
    def backward(ctx, grad_sums: Tensor, grad_rest: Tensor | None):
        (diff,) = ctx.saved_tensors
        S, P = diff.shape
        grad = diff.new_empty(ctx.shape)
        torch.mul(diff, (2 * grad_sums).unsqueeze(-1), out=grad[:S, :P])
        if grad_rest is None:
            grad[S:, :P].zero_()
        else:
            grad[S:, :P].copy_(grad_rest)
        grad[:, P:].zero_()
        return grad, None, None


def regularized_rows(outputs: Tensor, targets: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Squared-error sums ``[S]`` of the first S rows of ``outputs`` against the targets, and the remaining rows.

    One hypernetwork call gives the regularised tasks' rows and the current task's; with the padded rows of
    :meth:`hnets.base.HyperNet.padded_outputs` the gradient of all of them takes one pass (see
    :class:`_RegularisedRows`).

    Args:
        outputs: ``[N, Q]`` hypernetwork outputs, the S regularised tasks first; ``Q >= P`` (padding is ignored).
        targets: ``[S, P]`` stored targets of the same tasks (no gradient).
        mask: Optional ``[S, P]`` 0/1 mask excluding outputs (e.g. other tasks' heads).

    Returns:
        ``(sums [S], outputs[S:, :P])``, the second a view with the gradient of the first P columns.
    """
    return _RegularisedRows.apply(outputs, targets.detach(), mask)


def hnet_output_regularizer(current: Tensor, targets: Tensor, mask: Tensor | None = None) -> Tensor:
    """Mean over tasks of the squared-error sum between current outputs and targets.

    Args:
        current: ``[S, Q]`` current hypernetwork outputs for the regularised tasks (``Q >= P``: columns past P,
            e.g. a chunked hypernetwork's padding, are ignored).
        targets: ``[S, P]`` stored targets for the same tasks (no gradient).
        mask: Optional ``[S, P]`` 0/1 mask excluding outputs (e.g. other tasks' heads).
    """
    return regularized_rows(current, targets, mask)[0].mean()


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
