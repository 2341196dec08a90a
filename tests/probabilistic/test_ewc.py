"""Online EWC: Fisher of a linear-Gaussian model in closed form, batched = per-sample loop, the structured MLP
path = per-sample gradients, the Laplace posterior per head (online bookkeeping: tests/utils/test_ewc.py)."""

import pytest
import torch
from torch import nn

from mnets.base import flatten_weights, unflatten_weights
from mnets.mlp import MLP
from probabilistic import ewc
from probabilistic.ewc import (
    LaplacePosterior,
    can_use_structure,
    ewc_prior_offset,
    fisher_diagonal,
    grad_square_sum,
    per_sample_grads,
)

SIGMA = 0.5  # likelihood std


def _nll(out, y):
    return 0.5 * ((out[:, 0] - y[:, 0]) ** 2).sum() / SIGMA**2


def test_fisher_of_a_linear_gaussian_model_is_the_closed_form():
    """f(x) = a x + b, NLL = (y - f)² / (2σ²): g_i = -(y_i - f_i)/σ² [x_i, 1], F = Σ_i g_i² (N/n = 1)."""
    torch.manual_seed(0)
    mnet = MLP(1, 1, hidden_layers=(), no_weights=True)
    phi = torch.tensor([0.7, -0.2])  # [a, b]
    x, y = torch.randn(20, 1), torch.randn(20, 1)
    r = (y[:, 0] - (0.7 * x[:, 0] - 0.2)) / SIGMA**2  # [n]
    exact = torch.stack([(r**2 * x[:, 0] ** 2).sum(), (r**2).sum()])
    torch.testing.assert_close((per_sample_grads(mnet, phi, x, y, _nll) ** 2).sum(0), exact)
    assert can_use_structure(mnet)
    torch.testing.assert_close(fisher_diagonal(grad_square_sum(mnet, phi, x, y, _nll), 20, num_train=20), exact)
    # n = 5 of N = 20 samples: rescaled by N/n
    five = grad_square_sum(mnet, phi, x[:5], y[:5], _nll)
    torch.testing.assert_close(fisher_diagonal(five, 5, num_train=20), 4 * five)


def _classification_nll(head):
    def nll(out, target):  # one head of a multi-head output, as the classification family's sample_nll
        return nn.functional.cross_entropy(out[:, 2 * head:2 * head + 2], target)
    return nll


@pytest.mark.parametrize("act, hidden, bias, loss", [
    ("relu", (8, 8), True, "regression"), ("tanh", (8, 8), True, "regression"), ("sigmoid", (5,), False, "ce"),
    ("relu", (16, 7), True, "ce"), ("linear", (), True, "ce")])
def test_structured_mlp_square_sum_equals_per_sample_gradients(monkeypatch, act, hidden, bias, loss):
    """The structured MLP path (one backward, squared outer products) = squares of the vmap'd per-sample
    gradients, over several chunks (the last one short)."""
    monkeypatch.setattr(ewc, "FISHER_CHUNK", 7)
    torch.manual_seed(2)
    n_out = 1 if loss == "regression" else 6
    mnet = MLP(3, n_out, hidden_layers=hidden, activation_fn=act, use_bias=bias, no_weights=True)
    phi = torch.randn(mnet.num_params) * 0.5
    x = torch.randn(23, 3)
    y, nll = (torch.randn(23, 1), _nll) if loss == "regression" else (torch.randint(0, 2, (23,)),
                                                                          _classification_nll(1))
    expected = (per_sample_grads(mnet, phi, x, y, nll) ** 2).sum(0)
    assert can_use_structure(mnet)
    torch.testing.assert_close(grad_square_sum(mnet, phi, x, y, nll), expected, rtol=1e-5, atol=1e-7)


