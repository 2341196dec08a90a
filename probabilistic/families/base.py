"""What the trainer asks of a family of tasks (:mod:`probabilistic.trainer`).

A family brings the data, the likelihood of a batch, the evaluation with task inference, the figures and the
summary keys. It knows nothing about how weights are represented: a method hands it predictions (``[S, B, O]``
outputs of S weight samples) and models (model j = the posterior of task j).
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor

from mnets.base import MainNet
from utils.run_env import RunEnv

if TYPE_CHECKING:  # methods and families only meet in the trainer
    from probabilistic.methods.base import Method


@dataclass
class RunContext:
    """What the setup phase hands to the method and the later phases."""

    config: argparse.Namespace
    env: RunEnv
    tasks: list
    summary: dict
    #: The family's summary-key prefix (``aa_`` for regression, as the original).
    prefix: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def device(self) -> torch.device:
        return self.env.device

    def key(self, name: str) -> str:
        """The summary key of ``name`` in this family (``acc_dis`` -> ``aa_acc_dis`` for regression)."""
        return self.prefix + name


#: ``logits(x [B, I]) -> [V, B, O]``: V weight samples of the current task's posterior.
LogitsFn = Callable[[Tensor], Tensor]


class Family(ABC):
    """Base class of a task family: subclasses implement the abstract methods; the others have defaults."""

    #: ``regression`` or ``classification``.
    name = ""
    #: Scale of accuracies the family writes to its summary (100: percent; 1: fraction, the regression original's).
    accuracy_scale = 100.0
    #: The original re-initialises the AVB discriminator (custom init) after every classification task only.
    reinitializes_discriminator = False

    def __init__(self, config: argparse.Namespace) -> None:
        self.config = config
        self.ctx: RunContext | None = None

    # --- setup -------------------------------------------------------------------------------------------------
    def check(self, config: argparse.Namespace, method_name: str) -> None:
        """Reject options the family cannot honour (a :class:`~utils.cli.ConfigError` naming the flag)."""

    @abstractmethod
    def setup(self, config: argparse.Namespace, method: Method, script_dir: str | Path | None,
              argv: list[str] | None) -> RunContext:
        """out_dir, logger, seeds, device, TensorBoard, the tasks and an empty summary."""

    @abstractmethod
    def main_net(self, no_weights: bool = True) -> MainNet:
        """The family's main network as the flags describe it."""

    def make_heads(self, shared_model: bool, non_growing: bool = False, joint: bool = False) -> None:
        """Output heads of the method's CL setting (classification only)."""

    @property
    @abstractmethod
    def multi_head(self) -> bool:
        """Whether every task has its own output head."""

    @abstractmethod
    def head_entries(self, mnet: MainNet) -> list[Tensor] | None:
        """Boolean ``[P]`` per task: the flat weights of its output head (multi-head runs), else None."""

    @abstractmethod
    def regularizer_mask(self, mnet: MainNet, gaussian: bool) -> Tensor | None:
        """0/1 ``[T, outputs]``: the hypernetwork outputs the mse regulariser compares for each task, or None."""

    @abstractmethod
    def untrained_heads(self, mnet: MainNet, task_id: int) -> Tensor | None:
        """Boolean ``[P]`` of the heads that get the prior back in a VCL prior, or None."""

    @abstractmethod
    def initial_weights(self, mnet: MainNet) -> Tensor:
        """Flat initial weights ``[P]`` of a deterministic main network (EWC, multitask)."""

    # --- training ----------------------------------------------------------------------------------------------
    def task_label(self, task_id: int) -> str:
        return ""

    @abstractmethod
    def num_iterations(self, task_id: int | None) -> int:
        """Iterations of task ``task_id`` (None: joint training on all tasks)."""

    @abstractmethod
    def next_batch(self, task_id: int | None) -> Any:
        """The next training batch of task ``task_id`` (None: a batch mixing all tasks)."""

    @abstractmethod
    def task_terms(self, outputs: Tensor, batch: Any, task_id: int) -> dict[str, Tensor]:
        """``loss_nll`` (N_train × the mean NLL over S samples and the batch) of outputs ``[S, B, O]``, and what
        else the family logs (accuracy)."""

    @abstractmethod
    def joint_terms(self, forward: Callable[[Tensor], Tensor], batch: Any) -> dict[str, Tensor]:
        """``loss`` of a batch mixing all tasks (multitask), for a deterministic ``forward(x) -> [B, O]``."""

    @abstractmethod
    def sample_nll(self, task_id: int) -> Callable[[Tensor, Tensor], Tensor]:
        """``nll(out [B, O], target) -> scalar`` for per-sample gradients (the EWC Fisher)."""

    @abstractmethod
    def fisher_data(self, task_id: int, n_fisher: int) -> tuple[Tensor, Tensor]:
        """The training samples the Fisher of task ``task_id`` is estimated from (``n_fisher`` or all)."""

    @abstractmethod
    def schedulers(self, optimizer: torch.optim.Optimizer, task_id: int | None,
                   val_accuracy: Callable[[], float]):
        """Epoch-wise learning-rate schedulers (an object with ``after_step(it)``)."""

    @abstractmethod
    def validate(self, logits: LogitsFn, task_id: int, it: int, log: bool = True) -> float:
        """Validation score of the current task (logged to TensorBoard unless ``log`` is off)."""

    def after_training_task(self, mnet: MainNet, task_id: int) -> None:
        """Family bookkeeping after a task is trained (batch-norm statistics)."""

    def wrap_predict(self, predict: Callable, mnet: MainNet) -> Callable:
        """The method's test-phase prediction, adapted to the family (per-task batch-norm statistics)."""
        return predict

    # --- testing and outputs -----------------------------------------------------------------------------------
    @abstractmethod
    def test(self, ctx: RunContext, method: Method, task_id: int) -> None:
        """Test the models of tasks ``0..task_id``, update and write the summary."""

    @abstractmethod
    def test_jointly(self, ctx: RunContext, method: Method) -> None:
        """The test phase of a jointly trained model (multitask)."""

    @abstractmethod
    def end_of_run(self, ctx: RunContext, method: Method) -> dict:
        """Final figures, ``finished 1`` and the closing log lines; returns the summary."""

    # --- checkpoints -------------------------------------------------------------------------------------------
    def tensors(self) -> dict[str, Tensor]:
        """Tensors of the family's state a resumed run needs (random streams)."""
        return {}

    def meta(self, ctx: RunContext) -> dict:
        return {"summary": ctx.summary}

    def load(self, ctx: RunContext, tensors: dict[str, Tensor], meta: dict) -> None:
        ctx.summary = meta["summary"]
