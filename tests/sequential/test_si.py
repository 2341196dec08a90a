"""SI: the path integral on a quadratic matches its closed form; the Adam look-ahead equals a real Adam step."""

import pytest
import torch

from sequential.si import DAMPING, adam_lookahead, si_accumulate, si_importance_update, si_penalty


def test_si_importance_on_a_quadratic_matches_closed_form():
    # L = a/2 (theta - c)^2, plain gradient descent with step eta: theta_k - c = q^k (theta_0 - c), q = 1 - eta a,
    # omega = sum_k eta g_k^2 = eta a^2 (theta_0 - c)^2 (1 - q^(2n)) / (1 - q^2).
    a, c, eta, n = torch.tensor([2.0, 0.5]), torch.tensor([1.0, -1.0]), 0.1, 30
    theta = torch.tensor([3.0, 2.0], requires_grad=True)
    start = theta.detach().clone()
    omega = [torch.zeros(2)]
    for _ in range(n):
        loss = (0.5 * a * (theta - c) ** 2).sum()
        (g,) = torch.autograd.grad(loss, theta)
        with torch.no_grad():
            theta -= eta * g
        si_accumulate(omega, [g], [-eta * g])
    q = 1 - eta * a
    expected = eta * a**2 * (start - c) ** 2 * (1 - q ** (2 * n)) / (1 - q**2)
    torch.testing.assert_close(omega[0], expected)
    big = si_importance_update([torch.zeros(2)], omega, [theta.detach()], [start])[0]
    torch.testing.assert_close(big, expected / ((theta.detach() - start) ** 2 + DAMPING))
    assert float(si_penalty([start + 1], [start], [big])) == pytest.approx(float(big.sum()), rel=1e-6)


def test_negative_path_integral_is_clipped():
    big = si_importance_update([torch.zeros(1)], [torch.tensor([-3.0])], [torch.ones(1)], [torch.zeros(1)])
    assert float(big[0]) == 0.0


def test_adam_lookahead_equals_the_actual_step():
    torch.manual_seed(0)
    p = torch.nn.Parameter(torch.randn(5))
    opt = torch.optim.Adam([p], lr=0.01)
    for _ in range(3):
        p.grad = torch.randn(5)
        before = p.detach().clone()
        delta = adam_lookahead(opt, [p], [p.grad.clone()])[0]
        opt.step()
        torch.testing.assert_close(p.detach() - before, delta, rtol=1e-4, atol=1e-7)
