"""Batched layers over K weight samples equal K separate calls."""

import pytest
import torch
from torch.nn import functional as F

from mnets.batched import batched_batch_norm, batched_conv2d, batched_linear, vmap_forward

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
