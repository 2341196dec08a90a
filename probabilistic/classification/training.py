"""Pieces every classification training loop shares: optimizer, iteration count, gradient clipping, NaN guard."""

from __future__ import annotations

import argparse

import torch
from torch import Tensor, nn

from utils.progress import itstime
from utils.training import (  # noqa: F401 (re-exported: the runners import them from here)
    NonFiniteLossError,
    check_finite,
    clip_gradients,
    iterations_per_epoch,
    make_optimizer,
    num_iterations,
)


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
