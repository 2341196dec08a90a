"""Supervised linear dimensionality reduction of Elman hidden states (spec §5.2).

An orthonormal basis ``U = [u_1 .. u_n]`` ``[H, n]`` of the task-relevant subspace is learnt one column at a time:
column ``n`` starts orthogonal to the fixed earlier columns (Gram-Schmidt of a random vector; ``e_1`` for the
first) and is trained with Adam on

.. math::
    L(u_n) = \\sum_{j \\le t} \\mathcal{L}_j\\big(\\text{readout}(h\\, U U^\\top)\\big)
             + \\lambda_\\perp \\| U^\\top U - I \\|_F^2 ,

the task losses of all tasks learnt so far when the internal states ``h_t`` are replaced by their projection onto
span(U). Two variants: ``all`` projects the states of every timestep (they then only reach the outputs, not the
recurrence), ``at_step=s`` projects only the state at step ``s`` (the copy task's stop flag) and re-runs the
recurrence from it. The loss and accuracy after adding each column trace how many dimensions the tasks need.

Supported networks: one Elman layer without pre-recurrent FC layers or masks.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from data.timeseries.sequence_task import SeqBatch, to_batch
from utils.optim import eager


@dataclass
class SdrOptions:
    """Optimisation settings (the analysis script's ``--sdr_*`` flags)."""

    orth_strength: float = 1e3
    lr: float = 1e-2
    batch_size: int = 64
    n_iter: int = 100
    max_dims: int = -1  # -1 = all hidden units
    criterion: float = -1  # stop once the accuracy reaches this (-1 = explore all dimensions)
    seed: int = 0


def check_network(net) -> None:
    """Raise ValueError unless ``net`` is a single Elman layer without pre-FC layers or context modulation."""
    if net.use_lstm or len(net.rnn_layers) != 1 or net.fc_layers_pre or net.num_cm_params or not net.has_bias:
        raise ValueError("supervised dimensionality reduction needs one Elman layer (--use_vanilla_rnn) with "
                         "biases, no pre-FC layers and no masks")


def _act(net, x: Tensor) -> Tensor:
    return x if net._act is None else net._act(x)


def elman_states(net, weights: list[Tensor], x: Tensor, h0: Tensor | None = None) -> Tensor:
    """Internal states ``h_t`` ``[T, B, H]`` of the Elman layer for inputs ``[T, B, F]`` from state ``h0``."""
    w_ih, b_ih, w_hh, b_hh = weights[:4]
    h = x.new_zeros(x.shape[1], w_hh.shape[0]) if h0 is None else h0
    pre = F.linear(x, w_ih, b_ih + b_hh)  # [T, B, H]
    states = []
    for t in range(x.shape[0]):
        h = _act(net, pre[t] + h @ w_hh.T)
        states.append(h)
    return torch.stack(states)


def readout(net, weights: list[Tensor], h: Tensor) -> Tensor:
    """All heads' outputs ``[T, B, O_all]`` from internal states ``h`` ``[T, B, H]`` (``y = act(W_ho h)`` then
    the post-recurrent FC layers)."""
    out = _act(net, F.linear(h, weights[4], weights[5]))
    post = weights[6:]
    for i in range(0, len(post), 2):
        out = F.linear(out, post[i], post[i + 1])
        if i < len(post) - 2:
            out = _act(net, out)
    return out


def projected_outputs(net, weights: list[Tensor], inputs: Tensor, U: Tensor, at_step: int | None) -> Tensor:
    """Outputs with the states projected onto span(U) ``[H, n]`` (all steps, or only step ``at_step``)."""
    h = elman_states(net, weights, inputs)  # [T, B, H]
    P = U @ U.T  # [H, H]
    if at_step is None:
        return readout(net, weights, h @ P)
    h_s = h[at_step] @ P  # [B, H]
    after = elman_states(net, weights, inputs[at_step + 1:], h_s)  # [T - s - 1, B, H]
    return readout(net, weights, torch.cat([h[:at_step], h_s[None], after]))


def _gram_schmidt(U: Tensor, v: Tensor) -> Tensor:
    v = v - U @ (U.T @ v) if U.shape[1] else v
    return v / v.norm()


def _task_terms(config, run_model, fam, tasks: list[int], U: Tensor, at_step: int | None, batches: list[SeqBatch]
                ) -> tuple[Tensor, float, float]:
    """Summed task loss, and correct / scored counts, over one batch per task."""
    from sequential.runner import network_inputs, select_head

    net = run_model.mnet
    loss, hits, count = U.new_zeros(()), 0.0, 0.0
    for j, batch in zip(tasks, batches):
        weights, _ = net.resolve_weights(run_model.task_weights(j))
        out = projected_outputs(net, weights, network_inputs(config, batch, run_model.wembs), U, at_step)
        head = select_head(config, out, batch.task_ids, fam.head_dim)
        loss = loss + fam.loss(head, batch).mean()
        h, c = fam.correct(head, batch)
        hits, count = hits + h, count + c
    return loss, hits, count


def loss_vs_dims(config: argparse.Namespace, model, fam, task_id: int, opts: SdrOptions,
                 at_step: int | None = None) -> tuple[list[float], list[float]]:
    """Test loss (summed over tasks ``<= task_id``) and accuracy (%, pooled) after each added basis column."""
    net = model.mnet
    check_network(net)
    H = net.rnn_layers[0]
    n_dims = H if opts.max_dims == -1 else min(opts.max_dims, H)
    tasks = list(range(task_id + 1))
    gen = torch.Generator().manual_seed(opts.seed)
    device = fam.tasks[0].splits["test"].inputs.device
    test = [to_batch(fam.tasks[j].splits["test"], j) for j in tasks]
    for p in model.parameters():
        p.requires_grad_(False)  # only the basis learns
    U = torch.zeros(H, 0, device=device)
    losses, accs = [], []
    try:
        for n in range(n_dims):
            start = torch.zeros(H, 1, device=device)
            start[0] = 1.0
            u = (start if n == 0 else _gram_schmidt(U, torch.randn(H, 1, generator=gen).to(device))).requires_grad_()
            optimizer = eager(torch.optim.Adam)([u], lr=opts.lr)
            for _ in range(opts.n_iter):
                batches = []
                for j in tasks:
                    train = fam.tasks[j].splits["train"]
                    idx = torch.randint(len(train), (opts.batch_size,), generator=gen).to(device)
                    batches.append(to_batch(train.select(idx), j))
                full = torch.cat([U, u], 1)  # [H, n + 1]
                eye = torch.eye(n + 1, device=device)
                task_loss, _, _ = _task_terms(config, model, fam, tasks, full, at_step, batches)
                loss = task_loss + opts.orth_strength * ((full.T @ full - eye) ** 2).sum()
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            U = torch.cat([U, u.detach()], 1)
            with torch.no_grad():
                test_loss, hits, count = _task_terms(config, model, fam, tasks, U, at_step, test)
            losses.append(float(test_loss))
            accs.append(100.0 * hits / count if count else float("nan"))
            if opts.criterion != -1 and accs[-1] >= opts.criterion:
                break
    finally:
        for p in model.parameters():
            p.requires_grad_(True)
    return losses, accs
