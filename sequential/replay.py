"""Coreset replay with distillation from a start-of-task snapshot (spec §3.5).

After each task, ``coreset_size`` training samples are stored. While learning task t > 0 every step replays a
batch split evenly over the previous tasks (a random task order decides who gets the remainder), drawn with
replacement from each coreset. The targets are *soft*: the logits of a snapshot of the network taken at the
start of task t, on the replayed task's head. The loss is summed (not averaged) over previous tasks:

.. math::
    L_\\text{distill} = \\lambda \\sum_{j < t} T^2 \\, \\mathrm{KD}_T(z^\\text{student}_j, z^\\text{teacher}_j),
    \\qquad T = 2 .

``KD`` is the KL divergence between tempered teacher and student distributions (softmax for classes, a
Bernoulli per bit for the Copy Task). The original uses the cross-entropy, which differs only by the teacher's
entropy (a constant for the student): same gradients, and the loss is 0 when student = teacher. Generative replay
(:mod:`sequential.generative_replay`) uses the same per-sample distillation on generated inputs.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

TEMPERATURE = 2.0


def softmax_kd(student: Tensor, teacher: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """Per-sample ``T^2 KL(softmax(teacher/T) || softmax(student/T))`` for logits ``[B, C]``: ``[B]``."""
    log_p_s = F.log_softmax(student / temperature, dim=-1)
    log_p_t = F.log_softmax(teacher / temperature, dim=-1)
    return temperature**2 * (log_p_t.exp() * (log_p_t - log_p_s)).sum(-1)


def softmax_distillation(student: Tensor, teacher: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """Mean over samples of :func:`softmax_kd`."""
    return softmax_kd(student, teacher, temperature).mean()


def bernoulli_kd(student: Tensor, teacher: Tensor, window: Tensor, temperature: float = TEMPERATURE) -> Tensor:
    """Copy task: per-sample ``T^2`` x KL between tempered Bernoullis, summed over bits and window steps: ``[B]``.

    Args:
        student, teacher: Logits ``[T, B, O]``.
        window: ``[T, B]`` bool, the scored timesteps of each replayed sequence.
    """
    p_t = torch.sigmoid(teacher / temperature)
    log_s1, log_s0 = F.logsigmoid(student / temperature), F.logsigmoid(-student / temperature)
    log_t1, log_t0 = F.logsigmoid(teacher / temperature), F.logsigmoid(-teacher / temperature)
    kl = p_t * (log_t1 - log_s1) + (1 - p_t) * (log_t0 - log_s0)  # [T, B, O]
    return temperature**2 * (kl.sum(-1) * window).sum(0)


def bernoulli_distillation(student: Tensor, teacher: Tensor, window: Tensor,
                           temperature: float = TEMPERATURE) -> Tensor:
    """Mean over samples of :func:`bernoulli_kd`."""
    return bernoulli_kd(student, teacher, window, temperature).mean()


def token_distillation(student: Tensor, teacher: Tensor, lengths: Tensor, temperature: float = TEMPERATURE
                       ) -> Tensor:
    """PoS: :func:`softmax_kd` per unpadded token, averaged over all tokens of the batch (the original weights
    each sentence's mean by its length). Logits ``[T, B, C]``, lengths ``[B]``."""
    valid = torch.arange(student.shape[0], device=student.device)[:, None] < lengths[None, :]  # [T, B]
    return (softmax_kd(student, teacher, temperature) * valid).sum() / valid.sum().clamp(min=1)


def split_replay_batch(batch_size: int, num_prev: int, rng: np.random.RandomState) -> list[int]:
    """Replayed samples per previous task: ``batch_size`` split evenly, the remainder to random tasks."""
    counts = np.full(num_prev, batch_size // num_prev)
    counts[rng.permutation(num_prev)[: batch_size % num_prev]] += 1
    return counts.tolist()


def sample_coreset(coreset_size: int, n_train: int, rng: np.random.RandomState) -> Tensor:
    """Indices ``[coreset_size]`` of the training samples kept for a task (random, without replacement)."""
    return torch.from_numpy(rng.choice(n_train, size=min(coreset_size, n_train), replace=False))
