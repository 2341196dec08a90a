r"""Online EWC's importance bookkeeping, shared by both papers (spec_posterior_replay §2.10, spec_cl_in_rnns §3.2).

With the diagonal Fisher :math:`F` accumulated online, :math:`F \leftarrow F^{(t)} + \gamma F`, the penalty while
learning later tasks is :math:`\frac{1}{2} \sum_i F_i (\theta_i - \theta^*_i)^2` (times ``ewc_lambda``). Weights,
anchors and Fishers are lists of tensors (a flat parameter vector is a list of one).

Both originals also multiply the stored Fisher by :math:`\gamma` *in place at every penalty evaluation*, so with
:math:`\gamma < 1` it decays at every training step (:func:`decay_fisher_`; every README run uses
:math:`\gamma = 1`, where this changes nothing). It is reproduced by default and switched off by
``--fix_online_ewc`` in the scripts of both papers.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor


def online_fisher(new: Sequence[Tensor], old: Sequence[Tensor] | None, gamma: float) -> list[Tensor]:
    """``F = F_new + gamma * F_old`` per tensor (``F_new`` itself for the first task)."""
    if old is None:
        return [f.clone() for f in new]
    return [n + gamma * o for n, o in zip(new, old)]


def decay_fisher_(fishers: Sequence[Tensor], gamma: float) -> list[Tensor]:
    """The originals' quirk: ``F *= gamma`` in place (called before every penalty evaluation)."""
    return [f.mul_(gamma) for f in fishers]


def ewc_penalty(weights: Sequence[Tensor], anchors: Sequence[Tensor], fishers: Sequence[Tensor]) -> Tensor:
    """:math:`\\frac{1}{2} \\sum_i F_i (\\theta_i - \\theta^*_i)^2` (multiply by ``ewc_lambda``)."""
    total = weights[0].new_zeros(())
    for w, a, f in zip(weights, anchors, fishers):
        total = total + (f * (w - a) ** 2).sum()
    return 0.5 * total
