"""Generative replay with a VAE whose encoder is the classifier, and HNET+R (spec §3.6).

The classifier has ``2 * latent_dim`` extra output units per timestep (after all heads): the mean and log-variance
of a Gaussian posterior over a latent sequence. A recurrent decoder (``--dec_*`` flags; its input is the latent
sequence, plus the task one-hot when multi-head without hypernetwork) maps latents back to input sequences. Every
step adds the VAE loss of the current batch

.. math::
    L_\\text{VAE} = \\lambda_\\text{rec} \\frac{1}{B} \\sum_b \\sum_{t,f} \\ell(\\hat{x}_{tbf}, x_{tbf})
        + \\lambda_\\text{pm} \\frac{1}{B} \\sum_b \\sum_{t,l}
        \\mathrm{KL}\\big(\\mathcal{N}(\\mu_{tbl}, \\sigma^2_{tbl}) \\,\\|\\, \\mathcal{N}(0, s^2)\\big)

with ``ℓ`` the binary cross-entropy with logits (Copy Task, all input channels incl. the stop flag) or the
squared error (Stroke-MNIST families), ``s = --latent_std``, no padding mask (as the original). The decoder sees a
reparameterised sample of the posterior.

While learning task t > 0, a batch of the current batch's size, split evenly over the previous tasks, is generated
by the decoder snapshot taken at the start of task t: latents drawn from the prior for the replayed task's maximum
length (the Copy Task applies a sigmoid to the decoder outputs). The classifier snapshot of the same moment gives
soft targets; the distillation of :mod:`sequential.replay` (T = 2) is summed over previous tasks. The scored
timesteps of replayed data are read from the data itself: the Copy Task window follows the stop flag (first
maximum of the last channel); the SMNIST families distill at the step after the last end-of-digit flag (the
original's off-by-one, as for coresets).

* Generative replay: the decoder has its own weights and is also trained on the replayed data
  (replay-through-feedback); those VAE losses are summed over previous tasks like the distillation.
* HNET+R (``--hnet_all``): a task-conditioned hypernetwork generates the decoder's weights; the decoder is trained
  on the current task only, old decoders are kept by the hypernetwork output regulariser; the classifier keeps its
  own weights.

Shapes: ``T`` time, ``B`` batch, ``R`` replayed samples, ``F`` input features, ``L`` latent size.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from mnets.simple_rnn import SimpleRNN
from sequential.networks import rnn_forward
from sequential.replay import bernoulli_kd, softmax_kd
from utils.cli import ConfigError, parse_int_list


# ----------------------------------------------------------------------------------------------------------
# The decoder
# ----------------------------------------------------------------------------------------------------------
def decoder_gets_task_input(config: argparse.Namespace) -> bool:
    """The decoder input carries the task one-hot (multi-head without hypernetwork)."""
    return config.multi_head and not config.hnet_all


def build_decoder(config: argparse.Namespace, n_out: int, num_tasks: int) -> SimpleRNN:
    """Recurrent decoder ``latents [T, B, L] (+ task one-hot) -> [T, B, n_out]`` from the ``--dec_*`` flags.

    Without own weights under ``--hnet_all`` (a hypernetwork generates them). With ``--dec_srnn_no_fc_out`` the last
    recurrent layer (of size ``n_out``) is the output.
    """
    rec = parse_int_list(config.dec_srnn_rec_layers, "dec_srnn_rec_layers")
    post = parse_int_list(config.dec_srnn_post_fc_layers, "dec_srnn_post_fc_layers")
    if config.dec_srnn_no_fc_out:
        if post:
            raise ConfigError("--dec_srnn_no_fc_out cannot be combined with --dec_srnn_post_fc_layers")
        rec, fc = rec + [n_out], []
    else:
        fc = post + [n_out]
    return SimpleRNN(
        n_in=config.latent_dim + (num_tasks if decoder_gets_task_input(config) else 0), rnn_layers=rec,
        fc_layers_pre=parse_int_list(config.dec_srnn_pre_fc_layers, "dec_srnn_pre_fc_layers"), fc_layers=fc,
        activation_fn=config.dec_net_act, use_lstm=config.dec_srnn_rec_type == "lstm",
        use_bias=not config.dec_no_bias, no_weights=config.hnet_all, kaiming_rnn_init=True,
    )


def decode(decoder: SimpleRNN, z: Tensor, task_ids: Tensor, weights: Sequence[Tensor] | None,
           num_tasks: int) -> Tensor:
    """Decoder outputs ``[T, B, F]`` for latents ``z`` ``[T, B, L]``; ``num_tasks > 0`` appends the task one-hot."""
    if num_tasks > 0:
        T, B, _ = z.shape
        onehot = F.one_hot(task_ids, num_tasks).to(z.dtype)  # [B, num_tasks]
        z = torch.cat([z, onehot[None].expand(T, B, num_tasks)], dim=-1)  # [T, B, L + num_tasks]
    return rnn_forward(decoder, z, weights)


# ----------------------------------------------------------------------------------------------------------
# VAE losses
# ----------------------------------------------------------------------------------------------------------
def latent_units(outputs: Tensor, latent_dim: int) -> tuple[Tensor, Tensor]:
    """Posterior mean and log-variance ``[T, B, L]`` from the classifier's last ``2 L`` output units."""
    stats = outputs[..., outputs.shape[-1] - 2 * latent_dim:]  # [T, B, 2L]
    return stats[..., :latent_dim], stats[..., latent_dim:]


