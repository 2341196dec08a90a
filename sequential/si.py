"""Synaptic Intelligence (Zenke et al., 2017) as used by the RNN paper (spec §3.3).

While learning a task, every step adds the path-integral contribution of the step to the running importance

.. math::
    \\omega_i \\mathrel{-}= g_i \\, \\Delta\\theta_i ,

where ``g`` is the gradient (of the task loss only with ``--si_task_loss_only``, with ``Δθ`` then the change
an Adam step *would* make from these gradients alone) or of the full loss (``Δθ`` the actual change). After
the task:

.. math::
    \\Omega_i \\mathrel{+}= \\max\\!\\Big(0, \\frac{\\omega_i}{(\\theta_i^\\text{end} - \\theta_i^\\text{start})^2
    + \\xi}\\Big), \\quad \\xi = 10^{-3}, \\qquad
    L_\\text{SI} = \\lambda_\\text{SI} \\sum_i \\Omega_i (\\theta_i - \\theta_i^\\text{start})^2 .
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

DAMPING = 1e-3


def si_accumulate(omega: Sequence[Tensor], grads: Sequence[Tensor], deltas: Sequence[Tensor]) -> None:
    """``omega -= grad * delta`` in place (one optimisation step)."""
    for o, g, d in zip(omega, grads, deltas):
        o.sub_(g * d)


def si_importance_update(big_omega: Sequence[Tensor], omega: Sequence[Tensor], theta_end: Sequence[Tensor],
                         theta_start: Sequence[Tensor], damping: float = DAMPING) -> list[Tensor]:
    """``Omega + clamp(omega / ((theta_end - theta_start)^2 + damping), min=0)``."""
    return [O + torch.clamp(o / ((e - s) ** 2 + damping), min=0)
            for O, o, e, s in zip(big_omega, omega, theta_end, theta_start)]


def si_penalty(weights: Sequence[Tensor], theta_start: Sequence[Tensor], big_omega: Sequence[Tensor]) -> Tensor:
    """``sum_i Omega_i (theta_i - theta_start_i)^2`` (multiply by ``si_lambda`` outside; no factor 1/2)."""
    total = weights[0].new_zeros(())
    for w, s, O in zip(weights, theta_start, big_omega):
        total = total + (O * (w - s) ** 2).sum()
    return total


@torch.no_grad()
def adam_lookahead(optimizer: torch.optim.Adam, params: Sequence[Tensor], grads: Sequence[Tensor]
                   ) -> list[Tensor]:
    """The parameter change ``Δθ`` one Adam step would make from ``grads`` (the optimiser is not changed).

    .. math::
        m' = \\beta_1 m + (1-\\beta_1) g, \\; v' = \\beta_2 v + (1-\\beta_2) g^2, \\;
        \\Delta\\theta = -\\eta \\, \\frac{m' / (1-\\beta_1^{s})}{\\sqrt{v' / (1-\\beta_2^{s})} + \\epsilon}

    with s the step count after this step. Weight decay is left out, as in the original (its weight-decay line
    is a no-op).
    """
    group = optimizer.param_groups[0]
    lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
    deltas = []
    for p, g in zip(params, grads):
        state = optimizer.state.get(p, {})
        m = state.get("exp_avg", torch.zeros_like(p))
        v = state.get("exp_avg_sq", torch.zeros_like(p))
        step = float(state.get("step", 0)) + 1
        m_new = b1 * m + (1 - b1) * g
        v_new = b2 * v + (1 - b2) * g * g
        deltas.append(-lr * (m_new / (1 - b1**step)) / ((v_new / (1 - b2**step)).sqrt() + eps))
    return deltas
