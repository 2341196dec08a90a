"""Epoch-wise learning-rate schedulers of the classification runners (spec §2.1; they require ``--epochs``).

* ``--plateau_lr_scheduler``: ReduceLROnPlateau on the current task's validation accuracy (test split if there is
  no validation set), mode max, factor √0.1, patience 5, cooldown 0, min lr 5·10⁻⁷.
* ``--lambda_lr_scheduler``: the Keras CIFAR-ResNet step schedule, factor 1 up to epoch 80, then 0.1, 0.01 after
  120, 0.001 after 160, 0.0005 after 180.

Both step once at every epoch boundary, after the optimizer step, as the original.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable

import torch

PLATEAU_FACTOR = math.sqrt(0.1)
PLATEAU_PATIENCE = 5
PLATEAU_MIN_LR = 5e-7


def keras_resnet_factor(epoch: int) -> float:
    """Learning-rate factor of the Keras CIFAR-10 ResNet example after ``epoch`` epochs."""
    if epoch > 180:
        return 0.0005
    if epoch > 160:
        return 0.001
    if epoch > 120:
        return 0.01
    if epoch > 80:
        return 0.1
    return 1.0


class EpochSchedulers:
    """The schedulers the flags ask for, stepped by :meth:`after_step`.

    Args:
        config: Needs ``plateau_lr_scheduler``, ``lambda_lr_scheduler`` (absent flags count as off).
        optimizer: The task's optimizer.
        iters_per_epoch: ``ceil(N_train / batch_size)``.
        val_accuracy: ``() -> accuracy in %`` of the current task (deterministic sampling); only called by the
            plateau scheduler.
    """

    def __init__(self, config: argparse.Namespace, optimizer: torch.optim.Optimizer, iters_per_epoch: int,
                 val_accuracy: Callable[[], float]) -> None:
        flags = vars(config)
        self.iters_per_epoch = max(1, iters_per_epoch)
        self.val_accuracy = val_accuracy
        self.plateau = self.step_lr = None
        if flags.get("plateau_lr_scheduler", False):
            self.plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="max", factor=PLATEAU_FACTOR, patience=PLATEAU_PATIENCE, cooldown=0,
                min_lr=PLATEAU_MIN_LR)
        if flags.get("lambda_lr_scheduler", False):
            self.step_lr = torch.optim.lr_scheduler.LambdaLR(optimizer, keras_resnet_factor)

    @property
    def active(self) -> bool:
        """Whether any scheduler is on."""
        return self.plateau is not None or self.step_lr is not None

    def after_step(self, it: int) -> None:
        """Call after the optimizer step of iteration ``it``: steps the schedulers if an epoch just ended."""
        if not self.active or (it + 1) % self.iters_per_epoch != 0:
            return
        if self.step_lr is not None:
            self.step_lr.step()
        if self.plateau is not None:
            self.plateau.step(self.val_accuracy())