def gaussian_kl(mu: Tensor, logvar: Tensor, prior_std: float = 1.0, valid: Tensor | None = None) -> Tensor:
    """Per-sample ``KL(N(mu, exp(logvar)) || N(0, prior_std^2))`` summed over time and latent dims: ``[B]``.

    .. math::
        \\mathrm{KL} = \\sum_{t,l} \\log s - \\tfrac12 \\log \\sigma^2_{tl}
            + \\frac{\\sigma^2_{tl} + \\mu^2_{tl}}{2 s^2} - \\tfrac12

    Args:
        mu, logvar: ``[T, B, L]``.
        valid: Optional ``[T, B]`` bool, the timesteps that count (replayed data shorter than the batch).
    """
    log_ratio = logvar - 2.0 * math.log(prior_std)  # log(sigma^2 / s^2), without exp-then-log
    kl = 0.5 * (log_ratio.exp() + mu**2 / prior_std**2 - 1.0 - log_ratio)  # [T, B, L]
    kl = kl.sum(-1)  # [T, B]
    if valid is not None:
        kl = kl * valid
    return kl.sum(0)


def reconstruction_loss(recon: Tensor, x: Tensor, bernoulli: bool, valid: Tensor | None = None) -> Tensor:
    """Per-sample reconstruction loss summed over time and features: ``[B]``.

    Args:
        recon: Decoder outputs ``[T, B, F]`` (logits if ``bernoulli``).
        x: Inputs ``[T, B, F]`` (bits or probabilities if ``bernoulli``).
        bernoulli: Binary cross-entropy with logits (Copy Task); otherwise the squared error.
        valid: Optional ``[T, B]`` bool, the timesteps that count.
    """
    if bernoulli:
        err = F.binary_cross_entropy_with_logits(recon, x, reduction="none")
    else:
        err = (recon - x) ** 2
    err = err.sum(-1)  # [T, B]
    if valid is not None:
        err = err * valid
    return err.sum(0)


