"""Batched image transforms on the device: random crop with zero padding, horizontal flip, normalisation.

They reproduce torchvision's ``RandomHorizontalFlip()`` + ``RandomCrop(32, padding=4)`` + ``ToTensor()`` +
``Normalize(mean, std)`` used by the original CIFAR pipeline, but for a whole batch at once and without PIL.
Images are ``[B, H, W, C]`` (HWC), as stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def random_crop_flip(images: Tensor, generator: torch.Generator, *, padding: int = 4, flip_prob: float = 0.5) -> Tensor:
    """Crop each image at a random offset of its zero-padded version, mirrored with probability ``flip_prob``.

    Args:
        images: ``[B, H, W, C]`` images of any dtype (zero padding is pixel value 0).
        generator: CPU generator for the offsets and flips, so results do not depend on the device.

    Returns:
        ``[B, H, W, C]`` augmented images.
    """
    B, H, W, _ = images.shape
    dev = images.device
    padded = F.pad(images, (0, 0, padding, padding, padding, padding))  # [B, H+2p, W+2p, C]
    top = torch.randint(0, 2 * padding + 1, (B,), generator=generator).to(dev)
    left = torch.randint(0, 2 * padding + 1, (B,), generator=generator).to(dev)
    flip = (torch.rand(B, generator=generator) < flip_prob).to(dev)
    rows = top[:, None] + torch.arange(H, device=dev)  # [B, H]
    cols = left[:, None] + torch.arange(W, device=dev)  # [B, W]
    # Reading a crop's columns backwards mirrors it; flip-then-crop has the same distribution (offsets are
    # uniform and symmetric), so this is torchvision's RandomHorizontalFlip followed by RandomCrop.
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    batch = torch.arange(B, device=dev)[:, None, None]
    return padded[batch, rows[:, :, None], cols[:, None, :]]  # [B, H, W, C]


def normalize(images: Tensor, mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD) -> Tensor:
    """``(images - mean) / std`` per channel for float images ``[..., C]`` in [0, 1]."""
    mean_t = torch.tensor(mean, dtype=images.dtype, device=images.device)
    std_t = torch.tensor(std, dtype=images.dtype, device=images.device)
    return (images - mean_t) / std_t
