"""Layers over K weight samples in one pass (no Python loop over samples).

Linear layers use one (batched) GEMM, convolutions one grouped convolution with the K filter banks
stacked along the channel axis, batch norm one call with the K samples stacked along the channel axis.
Activations carry the sample axis first: ``[K, B, ...]``. :func:`vmap_forward` is the generic fallback for
any single-sample forward.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F


class _NarrowInputLinear(torch.autograd.Function):
    """``F.linear`` whose backward products write their outputs transposed (``[K, N]``, ``[K, M]``).

    For a layer with few inputs (K < 16, e.g. a hypernetwork's last layer after hidden layers of 10 units) the
    gradients ``∂W [N, K]`` and ``∂x [M, K]`` have rows shorter than one vector register, and the CPU BLAS computes
    them 2-4x slower than the same products with the operands swapped (``benchmarks/bench_layouts.py``). The
    values are those of ``F.linear``'s backward up to float rounding (another summation kernel).
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        return F.linear(x, weight, bias)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, weight, bias = inputs
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        need_x, need_w, need_b = ctx.needs_input_grad
        grad_x = (weight.t() @ grad.t()).t() if need_x else None  # [M, K]
        grad_w = (x.t() @ grad).t() if need_w else None  # [N, K]
        grad_b = grad.sum(0) if ctx.has_bias and need_b else None
        return grad_x, grad_w, grad_b


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)`` for ``x [M, K]``; on the CPU, a layer with K < 16 inputs, M >= 16 rows and
    N >= 1000 outputs gets the faster backward of :class:`_NarrowInputLinear` (``benchmarks/bench_layouts.py
    --grid`` on this project's CPU: 1.06-4.5x for these shapes; with 16 or more inputs, or a few rows, the plain
    backward is faster for most shapes)."""
    N, K = weight.shape
    if (K < 16 and N >= 1000 and x.dim() == 2 and x.shape[0] >= 16 and x.device.type == "cpu"
            and torch.is_grad_enabled() and (weight.requires_grad or x.requires_grad)):
        return _NarrowInputLinear.apply(x, weight, bias)
    return F.linear(x, weight, bias)


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
        return linear(x, weight, bias)
    K, O, I = weight.shape
    if x.dim() == 2:
        # Shared input: one GEMM against all K weight matrices stacked side by side (bias fused).
        B = x.shape[0]
        stacked = weight.reshape(K * O, I).T  # [I, K*O]
        out = x @ stacked if bias is None else torch.addmm(bias.reshape(K * O), x, stacked)  # [B, K*O]
        return out.reshape(B, K, O).transpose(0, 1)  # [K, B, O]
    if bias is None:
        return x @ weight.transpose(1, 2)  # [K, B, O]
    return bias.unsqueeze(1).baddbmm(x, weight.transpose(1, 2))  # [K, B, O]


def expand_samples(x: Tensor, K: int, sample_dims: int) -> Tensor:
    """Give ``x`` a leading sample axis ``[*s] -> [K, *s]`` (a view) unless it has ``sample_dims`` dims."""
    return x if x.dim() == sample_dims else x.expand(K, *x.shape)


def fold_samples(fn, x: Tensor, K: int | None) -> Tensor:
    """Apply a per-example op ``fn`` (pooling, dropout2d, ...) to ``[K, B, ...]`` by folding K into B.

    With ``K`` None, ``x`` has no sample axis and ``fn(x)`` is returned.
    """
    if K is None:
        return fn(x)
    B = x.shape[1]
    return fn(x.flatten(0, 1)).unflatten(0, (K, B))  # [K, B, ...]


def batched_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None, stride: int = 1,
                   padding: int = 0) -> Tensor:
    """2D convolution for one filter bank or K banks, as one grouped convolution.

    Args:
        x: ``[B, C, H, W]`` (shared by all samples) or ``[K, B, C, H, W]``.
        weight: ``[O, C, kh, kw]`` or ``[K, O, C, kh, kw]``.
        bias: ``[O]`` or ``[K, O]`` (or None).

    Returns:
        ``[B, O, H', W']`` if neither input has a sample axis, else ``[K, B, O, H', W']``.
    """
    if weight.dim() == 4:
        return fold_samples(lambda h: F.conv2d(h, weight, bias, stride, padding), x,
                            x.shape[0] if x.dim() == 5 else None)
    K, O, C, kh, kw = weight.shape
    x = expand_samples(x, K, 5)
    B, H, W = x.shape[1], x.shape[3], x.shape[4]
    # Stack the K samples along the channel axis; group k then only sees its own channels and filters.
    xg = x.transpose(0, 1).reshape(B, K * C, H, W)  # [B, K*C, H, W]
    out = F.conv2d(xg, weight.reshape(K * O, C, kh, kw), None if bias is None else bias.reshape(K * O),
                   stride, padding, groups=K)  # [B, K*O, H', W']
    return out.unflatten(1, (K, O)).transpose(0, 1)  # [K, B, O, H', W']


def batched_batch_norm(x: Tensor, K: int | None, running_mean: Tensor | None, running_var: Tensor | None,
                       weight: Tensor | None, bias: Tensor | None, training: bool,
                       momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Batch normalisation over the batch (and spatial) axes, separately for each of K weight samples.

    Args:
        x: ``[B, C, ...]`` if ``K`` is None, else ``[K, B, C, ...]``.
        K: Number of weight samples (None = no sample axis).
        running_mean, running_var: ``[C]`` buffers (None = always use batch statistics). With K samples
            they are shared: in training mode each sample normalises with its own batch statistics and the
            buffers take one momentum step towards the statistics averaged over the samples (K separate
            forward passes would instead take K successive steps).
        weight, bias: Affine parameters ``[C]`` or ``[K, C]`` (or None).

    Returns:
        A tensor shaped like ``x``.
    """
    if K is None:
        return F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    B, C, spatial = x.shape[1], x.shape[2], x.shape[3:]
    # Stack the K samples along the channel axis: BN statistics are per channel, hence per sample.
    xg = x.transpose(0, 1).reshape(B, K * C, *spatial)  # [B, K*C, ...]

    def stacked(p: Tensor | None) -> Tensor | None:
        return None if p is None else (p.reshape(K * C) if p.dim() == 2 else p.repeat(K))  # [K*C]

    rm, rv = stacked(running_mean), stacked(running_var)
    out = F.batch_norm(xg, rm, rv, stacked(weight), stacked(bias), training, momentum, eps)
    if training and running_mean is not None:
        with torch.no_grad():
            running_mean.copy_(rm.view(K, C).mean(0))
            running_var.copy_(rv.view(K, C).mean(0))
    return out.reshape(B, K, C, *spatial).transpose(0, 1)  # [K, B, C, ...]


def vmap_forward(forward, x: Tensor, weights: Sequence[Tensor]) -> Tensor:
    """Run a single-weight-set ``forward(x, weights)`` for weights with a leading sample axis K via ``vmap``.

    The generic fallback for networks without a native K path. Not usable with ops that update buffers in
    place (batch norm in training mode with running statistics).

    Returns:
        ``[K, ...]``, the stacked outputs of ``forward(x, [w[k] for w in weights])``.
    """
    return torch.func.vmap(lambda *w: forward(x, list(w)))(*weights)
