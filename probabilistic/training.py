"""Optimisation helpers shared by the posterior-replay runners: optimizer from the flags, gradient clipping,
KL-scale schedule (spec §2.1, §2.3)."""

from __future__ import annotations

import argparse
from collections.abc import Iterable

import numpy as np
import torch
from torch import nn


def make_optimizer(config: argparse.Namespace, params: Iterable[nn.Parameter], lr: float | None = None
                   ) -> torch.optim.Optimizer:
    """The optimizer selected by ``--use_adam/--use_rmsprop/--use_adadelta/--use_adagrad`` (default SGD with
    ``--momentum``), with ``--lr`` (or ``lr``) and ``--weight_decay``; Adam uses betas ``(adam_beta1, 0.999)``."""
    params, lr = list(params), config.lr if lr is None else lr
    wd = config.weight_decay
    if config.use_adam:
        return torch.optim.Adam(params, lr=lr, betas=(config.adam_beta1, 0.999), weight_decay=wd)
    if config.use_rmsprop:
        return torch.optim.RMSprop(params, lr=lr, weight_decay=wd)
    if config.use_adadelta:
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if config.use_adagrad:
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)


def clip_gradients(config: argparse.Namespace, params: Iterable[nn.Parameter]) -> None:
    """``--clip_grad_value`` or ``--clip_grad_norm`` (mutually exclusive; -1 = off)."""
    if config.clip_grad_value != -1:
        nn.utils.clip_grad_value_(params, config.clip_grad_value)
    elif config.clip_grad_norm != -1:
        nn.utils.clip_grad_norm_(params, config.clip_grad_norm)


def kl_scale_at(it: int, n_iter: int, kl_scale: float, kl_schedule: int) -> float:
    """KL factor at iteration ``it``: ``kl_scale``, or with ``kl_schedule = s != 0`` ``abs(s)`` values linearly
    spaced from ``kl_scale`` to 1 (reversed if s < 0) on ``abs(s)`` equal, piecewise-constant iteration
    intervals."""
    if kl_schedule == 0 or kl_scale == 1:
        return kl_scale
    values = np.linspace(kl_scale, 1.0, abs(kl_schedule))
    if kl_schedule < 0:
        values = values[::-1]
    interval = int(np.ceil(n_iter / abs(kl_schedule)))
    return float(values[min(it // interval, len(values) - 1)])
