"""Online elastic weight consolidation (Kirkpatrick et al. 2017; online variant of Schwarz et al. 2018), spec §2.10.

Dimension letters: n Fisher samples, P main-network weights (flat vector φ), N tasks/heads, K weight samples.

Everything works on the *flat* weight vector φ ``[P]`` of a main network built with ``no_weights=True``, so any
main network (MLP, LeNet, ResNet, ...) fits. After task t the empirical Fisher diagonal is estimated from
the summed squares of per-sample gradients (:func:`grad_square_sum`, instead of one backward per sample as the
original) and accumulated online:

.. math::
    F^{(t)} = \\frac{N_\\text{train}}{n} \\Big[ \\sum_{i=1}^{n}
        \\big(\\nabla_\\phi\\, \\mathrm{NLL}(x_i, y_i; \\phi^*_t)\\big)^2 + \\frac{1}{\\sigma_p^2} m_t \\Big]
        + \\gamma F^{(t-1)}

with the prior-offset mask m_t (shared weights at t = 0, the current head's weights), and the penalty while
training a later task is

.. math::
    L_\\text{EWC} = \\lambda_\\text{EWC}\\, \\frac{1}{2} \\sum_i F_i\\, (\\phi_i - \\phi^*_i)^2 .

Quirks of the original (spec §6.2 #5), reproduced by default: the penalty multiplies the stored Fisher by γ
*in place on every call* (:func:`utils.ewc.decay_fisher_`), and the N/n rescaling also multiplies the prior offset. Both
are no-ops for γ = 1 and ``n_fisher = -1`` (all README runs).

For the Laplace view of EWC (multi-head task inference, spec §1.5) :class:`LaplacePosterior` turns (φ*, F)
into one Gaussian per head, N(φ*, F⁻¹), with untrained heads at the prior.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mnets.base import MainNet, unflatten_weights
from mnets.mlp import MLP
from probabilistic.gaussian import sample_gaussian, sample_in_original_order
from probabilistic.implicit import predict_with_samples


def per_sample_grads(mnet: MainNet, phi: Tensor, x: Tensor, y: Tensor, nll: Callable[[Tensor, Tensor], Tensor],
                     chunk_size: int | None = None) -> Tensor:
    """Gradients ``[n, P]`` of ``nll(mnet(x_i; φ), y_i)`` w.r.t. the flat weights ``phi [P]``, one per sample.

    Args:
        x, y: ``[n, ...]`` inputs and targets.
        nll: Loss of one sample: ``nll(out [1, O], y [1, ...]) -> scalar``.
        chunk_size: Samples per vectorised chunk (None = all at once).
    """
    shapes = mnet.param_shapes

    def loss_one(p: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
        return nll(mnet(xi.unsqueeze(0), unflatten_weights(p, shapes)), yi.unsqueeze(0))

    grad_fn = torch.func.vmap(torch.func.grad(loss_one), in_dims=(None, 0, 0), chunk_size=chunk_size)
    return grad_fn(phi.detach(), x, y)  # [n, P]


#: Samples per pass of the structured MLP path (memory: the inputs and activations of the chunk, twice).
FISHER_CHUNK = 4096


def _mlp_grad_square_sum(mnet: MLP, phi: Tensor, x: Tensor, y: Tensor, nll: Callable[[Tensor, Tensor], Tensor]
                         ) -> Tensor:
    """``sum_i g_i**2`` ``[P]`` for an MLP in eval mode, from one batched backward.

    Every layer is a linear map ``u = W h + b`` followed by the activation. The loss is a sum of independent
    per-sample losses, so row i of ``delta = dL/du`` is sample i's own gradient, and sample i's weight gradient is
    the outer product ``delta_i h_i^T``: its square summed over the samples is one matrix product,
    ``(delta**2)^T (h**2)``; the bias gets ``sum_i delta_i**2``. Nothing of size ``[n, P]`` is formed.
    """
    layers = mnet._layer_params(unflatten_weights(phi.detach(), mnet.param_shapes))
    h, inputs, outputs = x, [], []
    for i, (weight, bias) in enumerate(layers):  # the arithmetic of MLP.forward (eval mode: no dropout)
        inputs.append(h.detach())
        u = F.linear(h, weight, bias)
        if i == 0:
            u.requires_grad_()  # neither inputs nor weights need a gradient: the graph starts here
        outputs.append(u)
        h = u if i == len(layers) - 1 or mnet._act is None else mnet._act(u)
    losses = torch.func.vmap(lambda o, t: nll(o.unsqueeze(0), t.unsqueeze(0)))(h, y)  # [n]
    deltas = torch.autograd.grad(losses.sum(), outputs)
    sums = []
    for v, delta in zip(inputs, deltas):
        d2 = delta.square()
        sums.append(d2.T @ v.square())  # [O, I]
        if mnet.has_bias:
            sums.append(d2.sum(0))  # [O]
    return torch.cat([s.flatten() for s in sums])


def can_use_structure(mnet: MainNet) -> bool:
    """Whether :func:`grad_square_sum` takes the structured path: a plain :class:`~mnets.mlp.MLP` without active
    dropout (dropout would make samples share a random mask)."""
    return type(mnet) is MLP and (mnet._dropout is None or not mnet.training)


def grad_square_sum(mnet: MainNet, phi: Tensor, x: Tensor, y: Tensor, nll: Callable[[Tensor, Tensor], Tensor]
                    ) -> Tensor:
    """``sum_i (d nll(mnet(x_i; φ), y_i) / dφ)**2`` ``[P]``: the summed squared per-sample gradients.

    MLPs (:func:`can_use_structure`) use the structure of the gradient (:func:`_mlp_grad_square_sum`, in chunks
    of :data:`FISHER_CHUNK` samples); any other network squares the rows of :func:`per_sample_grads`.

    Args:
        x, y: ``[n, ...]`` inputs and targets.
        nll: Loss of one sample: ``nll(out [1, O], y [1, ...]) -> scalar``.
    """
    if not can_use_structure(mnet):
        return per_sample_grads(mnet, phi, x, y, nll).pow(2).sum(0)
    total = torch.zeros_like(phi)
    for start in range(0, x.shape[0], FISHER_CHUNK):
        total += _mlp_grad_square_sum(mnet, phi, x[start:start + FISHER_CHUNK], y[start:start + FISHER_CHUNK], nll)
    return total


def ewc_prior_offset(shared: Tensor, current_head: Tensor | None, task_id: int, prior_variance: float) -> Tensor:
    """Prior precision added to the Fisher ``[P]``: 1/σ_p² on the shared weights at t = 0 and on the current
    head's weights.

    Args:
        shared: Boolean ``[P]``, weights that are not part of any output head (all weights for a single head).
        current_head: Boolean ``[P]``, the current head's weights (None for a single head).
    """
    mask = shared.clone() if task_id == 0 else torch.zeros_like(shared)
    if current_head is not None:
        mask |= current_head
    return mask.float() / prior_variance


def fisher_diagonal(square_sum: Tensor, num_samples: int, num_train: int, prior_offset: Tensor | None = None,
                    scale_offset: bool = True) -> Tensor:
    """Empirical Fisher diagonal ``[P]`` from the summed squared per-sample gradients (:func:`grad_square_sum`
    of ``num_samples`` samples), rescaled by N/n.

    Args:
        num_train: N, the number of training samples of the task.
        prior_offset: ``[P]`` from :func:`ewc_prior_offset` (or None).
        scale_offset: The original rescales the offset by N/n too (quirk); False adds it unscaled.
    """
    scale = num_train / num_samples
    fisher = square_sum
    if prior_offset is None:
        return scale * fisher
    return scale * (fisher + prior_offset) if scale_offset else scale * fisher + prior_offset


def gaussian_prior_penalty(phi: Tensor, mask: Tensor, prior_variance: float) -> Tensor:
    """:math:`\\frac{1}{2\\sigma_p^2} \\sum_{i \\in \\text{mask}} \\phi_i^2` (the MAP prior term of the EWC loss)."""
    return (phi[mask] ** 2).sum() / (2 * prior_variance)


class LaplacePosterior(nn.Module):
    """Per-head Gaussians N(φ*, diag(std²)) with the duck-typed interface of
    :class:`~probabilistic.posterior.WeightPosterior` (``raw``, ``sample``, ``predict``).

    Args:
        mnet: The main network (``no_weights=True``).
        mean: ``[P]`` weights φ*.
        std: ``[P]`` stds (``F^{-1/2}``), or None for a deterministic (Dirac) posterior.
        head_entries: One boolean ``[P]`` mask per output head (multi-head), or None.
        num_trained: Heads ``>= num_trained`` are untrained: their weights get the prior N(0, σ_p²).
        prior_std: σ_p.
    """

    kind = "gaussian"

    def __init__(self, mnet: MainNet, mean: Tensor, std: Tensor | None = None,
                 head_entries: Sequence[Tensor] | None = None, num_trained: int = 0, prior_std: float = 1.0) -> None:
        super().__init__()
        self.mnet, self.num_trained, self.prior_std = mnet, num_trained, prior_std
        self.head_entries = list(head_entries) if head_entries is not None else None
        self.register_buffer("mean", mean.detach().clone())
        self.register_buffer("std", torch.zeros_like(mean) if std is None else std.detach().clone())

    def raw(self, task_ids: Sequence[int]) -> Tensor:
        """``[N, 2P]``: means then stds of the posterior used for each task's head."""
        rows = []
        for j in task_ids:
            mean, std = self.mean.clone(), self.std.clone()
            if self.head_entries is not None and j >= self.num_trained:
                mean[self.head_entries[j]] = 0.0
                std[self.head_entries[j]] = self.prior_std
            rows.append(torch.cat([mean, std]))
        return torch.stack(rows)

    def sample(self, raw: Tensor, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
        """Weight samples ``[N, K, P]``; with a ``generator`` (test phase) drawn in the original's order, shared by
        the N posteriors, as :meth:`~probabilistic.posterior.WeightPosterior.sample`."""
        mean, std = raw.chunk(2, dim=1)
        if generator is None:
            return sample_gaussian(mean, std, num_samples)
        return sample_in_original_order(mean, std, num_samples, self.mnet.param_shapes, generator)

    def predict(self, x: Tensor, raw: Tensor, num_samples: int, generator: torch.Generator | None = None,
                lrt: bool = False, condition: int | None = None) -> Tensor:
        """Predictions ``[N, K, B, O]`` (``lrt`` must be False; ``condition`` selects batch-norm statistics)."""
        if lrt:
            raise ValueError("LaplacePosterior has no local reparametrisation trick")
        N = raw.shape[0]
        if N > 1 and torch.equal(raw, raw[:1].expand_as(raw)):
            # The same posterior for every task (one head, or all heads trained): one pass serves all N. The
            # original evaluates the same network once per task, so the tasks' uncertainties tie exactly and task
            # inference resolves to the first task; one batched pass over N equal rows may differ in the last
            # bits per row and break those ties at random.
            out = predict_with_samples(self.mnet, x, self.sample(raw[:1], num_samples, generator), condition)
            return out.expand(N, *out.shape[1:])
        return predict_with_samples(self.mnet, x, self.sample(raw, num_samples, generator), condition)
