"""Spectral Stein gradient estimator (SSGE, Shi et al. 2018): the score ∇_w log q(w) of a distribution known only
through samples, used by the SSGE posteriors to get the entropy gradient of an implicit distribution (spec §2.9).

Dimension letters: M estimation samples, N query points, D dimensions (all main-network weights), J eigenpairs.

Given samples X = (x_1..x_M) of q and an RBF kernel :math:`k(x, x') = \\exp(-\\lVert x - x' \\rVert^2 / (2\\sigma^2))`
with Gram matrix :math:`K = U \\Lambda U^\\top` (eigenvalues sorted descending), the Nyström eigenfunctions and their
Stein coefficients are

.. math::
    \\psi_j(x) = \\frac{\\sqrt{M}}{\\lambda_j} \\sum_m U_{mj}\\, k(x, x_m), \\qquad
    \\beta_j = -\\frac{1}{\\sqrt{M}\\,\\lambda_j} \\sum_{m, z} \\nabla_{x_m} k(x_m, x_z)\\, U_{zj},
    \\qquad \\hat{s}(x) = \\sum_{j \\le J} \\beta_j\\, \\psi_j(x).

The double sum has a closed form, so the ``[M, D, M]`` kernel-gradient tensor of the original is never built
(memory O(M² + MD), spec §6.3): with :math:`\\nabla_{x_m} k(x_m, x_z) = -(x_m - x_z) K_{mz} / \\sigma^2`,

.. math::
    \\sum_{m, z} \\nabla_{x_m} k(x_m, x_z)\\, U_{zj}
    = -\\frac{1}{\\sigma^2} \\Big[ X^\\top (K U) - X^\\top \\big(U \\odot (K \\mathbf{1})\\big) \\Big]_{:, j}.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def rbf_kernel(x1: Tensor, x2: Tensor, width: float | Tensor) -> Tensor:
    """RBF Gram matrix ``[M1, M2]`` of ``x1 [M1, D]`` and ``x2 [M2, D]`` with bandwidth σ = ``width``."""
    sq_dist = torch.cdist(x1, x2).pow(2)  # [M1, M2]
    return torch.exp(-sq_dist / (2 * width**2))


def median_heuristic_width(x: Tensor) -> Tensor:
    """``--heuristic_kernel``: median of all pairwise distances of ``x [M, D]`` (the full M×M matrix, zero
    diagonal included, as the original)."""
    return torch.cdist(x, x).flatten().median()


def num_eigenpairs(eigvals: Tensor, num_eigenvals: int = -1, thr_eigenvals: float = 1.0) -> int:
    """J, the number of leading eigenpairs kept.

    Args:
        eigvals: ``[M]`` eigenvalues sorted descending, negative round-off already clipped to 0.
        num_eigenvals: ``--num_ssge_eigenvals`` (-1 = all).
        thr_eigenvals: ``--thr_ssge_eigenvals``: if != 1, the largest J whose leading eigenvalues have a
            cumulative share of the total below this ratio (at least 1).
    """
    M = eigvals.shape[0]
    if thr_eigenvals != 1.0:
        share = eigvals.cumsum(0) / eigvals.sum()  # [M]
        return max(int((share < thr_eigenvals).sum()), 1)
    return M if num_eigenvals == -1 else min(num_eigenvals, M)


def ssge_score(samples: Tensor, points: Tensor, width: float | None = 1.0, num_eigenvals: int = -1,
               thr_eigenvals: float = 1.0) -> Tensor:
    """Score estimate ``[N, D]`` of the distribution of ``samples [M, D]`` at ``points [N, D]``.

    Args:
        width: RBF bandwidth σ (``--rbf_kernel_width``); None = median heuristic (``--heuristic_kernel``).
        num_eigenvals, thr_eigenvals: See :func:`num_eigenpairs`.

    Eigenvalues that are exactly zero after clipping round-off (a singular Gram matrix, e.g. duplicated
    samples) are dropped, since their eigenfunctions are undefined.
    """
    samples, points = samples.detach(), points.detach()
    M = samples.shape[0]
    sigma = median_heuristic_width(samples) if width is None else torch.as_tensor(width, dtype=samples.dtype)
    K = rbf_kernel(samples, samples, sigma)  # [M, M]
    eigvals, eigvecs = torch.linalg.eigh(K)  # ascending
    eigvals, eigvecs = eigvals.flip(0).clamp_min(0.0), eigvecs.flip(1)  # descending; [M], [M, M]
    J = num_eigenpairs(eigvals, num_eigenvals, thr_eigenvals)
    J = min(J, int((eigvals > 0).sum()))
    lam, U = eigvals[:J], eigvecs[:, :J]  # [J], [M, J]

    KU = K @ U  # [M, J]
    grad_sum = -(samples.T @ KU - samples.T @ (U * K.sum(1, keepdim=True))) / sigma**2  # [D, J]
    beta = -grad_sum / (math.sqrt(M) * lam)  # [D, J]
    psi = rbf_kernel(points, samples, sigma) @ U * (math.sqrt(M) / lam)  # [N, J]
    return psi @ beta.T  # [N, D]


def stein_surrogate(w: Tensor, score: Tensor) -> Tensor:
    """Scalar whose gradient w.r.t. the generator parameters is :math:`\\frac{1}{N} \\sum_n J_\\theta(w_n)^\\top
    \\hat{s}(w_n)`, i.e. the estimate of :math:`\\nabla_\\theta \\mathbb{E}_q[\\log \\hat{q}(w)]` (the negative entropy
    gradient when ``score`` is q's own score).

    Args:
        w: ``[N, D]`` reparametrised samples (differentiable w.r.t. the generator parameters).
        score: ``[N, D]`` score estimates at ``w`` (treated as constants).
    """
    return (w * score.detach()).sum(-1).mean()
