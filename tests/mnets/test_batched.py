"""Batched layers over K weight samples equal K separate calls."""

import pytest
import torch
from torch.nn import functional as F

from mnets.batched import _NarrowInputLinear, batched_batch_norm, batched_conv2d, batched_linear, linear, vmap_forward

K = 3


@pytest.mark.parametrize("shared_x", [True, False], ids=["shared-x", "per-sample-x"])
def test_batched_linear(shared_x):
    w, b = torch.randn(K, 4, 5), torch.randn(K, 4)
    x = torch.randn(6, 5) if shared_x else torch.randn(K, 6, 5)
    expected = torch.stack([F.linear(x if shared_x else x[k], w[k], b[k]) for k in range(K)])
    torch.testing.assert_close(batched_linear(x, w, b), expected, atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("shared_x", [True, False], ids=["shared-x", "per-sample-x"])
@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 0)], ids=["s1p1", "s2p0"])
def test_batched_conv2d(shared_x, stride, padding):
    w, b = torch.randn(K, 4, 3, 3, 3), torch.randn(K, 4)
    x = torch.randn(2, 3, 8, 8) if shared_x else torch.randn(K, 2, 3, 8, 8)
    expected = torch.stack([F.conv2d(x if shared_x else x[k], w[k], b[k], stride, padding) for k in range(K)])
    torch.testing.assert_close(batched_conv2d(x, w, b, stride, padding), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_batched_batch_norm(training):
    x = torch.randn(K, 5, 4, 3, 3)
    weight, bias = torch.rand(K, 4) + 0.5, torch.randn(K, 4)
    mean, var = torch.randn(4), torch.rand(4) + 0.5
    means, variances = mean.clone().repeat(K, 1), var.clone().repeat(K, 1)
    expected = torch.stack([F.batch_norm(x[k], means[k], variances[k], weight[k], bias[k], training)
                            for k in range(K)])
    out = batched_batch_norm(x, K, mean, var, weight, bias, training)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    # the shared running statistics take one step towards the mean of the per-sample statistics
    torch.testing.assert_close(mean, means.mean(0), atol=1e-6, rtol=0)
    torch.testing.assert_close(var, variances.mean(0), atol=1e-6, rtol=0)


def test_vmap_forward_fallback():
    w = [torch.randn(K, 4, 5), torch.randn(K, 4)]
    x = torch.randn(6, 5)
    out = vmap_forward(lambda x, ws: F.linear(x, *ws), x, w)
    torch.testing.assert_close(out, batched_linear(x, *w), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("bias", [True, False])
def test_narrow_input_linear_has_linears_values_and_gradients(bias):
    """A hypernetwork's last layer after 10 hidden units, 48 rows (Split MNIST PR-Dirac at task 4)."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(48, 10, generator=gen, requires_grad=True)
    w = torch.randn(8000, 10, generator=gen, requires_grad=True)
    b = torch.randn(8000, generator=gen, requires_grad=True) if bias else None
    out = linear(x, w, b)
    assert out.grad_fn.name() == "_NarrowInputLinearBackward"  # the layer takes the fast path
    expected = F.linear(x, w, b)
    assert torch.equal(out, expected)
    g = torch.randn(48, 8000, generator=gen)
    inputs = (x, w) + ((b,) if bias else ())
    exact = torch.autograd.grad(F.linear(*(t.double() for t in inputs)), inputs, g.double())
    # another summation order than F.linear's backward: as close to the float64 gradient as F.linear's is
    for got, want, true in zip(torch.autograd.grad(out, inputs, g), torch.autograd.grad(expected, inputs, g), exact):
        assert (got - true).abs().max() <= 2 * (want - true).abs().max() + 1e-6


def test_linear_keeps_the_plain_path_where_it_is_as_fast():
    x = torch.randn(8, 10, requires_grad=True)  # few rows
    assert linear(x, torch.randn(8000, 10), None).grad_fn.name() != "_NarrowInputLinearBackward"
    x = torch.randn(48, 64, requires_grad=True)  # wide input
    assert linear(x, torch.randn(2500, 64), None).grad_fn.name() != "_NarrowInputLinearBackward"


def test_narrow_input_linear_under_vmap_and_double_backward():
    x, w = torch.randn(3, 20, 10), torch.randn(1000, 10, requires_grad=True)
    out = torch.func.vmap(lambda xi: _NarrowInputLinear.apply(xi, w, None))(x)
    torch.testing.assert_close(out, x @ w.t())
    xx = torch.randn(20, 10, requires_grad=True)
    (gx,) = torch.autograd.grad(linear(xx, w).square().sum(), xx, create_graph=True)
    (ggw,) = torch.autograd.grad(gx.sum(), w)
    (ref_gx,) = torch.autograd.grad(F.linear(xx, w).square().sum(), xx, create_graph=True)
    torch.testing.assert_close(ggw, torch.autograd.grad(ref_gx.sum(), w)[0], rtol=1e-4, atol=1e-4)
