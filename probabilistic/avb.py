"""Adversarial variational Bayes (AVB, Mescheder et al. 2017): a discriminator estimates the log-density ratio
between an implicit posterior q and a contrast distribution, which gives the prior-matching (KL) term (spec §2.8).

Dimension letters: K weight samples, P main-network weights.

The discriminator :math:`T_\\phi` is an MLP on flattened weight vectors (optionally concatenated with the mean of
their mini-batch, ``--use_batchstats``) trained with logistic regression, contrast ("real") samples labelled 0 and
posterior ("fake") samples labelled 1, so that at the optimum :math:`T^*(w) = \\log q(w) - \\log r(w)`. The
prior-matching estimate is

.. math::
    \\mathrm{KL}(q \\Vert p) \\approx \\frac{1}{K} \\sum_k T_\\phi(w_k)
        \\;\\Big[ + \\frac{1}{K} \\sum_k \\log r(w_k) - \\frac{1}{K} \\sum_k \\log p(w_k) \\Big]_\\text{AC}

with :math:`w_k \\sim q` reparametrised. Without adaptive contrast (AC) the contrast distribution is the prior
itself (r = p). With AC, r = N(m, s²) is a Gaussian with the moments of q (estimated from ``num_ac_samples``
samples each iteration), which makes the discriminator's task much harder to solve trivially.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from mnets.mlp import MLP


def build_discriminator(num_weights: int, hidden_layers: Sequence[int] = (10, 10), activation_fn: str = "sigmoid",
                        use_bias: bool = True, use_batchstats: bool = False, dropout_rate: float = -1) -> MLP:
    """The discriminator ``T``: an MLP ``P (or 2P with batch statistics) -> hidden_layers -> 1 logit``."""
    n_in = 2 * num_weights if use_batchstats else num_weights
    return MLP(n_in, 1, hidden_layers, activation_fn, use_bias, dropout_rate=dropout_rate)


def concat_batch_mean(w: Tensor) -> Tensor:
    """``--use_batchstats``: each sample ``[K, P]`` concatenated with the batch mean -> ``[K, 2P]``."""
    return torch.cat([w, w.mean(0, keepdim=True).expand_as(w)], dim=1)


def discriminator_logits(dis: MLP, w: Tensor, use_batchstats: bool = False) -> Tensor:
    """``T(w)`` for a batch of weight samples ``[K, P]`` -> ``[K]``."""
    return dis(concat_batch_mean(w) if use_batchstats else w)[:, 0]


def discriminator_loss(dis: MLP, real: Tensor, fake: Tensor, use_batchstats: bool = False
                       ) -> tuple[Tensor, Tensor]:
    """Logistic loss of the discriminator and its accuracy on the fake samples.

    .. math::
        L_\\phi = -\\frac{1}{B} \\sum_b \\log \\sigma(-T(w^r_b)) - \\frac{1}{B} \\sum_b \\log \\sigma(T(w^q_b))

    (``BCE-with-logits``, real labelled 0, fake labelled 1; the mean over the 2B samples, as the original).

    Args:
        real: ``[B, P]`` samples of the contrast distribution (prior, AC Gaussian or previous posterior).
        fake: ``[B, P]`` samples of the current posterior (detached).

    Returns:
        ``(loss, acc)``: the scalar loss and the fraction of fake samples with a positive logit.
    """
    t_real = discriminator_logits(dis, real, use_batchstats)  # [B]
    t_fake = discriminator_logits(dis, fake, use_batchstats)  # [B]
    logits = torch.cat([t_real, t_fake])
    labels = torch.cat([torch.zeros_like(t_real), torch.ones_like(t_fake)])
    loss = F.binary_cross_entropy_with_logits(logits, labels)
    return loss, (t_fake > 0).float().mean()


#: Smallest std of the adaptive-contrast Gaussian.
MIN_CONTRAST_STD = 1e-12


@torch.no_grad()
def adaptive_contrast_moments(samples: Tensor) -> tuple[Tensor, Tensor]:
    """Per-weight mean and unbiased std ``[P]`` of ``samples [A, P]``: the AC Gaussian r = N(m, s²).

    Weights that do not vary over the samples (e.g. not reached by the noise in a tiny hypernetwork) get the std
    :data:`MIN_CONTRAST_STD` instead of 0, which would turn the AVB loss into NaN; other weights are unaffected.
    """
    return samples.mean(0), samples.std(0, unbiased=True).clamp_min(MIN_CONTRAST_STD)


def log_prob_diag_gaussian(w: Tensor, mean: Tensor | float, std: Tensor | float) -> Tensor:
    """``log N(w; mean, diag(std²))`` summed over the last axis: ``[..., P] -> [...]``."""
    std = torch.as_tensor(std, dtype=w.dtype, device=w.device)
    z = (w - mean) / std
    return (-0.5 * z**2 - torch.log(std) - 0.5 * math.log(2 * math.pi)).sum(-1)  # [...]


def avb_prior_matching(dis: MLP, w: Tensor, use_batchstats: bool = False,
                       contrast: tuple[Tensor, Tensor] | None = None, prior_std: float | None = None) -> Tensor:
    """AVB estimate of KL(q ‖ p) from reparametrised samples ``w [K, P]`` (gradients flow through ``w``).

    Args:
        contrast: AC Gaussian ``(mean, std)`` (constants), or None if the discriminator was trained against
            the prior directly (then ``prior_std`` is ignored).
        prior_std: Std of the explicit prior N(0, prior_std²) (needed with ``contrast``).
    """
    pm = discriminator_logits(dis, w, use_batchstats).mean()
    if contrast is not None:
        pm = pm + log_prob_diag_gaussian(w, contrast[0], contrast[1]).mean() \
            - log_prob_diag_gaussian(w, 0.0, prior_std).mean()
    return pm
