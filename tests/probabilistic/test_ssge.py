"""Spectral Stein gradient estimator: closed-form contraction, Gaussian scores, entropy gradient."""

import math

import pytest
import torch

from probabilistic.ssge import median_heuristic_width, num_eigenpairs, rbf_kernel, ssge_score, stein_surrogate


def _naive_ssge(x, q, width, J):
    """Shi et al.'s estimator with the explicit [M, D, M] kernel-gradient tensor (the original's memory layout)."""
    M = x.shape[0]
    K = rbf_kernel(x, x, width)
    lam, U = torch.linalg.eigh(K)
    lam, U = lam.flip(0)[:J], U.flip(1)[:, :J]
    diff = x.unsqueeze(2) - x.T.unsqueeze(0)  # [M, D, M]: x_m - x_z
    grad_k = -diff / width**2 * K.unsqueeze(1)  # [M, D, M]: grad_{x_m} k(x_m, x_z)
    beta = -torch.einsum("mdz,zj->dj", grad_k, U) / (math.sqrt(M) * lam)  # [D, J]
    psi = rbf_kernel(q, x, width) @ U * math.sqrt(M) / lam  # [N, J]
    return psi @ beta.T


def test_closed_form_contraction_equals_the_kernel_gradient_tensor():
    torch.manual_seed(0)
    x, q = torch.randn(30, 4, dtype=torch.float64), torch.randn(7, 4, dtype=torch.float64)
    torch.testing.assert_close(ssge_score(x, q, 1.3, num_eigenvals=10), _naive_ssge(x, q, 1.3, 10))


CASES = {  # name: (mean, std)
    "1d-standard": (torch.zeros(1), torch.ones(1)),
    "5d-standard": (torch.zeros(5), torch.ones(5)),
    "3d-shifted-diagonal": (torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.5, 1.0, 2.0])),
}


@pytest.mark.parametrize("name", list(CASES))
def test_recovers_the_score_of_a_gaussian(name):
    mean, std = (t.double() for t in CASES[name])
    gen = torch.Generator().manual_seed(1)
    x = mean + std * torch.randn(1000, len(mean), generator=gen, dtype=torch.float64)
    q = mean + std * torch.randn(300, len(mean), generator=gen, dtype=torch.float64)
    q = q[((q - mean) / std).abs().amax(1) < 1.5]  # the estimate is reliable where the samples are dense
    exact = -(q - mean) / std**2  # -Σ⁻¹ (x - μ)
    est = ssge_score(x, q, width=None, num_eigenvals=8)
    rel_err = ((est - exact).norm() / exact.norm()).item()
    assert rel_err < 0.3, rel_err


def test_eigenvalue_threshold_and_count():
    lam = torch.tensor([5.0, 3.0, 1.0, 0.5, 0.5])  # total 10: cumulative shares .5 .8 .9 .95 1
    assert num_eigenpairs(lam, -1, 1.0) == 5
    assert num_eigenpairs(lam, 2, 1.0) == 2
    assert num_eigenpairs(lam, -1, 0.85) == 2
    assert num_eigenpairs(lam, -1, 0.3) == 1  # at least one


def test_median_heuristic_is_the_median_of_the_full_distance_matrix():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    # distances (full 3x3 with zero diagonal): 0,1,3,1,0,2,3,2,0 -> median 1
    assert median_heuristic_width(x).item() == 1.0


def test_stein_surrogate_gives_the_entropy_gradient_of_a_gaussian():
    """For w = μ + σ ε in D dimensions, E_q[log q] = -D log σ + const, so ∂/∂σ = -D/σ."""
    D, sigma = 5, torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    eps = torch.randn(400, D, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    w = 0.3 + sigma * eps
    score = ssge_score(w, w, width=None, num_eigenvals=8)
    (grad,) = torch.autograd.grad(stein_surrogate(w, score), sigma)
    assert grad.item() == pytest.approx(-D / 1.5, rel=0.2)
