"""SplitCIFAR-10 / SplitCIFAR-100: CIFAR cut into tasks of consecutive classes.

As ``get_split_cifar_handlers`` of the original (with ``skip_tasks`` as applied by the CIFAR runners):

* ``num_classes_per_task=10``: task 0 is the full CIFAR-10, then CIFAR-100 classes {0..9}, {10..19}, ...
  (the parser default of 6 tasks is CIFAR-10 + 5 CIFAR-100 splits).
* ``num_classes_per_task=K < 10``: CIFAR-10 classes in groups of K ({0,1}, {2,3}, ... for K=2), continuing
  with CIFAR-100 groups if more tasks are asked for.
* ``skip_tasks=k``: generate ``num_tasks + k`` tasks and drop the first ``k``; the README's SplitCIFAR-100
  (``--num_tasks=10 --num_classes_per_task=10 --skip_tasks=1``) is thus 10 CIFAR-100 tasks, and the
  CIFAR-10 files are not even needed.

Every task keeps its images in file order with labels renumbered ``0..K-1``; the first ``val_size`` of its
training images form the validation set. See :class:`data.cifar.CIFARTransform` for the input pipeline.
"""

from __future__ import annotations

import os

import torch

from data.cifar import cifar_task, load_cifar
from data.dataset import Dataset, derive_seed

CIFAR10_CLASSES = 10
CIFAR100_CLASSES = 100


def split_cifar_plan(num_tasks: int, num_classes_per_task: int, skip_tasks: int = 0) -> list[tuple[str, range]]:
    """Return ``(source, classes)`` for each task that is kept; source is ``"cifar10"`` or ``"cifar100"``."""
    total, k = num_tasks + skip_tasks, num_classes_per_task
    if num_tasks < 1 or skip_tasks < 0 or k < 1 or total * k > CIFAR10_CLASSES + CIFAR100_CLASSES:
        raise ValueError(f"cannot create {num_tasks} (+{skip_tasks} skipped) SplitCIFAR tasks of {k} classes")
    if k != CIFAR10_CLASSES and total * k > CIFAR10_CLASSES and CIFAR10_CLASSES % k != 0:
        raise ValueError(f"--num_classes_per_task={k} must divide 10 when the tasks go beyond CIFAR-10")
    plan = [("cifar10", range(i, i + k)) for i in range(0, CIFAR10_CLASSES, k)]
    plan += [("cifar100", range(i, i + k)) for i in range(0, CIFAR100_CLASSES, k)]
    plan = plan[:total]
    if any(source == "cifar100" and c.stop > CIFAR100_CLASSES for source, c in plan):
        raise ValueError(f"--num_classes_per_task={k} does not divide CIFAR-100's 100 classes")
    return plan[skip_tasks:]


def get_split_cifar_handlers(
    data_dir: str | os.PathLike | None = None,
    *,
    num_tasks: int = 6,
    num_classes_per_task: int = 10,
    skip_tasks: int = 0,
    val_size: int = 0,
    augmentation: bool = True,
    one_hot: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> list[Dataset]:
    """Return one :class:`~data.dataset.Dataset` per kept SplitCIFAR task (see the module docstring).

    Args:
        skip_tasks: Drop the first ``skip_tasks`` generated tasks (``--skip_tasks``).
        val_size: Validation samples per task (``--val_set_size``), the first ones of its training set.
        augmentation: ``False`` reproduces ``--disable_data_augmentation``.
        seed: Seeds batch order and augmentation; kept task ``t`` uses streams derived from ``(seed, t)``.
    """
    plan = split_cifar_plan(num_tasks, num_classes_per_task, skip_tasks)
    sources = dict.fromkeys(source for source, _ in plan)  # only the datasets that are needed, in order
    arrays = {source: load_cifar(source, data_dir, download=download) for source in sources}
    handlers = []
    for t, (source, classes) in enumerate(plan):
        if source == "cifar10" and len(classes) == CIFAR10_CLASSES:
            name = "CIFAR-10"
        else:
            name = "SplitCIFAR10" if source == "cifar10" else "SplitCIFAR100"
        handlers.append(
            cifar_task(
                arrays[source],
                name=name,
                classes=classes,
                val_size=val_size,
                augmentation=augmentation,
                one_hot=one_hot,
                seed=derive_seed(seed, t),
                device=device,
            )
        )
    return handlers
