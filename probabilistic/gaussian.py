"""Diagonal Gaussian and radial weight posteriors: parametrisation, sampling, KL, W2 (spec §2.3–2.5).

Shapes: a posterior over P weights is given by ``mean`` and ``std`` of shape ``[N, P]`` (N posteriors, e.g. one per
task); samples have shape ``[N, K, P]`` (K weight samples each). Hypernetwork outputs for a Gaussian main network
have ``2P`` entries per row: first all means (main-network parameter order), then all raw ρ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

#: Offset added to every raw ρ before the std transform (``apply_rho_offset=True`` in the original).
RHO_OFFSET = -2.5


def split_mean_rho(flat: Tensor) -> tuple[Tensor, Tensor]:
    """Split hypernetwork rows ``[N, 2P]`` into means ``[N, P]`` and raw ρ ``[N, P]``."""
    P = flat.shape[-1] // 2
    mean, rho = flat.split(P, dim=-1)  # one backward copy (two slices would each zero-fill [N, 2P])
    return mean, rho


def std_from_rho(rho_raw: Tensor, use_logvar_enc: bool = False) -> Tensor:
    """σ = softplus(ρ_raw − 2.5), or σ = exp((ρ_raw − 2.5)/2) with ``--use_logvar_enc``."""
    rho = rho_raw + RHO_OFFSET
    return torch.exp(0.5 * rho) if use_logvar_enc else F.softplus(rho)


def sample_gaussian(mean: Tensor, std: Tensor, num_samples: int, generator: torch.Generator | None = None) -> Tensor:
    """Reparametrised samples ``w = μ + σ ⊙ ε``: ``[N, P] -> [N, K, P]``."""
    eps = torch.randn(mean.shape[0], num_samples, mean.shape[1], generator=generator, device=mean.device,
                      dtype=mean.dtype)
    return torch.addcmul(mean.unsqueeze(1), std.unsqueeze(1), eps)  # [N, K, P], one fused pass


class _PerTensorReparametrisation(torch.autograd.Function):
    """``w = μ + σ ⊙ ε`` written straight into one contiguous ``[N·K, *shape]`` tensor per parameter tensor.

    The same numbers as autograd through :func:`sample_gaussian` and :func:`~mnets.base.unflatten_weights`, bit for
    bit, in two passes fewer over ``[N, K, P]``: the layers need no copy of a strided weight view, and the backward
    pass does not multiply ε by ``addcmul``'s scalar ``value`` of 1. The backward pass reduces over K on the flat
    ``[N, K, P]`` gradient, as autograd does (a per-tensor reduction would sum in another order).
    """

    @staticmethod
    def forward(ctx, mean: Tensor, std: Tensor, eps: Tensor, shapes: tuple) -> tuple[Tensor, ...]:
        N, K, _ = eps.shape
        sizes = [math.prod(s) for s in shapes]
        ctx.save_for_backward(eps)
        parts = zip(mean.split(sizes, -1), std.split(sizes, -1), eps.split(sizes, -1), shapes)
        return tuple(torch.addcmul(m.unsqueeze(1), s.unsqueeze(1), e).view(N * K, *shape) for m, s, e, shape in parts)

    @staticmethod
    def backward(ctx, *grads: Tensor):
        (eps,) = ctx.saved_tensors
        N, K, _ = eps.shape
        grad = torch.cat([g.reshape(N, K, -1) for g in grads], -1)  # [N, K, P]
        d_mean = grad.sum(1) if ctx.needs_input_grad[0] else None  # ∂μ = Σ_k g
        d_std = (grad * eps).sum(1) if ctx.needs_input_grad[1] else None  # ∂σ = Σ_k g ⊙ ε
        return d_mean, d_std, None, None


def sample_gaussian_per_tensor(mean: Tensor, std: Tensor, num_samples: int, shapes: Sequence[Sequence[int]],
                               generator: torch.Generator | None = None) -> list[Tensor]:
    """The samples of :func:`sample_gaussian` (the same draw), as main-network weights: one ``[N·K, *shape]``
    tensor per entry of ``shapes``, each contiguous, so the layers use them without a copy."""
    eps = torch.randn(mean.shape[0], num_samples, mean.shape[1], generator=generator, device=mean.device,
                      dtype=mean.dtype)
    return list(_PerTensorReparametrisation.apply(mean, std, eps, tuple(tuple(s) for s in shapes)))


def sample_radial(mean: Tensor, std: Tensor, num_samples: int, shapes: Sequence[Sequence[int]],
                  generator: torch.Generator | None = None) -> Tensor:
    """Radial samples ``w = μ + σ ⊙ r ε/‖ε‖`` with the norm and one r ~ N(0,1) *per parameter tensor*.

    Args:
        shapes: Main-network ``param_shapes``; they cut the P axis into tensors.
    """
    N, P = mean.shape
    sizes = [math.prod(s) for s in shapes]
    eps = torch.randn(N, num_samples, P, generator=generator, device=mean.device, dtype=mean.dtype)
    r = torch.randn(N, num_samples, len(sizes), generator=generator, device=mean.device, dtype=mean.dtype)
    tensor_id = torch.repeat_interleave(torch.arange(len(sizes), device=mean.device),
                                        torch.tensor(sizes, device=mean.device))  # [P]
    norms = torch.zeros(N, num_samples, len(sizes), device=mean.device, dtype=mean.dtype)
    norms.index_add_(2, tensor_id, eps**2)  # squared norm per tensor: [N, K, #tensors]
    direction = eps / norms.sqrt()[..., tensor_id]  # unit norm per tensor: [N, K, P]
    return mean.unsqueeze(1) + std.unsqueeze(1) * r[..., tensor_id] * direction


def original_order_noise(num_samples: int, shapes: Sequence[Sequence[int]], generator: torch.Generator,
                         radial: bool = False, device: torch.device | str | None = None,
                         dtype: torch.dtype | None = None) -> Tensor:
    """Standardised weight noise ``[K, P]`` drawn in the original's order (``prob_utils.sample_diag_gauss`` called
    once per weight sample): for each of the K samples, for each parameter tensor, ``randn(shape)`` and, if
    ``radial``, then one scalar r ~ N(0, 1), giving ``r ε/‖ε‖`` for that tensor.

    The test phase draws its weight samples from a generator seeded 2147483647 that the original creates afresh for
    every model it evaluates; with this order (not one ``randn(N, K, P)`` call: torch's CPU normal sampler fills
    tensors of 16 or more entries in blocks, so the split into tensors matters) every model sees bit-for-bit the
    noise of the original, and the task-inference metrics, which are dominated by this fixed noise when V is small,
    match.
    """
    rows = []
    for _ in range(num_samples):
        parts = []
        for shape in shapes:
            eps = torch.randn(tuple(shape), generator=generator, device=device, dtype=dtype)
            if radial:
                r = torch.randn((), generator=generator, device=device, dtype=dtype)
                eps = r * eps / eps.norm()
            parts.append(eps.flatten())
        rows.append(torch.cat(parts))
    return torch.stack(rows)


def sample_in_original_order(mean: Tensor, std: Tensor, num_samples: int, shapes: Sequence[Sequence[int]],
                             generator: torch.Generator, radial: bool = False) -> Tensor:
    """Test-phase samples ``[N, K, P]``: the noise of :func:`original_order_noise`, shared by the N posteriors."""
    eps = original_order_noise(num_samples, shapes, generator, radial, mean.device, mean.dtype)  # [K, P]
    return torch.addcmul(mean.unsqueeze(1), std.unsqueeze(1), eps.unsqueeze(0))


def kl_std_normal(mean: Tensor, std: Tensor) -> Tensor:
    """KL(N(μ, σ²) ‖ N(0, I)) = −½ Σ (1 + log σ² − μ² − σ²), summed over the last axis."""
    var = std**2
    return -0.5 * (1 + torch.log(var) - mean**2 - var).sum(-1)


def kl_diag_gaussians(mean_q: Tensor, std_q: Tensor, mean_p: Tensor | float, std_p: Tensor | float) -> Tensor:
    """KL(N(μ_q, σ_q²) ‖ N(μ_p, σ_p²)) = ½ Σ (−1 + (σ_q² + (μ_p − μ_q)²)/σ_p² + log σ_p² − log σ_q²)."""
    var_q = std_q**2
    var_p = torch.as_tensor(std_p, dtype=mean_q.dtype, device=mean_q.device) ** 2
    return 0.5 * (-1 + (var_q + (mean_p - mean_q) ** 2) / var_p + torch.log(var_p) - torch.log(var_q)).sum(-1)


def kl_to_prior(mean: Tensor, std: Tensor, prior_variance: float) -> Tensor:
    """KL to the isotropic prior N(0, prior_variance·I), with the original's special case for variance 1."""
    if prior_variance == 1:
        return kl_std_normal(mean, std)
    return kl_diag_gaussians(mean, std, 0.0, math.sqrt(prior_variance))


