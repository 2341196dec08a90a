"""Online EWC for recurrent networks (spec §3.2), with a batched per-sample Fisher.

The empirical diagonal Fisher of task t uses per-sample gradients of the family's negative log-likelihood:

.. math::
    F^{(t)}_i = \\frac{1}{N} \\sum_{n=1}^{N} \\Big(\\frac{\\partial\\, \\ell(x_n, y_n; \\theta)}{\\partial \\theta_i}
    \\Big)^2, \\qquad F \\leftarrow F^{(t)} + \\gamma F, \\qquad \\theta^* \\leftarrow \\theta,

and the penalty while learning later tasks is

.. math::
    L_\\text{EWC} = \\lambda \\, \\tfrac{1}{2} \\sum_i F_i (\\theta_i - \\theta^*_i)^2 .

The original backpropagates one sample at a time. Here a chunk of S samples shares one forward and one backward
pass, in two ways:

* :class:`~mnets.simple_rnn.SimpleRNN` without context modulation (every README EWC run but the BiRNN ones)
  uses the structure of the gradient. Every weight W enters through linear maps ``u_t = W v_t + b`` (the
  recurrence ``z_t = W_ih x_t + b_ih + W_hh h_{t-1} + b_hh`` at each step t, the FC layers at all steps at once).
  One backward of the summed loss gives ``delta_t = dL/du_t``, and row s of it is sample s's own gradient, as
  samples never interact. Sample s's weight gradient is then ``sum_t delta_{t,s} v_{t,s}^T`` (a batched matmul
  over time, its bias gradient ``sum_t delta_{t,s}``), squared and summed over the chunk in blocks of
  ``GRAD_BLOCK`` samples so that the ``[block, O, I]`` gradients stay in cache. The forward runs with
  shared weights (matrix-matrix products) and nothing is formed per sample and step: 0.2 ms of CPU per copy-task
  sequence (Elman 256, 11 steps), against 2.7 ms for the copies below and 1.4 ms one sequence at a time
  (``benchmarks/bench_rnn_fisher.py``).
* Otherwise (BiRNN, masks) the network gets S copies of its weights (a leading sample axis, one copy per
  sample): the gradient with respect to copy s is exactly sample s's gradient.

``--tbptt_fisher`` truncates backpropagation to the last k steps (in both: the states before are detached as in
the network's own forward). Memory per chunk: the activations, ``O(S T G H)``, plus either one weight tensor's
gradients for ``GRAD_BLOCK`` samples or (copies) two times ``S`` x the number of weights.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F

from data.timeseries.sequence_task import SeqBatch, SeqSplit, to_batch
from mnets.simple_rnn import SimpleRNN
from sequential.networks import merge_weights

#: ``loss_fn(logits [T, B, O_all], batch) -> per-sample NLL [B]`` (head selection included).
PerSampleLoss = Callable[[Tensor, SeqBatch], Tensor]
#: ``forward(net, x, weights, lengths) -> outputs``: runs the network (lengths ``[S, 1]``: one sequence per copy).
Forward = Callable[..., Tensor]

#: Samples whose gradients of one weight tensor are formed at once (``[GRAD_BLOCK, O, I]``, 2 MiB for a
#: 256 x 256 matrix, so squaring and summing them stays in cache; 4-16 measured alike, 32 and more slower).
GRAD_BLOCK = 8


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


class _LinearMap(NamedTuple):
    """One linear map ``u_t = sum_j W_j v_{j,t} + b`` of the network, as recorded by :func:`_recorded_forward`."""

    outputs: list[Tensor]  # u: one [T, S, O] tensor, or one [S, O] per step (the recurrence)
    inputs: list[tuple[Tensor, int]]  # (v [T, S, I], index of its W)
    biases: list[int]  # indices of the biases added (b_ih and b_hh both get the gradient of z)


def can_use_structure(net, fixed: Sequence[Tensor] = ()) -> bool:
    """Whether :func:`grad_square_sums` applies: a SimpleRNN without context modulation."""
    return isinstance(net, SimpleRNN) and net.num_cm_params == 0 and not fixed


def _recorded_forward(net: SimpleRNN, x: Tensor, w: list[Tensor]) -> tuple[Tensor, list[_LinearMap]]:
    """``net(x, w)`` for ``x`` ``[T, S, F]`` and shared weights (the same arithmetic as its own forward), and
    every linear map it applies: their outputs ``u`` (in the graph) and inputs ``v`` (detached)."""
    maps: list[_LinearMap] = []
    pairs = [(i, i + 1 if net.has_bias else None) for i in range(0, len(w), 2 if net.has_bias else 1)]
    n_pre, n_post = len(net.fc_layers_pre), len(net.fc_layers)
    per_layer = 2 if net.use_lstm else 3  # W_ih, W_hh (, W_ho)

    def fc(h: Tensor, wi: int, bi: int | None, act: bool) -> Tensor:
        u = F.linear(h, w[wi], None if bi is None else w[bi])  # [T, S, O]
        maps.append(_LinearMap([u], [(h.detach(), wi)], [] if bi is None else [bi]))
        return net._act(u) if act and net._act is not None else u

    def recurrent(v: Tensor, layer: list[tuple[int, int | None]]) -> Tensor:
        (ih, b_ih), (hh, b_hh) = layer[:2]
        T, S = v.shape[:2]
        pre = F.linear(v, w[ih], None if b_ih is None else w[b_ih] + w[b_hh])  # [T, S, G*H]
        h = c = v.new_zeros(S, w[hh].shape[1])  # [S, H]
        zs, prev, hs = [], [], []
        for t in range(T):
            prev.append(h.detach())
            z = torch.addmm(pre[t], h, w[hh].t())  # [S, G*H]
            zs.append(z)
            h, c = net.cell(z, c)
            if net.bptt_depth != -1 and t < T - net.bptt_depth:  # truncated BPTT, as SimpleRNN
                h, c = h.detach(), c.detach()
            hs.append(h)
        biases = [] if b_ih is None else [b_ih, b_hh]
        maps.append(_LinearMap(zs, [(v.detach(), ih), (torch.stack(prev), hh)], biases))
        out = torch.stack(hs)  # [T, S, H]
        return out if net.use_lstm else fc(out, *layer[2], act=True)  # Elman: the hidden-to-output block

    h = x
    for wi, bi in pairs[:n_pre]:
        h = fc(h, wi, bi, act=True)
    rec = pairs[n_pre:len(pairs) - n_post]
    for d in range(len(net.rnn_layers)):
        h = recurrent(h, rec[per_layer * d:per_layer * (d + 1)])
    for i, (wi, bi) in enumerate(pairs[len(pairs) - n_post:]):
        h = fc(h, wi, bi, act=i < n_post - 1)
    return h, maps


def _squared_outer_sum(delta: Tensor, v: Tensor) -> Tensor:
    """``sum_s (sum_t delta_{t,s} v_{t,s}^T)**2`` ``[O, I]`` for ``delta`` ``[T, S, O]`` and ``v`` ``[T, S, I]``."""
    d = delta.permute(1, 2, 0).contiguous()  # [S, O, T]
    v = v.transpose(0, 1).contiguous()  # [S, T, I]
    total = delta.new_zeros(d.shape[1], v.shape[2])
    block = delta.new_empty(min(GRAD_BLOCK, d.shape[0]), *total.shape)  # reused: a fresh one per block is slower
    for s in range(0, d.shape[0], GRAD_BLOCK):
        grads = block[:len(d[s:s + GRAD_BLOCK])]
        torch.bmm(d[s:s + GRAD_BLOCK], v[s:s + GRAD_BLOCK], out=grads)  # [block, O, I]: each sample's gradient
        total += grads.square_().sum(0)
    return total


def grad_square_sums(net: SimpleRNN, weights: Sequence[Tensor], batch: SeqBatch, loss_fn: PerSampleLoss
                     ) -> list[Tensor]:
    """``sum_s g_s**2`` per weight (``[*shape]``), ``g_s`` sample s's gradient, from one batched backward.

    Args:
        net: A SimpleRNN without context modulation (:func:`can_use_structure`); its ``bptt_depth`` applies.
        weights: All its weights, in ``param_shapes`` order.
        batch: S samples (time-major).
    """
    if len(weights) != len(net.param_shapes):
        raise ValueError(f"expected all {len(net.param_shapes)} weights of the network, got {len(weights)}")
    w = [p.detach().requires_grad_() for p in weights]
    logits, maps = _recorded_forward(net, batch.inputs, w)  # [T, S, O]
    outputs = [u for m in maps for u in m.outputs]
    # Row s of dL/du is sample s's own gradient (L is the sum of independent per-sample losses); steps cut off by
    # truncated BPTT get zeros.
    grads = iter(torch.autograd.grad(loss_fn(logits, batch).sum(), outputs, materialize_grads=True))
    sums = [torch.zeros_like(p) for p in w]
    for m in maps:
        delta = torch.cat([next(grads).view(-1, *u.shape[-2:]) for u in m.outputs])  # [T, S, O]
        for v, i in m.inputs:
            sums[i] = _squared_outer_sum(delta, v)
        for i in m.biases:
            sums[i] = delta.sum(0).square().sum(0)
    return sums


def fisher_diagonal(net, weights: Sequence[Tensor], data: SeqSplit, task_id: int, loss_fn: PerSampleLoss,
                    fixed: Sequence[Tensor] = (), micro_batch: int = 64, tbptt: int = -1,
                    forward: Forward = _call_net) -> list[Tensor]:
    """Empirical diagonal Fisher ``[*shape]`` per weight, averaged over all samples of ``data``.

    Uses :func:`grad_square_sums` where :func:`can_use_structure` allows, else :func:`per_sample_grads`.

    Args:
        micro_batch: Samples per batched pass (the chunk S; memory: see the module docstring).
        tbptt: Truncated-BPTT depth (``--tbptt_fisher``; -1 = full backpropagation; a BiRNN has none).
        forward: As for :func:`per_sample_grads` (the structured path runs its own forward).
    """
    fisher = [torch.zeros_like(w) for w in weights]
    structured = can_use_structure(net, fixed)
    old_depth = getattr(net, "bptt_depth", -1)
    if tbptt != -1:
        net.bptt_depth = tbptt
    was_training = net.training
    net.eval()
    try:
        for start in range(0, len(data), micro_batch):
            idx = torch.arange(start, min(start + micro_batch, len(data)), device=data.inputs.device)
            batch = to_batch(data.select(idx), task_id)
            if structured:
                sums = grad_square_sums(net, weights, batch, loss_fn)
            else:
                sums = [(g**2).sum(0) for g in per_sample_grads(net, weights, batch, loss_fn, fixed, forward)]
            for f, g in zip(fisher, sums):
                f += g
    finally:
        if tbptt != -1:
            net.bptt_depth = old_depth
        net.train(was_training)
    return [f / len(data) for f in fisher]
