"""Pieces every classification training loop shares: optimizer, iteration count, gradient clipping, NaN guard."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from utils.progress import itstime
from utils.training import NonFiniteLossError  # noqa: F401 (re-exported: the runners import it from here)


def make_optimizer(config: argparse.Namespace, params: Iterable[Tensor], lr: float | None = None
                   ) -> torch.optim.Optimizer:
    """SGD (default), Adam (betas ``(adam_beta1, 0.999)``), RMSprop, Adadelta or Adagrad with ``weight_decay``;
    the runners build a new one for every task, as the original (Adam state is reset)."""
    lr = config.lr if lr is None else lr
    params = list(params)
    wd = config.weight_decay
    if config.use_adam:  # fused: one kernel for all parameter tensors instead of a loop of small ops
        return torch.optim.Adam(params, lr=lr, betas=(config.adam_beta1, 0.999), weight_decay=wd, fused=True)
    if config.use_rmsprop:
        return torch.optim.RMSprop(params, lr=lr, momentum=config.momentum, weight_decay=wd)
    if config.use_adadelta:
        return torch.optim.Adadelta(params, lr=lr, weight_decay=wd)
    if config.use_adagrad:
        return torch.optim.Adagrad(params, lr=lr, weight_decay=wd)
    return torch.optim.SGD(params, lr=lr, momentum=config.momentum, weight_decay=wd)


def iterations_per_epoch(config: argparse.Namespace, num_train: int) -> int:
    """``ceil(N_train / batch_size)``."""
    return math.ceil(num_train / config.batch_size)


def num_iterations(config: argparse.Namespace, num_train: int) -> int:
    """``n_iter``, or ``epochs * ceil(N_train / batch_size)`` if ``--epochs`` is set."""
    if config.epochs != -1:
        return config.epochs * iterations_per_epoch(config, num_train)
    return config.n_iter


def clip_gradients(config: argparse.Namespace, params: Iterable[Tensor]) -> None:
    """``--clip_grad_value`` or ``--clip_grad_norm`` (mutually exclusive; -1 = off)."""
    if config.clip_grad_value != -1:
        nn.utils.clip_grad_value_(params, config.clip_grad_value)
    elif config.clip_grad_norm != -1:
        nn.utils.clip_grad_norm_(params, config.clip_grad_norm)


def check_finite(loss: Tensor, task_id: int, it: int, parts: dict[str, Tensor]) -> None:
    """Raise :class:`NonFiniteLossError` naming the task, iteration and loss terms."""
    if not torch.isfinite(loss):
        terms = ", ".join(f"{k}={v.item():.3g}" for k, v in parts.items())
        raise NonFiniteLossError(f"non-finite loss in task {task_id + 1} at iteration {it} ({terms})")


def cross_entropy_over_samples(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy over K weight samples and the batch, and the accuracy of the averaged softmax.

    Args:
        logits: ``[K, B, W]`` on the allowed outputs.
        targets: ``[B]`` class indices into the allowed outputs.

    Returns:
        ``(1/K) Σ_k CE_mean(batch, w_k)`` and the accuracy in %.
    """
    K, B, W = logits.shape
    ce = nn.functional.cross_entropy(logits.reshape(K * B, W), targets.repeat(K))  # [K*B] -> mean
    acc = (logits.softmax(-1).mean(0).argmax(-1) == targets).float().mean() * 100
    return ce, acc


def task_loss(allowed: Tensor, labels: Tensor, num_train: int, prior_matching: Tensor, kl_weight: float,
              beta: float, reg: Tensor, replay=None, replay_logits: Tensor | None = None,
              coreset_reg: float = 1.0) -> dict[str, Tensor]:
    """Loss of one iteration from the allowed-output logits ``[S, B, W]`` and class indices ``labels [B]``:
    ``kl_weight · PM + N_train · CE + beta · L_reg (+ coreset_reg · L_replay)``, with every term for logging.

    Args:
        replay: A :class:`~probabilistic.classification.coresets.ReplayBatch` whose loss is applied to
            ``replay_logits``, or None.
    """
    ce, acc = cross_entropy_over_samples(allowed, labels)
    loss_nll = num_train * ce
    loss = kl_weight * prior_matching + loss_nll + beta * reg
    terms = {"loss_kl": prior_matching, "loss_nll": loss_nll, "regularizer": reg, "accuracy": acc}
    if replay is not None:
        terms[replay.name] = replay.loss(replay_logits)
        loss = loss + coreset_reg * terms[replay.name]
    return {"loss": loss, **terms}


def optimizer_step(config: argparse.Namespace, terms: dict[str, Tensor], params: list[Tensor],
                   optimizer: torch.optim.Optimizer, schedulers, writer, task_id: int, it: int,
                   prefix: str | None = None) -> None:
    """NaN guard, backward, gradient clipping, optimizer step, epoch schedulers, and the loss terms to TensorBoard
    every 50 iterations (as ``<prefix>/<term>``, default prefix ``train/task_<t>``)."""
    check_finite(terms["loss"], task_id, it, terms)
    terms["loss"].backward()
    clip_gradients(config, params)
    optimizer.step()
    schedulers.after_step(it)
    if itstime(it, 50):
        for name, value in terms.items():
            writer.add_scalar(f"{prefix or f'train/task_{task_id}'}/{name}", value.item(), it)
