"""Closed-form checks of the posterior maths: KL (both forms), W2, LRT moments, radial norms, regulariser."""

import math

import pytest
import torch

from mnets.base import unflatten_weights
from mnets.mlp import MLP
from probabilistic.gaussian import (
    RHO_OFFSET,
    gaussian_regularizer,
    kl_diag_gaussians,
    kl_std_normal,
    kl_to_prior,
    radial_prior_matching,
    sample_gaussian,
    sample_gaussian_per_tensor,
    sample_radial,
    split_mean_rho,
    std_from_rho,
    w2_diag_gaussians,
)
from probabilistic.lrt import lrt_mlp_forward
from utils.hnet_regularizer import hnet_output_regularizer, regularized_rows, select_tasks, tasks_to_regularize


@pytest.fixture(autouse=True)
def _float64():
    """Closed-form comparisons in double precision (restored afterwards: other tests share the process)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _univariate_kl(mq, sq, mp, sp):
    return math.log(sp / sq) + (sq**2 + (mq - mp) ** 2) / (2 * sp**2) - 0.5


@pytest.mark.parametrize("mq, sq, mp, sp", [(0.0, 1.0, 0.0, 1.0), (1.0, 0.5, 0.0, 1.0), (-2.0, 0.1, 1.0, 3.0),
                                             (0.3, 2.0, 0.3, 0.5)])
def test_kl_diag_gaussians_matches_univariate_formula(mq, sq, mp, sp):
    got = kl_diag_gaussians(torch.tensor([[mq, mq]]), torch.tensor([[sq, sq]]), torch.tensor([[mp, mp]]),
                            torch.tensor([[sp, sp]]))
    assert got.item() == pytest.approx(2 * _univariate_kl(mq, sq, mp, sp), rel=1e-10)


def test_kl_std_normal_form_equals_general_form():
    mean, std = torch.randn(3, 50), torch.rand(3, 50) + 0.05
    assert torch.allclose(kl_std_normal(mean, std), kl_diag_gaussians(mean, std, 0.0, 1.0))
    assert torch.allclose(kl_to_prior(mean, std, 1.0), kl_std_normal(mean, std))
    assert torch.allclose(kl_to_prior(mean, std, 4.0), kl_diag_gaussians(mean, std, 0.0, 2.0))
    assert kl_std_normal(torch.zeros(1, 5), torch.ones(1, 5)).item() == 0.0


def test_w2_between_diagonal_gaussians():
    ma, sa, mb, sb = torch.randn(2, 10), torch.rand(2, 10) + 0.1, torch.randn(2, 10), torch.rand(2, 10) + 0.1
    expected = ((ma - mb) ** 2).sum(-1) + ((sa - sb) ** 2).sum(-1)
    assert torch.allclose(w2_diag_gaussians(ma, sa, mb, sb), expected)
    assert w2_diag_gaussians(ma, sa, ma, sa).abs().max() < 1e-12


@pytest.mark.parametrize("kind", ["fkl", "rkl", "w2"])
def test_distributional_regularizers_are_zero_at_targets_and_positive_elsewhere(kind):
    mean, std = torch.randn(3, 20), torch.rand(3, 20) + 0.1
    assert gaussian_regularizer(kind, mean, std, mean, std).abs().max() < 1e-10
    assert (gaussian_regularizer(kind, mean + 0.1, std, mean, std) > 0).all()


def test_fkl_and_rkl_swap_arguments():
    a, sa, b, sb = torch.randn(1, 4), torch.rand(1, 4) + 0.1, torch.randn(1, 4), torch.rand(1, 4) + 0.1
    assert torch.allclose(gaussian_regularizer("fkl", a, sa, b, sb), kl_diag_gaussians(b, sb, a, sa))
    assert torch.allclose(gaussian_regularizer("rkl", a, sa, b, sb), kl_diag_gaussians(a, sa, b, sb))


def test_mse_regularizer_zero_at_targets_and_sum_of_squares():
    targets = torch.randn(3, 7)
    assert hnet_output_regularizer(targets, targets).item() == 0.0
    # sum over outputs, mean over tasks
    assert hnet_output_regularizer(targets + 1, targets).item() == pytest.approx(7.0)
    mask = torch.zeros(3, 7)
    mask[:, :2] = 1
    assert hnet_output_regularizer(targets + 1, targets, mask).item() == pytest.approx(2.0)


@pytest.mark.parametrize("masked", [False, True])
def test_mse_regularizer_equals_autograd_bit_for_bit(masked):
    gen = torch.Generator().manual_seed(3)
    current = torch.randn(3, 1001, generator=gen, requires_grad=True)
    targets = torch.randn(3, 1001, generator=gen)
    mask = (torch.rand(3, 1001, generator=gen) > 0.3).float() if masked else None
    squares = (current - targets) ** 2
    reference = (squares * mask if masked else squares).sum(-1).mean()
    (expected,) = torch.autograd.grad(10 * reference, current)
    value = hnet_output_regularizer(current, targets, mask)
    (grad,) = torch.autograd.grad(10 * value, current)
    assert torch.equal(value, reference) and torch.equal(grad, expected)


@pytest.mark.parametrize("masked", [False, True])
def test_regularized_rows_equal_split_cut_and_autograd_bit_for_bit(masked):
    """Padded rows [S + 1, Q]: the regulariser of the first S and the last row's first P columns, with the
    gradient autograd gives through a padding cut, a row split and the plain squared error."""
    gen = torch.Generator().manual_seed(4)
    S, P, Q = 3, 1001, 1008
    outputs = torch.randn(S + 1, Q, generator=gen, requires_grad=True)
    targets = torch.randn(S, P, generator=gen)
    mask = (torch.rand(S, P, generator=gen) > 0.3).float() if masked else None
    weight = torch.randn(1, P, generator=gen)  # what the current row feeds into

    prev, current = outputs.split([P, Q - P], dim=1)[0].split([S, 1])
    squares = (prev - targets) ** 2
    reference = 10 * (squares * mask if masked else squares).sum(-1).mean() + (current * weight).sum()
    (expected,) = torch.autograd.grad(reference, outputs)
    sums, rest = regularized_rows(outputs, targets, mask)
    value = 10 * sums.mean() + (rest * weight).sum()
    (grad,) = torch.autograd.grad(value, outputs)
    assert torch.equal(value, reference) and torch.equal(grad, expected)
    assert torch.equal(rest, outputs[S:, :P]) and rest.data_ptr() == outputs[S:].data_ptr()  # a view
    assert grad[:, P:].abs().sum() == 0  # no gradient reaches the padding


def test_regularized_rows_without_use_of_the_rest():
    outputs = torch.ones(2, 5, requires_grad=True)
    sums, _ = regularized_rows(outputs, torch.zeros(1, 4))
    (grad,) = torch.autograd.grad(sums.sum(), outputs)
    assert sums.tolist() == [4.0] and grad.tolist() == [[2.0] * 4 + [0.0], [0.0] * 5]


def test_select_tasks_is_a_view_for_all_previous_tasks():
    rows = torch.arange(12.0).reshape(4, 3)
    first = select_tasks(rows, [0, 1, 2])
    assert first.data_ptr() == rows.data_ptr() and first.tolist() == rows[:3].tolist()
    subset = select_tasks(rows, [1, 3])
    assert subset.data_ptr() != rows.data_ptr() and subset.tolist() == rows[[1, 3]].tolist()


def test_tasks_to_regularize_subsets():
    assert tasks_to_regularize(3, -1) == [0, 1, 2]
    sub = tasks_to_regularize(10, 4)
    assert len(sub) == 4 and len(set(sub)) == 4 and max(sub) < 10


def test_rho_parametrisation():
    rho = torch.tensor([0.0, 2.5, 5.0])
    assert torch.allclose(std_from_rho(rho), torch.nn.functional.softplus(rho + RHO_OFFSET))
    assert torch.allclose(std_from_rho(rho, use_logvar_enc=True), torch.exp((rho - 2.5) / 2))
    mean, raw = split_mean_rho(torch.arange(6.0).unsqueeze(0))
    assert mean.tolist() == [[0, 1, 2]] and raw.tolist() == [[3, 4, 5]]


def test_per_tensor_samples_equal_flat_samples_bit_for_bit():
    """Same draw, same weights and the same gradients as autograd through the flat samples (K = 10 over a
    784-100-100-10 MLP's shapes, the Split MNIST PR-BbB step)."""
    mnet = MLP(784, 10, hidden_layers=[100, 100], no_weights=True)
    P, gen = mnet.num_params, torch.Generator().manual_seed(1)
    raw = torch.randn(1, 2 * P, generator=gen, requires_grad=True)
    x = torch.randn(16, 784, generator=gen)

    def step(per_tensor: bool):
        mean, std = split_mean_rho(raw)
        std = std_from_rho(std)
        torch.manual_seed(5)
        if per_tensor:
            weights = sample_gaussian_per_tensor(mean, std, 10, mnet.param_shapes)
        else:
            weights = unflatten_weights(sample_gaussian(mean, std, 10).reshape(10, P), mnet.param_shapes)
        assert all(w.is_contiguous() for w in weights) or not per_tensor
        out = mnet(x, weights)
        return [w.detach() for w in weights], torch.autograd.grad(out.square().mean(), raw)[0]

    (w_flat, g_flat), (w_tensor, g_tensor) = step(False), step(True)
    assert all(torch.equal(a, b) for a, b in zip(w_flat, w_tensor))
    assert torch.equal(g_flat, g_tensor)


def test_gaussian_samples_have_the_posterior_moments():
    mean, std = torch.tensor([[1.0, -2.0, 0.5]]), torch.tensor([[0.1, 1.0, 2.0]])
    s = sample_gaussian(mean, std, 200_000, torch.Generator().manual_seed(0))[0]
    assert torch.allclose(s.mean(0), mean[0], atol=0.02)
    assert torch.allclose(s.std(0), std[0], rtol=0.02)


def test_radial_samples_have_unit_direction_norm_per_tensor():
    shapes = [[3, 2], [3], [1, 3], [1]]
    P = sum(math.prod(s) for s in shapes)
    mean, std = torch.zeros(2, P), torch.ones(2, P)
    samples = sample_radial(mean, std, 1000, shapes, torch.Generator().manual_seed(0))  # [2, K, P]
    start = 0
    for s in shapes:
        end = start + math.prod(s)
        norms = samples[..., start:end].norm(dim=-1)  # = |r| per tensor
        # |r| with r ~ N(0,1): E|r| = sqrt(2/pi)
        assert norms.mean().item() == pytest.approx(math.sqrt(2 / math.pi), abs=0.05)
        start = end


def test_radial_prior_matching_formula():
    std, samples = torch.full((1, 4), 0.5), torch.zeros(1, 3, 4)
    expected = -4 * math.log(0.5) + 0.5 * 4 * math.log(2 * math.pi * 2.0)
    assert radial_prior_matching(std, samples, 2.0).item() == pytest.approx(expected)


def test_lrt_moments_match_weight_sampling():
    torch.manual_seed(0)
    mlp = MLP(n_in=3, n_out=2, hidden_layers=[], activation_fn="relu", no_weights=True)  # one linear layer
    mean = torch.randn(mlp.num_params)
    std = torch.rand(mlp.num_params) * 0.5 + 0.1
    x = torch.randn(4, 3)
    K = 100_000
    lrt = lrt_mlp_forward(mlp, x, unflatten_weights(mean, mlp.param_shapes),
                          unflatten_weights(std, mlp.param_shapes), K, torch.Generator().manual_seed(1))
    w = sample_gaussian(mean[None], std[None], K, torch.Generator().manual_seed(2))[0]
    sampled = mlp(x, unflatten_weights(w, mlp.param_shapes))  # [K, B, O]
    assert torch.allclose(lrt.mean(0), sampled.mean(0), atol=0.02)
    assert torch.allclose(lrt.var(0), sampled.var(0), rtol=0.03)
    # closed form: mean = x mu_W^T + mu_b, var = x^2 sigma_W^2^T + sigma_b^2
    mw, mb = unflatten_weights(mean, mlp.param_shapes)
    sw, sb = unflatten_weights(std, mlp.param_shapes)
    assert torch.allclose(lrt.var(0), x**2 @ (sw**2).T + sb**2, rtol=0.03)
    assert torch.allclose(lrt.mean(0), x @ mw.T + mb, atol=0.02)
