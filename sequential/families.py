"""The experiment families of the RNN runner: their tasks, losses and accuracies (spec §1.1, §1.3-1.5).

A :class:`Family` bundles what the runner needs to know about one benchmark. Losses are per-sample (``[B]``) and
keep the original scaling, because ``beta``, ``ewc_lambda``, ``si_lambda`` and ``replay_distill_reg`` were tuned
against it (spec §8.2):

* Copy Task: binary cross-entropy with logits summed over the output bits and over the target window.
* Split / Sequential SMNIST, Split AudioSet: cross-entropy weighted over timesteps by ``--ts_weighting``
  (default ``last``: the last unpadded step only; weights per sample sum to 1).
* PoS tagging: cross-entropy summed over the unpadded tokens of a sentence.

Accuracies: Copy Task = percentage of correct bits (logit >= 0) inside the target window; SMNIST families and
AudioSet = argmax at the last unpadded step (AudioSet: step 10). Logits passed to these functions are one
head's, ``[T, B, O]``. PoS = correctly tagged tokens over all unpadded tokens (micro-average), plus the weighted
F-score of the tags.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from data.timeseries.audioset import load_audioset, split_audioset_tasks
from data.timeseries.copy_task import CopyTaskSpec, copy_tasks
from data.timeseries.seq_smnist import seq_smnist_tasks
from data.timeseries.sequence_task import SeqBatch, SequenceTask
from data.timeseries.smnist import load_stroke_mnist, split_smnist_tasks
from data.timeseries.ud_pos import PosData, load_pos_data, pos_tasks
from utils.cli import ConfigError

#: Samples per task (train, test, val) of the generated datasets; tests shrink them.
COPY_SIZES = (100_000, 1_000, 1_000)
SEQ_SMNIST_SIZES = (12_000, 2_000)  # train, test (val: --val_set_size)


@dataclass
class Family:
    """One benchmark as the runner sees it."""

    name: str
    tasks: list[SequenceTask]
    head_dim: int  # output units per head
    loss: Callable[[Tensor, SeqBatch], Tensor]  # head logits [T, B, O] -> per-sample loss [B]
    fisher_loss: Callable[[Tensor, SeqBatch], Tensor]
    correct: Callable[[Tensor, SeqBatch], tuple[float, float]]  # -> (number correct, number scored)
    # "copy" (bits in a window), "class" (label at the last step), "last_step" (the same for fixed-length clips:
    # generated replays are read at their last step, not at a generated end-of-digit flag; AudioSet) or "tokens"
    # (a tag per word, PoS)
    kind: str
    confusion: Callable[[Tensor, SeqBatch], Tensor] | None = None  # -> [O, O] true x predicted counts (PoS)
    words: PosData | None = None  # PoS: the inputs are word ids; vocabularies and initial word embeddings

    @property
    def in_dim(self) -> int:
        """Input features the network sees per step (PoS: the word-embedding size)."""
        return self.words.embedding_dim if self.words is not None else self.tasks[0].in_dim


# ----------------------------------------------------------------------------------------------------------
# Copy Task
# ----------------------------------------------------------------------------------------------------------
def copy_loss(logits: Tensor, batch: SeqBatch) -> Tensor:
    """Per-sample BCE with logits summed over bits and window steps: ``[T, B, O]`` -> ``[B]``."""
    bce = F.binary_cross_entropy_with_logits(logits, batch.targets, reduction="none").sum(-1)  # [T, B]
    return (bce * batch.window).sum(0)


def copy_correct(logits: Tensor, batch: SeqBatch) -> tuple[float, float]:
    """Correct bits (prediction = logit >= 0) inside the window, and the number of bits scored."""
    hits = ((logits >= 0).float() == batch.targets).float().sum(-1)  # [T, B]
    return float((hits * batch.window).sum()), float(batch.window.sum() * logits.shape[-1])


def copy_specs(config: argparse.Namespace) -> list[CopyTaskSpec]:
    """One :class:`CopyTaskSpec` per task (the curriculum: mean length grows by ``input_len_step``)."""
    return [CopyTaskSpec(
        mean_len=config.first_task_input_len + t * config.input_len_step,
        len_variability=config.input_len_variability, seq_width=config.seq_width,
        out_width=config.seq_out_width, pat_len=config.pat_len, random_pad=config.random_pad,
        pad_after_stop=config.pad_after_stop, permute_time=config.permute_time,
        permute_width=config.permute_width, permute_xor=config.permute_xor,
        permute_xor_iter=config.permute_xor_iter, permute_xor_separate=config.permute_xor_separate,
        scatter_pattern=config.scatter_pattern, pairwise_permute=config.pairwise_permute,
        revert_output_seq=config.revert_output_seq,
    ) for t in range(config.num_tasks)]


# ----------------------------------------------------------------------------------------------------------
# Classification at the last step (Split SMNIST, Sequential SMNIST)
# ----------------------------------------------------------------------------------------------------------
def timestep_weights(lengths: Tensor, T: int, weighting: str) -> Tensor:
    """``[T, B]`` loss weights over timesteps, each sample's column summing to 1 (``--ts_weighting``).

    ``last``: the last unpadded step; ``unpadded``: uniform over unpadded steps; ``none``: uniform over all T
    steps; ``last_ten_percent``: uniform over the last ``ceil(0.1 * length)`` unpadded steps; ``discount``:
    ``0.9^(length - 1 - t)`` over unpadded steps.
    """
    t = torch.arange(T, device=lengths.device)[:, None]  # [T, 1]
    L = lengths[None, :]  # [1, B]
    if weighting == "last":
        w = (t == L - 1).float()
    elif weighting == "unpadded":
        w = (t < L).float()
    elif weighting == "none":
        w = torch.ones(T, lengths.shape[0], device=lengths.device)
    elif weighting == "last_ten_percent":
        w = ((t < L) & (t >= L - torch.ceil(0.1 * L))).float()
    elif weighting == "discount":
        w = torch.where(t < L, 0.9 ** (L - 1 - t).clamp(min=0).float(), torch.zeros(()))
    else:
        raise ValueError(f"unknown timestep weighting {weighting!r}")
    return w / w.sum(0, keepdim=True)


def last_step_logits(logits: Tensor, lengths: Tensor, offset: int = 0) -> Tensor:
    """``[B, O]`` logits at step ``length - 1 + offset`` (clamped to the sequence) of every sample."""
    idx = (lengths - 1 + offset).clamp(0, logits.shape[0] - 1)
    return logits[idx, torch.arange(logits.shape[1], device=logits.device)]


def make_class_loss(weighting: str) -> Callable[[Tensor, SeqBatch], Tensor]:
    """Per-sample cross-entropy over timesteps weighted by :func:`timestep_weights`."""

    def loss(logits: Tensor, batch: SeqBatch) -> Tensor:
        if weighting == "last":
            return F.cross_entropy(last_step_logits(logits, batch.lengths), batch.targets, reduction="none")
        T, B = logits.shape[:2]
        nll = -F.log_softmax(logits, -1).gather(-1, batch.targets[None, :, None].expand(T, B, 1))[..., 0]
        return (nll * timestep_weights(batch.lengths, T, weighting)).sum(0)  # [B]

    return loss


def class_correct(logits: Tensor, batch: SeqBatch) -> tuple[float, float]:
    """Correct argmax predictions at the last unpadded step, and the number of samples."""
    pred = last_step_logits(logits, batch.lengths).argmax(-1)
    return float((pred == batch.targets).sum()), float(batch.size)


# ----------------------------------------------------------------------------------------------------------
# Part-of-speech tagging: one tag per word
# ----------------------------------------------------------------------------------------------------------
def scored_tokens(batch: SeqBatch) -> Tensor:
    """``[T, B]`` bool: the unpadded steps whose word id is not 0 (the unknown / padding word)."""
    T = batch.inputs.shape[0]
    valid = torch.arange(T, device=batch.inputs.device)[:, None] < batch.lengths[None, :]
    return valid & (batch.inputs[..., 0] != 0)


def pos_loss(logits: Tensor, batch: SeqBatch) -> Tensor:
    """Per-sample cross-entropy summed over the unpadded tokens: ``[T, B, O]`` -> ``[B]``."""
    T, B, O = logits.shape
    nll = F.cross_entropy(logits.reshape(T * B, O), batch.targets.reshape(T * B), reduction="none")
    valid = torch.arange(T, device=logits.device)[:, None] < batch.lengths[None, :]  # [T, B]
    return (nll.view(T, B) * valid).sum(0)


def pos_correct(logits: Tensor, batch: SeqBatch) -> tuple[float, float]:
    """Correctly tagged tokens and the number of tokens scored (micro-average over all tokens)."""
    scored = scored_tokens(batch)
    hits = (logits.argmax(-1) == batch.targets[..., 0]) & scored
    return float(hits.sum()), float(scored.sum())


def pos_confusion(logits: Tensor, batch: SeqBatch) -> Tensor:
    """``[O, O]`` counts of (true tag, predicted tag) over the scored tokens."""
    O = logits.shape[-1]
    scored = scored_tokens(batch)
    pairs = batch.targets[..., 0][scored] * O + logits.argmax(-1)[scored]
    return torch.bincount(pairs, minlength=O * O).view(O, O).cpu()


def weighted_fscore(confusion: Tensor) -> float:
    r"""Support-weighted F1 over all tags (sklearn's ``f1_score(average="weighted", zero_division=1)``).

    Per tag :math:`F_c = 2 tp_c / (2 tp_c + fp_c + fn_c) = 2 tp_c / (n_c + \hat n_c)` with :math:`n_c` true and
    :math:`\hat n_c` predicted tokens of tag c (1 when both are 0); the result is
    :math:`\sum_c n_c F_c / \sum_c n_c`, in [0, 1] as the original reports it.
    """
    c = confusion.double()
    tp, support, predicted = c.diag(), c.sum(1), c.sum(0)
    denom = support + predicted
    f = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.ones_like(tp))
    return float((f * support).sum() / support.sum()) if support.sum() > 0 else 1.0


# ----------------------------------------------------------------------------------------------------------
def build_family(config: argparse.Namespace, device: torch.device) -> Family:
    """Tasks and loss/accuracy functions of the script's family (``config.parser_mode``)."""
    mode = config.parser_mode
    if mode == "copy":
        n_train, n_test, n_val = COPY_SIZES
        tasks = copy_tasks(copy_specs(config), config.data_random_seed, n_train, n_test, n_val, device)
        return Family("copy", tasks, tasks[0].out_dim, copy_loss, copy_loss, copy_correct, "copy")
    if mode == "split_audioset":  # every clip has 10 steps: "last" = cross-entropy at step 10 (spec §1.5)
        try:
            tasks = split_audioset_tasks(load_audioset(config.data_dir or None), config.num_tasks,
                                         config.num_classes_per_task, config.val_set_size, config.data_random_seed,
                                         device)
        except ValueError as err:
            raise ConfigError(str(err)) from None
        return Family(mode, tasks, tasks[0].out_dim, make_class_loss(config.ts_weighting),
                      make_class_loss(config.ts_weighting_fisher), class_correct, "last_step")
    if mode == "student_teacher":
        from sequential.student_teacher.family import student_teacher_family  # it imports Family from here

        return student_teacher_family(config, device)
    if mode == "pos":
        words = load_pos_data(config.num_tasks, config.wemb_init, config.wemb_file, config.ud_treebanks,
                              config.data_dir or None)
        tasks = pos_tasks(words, config.num_tasks, config.random_seed, device)
        return Family(mode, tasks, tasks[0].out_dim, pos_loss, pos_loss, pos_correct, "tokens", pos_confusion, words)
    arrays = load_stroke_mnist(config.data_dir or None)
    if mode == "split_smnist":
        tasks = split_smnist_tasks(arrays, config.num_tasks, config.num_classes_per_task, config.val_set_size,
                                   config.data_random_seed, device)
    elif mode == "seq_smnist":
        n_train, n_test = SEQ_SMNIST_SIZES
        tasks = seq_smnist_tasks(arrays, config.num_tasks, config.ssmnist_seq_len, config.ssmnist_two_classes,
                                 config.data_random_seed, n_train, n_test, config.val_set_size, device)
    else:
        raise NotImplementedError(f"the {mode} family is not part of this runner yet")
    return Family(mode, tasks, tasks[0].out_dim, make_class_loss(config.ts_weighting),
                  make_class_loss(config.ts_weighting_fisher), class_correct, "class")
