"""Online elastic weight consolidation (Kirkpatrick et al. 2017; online variant of Schwarz et al. 2018), spec §2.10.

Dimension letters: n Fisher samples, P main-network weights (flat vector φ), N tasks/heads, K weight samples.

Everything works on the *flat* weight vector φ ``[P]`` of a main network built with ``no_weights=True``, so any
main network (MLP, LeNet, ResNet, ...) fits. After task t the empirical Fisher diagonal is estimated from
per-sample gradients (all samples in one ``vmap(grad)`` call, instead of one backward per sample) and accumulated
online:

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

from mnets.base import MainNet, unflatten_weights
from probabilistic.gaussian import sample_gaussian
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


def fisher_diagonal(grads: Tensor, num_train: int, prior_offset: Tensor | None = None,
                    scale_offset: bool = True) -> Tensor:
    """Empirical Fisher diagonal ``[P]`` from per-sample gradients ``grads [n, P]`` (a sum, rescaled by N/n).

    Args:
        num_train: N, the number of training samples of the task.
        prior_offset: ``[P]`` from :func:`ewc_prior_offset` (or None).
        scale_offset: The original rescales the offset by N/n too (quirk); False adds it unscaled.
    """
    scale = num_train / grads.shape[0]
    fisher = grads.pow(2).sum(0)  # [P]
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
        """Weight samples ``[N, K, P]``."""
        mean, std = raw.chunk(2, dim=1)
        return sample_gaussian(mean, std, num_samples, generator)

    def predict(self, x: Tensor, raw: Tensor, num_samples: int, generator: torch.Generator | None = None,
                lrt: bool = False, condition: int | None = None) -> Tensor:
        """Predictions ``[N, K, B, O]`` (``lrt`` must be False; ``condition`` selects batch-norm statistics)."""
        if lrt:
            raise ValueError("LaplacePosterior has no local reparametrisation trick")
        return predict_with_samples(self.mnet, x, self.sample(raw, num_samples, generator), condition)
