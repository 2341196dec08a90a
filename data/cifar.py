"""CIFAR-10 and CIFAR-100 from the official python pickles, and the CIFAR input pipeline.

Files, in the layout of the official archives (which are extracted on first use if only they are present)::

    <data root>/cifar-10-batches-py/{data_batch_1, ..., data_batch_5, test_batch, batches.meta}
    <data root>/cifar-100-python/{train, test, meta}

Each batch is a Python 2 pickle of a dict with ``b'data'`` (uint8 ``[N, 3072]``, rows of three 32x32
colour planes, CHW) and ``b'labels'`` (CIFAR-10) or ``b'fine_labels'`` (CIFAR-100). It is loaded with
``encoding='bytes'`` by an unpickler that admits numpy arrays and plain containers only. Images are stored
as uint8 ``[N, 32, 32, 3]`` (HWC) on the device; training images are read in file order (batch 1 to 5).

Input pipeline (:class:`CIFARTransform`), as the original: training batches get a random horizontal flip and
a random 32x32 crop of the 4-pixel zero-padded image, then all batches are scaled to [0, 1] and normalised
with the ImageNet mean and std; with augmentation disabled, inputs are only scaled to [0, 1] (no
normalisation either). Network inputs are flattened in HWC order: ``[B, 3072]``.
"""

from __future__ import annotations

import math
import os
import pickle
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from data.cache import load_or_build
from data.dataset import Dataset
from data.download import require, verify
from data.errors import DatasetError
from data.image_transforms import normalize, random_crop_flip
from data.paths import data_root
from data.splits import holdout_first, select_classes

