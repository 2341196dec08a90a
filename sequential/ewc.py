"""Online EWC for recurrent networks (spec §3.2), with a batched per-sample Fisher.

The empirical diagonal Fisher of task t uses per-sample gradients of the family's negative log-likelihood:

.. math::
    F^{(t)}_i = \\frac{1}{N} \\sum_{n=1}^{N} \\Big(\\frac{\\partial\\, \\ell(x_n, y_n; \\theta)}{\\partial \\theta_i}
    \\Big)^2, \\qquad F \\leftarrow F^{(t)} + \\gamma F, \\qquad \\theta^* \\leftarrow \\theta,

and the penalty while learning later tasks is

.. math::
    L_\\text{EWC} = \\lambda \\, \\tfrac{1}{2} \\sum_i F_i (\\theta_i - \\theta^*_i)^2 .

The original backpropagates one sample at a time; here a micro-batch of S samples runs in one pass by giving the
network S copies of its weights (a leading sample axis, one copy per sample): the gradient with respect to copy
s is exactly sample s's gradient. ``--tbptt_fisher`` truncates backpropagation to the last k steps.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from data.timeseries.sequence_task import SeqBatch, SeqSplit, to_batch
from sequential.networks import merge_weights

#: ``loss_fn(logits [T, B, O_all], batch) -> per-sample NLL [B]`` (head selection included).
PerSampleLoss = Callable[[Tensor, SeqBatch], Tensor]
#: ``forward(net, x, weights, lengths) -> outputs``: runs the network (lengths ``[S, 1]``: one sequence per copy).
Forward = Callable[..., Tensor]


def _call_net(net, x: Tensor, weights: list[Tensor], lengths: Tensor) -> Tensor:
    return net(x, weights=weights)


def per_sample_grads(net, weights: Sequence[Tensor], batch: SeqBatch, loss_fn: PerSampleLoss,
                     fixed: Sequence[Tensor] = (), forward: Forward = _call_net) -> list[Tensor]:
    """Gradients of every sample's loss w.r.t. ``weights``, each ``[S, *shape]``, in one forward/backward.

    Args:
        net: A main network that accepts weights with a leading sample axis.
        weights: The regularised weights (the main weights, in ``param_shapes`` order).
        batch: S samples (time-major).
        fixed: Context-mod weights that get no gradient (a task's mask gains/shifts), merged with ``weights`` into
            ``param_shapes`` order.
        forward: How to run the network (a BiRNN also needs every sequence's length).
    """
    S = batch.size
    copies = [w.detach().unsqueeze(0).repeat(S, *([1] * w.dim())).requires_grad_() for w in weights]  # [S, *shape]
    pinned = [f.detach().unsqueeze(0).expand(S, *f.shape) for f in fixed]
    x = batch.inputs.transpose(0, 1).unsqueeze(2)  # [S, T, 1, F]: sample s runs with weight copy s
    out = forward(net, x, merge_weights(net, pinned, copies), batch.lengths[:, None])  # [S, T, 1, O]
    logits = out.squeeze(2).transpose(0, 1)  # [T, S, O]
    losses = loss_fn(logits, batch)  # [S]
    return list(torch.autograd.grad(losses.sum(), copies))


def fisher_diagonal(net, weights: Sequence[Tensor], data: SeqSplit, task_id: int, loss_fn: PerSampleLoss,
                    fixed: Sequence[Tensor] = (), micro_batch: int = 64, tbptt: int = -1,
                    forward: Forward = _call_net) -> list[Tensor]:
    """Empirical diagonal Fisher ``[*shape]`` per weight, averaged over all samples of ``data``.

    Args:
        micro_batch: Samples per batched pass (memory: ``micro_batch`` x number of weights).
        tbptt: Truncated-BPTT depth (``--tbptt_fisher``; -1 = full backpropagation; a BiRNN has none).
        forward: As for :func:`per_sample_grads`.
    """
    fisher = [torch.zeros_like(w) for w in weights]
    old_depth = getattr(net, "bptt_depth", -1)
    if tbptt != -1:
        net.bptt_depth = tbptt
    was_training = net.training
    net.eval()
    try:
        for start in range(0, len(data), micro_batch):
            idx = torch.arange(start, min(start + micro_batch, len(data)), device=data.inputs.device)
            grads = per_sample_grads(net, weights, to_batch(data.select(idx), task_id), loss_fn, fixed, forward)
            for f, g in zip(fisher, grads):
                f += (g**2).sum(0)
    finally:
        if tbptt != -1:
            net.bptt_depth = old_depth
        net.train(was_training)
    return [f / len(data) for f in fisher]
