"""Linear layers over K weight samples in one pass (no Python loop over samples)."""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F


def batched_linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``x W^T + b`` for one weight set or K sets.

    Args:
        x: ``[B, I]`` (shared by all samples) or ``[K, B, I]``.
        weight: ``[O, I]`` or ``[K, O, I]``.
        bias: ``[O]`` or ``[K, O]`` (or None).

    Returns:
        ``[B, O]`` if neither input has a sample axis, else ``[K, B, O]``.
    """
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    K, O, I = weight.shape
    if x.dim() == 2:
        # Shared input: one GEMM against all K weight matrices stacked side by side.
        B = x.shape[0]
        out = (x @ weight.reshape(K * O, I).T).reshape(B, K, O).transpose(0, 1)  # [K, B, O]
        return out if bias is None else out + bias.unsqueeze(1)
    if bias is None:
        return x @ weight.transpose(1, 2)  # [K, B, O]
    return bias.unsqueeze(1).baddbmm(x, weight.transpose(1, 2))  # [K, B, O]