def test_networks_without_the_mlp_structure_use_per_sample_gradients():
    class Scaled(MLP):  # a subclass may change the forward: no structured path
        def forward(self, x, weights=None, condition=None):
            return 2 * super().forward(x, weights, condition)

    torch.manual_seed(3)
    mnet = Scaled(3, 1, hidden_layers=(4,), no_weights=True)
    phi, x, y = torch.randn(mnet.num_params), torch.randn(9, 3), torch.randn(9, 1)
    assert not can_use_structure(mnet)
    expected = (per_sample_grads(mnet, phi, x, y, _nll) ** 2).sum(0)
    torch.testing.assert_close(grad_square_sum(mnet, phi, x, y, _nll), expected)
    dropout = MLP(3, 1, hidden_layers=(4,), dropout_rate=0.5, no_weights=True)
    assert not can_use_structure(dropout) and can_use_structure(dropout.eval())


def test_batched_fisher_equals_one_sample_at_a_time():
    torch.manual_seed(1)
    mnet = MLP(3, 2, hidden_layers=(8, 8), activation_fn="tanh", no_weights=True)
    phi = flatten_weights([p.data for p in MLP(3, 2, (8, 8)).internal_params])
    x, y = torch.randn(17, 3), torch.randn(17, 1)
    batched = per_sample_grads(mnet, phi, x, y, _nll, chunk_size=5)
    loop = []
    for i in range(17):
        p = phi.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(_nll(mnet(x[i:i + 1], unflatten_weights(p, mnet.param_shapes)), y[i:i + 1]), p)
        loop.append(g)
    torch.testing.assert_close(batched, torch.stack(loop))


def test_prior_offset_and_its_rescaling_quirk():
    shared = torch.tensor([True, True, False, False])
    head1 = torch.tensor([False, False, True, False])
    assert ewc_prior_offset(shared, head1, 0, 2.0).tolist() == [0.5, 0.5, 0.5, 0.0]
    assert ewc_prior_offset(shared, head1, 1, 2.0).tolist() == [0.0, 0.0, 0.5, 0.0]
    square_sum = torch.full((4,), 2.0)  # two samples, every gradient entry 1
    offset = torch.full((4,), 1.0)
    assert fisher_diagonal(square_sum, 2, 8, offset).tolist() == [12.0] * 4  # 4 * (2 + 1): original
    assert fisher_diagonal(square_sum, 2, 8, offset, scale_offset=False).tolist() == [9.0] * 4  # 4 * 2 + 1




def test_laplace_posterior_uses_the_prior_for_untrained_heads():
    mnet = MLP(1, 2, hidden_layers=(), no_weights=True)  # W [2, 1], b [2]
    heads = [torch.tensor([True, False, True, False]), torch.tensor([False, True, False, True])]
    post = LaplacePosterior(mnet, torch.ones(4), torch.full((4,), 0.1), heads, num_trained=1, prior_std=2.0)
    raw = post.raw([0, 1])
    torch.testing.assert_close(raw[0], torch.tensor([1.0] * 4 + [0.1] * 4))
    torch.testing.assert_close(raw[1], torch.tensor([1.0, 0.0, 1.0, 0.0] + [0.1, 2.0, 0.1, 2.0]))
    pred = post.predict(torch.randn(5, 1), raw, 7, torch.Generator().manual_seed(0))
    assert pred.shape == (2, 7, 5, 2)
    det = LaplacePosterior(mnet, torch.ones(4))
    p = det.predict(torch.ones(3, 1), det.raw([0]), 4)
    assert torch.all(p == 2.0)  # 1 * x + 1, identical samples


def test_ewc_network_init_keeps_batchnorm_scales_at_one():
    from mnets.base import unflatten_weights
    from mnets.resnet import ResNet
    from probabilistic.families.classification import xavier_weights

    mnet = ResNet(in_shape=(32, 32, 3), num_classes=10, no_weights=True)
    weights = unflatten_weights(xavier_weights(mnet), mnet.param_shapes)
    for w, meta in zip(weights, mnet.param_shapes_meta):
        if meta["name"] == "bn_scale":
            assert torch.equal(w, torch.ones_like(w))
        elif meta["name"] in ("bn_shift", "bias"):
            assert torch.equal(w, torch.zeros_like(w))
