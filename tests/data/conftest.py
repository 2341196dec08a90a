"""Fixtures of the data tests: isolated cache, the real MNIST if present, tiny datasets in original formats.

Tiny datasets are written in the exact on-disk formats of the originals (gzipped idx files, Python 2 style
CIFAR pickles) and registered under their official names with their own md5 and size, so the same code
paths (size and md5 checks, parsing, caching) run as for the real files.
"""

from __future__ import annotations

import gzip
import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from data import download
from data.download import RegisteredFile, md5sum

REAL_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_MNIST = REAL_DATA / "mnist"


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch, tmp_path):
    """Every test gets its own cache folder and no inherited data root or download permission."""
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HYPERCL_DATA_DIR", raising=False)
    monkeypatch.delenv("HYPERCL_DOWNLOAD", raising=False)
    return tmp_path / "cache"


@pytest.fixture(scope="session")
def real_mnist_cache(tmp_path_factory) -> Path:
    """One cache folder for all tests on the real MNIST, so it is parsed once per session."""
    return tmp_path_factory.mktemp("real_mnist_cache")


@pytest.fixture
def mnist_root(monkeypatch, real_mnist_cache) -> Path:
    """Root holding the real MNIST (``../shared/data``); skips the test when it is absent."""
    if not all((REAL_MNIST / Path(k).name).is_file() for k in download.REGISTRY if k.startswith("mnist/")):
        pytest.skip(f"real MNIST not found in {REAL_MNIST}")
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(real_mnist_cache))
    return REAL_DATA


def register(monkeypatch, root: Path, key: str, *, with_size: bool = True) -> None:
    """Register the file ``root/key`` under ``key`` with its own md5 (and size)."""
    path = root / key
    old = download.REGISTRY.get(key, RegisteredFile("", None))
    size = path.stat().st_size if with_size else None
    monkeypatch.setitem(download.REGISTRY, key, RegisteredFile(md5sum(path), size, old.urls, old.archive))


@pytest.fixture
def register_file(monkeypatch):
    """``register_file(root, key, with_size=True)``: see :func:`register`."""
    return lambda root, key, with_size=True: register(monkeypatch, root, key, with_size=with_size)


# ------------------------------------------------------------------------------------------------ MNIST
def write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as a gzipped idx file (magic ``0 0 0x08 ndim``, big-endian sizes, data)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


TINY_MNIST = {"train": 200, "test": 50, "rows": 6, "cols": 5}


def tiny_mnist_arrays() -> dict[str, np.ndarray]:
    """200 train / 50 test random 6x5 'digits'; labels cycle 0..9 in a shuffled order."""
    rng = np.random.default_rng(0)
    out = {}
    for split in ("train", "test"):
        n = TINY_MNIST[split]
        out[f"{split}_images"] = rng.integers(0, 256, (n, TINY_MNIST["rows"], TINY_MNIST["cols"]), dtype=np.uint8)
        out[f"{split}_labels"] = rng.permutation(np.arange(n) % 10).astype(np.uint8)
    return out


@pytest.fixture
def tiny_mnist(monkeypatch, tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """A dataset root with tiny MNIST idx files, registered under the official names."""
    from data.mnist import MNIST_FILES

    root = tmp_path / "root"
    arrays = tiny_mnist_arrays()
    for name, key in MNIST_FILES.items():
        write_idx_gz(root / key, arrays[name])
        register(monkeypatch, root, key)
    return root, arrays


# ------------------------------------------------------------------------------------------------ CIFAR
class _Py2Pickler(pickle._Pickler):
    """Pickles like Python 2's cPickle (protocol 2): ``bytes`` become ``str`` (BINSTRING) records."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        if n < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([n]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", n) + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_py2_pickle(path: Path, obj: dict) -> None:
    """Write ``obj`` as the CIFAR files were written: Python 2, protocol 2, numpy under ``numpy.core``."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    data = buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def cifar_images(rng: np.random.Generator, n: int) -> np.ndarray:
    """``[n, 3072]`` uint8 rows of three 32x32 colour planes (CHW), as in the CIFAR files."""
    return rng.integers(0, 256, (n, 3 * 32 * 32), dtype=np.uint8)


TINY_CIFAR10 = {"per_batch": 20, "test": 30}  # 5 training batches of 20 images
TINY_CIFAR100 = {"train": 400, "test": 200}  # 4 train / 2 test images per fine class


def write_tiny_cifar10(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(10)
    folder = root / "cifar-10-batches-py"
    train_data, train_labels = [], []
    for i in range(1, 6):
        data = cifar_images(rng, TINY_CIFAR10["per_batch"])
        labels = [int(v) for v in rng.integers(0, 10, TINY_CIFAR10["per_batch"])]
        write_py2_pickle(
            folder / f"data_batch_{i}",
            {
                b"batch_label": f"training batch {i} of 5".encode(),
                b"labels": labels,
                b"data": data,
                b"filenames": [f"img_{i}_{j}.png".encode() for j in range(len(labels))],
            },
        )
        train_data.append(data)
        train_labels += labels
    test_data = cifar_images(rng, TINY_CIFAR10["test"])
    test_labels = [j % 10 for j in range(TINY_CIFAR10["test"])]
    write_py2_pickle(
        folder / "test_batch",
        {
            b"batch_label": b"testing batch 1 of 1",
            b"labels": test_labels,
            b"data": test_data,
            b"filenames": [f"test_{j}.png".encode() for j in range(len(test_labels))],
        },
    )
    names = [
        b"airplane",
        b"automobile",
        b"bird",
        b"cat",
        b"deer",
        b"dog",
        b"frog",
        b"horse",
        b"ship",
        b"truck",
    ]
    write_py2_pickle(
        folder / "batches.meta",
        {
            b"num_cases_per_batch": TINY_CIFAR10["per_batch"],
            b"label_names": names,
            b"num_vis": 3072,
        },
    )
    return {
        "train_data": np.concatenate(train_data),
        "train_labels": np.array(train_labels),
        "test_data": test_data,
        "test_labels": np.array(test_labels),
    }


def write_tiny_cifar100(root: Path) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(100)
    folder = root / "cifar-100-python"
    out = {}
    for split in ("train", "test"):
        n = TINY_CIFAR100[split]
        data = cifar_images(rng, n)
        fine = [int(v) for v in rng.permutation(np.arange(n) % 100)]
        coarse = [f // 5 for f in fine]  # a stand-in mapping; coarse labels must not be used
        write_py2_pickle(
            folder / split,
            {
                b"filenames": [f"{split}_{j}.png".encode() for j in range(n)],
                b"batch_label": f"{split}ing batch 1 of 1".encode(),
                b"fine_labels": fine,
                b"coarse_labels": coarse,
                b"data": data,
            },
        )
        out[f"{split}_data"], out[f"{split}_labels"] = data, np.array(fine)
    write_py2_pickle(
        folder / "meta",
        {
            b"fine_label_names": [f"fine{i}".encode() for i in range(100)],
            b"coarse_label_names": [f"coarse{i}".encode() for i in range(20)],
        },
    )
    return out


@pytest.fixture
def tiny_cifar(monkeypatch, tmp_path) -> tuple[Path, dict[str, dict[str, np.ndarray]]]:
    """A dataset root with tiny CIFAR-10 and CIFAR-100 pickle folders, registered under the official names."""
    root = tmp_path / "root"
    written = {"cifar10": write_tiny_cifar10(root), "cifar100": write_tiny_cifar100(root)}
    for key, spec in download.REGISTRY.items():
        if spec.archive is not None:
            register(monkeypatch, root, key, with_size=False)
    return root, written
