"""What the trainer asks of a method (:mod:`probabilistic.trainer`).

A method owns the networks and the posterior they represent. Per iteration it returns its named loss terms
(:meth:`Method.train_step`); between tasks it does what the method needs (:meth:`Method.before_task`,
:meth:`Method.after_task`); at test time it hands the family one model per task and a prediction function. The
trainer sums nothing: ``train_step`` returns ``loss`` with the terms it is made of, for logging. See
``docs/architecture.rst`` for a walkthrough of adding a method.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from probabilistic.families.base import Family, RunContext
from utils.cli import ConfigError
from utils.training import make_optimizer


class Method(ABC):
    """Base class of a posterior-replay method. Subclasses implement :meth:`build`, :meth:`train_step`,
    :meth:`models` and :meth:`state`; the other hooks default to doing nothing."""

    #: Shown in the log.
    name = ""
    #: Multitask-like methods train once on all tasks (``task_id`` None in the hooks) and are tested once.
    trains_jointly = False

    def __init__(self, config: argparse.Namespace, summary_name: str) -> None:
        self.config = config
        #: The parser mode's method (``bbb``, ``avb_pf``, ...): selects the summary keys.
        self.summary_name = summary_name
        self.ctx: RunContext | None = None
        self.family: Family | None = None

    # --- setup -------------------------------------------------------------------------------------------------
    def check(self, config: argparse.Namespace, family: Family) -> None:
        """Reject options the method cannot honour (a :class:`~utils.cli.ConfigError` naming the flag)."""
        family.check(config, self.summary_name)

    def build(self, ctx: RunContext, family: Family) -> None:
        """Networks and everything the method keeps across tasks; writes the ``num_weights_*`` summary entries."""
        self.ctx, self.family = ctx, family

    def set_weight_counts(self, counts: dict[str, float]) -> None:
        """Summary entries ``num_weights_*`` (those the family's key list has)."""
        keys = {self.ctx.key(k): v for k, v in counts.items()}
        self.ctx.summary.update({k: v for k, v in keys.items() if k in self.ctx.summary})

    # --- one task ----------------------------------------------------------------------------------------------
    def before_task(self, task_id: int) -> None:
        """New networks (``--train_from_scratch``), regularisation targets, priors for task ``task_id``."""

    def parameters(self, task_id: int | None) -> list[Tensor]:
        """The tensors the task's optimizer updates."""
        return list(self.state().parameters())

    def optimizer(self, params: Sequence[Tensor]) -> torch.optim.Optimizer:
        return make_optimizer(self.config, params)

    def train(self) -> None:
        """Training mode of the networks being optimised."""
        self.state().train()

    def validate(self, task_id: int, it: int) -> None:
        """Every ``val_iter`` iterations: the family's validation score of the current posterior (logged)."""

    def val_accuracy(self, task_id: int | None) -> float:
        """Validation accuracy with deterministic sampling (the plateau scheduler's signal)."""
        raise ConfigError(f"--plateau_lr_scheduler is not supported by {self.name or type(self).__name__}")

    def before_step(self, task_id: int | None, it: int, n_iter: int) -> None:
        """Work before the iteration's main step (e.g. the AVB discriminator's updates)."""

    @abstractmethod
    def train_step(self, batch, task_id: int | None, it: int, n_iter: int) -> dict[str, Tensor]:
        """Loss terms of one iteration: ``loss`` (what is minimised) and its named parts, all scalars."""

    def extra_gradients(self, terms: dict[str, Tensor], params: Sequence[Tensor]) -> Sequence[Tensor | None] | None:
        """Gradients added after clipping (SSGE's estimated entropy gradients), or None."""
        return None

    def step_log(self) -> dict[str, float]:
        """Extra scalars logged with the loss terms."""
        return {}

    def after_task(self, task_id: int) -> None:
        """Fisher, coresets, batch-norm statistics of the task just trained."""

    def after_training(self) -> bool:
        """After the last task: True if the method changed the models (the trainer tests and checkpoints again)."""
        return False

    def final_summary(self) -> dict:
        """Summary entries written once at the end (e.g. SupSup task inference)."""
        return {}

    # --- test phase --------------------------------------------------------------------------------------------
    #: Regression test phase: use the local reparametrisation trick.
    test_lrt = False

    @abstractmethod
    def models(self, n: int) -> list:
        """Model j = the posterior of task j (j < n), with ``raw(task_ids)`` and ``predict(x, raw, V, gen)``."""

    def predict(self, model, x: Tensor, task_ids: list[int], num_samples: int, gen: torch.Generator) -> Tensor:
        """Classification test phase: logits ``[len(task_ids), V, B, O]`` of ``model`` (deterministic noise)."""
        return model.predict(x, model.raw(task_ids), num_samples, gen)

    # --- checkpoints -------------------------------------------------------------------------------------------
    @abstractmethod
    def state(self) -> nn.Module:
        """The networks a checkpoint holds (their structure must be rebuilt by :meth:`prepare_resume`)."""

    def prepare_resume(self, last_task: int) -> None:
        """Rebuild the structure of :meth:`state` as it was after task ``last_task`` (e.g. one net per task)."""

    def tensors(self) -> dict[str, Tensor]:
        """Other tensors a resumed run needs (priors, Fisher, coresets)."""
        return {}

    def meta(self) -> dict:
        return {}

    def load(self, tensors: dict[str, Tensor], meta: dict) -> None:
        """Restore what :meth:`tensors` and :meth:`meta` saved."""


class PosteriorPerTask(Method):
    """A method whose posterior is one object for all tasks (a hypernetwork's task embeddings, or one shared
    posterior) or, with ``--train_from_scratch``, a new one per task; model j is the posterior of task j."""

    @abstractmethod
    def new_posterior(self) -> nn.Module:
        """A fresh posterior for one task (or for all tasks, the first time)."""

    @property
    def current(self) -> nn.Module:
        """The posterior being trained."""
        return self.posteriors[-1]

    def add_posterior_for(self, task_id: int) -> None:
        """``--train_from_scratch``: a fresh posterior for every task after the first."""
        if self.config.train_from_scratch and task_id > 0:
            self.posteriors.append(self.new_posterior())

    def train(self) -> None:
        self.current.train()

    def models(self, n: int) -> list:
        return [self.posteriors[j] if self.config.train_from_scratch else self.posteriors[0] for j in range(n)]

    def prepare_resume(self, last_task: int) -> None:
        while len(self.posteriors) < (last_task + 1 if self.config.train_from_scratch else 1):
            self.posteriors.append(self.new_posterior())
