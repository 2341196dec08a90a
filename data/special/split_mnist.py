"""SplitMNIST: MNIST cut into tasks of consecutive digits, {0,1}, {2,3}, ... by default.

As ``get_split_mnist_handlers`` of the original: task ``t`` holds every train / test image of the digits
``t*K .. t*K+K-1`` (``K = num_classes_per_task``) in file order, labels renumbered ``0..K-1``; the first
``val_size`` of its training images form the validation set. Pixels in [0, 1], flattened to 784 inputs, no
normalisation, no augmentation. Unlike the original, MNIST is read once (not once per task) and the tasks
hold disjoint copies, so all tasks together take the memory of one MNIST.
"""

from __future__ import annotations

import os

import torch

from data.dataset import Dataset, derive_seed
from data.mnist import mnist_tensors
from data.splits import holdout_first, select_classes


def get_split_mnist_handlers(
    data_dir: str | os.PathLike | None = None,
    *,
    num_tasks: int | None = None,
    num_classes_per_task: int = 2,
    val_size: int = 0,
    one_hot: bool = True,
    trgt_padding: int = 0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> list[Dataset]:
    """Return one :class:`~data.dataset.Dataset` per SplitMNIST task.

    Args:
        num_tasks: Number of tasks; ``None`` means ``10 // num_classes_per_task``.
        val_size: Validation samples per task (``--val_set_size``), the first ones of its training set.
        trgt_padding: Extra dummy classes appended to the one-hot targets (``--trgt_padding``).
        seed: Seeds batch order; task ``t`` uses its own stream derived from ``(seed, t)``.
    """
    m = mnist_tensors(data_dir, download=download)
    if num_tasks is None:
        num_tasks = m.num_classes // num_classes_per_task
    if num_tasks < 1 or num_classes_per_task < 1 or num_tasks * num_classes_per_task > m.num_classes:
        raise ValueError(
            f"cannot create {num_tasks} SplitMNIST tasks with {num_classes_per_task} classes each "
            f"(MNIST has {m.num_classes} classes)"
        )
    handlers = []
    for t in range(num_tasks):
        classes = range(t * num_classes_per_task, (t + 1) * num_classes_per_task)
        train, val = holdout_first(*select_classes(m.train_x, m.train_y, classes), val_size)
        handlers.append(
            Dataset(
                train,
                select_classes(m.test_x, m.test_y, classes),
                val,
                name="SplitMNIST",
                in_shape=m.image_shape,
                num_classes=num_classes_per_task + trgt_padding,
                one_hot=one_hot,
                classes=classes,
                seed=derive_seed(seed, t),
                device=device,
            )
        )
    return handlers
