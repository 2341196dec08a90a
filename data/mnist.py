"""MNIST from the official idx ``.gz`` files: parsing, caching, and the plain MNIST handler.

The four files live in ``<data root>/mnist/`` under their official names. Sizes (number of images, rows,
columns) are read from the idx headers; the number of classes from the labels.
"""

from __future__ import annotations

import gzip
import math
import os
import struct
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from data.cache import load_or_build
from data.dataset import Dataset
from data.download import require, verify
from data.errors import DatasetError
from data.paths import data_root
from data.splits import holdout_first

MNIST_FILES = {
    "train_images": "mnist/train-images-idx3-ubyte.gz",
    "train_labels": "mnist/train-labels-idx1-ubyte.gz",
    "test_images": "mnist/t10k-images-idx3-ubyte.gz",
    "test_labels": "mnist/t10k-labels-idx1-ubyte.gz",
}

# Third byte of the idx magic number -> element type (multi-byte types are big-endian).
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: Path) -> np.ndarray:
    """Parse a gzipped idx file: magic ``0 0 type ndim``, ``ndim`` big-endian uint32 sizes, then the data.

    Raises:
        DatasetError: The file is not gzip, not idx, or holds a different amount of data than its header says.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error) as err:  # gzip.BadGzipFile is an OSError
        raise DatasetError(f"{path}: unreadable gzip ({err}); replace it with the official file") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise DatasetError(f"{path}: not an idx file (bad magic number); replace it with the official file")
    ndim = raw[3]
    offset = 4 + 4 * ndim
    dims = struct.unpack(f">{ndim}I", raw[4:offset])
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    if len(raw) - offset != math.prod(dims) * dtype.itemsize:
        raise DatasetError(
            f"{path}: header announces shape {dims} but the file holds {len(raw) - offset} data bytes "
            "(truncated or corrupt); replace it with the official file"
        )
    # Copy: frombuffer over bytes is read-only; native byte order for torch.
    return np.frombuffer(raw, dtype, offset=offset).reshape(dims).astype(dtype.newbyteorder("="))


def load_mnist(data_dir: str | os.PathLike | None = None, *, download: bool | None = None) -> dict[str, np.ndarray]:
    """Return MNIST as numpy arrays, from the cache when it is valid, else parsed from the idx files.

    Returns:
        ``train_images`` ``[60000, 28, 28]`` uint8, ``train_labels`` ``[60000]`` uint8, ``test_images``,
        ``test_labels`` (sizes as read from the files).
    """
    root = data_root(data_dir)
    # Cheap checks (existence, size) on every start; the md5 only when the files are parsed.
    paths = {name: require(key, root, check_md5=False, download=download) for name, key in MNIST_FILES.items()}

    def parse() -> dict[str, np.ndarray]:
        for name, key in MNIST_FILES.items():
            verify(key, paths[name], check_md5=True)
        arrays = {name: read_idx(path) for name, path in paths.items()}
        for split in ("train", "test"):
            if len(arrays[f"{split}_images"]) != len(arrays[f"{split}_labels"]):
                raise DatasetError(f"{paths[split + '_images']}: image and label counts differ")
        return arrays

    return load_or_build("mnist", list(paths.values()), parse)


class MNISTTensors(NamedTuple):
    """MNIST as CPU tensors: images ``[N, H, W]`` uint8, labels ``[N]`` int64."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @property
    def num_classes(self) -> int:
        """Number of classes, read from the labels."""
        return int(max(self.train_y.max(), self.test_y.max())) + 1

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """``(H, W, 1)``: one image in HWC order."""
        return (*self.train_x.shape[1:], 1)


def mnist_tensors(data_dir: str | os.PathLike | None = None, *, download: bool | None = None) -> MNISTTensors:
    """Return MNIST as CPU tensors that share memory with the (cached) numpy arrays."""
    a = load_mnist(data_dir, download=download)
    return MNISTTensors(
        torch.from_numpy(a["train_images"]),
        torch.from_numpy(a["train_labels"]).long(),
        torch.from_numpy(a["test_images"]),
        torch.from_numpy(a["test_labels"]).long(),
    )


def mnist_dataset(
    data_dir: str | os.PathLike | None = None,
    *,
    val_size: int = 5000,
    one_hot: bool = False,
    seed: int = 0,
    device: str | torch.device = "cpu",
    download: bool | None = None,
) -> Dataset:
    """The full MNIST dataset (original ``MNISTData``): pixels in [0, 1], flattened to 784 inputs.

    Args:
        val_size: The first ``val_size`` training images form the validation set (original default 5000).
        one_hot: Default target encoding of the batches.
        seed: Seeds batch order.
    """
    m = mnist_tensors(data_dir, download=download)
    train, val = holdout_first(m.train_x, m.train_y, val_size)
    return Dataset(
        train,
        (m.test_x, m.test_y),
        val,
        name="MNIST",
        in_shape=m.image_shape,
        num_classes=m.num_classes,
        one_hot=one_hot,
        seed=seed,
        device=device,
    )
