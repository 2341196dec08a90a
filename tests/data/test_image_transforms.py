"""Batched crop/flip/normalise: every output is a crop of the zero-padded (possibly mirrored) image."""

import itertools

import numpy as np
import torch

from data.image_transforms import IMAGENET_MEAN, IMAGENET_STD, normalize, random_crop_flip


def find_crop(out: np.ndarray, image: np.ndarray, padding: int):
    """Return every (top, left, flipped) whose crop of the padded image equals ``out`` ([H, W, C])."""
    H, W, _ = image.shape
    padded = np.pad(image, ((padding, padding), (padding, padding), (0, 0)))
    hits = []
    for top, left, flipped in itertools.product(range(2 * padding + 1), range(2 * padding + 1), (False, True)):
        crop = padded[top : top + H, left : left + W]
        if np.array_equal(crop[:, ::-1] if flipped else crop, out):
            hits.append((top, left, flipped))
    return hits


def test_random_crop_flip_outputs_crops_of_the_padded_image():
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (200, 8, 7, 3), generator=gen, dtype=torch.uint8)  # no zeros: crops are unique
    out = random_crop_flip(images, torch.Generator().manual_seed(1), padding=2)
    assert out.shape == images.shape and out.dtype == torch.uint8
    found = [find_crop(o, i, 2) for o, i in zip(out.numpy(), images.numpy())]
    assert all(len(hits) == 1 for hits in found)
    offsets = {hits[0][:2] for hits in found}
    flips = sum(hits[0][2] for hits in found)
    assert len(offsets) == 25  # all 5x5 offsets occur in 200 draws
    assert 60 < flips < 140  # p = 0.5


def test_random_crop_flip_is_seeded():
    images = torch.arange(2 * 4 * 4 * 1, dtype=torch.uint8).view(2, 4, 4, 1)
    a = random_crop_flip(images, torch.Generator().manual_seed(5))
    b = random_crop_flip(images, torch.Generator().manual_seed(5))
    assert torch.equal(a, b)


def test_normalize_uses_the_imagenet_statistics():
    x = torch.tensor([[[0.485, 0.456, 0.406], [1.0, 0.0, 0.5]]])
    out = normalize(x)
    expected = (np.array([[[0.485, 0.456, 0.406], [1.0, 0.0, 0.5]]], np.float32) - np.float32(IMAGENET_MEAN)) / (
        np.float32(IMAGENET_STD)
    )
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-7)
    assert out[0, 0].abs().max() < 1e-6
