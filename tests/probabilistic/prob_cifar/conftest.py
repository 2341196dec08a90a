"""A tiny CIFAR-10 and CIFAR-100 in the official on-disk format (Python 2 pickles of uint8 ``[N, 3072]`` CHW rows,
``cifar-10-batches-py/`` with five training batches, ``cifar-100-python/`` with fine labels), registered under the
official names with their own md5, so the launchers run the same checks, parsing and caching code as on the real
files.

Sizes: CIFAR-10 has 6 training and 3 test images per class (SplitCIFAR-10: 12 training images per task, one batch
per epoch); CIFAR-100 has 11 training and 1 test image per class, so the README's ``--val_set_size=100`` leaves
10 training images per SplitCIFAR-100 task. The test phase (every model, ``val_sample_size`` weight samples, all
test sets after every task) dominates the run time, hence so few test images.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from data import download
from data.download import RegisteredFile, md5sum

PER_CLASS = {"cifar10": {"train": 6, "test": 3}, "cifar100": {"train": 11, "test": 1}}


class _Py2Pickler(pickle._Pickler):
    """Pickles as Python 2's cPickle did (protocol 2): ``bytes`` become ``str`` (BINSTRING) records."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj: bytes) -> None:
        n = len(obj)
        header = pickle.SHORT_BINSTRING + bytes([n]) if n < 256 else pickle.BINSTRING + struct.pack("<i", n)
        self.write(header + obj)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str


def write_py2_pickle(path: Path, obj: dict) -> None:
    """Write ``obj`` as the CIFAR files were written (numpy arrays under ``numpy.core``)."""
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


def tiny_images(rng: np.random.Generator, labels: np.ndarray, num_classes: int) -> np.ndarray:
    """``[N, 3072]`` uint8 CHW rows: noise whose red-plane brightness grows with the label (learnable)."""
    x = rng.integers(0, 128, (len(labels), 3, 32 * 32))
    x[:, 0] += (127 * labels / (num_classes - 1)).astype(np.int64)[:, None]
    return x.reshape(len(labels), -1).astype(np.uint8)


def write_tiny_cifar(root: Path) -> None:
    """Both datasets under ``root`` in the official folder layout."""
    rng = np.random.default_rng(0)
    c10 = root / "cifar-10-batches-py"
    labels = rng.permutation(np.arange(10 * PER_CLASS["cifar10"]["train"]) % 10)
    for i, part in enumerate(np.array_split(labels, 5), start=1):
        write_py2_pickle(c10 / f"data_batch_{i}", {b"batch_label": f"training batch {i} of 5".encode(),
                                                   b"labels": [int(v) for v in part],
                                                   b"data": tiny_images(rng, part, 10)})
    test = np.arange(10 * PER_CLASS["cifar10"]["test"]) % 10
    write_py2_pickle(c10 / "test_batch", {b"batch_label": b"testing batch 1 of 1", b"labels": [int(v) for v in test],
                                          b"data": tiny_images(rng, test, 10)})
    write_py2_pickle(c10 / "batches.meta", {b"label_names": [f"class{i}".encode() for i in range(10)]})
    c100 = root / "cifar-100-python"
    for split in ("train", "test"):
        fine = rng.permutation(np.arange(100 * PER_CLASS["cifar100"][split]) % 100)
        write_py2_pickle(c100 / split, {b"fine_labels": [int(v) for v in fine],
                                        b"coarse_labels": [int(v) // 5 for v in fine],
                                        b"data": tiny_images(rng, fine % 10, 10)})
    write_py2_pickle(c100 / "meta", {b"fine_label_names": [f"fine{i}".encode() for i in range(100)]})


@pytest.fixture(scope="module")
def tiny_cifar_root(tmp_path_factory) -> Path:
    """Dataset root with the tiny CIFAR-10/100 (module-scoped; registry entries and a private cache patched)."""
    root = tmp_path_factory.mktemp("tiny_cifar")
    write_tiny_cifar(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HYPERCL_CACHE_DIR", str(root / "cache"))
        mp.delenv("HYPERCL_DATA_DIR", raising=False)
        mp.delenv("HYPERCL_DOWNLOAD", raising=False)
        for key, spec in download.REGISTRY.items():
            if key.startswith(("cifar-10-batches-py/", "cifar-100-python/")):
                mp.setitem(download.REGISTRY, key, RegisteredFile(md5sum(root / key), None, spec.urls, spec.archive))
        yield root
