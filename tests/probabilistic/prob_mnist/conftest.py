"""A tiny MNIST in the official on-disk format (gzipped idx files, 28x28 uint8 images), registered under the
official names with its own md5 and size, so the launchers run the same checks, parsing and caching code as on the
real files."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from data import download
from data.download import RegisteredFile, md5sum
from data.mnist import MNIST_FILES

#: Images per split: a few of every digit (labels cycle 0..9 in a shuffled order).
TINY_SIZES = {"train": 200, "test": 100}
REAL_DATA = Path(__file__).resolve().parents[4] / "shared" / "data"


def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped idx file (magic ``0 0 0x08 ndim``, big-endian sizes, data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


def tiny_mnist_arrays(seed: int = 0) -> dict[str, np.ndarray]:
    """Random 28x28 'digits' whose mean brightness grows with the label (so a few steps can learn something)."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, n in TINY_SIZES.items():
        labels = rng.permutation(np.arange(n) % 10).astype(np.uint8)
        noise = rng.integers(0, 100, (n, 28, 28))
        out[f"{split}_images"] = np.clip(noise + 15 * labels[:, None, None], 0, 255).astype(np.uint8)
        out[f"{split}_labels"] = labels
    return out


@pytest.fixture(scope="module")
def tiny_mnist_root(tmp_path_factory) -> Path:
    """Dataset root with the tiny MNIST (module-scoped; the registry entries and a private cache are patched)."""
    root = tmp_path_factory.mktemp("tiny_mnist")
    arrays = tiny_mnist_arrays()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERCL_CACHE_DIR", str(root / "cache"))
        mp.delenv("HYPERCL_DATA_DIR", raising=False)
        mp.delenv("HYPERCL_DOWNLOAD", raising=False)
        for name, key in MNIST_FILES.items():
            write_idx_gz(root / key, arrays[name])
            old = download.REGISTRY[key]
            mp.setitem(download.REGISTRY, key, RegisteredFile(md5sum(root / key), (root / key).stat().st_size,
                                                              old.urls, old.archive))
        yield root


@pytest.fixture
def real_mnist_root(monkeypatch, tmp_path_factory) -> Path:
    """Root holding the real MNIST (``../shared/data/mnist``); skips the test when it is absent."""
    if not all((REAL_DATA / key).is_file() for key in MNIST_FILES.values()):
        pytest.skip(f"real MNIST not found in {REAL_DATA / 'mnist'}")
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(tmp_path_factory.mktemp("real_mnist_cache")))
    return REAL_DATA
