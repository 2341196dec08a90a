"""MNIST: idx parsing with sizes from the headers, the real files, the plain MNIST handler."""

import gzip

import numpy as np
import pytest
import torch

from data.errors import DatasetError
from data.mnist import load_mnist, mnist_dataset, read_idx


def test_real_mnist_sizes_and_labels(mnist_root):
    a = load_mnist(mnist_root)
    assert a["train_images"].shape == (60000, 28, 28) and a["test_images"].shape == (10000, 28, 28)
    assert a["train_images"].dtype == np.uint8 and a["train_images"].max() == 255
    assert np.bincount(a["train_labels"]).tolist() == [
        5923,
        6742,
        5958,
        6131,
        5842,
        5421,
        5918,
        6265,
        5851,
        5949,
    ]
    assert np.bincount(a["test_labels"]).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert a["train_labels"][:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]  # file order kept


def test_real_mnist_handler_has_the_original_default_validation_split(mnist_root):
    ds = mnist_dataset(mnist_root)
    assert (ds.num_train, ds.num_val, ds.num_test) == (55000, 5000, 10000)
    assert (ds.in_shape, ds.in_dim, ds.num_classes, ds.one_hot) == ((28, 28, 1), 784, 10, False)
    assert ds.raw("val")[1][:5].tolist() == [5, 0, 4, 1, 9]  # the first training images
    x = ds.inputs("test")
    assert x.shape == (10000, 784) and x.min() == 0 and x.max() == 1


def test_sizes_come_from_the_headers(tiny_mnist):
    root, arrays = tiny_mnist
    ds = mnist_dataset(root, val_size=20)
    assert (ds.num_train, ds.num_val, ds.num_test) == (180, 20, 50)
    assert (ds.in_shape, ds.in_dim) == ((6, 5, 1), 30)
    torch.testing.assert_close(ds.inputs("test")[3], torch.from_numpy(arrays["test_images"][3]).flatten() / 255)


def test_read_idx_rejects_inconsistent_files(tmp_path):
    path = tmp_path / "x.gz"
    with gzip.open(path, "wb") as f:  # header says 2x3x4 = 24 bytes, file holds 20
        f.write(bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4]) + bytes(20))
    with pytest.raises(DatasetError, match=r"header announces shape \(2, 3, 4\) but the file holds 20 data bytes"):
        read_idx(path)
    with gzip.open(path, "wb") as f:
        f.write(b"\x1f\x8b not idx")
    with pytest.raises(DatasetError, match="bad magic number"):
        read_idx(path)
    path.write_bytes(b"plain text")
    with pytest.raises(DatasetError, match="unreadable gzip"):
        read_idx(path)


def test_read_idx_multibyte_types_are_big_endian(tmp_path):
    path = tmp_path / "i4.gz"
    with gzip.open(path, "wb") as f:
        f.write(bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + (1).to_bytes(4, "big") + (256).to_bytes(4, "big"))
    assert read_idx(path).tolist() == [1, 256]
