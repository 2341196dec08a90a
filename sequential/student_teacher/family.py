"""The student-teacher regression family of the RNN runner (spec_cl_in_rnns.md §1.6).

Each task is a random recurrent teacher (:mod:`data.timeseries.rnd_rec_teacher`); the student regresses the
teacher's outputs at every step. The loss keeps the original's scaling (spec §8.2): the squared error averaged
over the output channels and the timesteps of a sample, ``[T, B, O]`` -> ``[B]`` (the runner averages over the
batch). There is no accuracy: summaries report losses (``mean_final_loss``, ...).
"""

from __future__ import annotations

import argparse

import torch
from torch import Tensor

from data.timeseries.rnd_rec_teacher import Teacher, student_teacher_tasks
from data.timeseries.sequence_task import SeqBatch
from sequential.families import Family
from utils.cli import ConfigError

#: Samples per task (train, test); validation: ``--val_set_size``. Tests shrink them.
ST_SIZES = (10_000, 1_000)


def st_loss(outputs: Tensor, batch: SeqBatch) -> Tensor:
    """Per-sample squared error, mean over channels and the scored steps: ``[T, B, O]`` -> ``[B]``."""
    sq = ((outputs - batch.targets) ** 2).mean(-1)  # [T, B]
    window = batch.window.float()  # [T, B] (all steps; zero on the padding of mixed-length batches)
    return (sq * window).sum(0) / window.sum(0).clamp(min=1)


def st_correct(outputs: Tensor, batch: SeqBatch) -> tuple[float, float]:
    """Regression has no accuracy: nothing is scored (the runner reports losses for this family)."""
    return 0.0, 0.0


def mse_distillation(student: Tensor, teacher: Tensor) -> Tensor:
    """Replay distillation of a regression: squared error to the snapshot's outputs ``[T, B, O]``, summed over
    steps and channels and averaged over the batch (the original's ``mse_loss(reduction="sum") / B``)."""
    return ((student - teacher) ** 2).sum() / student.shape[1]


def build_teachers(config: argparse.Namespace, device: torch.device | str = "cpu",
                   sizes: tuple[int, int] | None = None) -> tuple[list, list[Teacher]]:
    """The run's tasks and their teachers from the student-teacher flags."""
    n_train, n_test = sizes or ST_SIZES
    return student_teacher_tasks(
        config.num_tasks, config.data_random_seed, n_train, n_test, config.val_set_size, device,
        n_in=config.input_feature_dim, n_out=config.output_feature_dim, steps_in=config.num_timesteps_in,
        steps_out=config.num_timesteps_out, sigma="tanh", orth_A=config.orth_teacher_hid_mat,
        rank_A=config.rank_teacher_hid_mat, max_sv_A=config.max_sv_teacher_hid_mat)


def student_teacher_family(config: argparse.Namespace, device: torch.device | str = "cpu") -> Family:
    """The :class:`~sequential.families.Family` of ``train_student.py``; invalid teacher flags raise a
    :class:`~utils.cli.ConfigError` naming them."""
    try:
        tasks, _ = build_teachers(config, device)
    except ValueError as err:
        raise ConfigError(f"{err} (--num_timesteps_in/--num_timesteps_out, --orth_teacher_hid_mat, "
                          "--rank_teacher_hid_mat, --max_sv_teacher_hid_mat)") from None
    return Family("student_teacher", tasks, tasks[0].out_dim, st_loss, st_loss, st_correct, "regression")