def w2_diag_gaussians(mean_a: Tensor, std_a: Tensor, mean_b: Tensor, std_b: Tensor) -> Tensor:
    """Squared 2-Wasserstein distance ‖μ_a − μ_b‖² + Σ (σ_a² + σ_b² − 2 σ_a σ_b) = ‖μ_a − μ_b‖² + ‖σ_a − σ_b‖²."""
    return ((mean_a - mean_b) ** 2).sum(-1) + (std_a**2 + std_b**2 - 2 * std_a * std_b).sum(-1)


def radial_prior_matching(std: Tensor, samples: Tensor, prior_variance: float) -> Tensor:
    """Radial "KL" up to a constant: −Σ log σ − (1/K) Σ_k log N(w_k; 0, σ_p² I).

    Args:
        std: ``[N, P]``.
        samples: ``[N, K, P]`` radial samples (``num_kl_samples`` of them).
    """
    log_prior = -0.5 * (samples**2 / prior_variance + math.log(2 * math.pi * prior_variance)).sum(-1)  # [N, K]
    return -torch.log(std).sum(-1) - log_prior.mean(-1)


def gaussian_regularizer(kind: str, mean: Tensor, std: Tensor, target_mean: Tensor, target_std: Tensor) -> Tensor:
    """Distance between current and target posteriors per task, ``[S, P] -> [S]`` (``--regularizer``).

    ``fkl`` = KL(target ‖ current), ``rkl`` = KL(current ‖ target), ``w2`` = squared 2-Wasserstein distance.
    """
    if kind == "fkl":
        return kl_diag_gaussians(target_mean, target_std, mean, std)
    if kind == "rkl":
        return kl_diag_gaussians(mean, std, target_mean, target_std)
    if kind == "w2":
        return w2_diag_gaussians(mean, std, target_mean, target_std)
    raise ValueError(f"unknown distributional regularizer {kind!r}; valid: fkl, rkl, w2")