# name -> (train files, test file, meta file, label key, key of the label names in the meta file)
CIFAR_FILES = {
    "cifar10": (
        tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
        "cifar-10-batches-py/test_batch",
        "cifar-10-batches-py/batches.meta",
        b"labels",
        b"label_names",
    ),
    "cifar100": (
        ("cifar-100-python/train",),
        "cifar-100-python/test",
        "cifar-100-python/meta",
        b"fine_labels",
        b"fine_label_names",
    ),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that rebuilds numpy arrays and plain containers but refuses any other class."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("_codecs", "encode"),  # how Python 3 writes bytes at protocol 2 (re-saved copies of the files)
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a CIFAR file")
        # Pickles from numpy 1.x name numpy.core, which numpy 2 only keeps as a deprecated alias.
        return super().find_class(module.replace("numpy.core", "numpy._core"), name)


def read_pickle(path: os.PathLike) -> dict:
    """Load one CIFAR pickle (Python 2 format, ``encoding='bytes'``: keys are ``bytes``)."""
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(f, encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as err:
        raise DatasetError(f"{path}: unreadable pickle ({err}); replace it with the official file") from None


def _images_and_labels(path: os.PathLike, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images [N, H, W, 3] uint8 HWC, labels [N] int64)`` of one batch file."""
    batch = read_pickle(path)
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except KeyError as err:
        raise DatasetError(f"{path}: no {err} entry; replace it with the official file") from None
    side = math.isqrt(data.shape[1] // 3)
    if data.ndim != 2 or 3 * side * side != data.shape[1] or len(labels) != len(data):
        raise DatasetError(f"{path}: unexpected data shape {data.shape}; replace it with the official file")
    images = data.reshape(-1, 3, side, side).transpose(0, 2, 3, 1)  # CHW planes -> [N, H, W, C]
    return np.ascontiguousarray(images), labels


def load_cifar(
    name: str, data_dir: str | os.PathLike | None = None, *, download: bool | None = None
) -> dict[str, np.ndarray]:
    """Return ``"cifar10"`` or ``"cifar100"`` as numpy arrays, from the cache if valid, else from the pickles.

    Returns:
        ``train_images`` ``[50000, 32, 32, 3]`` uint8, ``train_labels`` ``[50000]`` int64, ``test_images``,
        ``test_labels`` and ``label_names`` (sizes as read from the files).
    """
    train_keys, test_key, meta_key, label_key, names_key = CIFAR_FILES[name]
    keys = (*train_keys, test_key, meta_key)
    root = data_root(data_dir)
    paths = [require(key, root, check_md5=False, download=download) for key in keys]

    def parse() -> dict[str, np.ndarray]:
        for key, path in zip(keys, paths):
            verify(key, path, check_md5=True)
        train = [_images_and_labels(p, label_key) for p in paths[: len(train_keys)]]
        test_images, test_labels = _images_and_labels(paths[len(train_keys)], label_key)
        names = read_pickle(paths[-1]).get(names_key, [])
        return {
            "train_images": np.concatenate([images for images, _ in train]),
            "train_labels": np.concatenate([labels for _, labels in train]),
            "test_images": test_images,
            "test_labels": test_labels,
            "label_names": np.array([n.decode() if isinstance(n, bytes) else str(n) for n in names]),
        }

    return load_or_build(name, paths, parse)


class CIFARTransform:
    """uint8 ``[B, 32, 32, 3]`` images to float ``[B, 3072]`` network inputs (HWC), see the module docstring.

    Args:
        augmentation: ``False`` reproduces ``--disable_data_augmentation``: no crop/flip and no normalisation.
    """

    def __init__(self, augmentation: bool = True):
        self.augmentation = augmentation

    def __call__(self, x: Tensor, *, augment: bool, generator: torch.Generator) -> Tensor:
        if self.augmentation and augment:
            x = random_crop_flip(x, generator, padding=4)
        x = x.float().div_(255)  # torchvision ToTensor
        if self.augmentation:
            x = normalize(x)
        return x.reshape(x.shape[0], -1)  # [B, H*W*C]


def cifar_task(
    arrays: dict[str, np.ndarray],
    *,
    name: str,
    classes: Sequence[int] | None = None,
    val_size: int = 0,
    augmentation: bool = True,
    one_hot: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> Dataset:
    """A CIFAR dataset restricted to ``classes`` (relabelled ``0..K-1``; all classes if ``None``).

    Args:
        arrays: Output of :func:`load_cifar`.
        val_size: The first ``val_size`` (filtered) training images form the validation set.
    """
    train = torch.from_numpy(arrays["train_images"]), torch.from_numpy(arrays["train_labels"])
    test = torch.from_numpy(arrays["test_images"]), torch.from_numpy(arrays["test_labels"])
    if classes is None:
        classes = range(int(max(train[1].max(), test[1].max())) + 1)
    classes = tuple(classes)
    train, val = holdout_first(*select_classes(*train, classes), val_size)
    return Dataset(
        train,
        select_classes(*test, classes),
        val,
        name=name,
        in_shape=arrays["train_images"].shape[1:],
        num_classes=len(classes),
        one_hot=one_hot,
        transform=CIFARTransform(augmentation),
        classes=classes,
        seed=seed,
        device=device,
    )


def cifar10_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    val_size: int = 5000,
    augmentation: bool = True,
    one_hot: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> Dataset:
    """The full CIFAR-10 dataset (original ``CIFAR10Data``; its default validation size is 5000)."""
    arrays = load_cifar("cifar10", data_dir, download=download)
    return cifar_task(
        arrays,
        name="CIFAR-10",
        val_size=val_size,
        augmentation=augmentation,
        one_hot=one_hot,
        seed=seed,
        device=device,
    )


def cifar100_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    val_size: int = 5000,
    augmentation: bool = True,
    one_hot: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> Dataset:
    """The full CIFAR-100 dataset with its 100 fine labels (original ``CIFAR100Data``)."""
    arrays = load_cifar("cifar100", data_dir, download=download)
    return cifar_task(
        arrays,
        name="CIFAR-100",
        val_size=val_size,
        augmentation=augmentation,
        one_hot=one_hot,
        seed=seed,
        device=device,
    )