def vae_losses(decoder: SimpleRNN, outputs: Tensor, x: Tensor, task_ids: Tensor, weights: Sequence[Tensor] | None,
               config: argparse.Namespace, bernoulli: bool, valid: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Per-sample reconstruction and KL terms ``([B], [B])`` of inputs ``x`` ``[T, B, F]`` encoded by the
    classifier (``outputs`` ``[T, B, O_all]``) and decoded from a reparameterised posterior sample."""
    mu, logvar = latent_units(outputs, config.latent_dim)
    z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()  # [T, B, L]
    n_onehot = config.num_tasks if decoder_gets_task_input(config) else 0
    recon = decode(decoder, z, task_ids, weights, n_onehot)
    return (reconstruction_loss(recon, x, bernoulli, valid),
            gaussian_kl(mu, logvar, config.latent_std, valid))


# ----------------------------------------------------------------------------------------------------------
# Replay
# ----------------------------------------------------------------------------------------------------------
@dataclass
class ReplayedData:
    """Inputs generated for previous tasks."""

    inputs: Tensor  # [T, R, F], zero beyond each replayed task's length
    task_ids: Tensor  # [R] int64
    valid: Tensor  # [T, R] bool: timesteps within the replayed task's maximum length


def has_task_axis(decoder: SimpleRNN, weights: Sequence[Tensor]) -> bool:
    """Whether ``weights`` carry a leading axis with one weight set per task (HNET+R snapshot)."""
    return weights[0].dim() > len(decoder.param_shapes[0])


@torch.no_grad()
def generate_replay(decoder: SimpleRNN, snapshot: Sequence[Tensor], counts: Sequence[int], lengths: Sequence[int],
                    config: argparse.Namespace, bernoulli: bool) -> ReplayedData:
    """Sample ``counts[j]`` sequences of length ``lengths[j]`` for every previous task ``j`` from the prior.

    Args:
        snapshot: The decoder's weights at the start of the task: one set shared by all tasks (task one-hot input),
            or ``[t, *shape]`` per tensor, one set per previous task (HNET+R).
        bernoulli: Apply a sigmoid to the decoder outputs (Copy Task).
    """
    device = snapshot[0].device
    T = max(lengths)
    task_ids = torch.repeat_interleave(torch.arange(len(counts), device=device),
                                       torch.tensor(counts, device=device))  # [R]
    z = config.latent_std * torch.randn(T, len(task_ids), config.latent_dim, device=device)  # [T, R, L]
    if has_task_axis(decoder, snapshot):
        x = z.new_zeros(T, len(task_ids), decoder.fc_layers[-1] if decoder.fc_layers else decoder.rnn_layers[-1])
        for j, n in enumerate(counts):  # one fused decoder pass per previous task (its own weights)
            if n > 0:
                rows = task_ids == j
                x[: lengths[j], rows] = decode(decoder, z[: lengths[j], rows], task_ids[rows],
                                               [w[j] for w in snapshot], 0)
    else:
        n_onehot = config.num_tasks if decoder_gets_task_input(config) else 0
        x = decode(decoder, z, task_ids, snapshot, n_onehot)  # all previous tasks in one pass: [T, R, F]
    if bernoulli:
        x = torch.sigmoid(x)
    steps = torch.arange(T, device=device)[:, None]  # [T, 1]
    valid = steps < torch.tensor(lengths, device=device)[task_ids][None, :]  # [T, R]
    return ReplayedData(x * valid[..., None], task_ids, valid)


def stop_flag_window(x: Tensor, valid: Tensor) -> Tensor:
    """Copy Task: ``[T, R]`` bool window of the ``s`` steps right after the stop flag at step ``s``.

    The stop flag (last input channel) is located as the first maximum over time.
    """
    stop = x[..., -1].masked_fill(~valid, -1.0).argmax(0)  # [R]
    steps = torch.arange(x.shape[0], device=x.device)[:, None]  # [T, 1]
    return (steps > stop) & (steps <= 2 * stop) & valid


def end_of_digit_steps(x: Tensor, valid: Tensor) -> Tensor:
    """SMNIST families: ``[R]`` distillation step = one after the last end-of-digit flag (last channel > 0.5),
    clamped to the replayed task's length (no flag: its last step)."""
    T = x.shape[0]
    steps = torch.arange(T, device=x.device)[:, None].expand_as(valid)  # [T, R]
    last_valid = (steps * valid).amax(0)  # [R]
    flagged = (x[..., -1] > 0.5) & valid
    eod = torch.where(flagged.any(0), (steps * flagged).amax(0), last_valid)
    return torch.minimum(eod + 1, last_valid)  # the original's off-by-one (spec §3.5)


def replay_distillation(kind: str, student: Tensor, teacher: Tensor, replay: ReplayedData
                        ) -> tuple[Tensor, float, float]:
    """Per-sample distillation ``[R]`` of head logits ``[T, R, O]``, and the student's agreement with the
    teacher (hits, count): bits in the window (``kind="copy"``) or the argmax at the distillation step (the step
    after the last end-of-digit flag for ``"class"``, the last step for ``"last_step"``)."""
    if kind == "regression":  # student-teacher: squared error over the valid steps, no agreement to count
        return ((student - teacher) ** 2).sum(-1).mul(replay.valid).sum(0), 0.0, 0.0
    if kind == "copy":
        window = stop_flag_window(replay.inputs, replay.valid)
        agree = ((student >= 0) == (teacher >= 0)).float().sum(-1)  # [T, R]
        return (bernoulli_kd(student, teacher, window), float((agree * window).sum()),
                float(window.sum()) * student.shape[-1])
    if kind == "last_step":  # fixed-length clips (AudioSet): the original reads the last (valid) step
        step = (torch.arange(replay.valid.shape[0], device=student.device)[:, None] * replay.valid).amax(0)
    else:
        step = end_of_digit_steps(replay.inputs, replay.valid)
    rows = torch.arange(student.shape[1], device=student.device)
    s, t = student[step, rows], teacher[step, rows]  # [R, O]
    return softmax_kd(s, t), float((s.argmax(-1) == t.argmax(-1)).sum()), float(len(rows))


def sum_of_task_means(values: Tensor, task_ids: Tensor) -> Tensor:
    """``sum_j mean_{b: task_b = j} values_b``: per-task means of ``values`` ``[R]``, summed over tasks."""
    counts = torch.bincount(task_ids).to(values.dtype)  # [t]
    return (values / counts[task_ids]).sum()


# ----------------------------------------------------------------------------------------------------------
# Pictures
# ----------------------------------------------------------------------------------------------------------
def sequence_image(*sequences: Tensor) -> Tensor:
    """Grey-scale image ``[1, sum F, T]`` of sequences ``[T, F]`` stacked vertically, each scaled to [0, 1]."""
    rows = []
    for s in sequences:
        s = s.detach().float().cpu().T  # [F, T]
        lo, hi = s.min(), s.max()
        rows.append((s - lo) / (hi - lo) if hi > lo else torch.zeros_like(s))
    return torch.cat(rows)[None]
