"""MLP: layout, init and forward equal to hypnettorch 0.0.4; K weight samples in one pass."""

import pytest
import torch

from mnets.mlp import MLP

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")

ACTS = {"relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid(), "tanh": torch.nn.Tanh(), "linear": None}
CONFIGS = {
    "split-mnist-small": dict(n_in=784, n_out=10, hidden_layers=(100, 100), activation_fn="relu"),
    "regression-sigmoid": dict(n_in=1, n_out=1, hidden_layers=(10, 10), activation_fn="sigmoid"),
    "no-bias-tanh": dict(n_in=5, n_out=3, hidden_layers=(8,), activation_fn="tanh", use_bias=False),
    "linear": dict(n_in=5, n_out=3, hidden_layers=(), activation_fn="linear"),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(ht, compat, cfg):
    torch.manual_seed(12)
    ours = MLP(**cfg)
    torch.manual_seed(12)
    theirs = ht.MLP(**{**cfg, "activation_fn": ACTS[cfg["activation_fn"]]}, verbose=False)
    compat.assert_same_layout(ours, theirs)
    compat.assert_same_init(ours, theirs)
    x = torch.randn(6, cfg["n_in"])
    weights = compat.random_weights(ours.param_shapes)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)


@pytest.mark.parametrize("per_sample_input", [False, True], ids=["shared-x", "per-sample-x"])
def test_k_samples_in_one_pass(compat, per_sample_input):
    net = MLP(n_in=784, n_out=10, hidden_layers=(100, 100), no_weights=True)
    K = 4
    weights = compat.random_weights(net.param_shapes, K=K)
    x = torch.rand(K, 8, 784) if per_sample_input else torch.rand(8, 784)
    batched = net(x, weights)
    loop = torch.stack([net(x[k] if per_sample_input else x, [w[k] for w in weights]) for k in range(K)])
    assert batched.shape == (K, 8, 10)
    torch.testing.assert_close(batched, loop, atol=1e-5, rtol=1e-5)
