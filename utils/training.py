"""The training-loop pieces every runner of both papers uses: optimizer, gradient clipping, KL schedule, iteration
arithmetic and the NaN guard (spec_posterior_replay §2.1, §2.3; spec_cl_in_rnns §3.0).

One implementation each, so that the regression, classification and RNN runners cannot drift apart again (the KL
schedule had two, which disagreed on 36 iterations of a 5001-iteration run with ``--kl_schedule=10``, and the
regression optimizer dropped the RMSprop momentum).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable

import numpy as np
import torch
from torch import Tensor, nn

from utils.optim import eager


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the task and the iteration."""


def adam(config: argparse.Namespace, params: Iterable[Tensor], lr: float | None = None) -> torch.optim.Adam:
    """Adam with betas ``(adam_beta1, 0.999)``, ``--weight_decay`` and ``--lr`` (or ``lr``); the RNN scripts' only
    optimizer. Fused: one kernel for all parameter tensors instead of a loop of small ops. Like every optimizer here
    it is :func:`utils.optim.eager`'s subclass, which starts without importing ``torch._dynamo``."""
    return eager(torch.optim.Adam)(list(params), lr=config.lr if lr is None else lr, betas=(config.adam_beta1, 0.999),
                            weight_decay=vars(config).get("weight_decay", 0), fused=True)


def make_optimizer(config: argparse.Namespace, params: Iterable[Tensor], lr: float | None = None
                   ) -> torch.optim.Optimizer:
    """SGD with ``--momentum`` (default), Adam (``--use_adam``, betas ``(adam_beta1, 0.999)``), RMSprop with
    ``--momentum``, Adadelta or Adagrad, each with ``--weight_decay`` and ``--lr`` (or ``lr``).

    The runners build a new optimizer for every task, as the originals do (Adam's moments are reset).
    """
    lr = config.lr if lr is None else lr
    params = list(params)
    c = vars(config)
    wd = c.get("weight_decay", 0)
    momentum = max(c.get("momentum", 0), 0)  # grid modules set -1 for "not used"
    if c.get("use_adam", False):
        return adam(config, params, lr)
    if c.get("use_rmsprop", False):
        return eager(torch.optim.RMSprop)(params, lr=lr, momentum=momentum, weight_decay=wd)
    if c.get("use_adadelta", False):
        return eager(torch.optim.Adadelta)(params, lr=lr, weight_decay=wd)
    if c.get("use_adagrad", False):
        return eager(torch.optim.Adagrad)(params, lr=lr, weight_decay=wd)
    return eager(torch.optim.SGD)(params, lr=lr, momentum=momentum, weight_decay=wd)


def clip_gradients(config: argparse.Namespace, params: Iterable[Tensor]) -> None:
    """``--clip_grad_value`` or ``--clip_grad_norm`` (mutually exclusive; -1 = off)."""
    c = vars(config)
    if c.get("clip_grad_value", -1) != -1:
        nn.utils.clip_grad_value_(params, config.clip_grad_value)
    elif c.get("clip_grad_norm", -1) != -1:
        nn.utils.clip_grad_norm_(params, config.clip_grad_norm)


def kl_factor(it: int, num_iter: int, kl_scale: float, kl_schedule: int) -> float:
    r"""Factor of the prior-matching term at iteration ``it`` of ``num_iter`` (``--kl_scale``, ``--kl_schedule``).

    With :math:`s` = ``kl_schedule`` :math:`\neq 0` and ``kl_scale`` :math:`\neq 1`, the :math:`m = |s|` values
    ``linspace(kl_scale, 1, m)`` (reversed if :math:`s < 0`) hold on the intervals
    :math:`[b_k, b_{k+1})` with boundaries ``b = linspace(0, num_iter, m + 1)`` truncated to integers, as the
    original computes them; otherwise the factor is ``kl_scale``.
    """
    if kl_schedule == 0 or kl_scale == 1:
        return float(kl_scale)
    steps = abs(kl_schedule)
    values = np.linspace(kl_scale, 1.0, steps)
    if kl_schedule < 0:
        values = values[::-1]
    bounds = np.linspace(0, num_iter, steps + 1).astype(int)
    interval = int(np.searchsorted(bounds, it, side="right")) - 1  # the last boundary <= it
    return float(values[min(max(interval, 0), steps - 1)])


def iterations_per_epoch(config: argparse.Namespace, num_train: int) -> int:
    """``ceil(N_train / batch_size)``."""
    return math.ceil(num_train / config.batch_size)


def num_iterations(config: argparse.Namespace, num_train: int) -> int:
    """``n_iter``, or ``epochs * ceil(N_train / batch_size)`` if ``--epochs`` is set."""
    if vars(config).get("epochs", -1) != -1:
        return config.epochs * iterations_per_epoch(config, num_train)
    return config.n_iter


def check_finite(loss: Tensor, task_id: int | None, it: int, parts: dict[str, Tensor] | None = None) -> None:
    """Raise :class:`NonFiniteLossError` naming the task (None: joint training), the iteration and the loss
    terms."""
    if not torch.isfinite(loss):
        terms = ", ".join(f"{k}={v.item():.3g}" for k, v in (parts or {}).items() if v.numel() == 1)
        where = "multitask training" if task_id is None else f"task {task_id + 1}"
        raise NonFiniteLossError(f"non-finite loss in {where} at iteration {it}"
                                 + (f" ({terms})" if terms else ""))
