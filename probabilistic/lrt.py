"""Local reparametrisation trick for a Gaussian MLP (``--local_reparam_trick``, spec §2.3).

Instead of sampling weights, each layer samples its pre-activations:
γ = x μ_Wᵀ + μ_b, δ = x² (σ_W²)ᵀ + σ_b², a = γ + √δ ⊙ ζ with ζ ~ N(0, 1) per unit *and input*.
"""

from __future__ import annotations

import torch
from torch import Tensor

from mnets.batched import batched_linear
from mnets.mlp import MLP


def lrt_mlp_forward(mlp: MLP, x: Tensor, means: list[Tensor], stds: list[Tensor], num_samples: int,
                    generator: torch.Generator | None = None) -> Tensor:
    """K = ``num_samples`` stochastic forward passes of a Gaussian MLP in one batched pass.

    Args:
        mlp: The (weightless) MLP defining architecture and activation.
        x: Inputs ``[B, I]``.
        means, stds: Per-tensor posterior parameters in ``mlp.param_shapes`` order (no sample axis).

    Returns:
        Outputs ``[K, B, O]``.
    """
    layers = mlp._layer_params(list(zip(means, stds)))  # pairs of (mean, std) per weight/bias
    h = x
    for i, (w, b) in enumerate(layers):
        (w_mean, w_std), (b_mean, b_std) = w, (b if b is not None else (None, None))
        gamma = batched_linear(h, w_mean, b_mean)  # [B, O] for the first layer, then [K, B, O]
        delta = batched_linear(h**2, w_std**2, None if b_std is None else b_std**2)
        if gamma.dim() == 2:  # first layer: the K samples differ only through ζ
            gamma, delta = gamma.expand(num_samples, *gamma.shape), delta.expand(num_samples, *delta.shape)
        zeta = torch.randn(gamma.shape, generator=generator, device=gamma.device, dtype=gamma.dtype)
        h = gamma + delta.sqrt() * zeta  # [K, B, O]
        if i < len(layers) - 1 and mlp._act is not None:
            h = mlp._act(h)
    return h
