"""Weight posteriors: K samples of N task posteriors in one batched pass equal per-sample forwards."""

import pytest
import torch

from hnets.hmlp import HMLP
from mnets.base import unflatten_weights
from mnets.mlp import MLP
from probabilistic.posterior import WeightPosterior


@pytest.mark.parametrize("kind", ["dirac", "gaussian", "radial"])
def test_batched_predictions_equal_per_sample_loop(kind):
    torch.manual_seed(0)
    mnet = MLP(1, 2, [8, 8], "relu", no_weights=True)
    shapes = mnet.param_shapes if kind == "dirac" else mnet.param_shapes * 2
    post = WeightPosterior(mnet, kind, HMLP(shapes, cond_in_size=3, layers=[5], num_cond_embs=3))
    x = torch.randn(6, 1)
    raw = post.raw([0, 2])
    batched = post.predict(x, raw, 4, torch.Generator().manual_seed(1))  # [N=2, K=4, B, O]
    samples = post.sample(raw, 4, torch.Generator().manual_seed(1))  # same noise stream
    assert batched.shape == (2, 4, 6, 2)
    for n in range(2):
        for k in range(4):
            single = mnet(x, unflatten_weights(samples[n, k], mnet.param_shapes))
            assert torch.allclose(batched[n, k], single, atol=1e-6)


def test_mnet_only_gaussian_init_ranges():
    post = WeightPosterior(MLP(1, 1, [10, 10], no_weights=True), "gaussian")
    assert post.mean.abs().max() <= 0.1 and post.rho.abs().max() <= 0.5
    mean, std = post.mean_std(post.raw([0, 1]))
    assert mean.shape == (2, 141) and std.min() > 0.04 and std.max() < 0.14  # softplus(U(-3, -2))
