"""Coresets in the training loop (``--coreset_size``, classification): which coreset batch an iteration replays,
and how the coresets change after a task (spec §2.11). The coresets themselves are
:class:`~probabilistic.classification.coresets.Coresets`."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from torch import Tensor

from probabilistic.classification.coresets import (
    Coresets,
    ReplayBatch,
    build_up_front,
    coreset_regularizer_batch,
    experience_replay_batch,
)
from probabilistic.families.base import Family


class CoresetReplay:
    """The coresets of a run and the replay batch of each iteration."""

    def __init__(self, config: argparse.Namespace, tasks: list, family: Family) -> None:
        self.config, self.tasks, self.family = config, tasks, family
        flags = vars(config)  # the implicit parsers lack the experience-replay and fine-tuning flags
        self.final_finetune = flags.get("final_coresets_finetune", False)
        self.experience_replay = flags.get("coresets_for_experience_replay", False)
        self.past_and_future = flags.get("past_and_future_coresets", False)
        self.coresets = Coresets(len(tasks), config.coreset_size, config.per_task_coreset, config.random_seed)
        if self.built_up_front:  # removing the samples from the training sets for final fine-tuning
            build_up_front(self.coresets, tasks, remove=self.final_finetune)

    @classmethod
    def create(cls, config: argparse.Namespace, tasks: list, family: Family) -> CoresetReplay | None:
        """None without ``--coreset_size``."""
        return None if vars(config).get("coreset_size", -1) == -1 else cls(config, tasks, family)

    @property
    def built_up_front(self) -> bool:
        """Coresets of all tasks exist before training (final fine-tuning, experience replay, past+future)."""
        return self.final_finetune or self.experience_replay or self.past_and_future

    def batch(self, task_id: int, posterior, teacher_raw: Tensor | None) -> ReplayBatch | None:
        """This iteration's coreset inputs: experience replay (distillation from ``teacher_raw``), the coreset
        regulariser (old tasks, t > 0; not with final fine-tuning), or None."""
        c, heads = self.config, self.family.heads
        if self.final_finetune:
            return None
        if self.experience_replay:
            if task_id == 0:
                return None
            teacher = lambda x: posterior.predict(x, teacher_raw, 1)[0, 0]  # noqa: E731
            return experience_replay_batch(self.coresets, task_id, heads, teacher, c.coreset_batch_size,
                                           c.fix_coreset_size)
        if task_id == 0 and not self.past_and_future:
            return None
        return coreset_regularizer_batch(self.coresets, task_id, heads, c.coreset_batch_size, self.past_and_future)

    def after_task(self, task_id: int, entropy: Callable[[Tensor], Tensor]) -> None:
        """Add the task's coreset (replacing the most uncertain samples of a shared one), unless built up front."""
        if not self.built_up_front:
            self.coresets.update_after_task(self.tasks[task_id], task_id, entropy)
