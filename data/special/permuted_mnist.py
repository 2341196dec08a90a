"""PermutedMNIST: every task is MNIST with its pixels shuffled by a fixed permutation.

As ``PermutedMNISTList`` of the original: images are zero-padded by ``padding`` pixels per side (default 2,
so 32x32 = 1024 inputs), then pixel ``i`` of task ``t`` is pixel ``perm_t[i]`` of the padded image. The
permutations come from ``RandomState(data_random_seed)``: task 0 is the identity (no permutation), tasks
1, 2, ... get ``rand.permutation(input_dim)`` drawn in that order. Every task has all 60k/10k images and
10 classes.

One uint8 copy of MNIST is shared by all tasks; a task stores only its gather index (``input_dim`` int64
entries) and pads and permutes each batch on the device with one gather. 100 tasks therefore cost about the
memory of 10, and unlike the original list, several tasks may be used at the same time.
"""

from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from data.dataset import Dataset, derive_seed
from data.mnist import mnist_tensors
from data.splits import holdout_first


def permutations(num_tasks: int, input_dim: int, data_random_seed: int = 42) -> list[np.ndarray | None]:
    """Return each task's pixel permutation: ``None`` (identity) for task 0, then ``[input_dim]`` arrays."""
    rand = np.random.RandomState(data_random_seed)
    return [None] + [rand.permutation(input_dim) for _ in range(num_tasks - 1)]


def pad_permute_index(height: int, width: int, padding: int, permutation: np.ndarray | None) -> Tensor:
    """Index that maps a flat image plus one trailing zero to its padded, permuted version.

    Returns:
        ``[(H+2p)*(W+2p)]`` int64: entry ``i`` is the position in ``[pixels..., 0]`` (length ``H*W + 1``) that
        becomes input ``i``; padding pixels point at the trailing zero.
    """
    zero = height * width
    source = torch.full((height + 2 * padding, width + 2 * padding), zero, dtype=torch.long)
    source[padding : padding + height, padding : padding + width] = torch.arange(zero).view(height, width)
    source = source.flatten()  # padded image, row-major
    return source if permutation is None else source[torch.as_tensor(permutation, dtype=torch.long)]


class PadPermute:
    """Input transform of one PermutedMNIST task: uint8 ``[B, H, W]`` to float ``[B, (H+2p)*(W+2p)]``."""

    def __init__(self, index: Tensor):
        self.index = index

    def __call__(self, x: Tensor, *, augment: bool = False, generator: object = None) -> Tensor:
        flat = F.pad(x.reshape(x.shape[0], -1), (0, 1))  # [B, H*W + 1], last column is the padding zero
        return flat[:, self.index].float().div_(255)  # [B, D]


def get_permuted_mnist_handlers(
    data_dir: str | os.PathLike | None = None,
    *,
    num_tasks: int = 10,
    padding: int = 2,
    data_random_seed: int = 42,
    val_size: int = 0,
    one_hot: bool = True,
    trgt_padding: int = 0,
    seed: int = 0,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> list[Dataset]:
    """Return one :class:`~data.dataset.Dataset` per PermutedMNIST task, all sharing one copy of MNIST.

    Args:
        padding: Zero padding per side (``--padding``; 2 gives 1024 inputs, 0 gives 784).
        data_random_seed: Seed of the permutations (``--data_random_seed``).
        val_size: The first ``val_size`` training images form each task's validation set.
        trgt_padding: Extra dummy classes appended to the one-hot targets (``--trgt_padding``).
        seed: Seeds batch order; task ``t`` uses its own stream derived from ``(seed, t)``.
    """
    m = mnist_tensors(data_dir, download=download)
    height, width, _ = m.image_shape
    # Move the shared tensors once; every task's Dataset then references the same storage.
    train_x, train_y, test_x, test_y = (t.to(device) for t in m[:4])
    train, val = holdout_first(train_x, train_y, val_size)
    in_shape = (height + 2 * padding, width + 2 * padding, 1)
    handlers = []
    for t, perm in enumerate(permutations(num_tasks, in_shape[0] * in_shape[1], data_random_seed)):
        index = pad_permute_index(height, width, padding, perm).to(device)
        handlers.append(
            Dataset(
                train,
                (test_x, test_y),
                val,
                name="PermutedMNIST",
                in_shape=in_shape,
                num_classes=m.num_classes + trgt_padding,
                one_hot=one_hot,
                transform=PadPermute(index),
                seed=derive_seed(seed, t),
                device=device,
            )
        )
    return handlers
