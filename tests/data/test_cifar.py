"""CIFAR-10/100 from pickles in the official format: order, HWC layout, labels, pipeline, safety."""

import pickle

import numpy as np
import pytest
import torch

from data.cifar import CIFARTransform, cifar10_dataset, cifar100_dataset, load_cifar, read_pickle
from data.errors import DatasetError
from data.image_transforms import IMAGENET_MEAN, IMAGENET_STD


def hwc(data: np.ndarray) -> np.ndarray:
    """Reference conversion of CIFAR rows (3 planes of 32x32) to [N, 32, 32, 3]."""
    n = len(data)
    out = np.empty((n, 32, 32, 3), np.uint8)
    for c in range(3):
        out[..., c] = data[:, c * 1024 : (c + 1) * 1024].reshape(n, 32, 32)
    return out


def test_cifar10_is_read_in_file_order_as_hwc_images(tiny_cifar):
    root, written = tiny_cifar
    a = load_cifar("cifar10", root)
    w = written["cifar10"]
    assert a["train_images"].shape == (100, 32, 32, 3) and a["test_images"].shape == (30, 32, 32, 3)
    np.testing.assert_array_equal(a["train_images"], hwc(w["train_data"]))  # batches 1..5 in order
    np.testing.assert_array_equal(a["train_labels"], w["train_labels"])
    np.testing.assert_array_equal(a["test_images"], hwc(w["test_data"]))
    assert a["label_names"].tolist()[:3] == ["airplane", "automobile", "bird"]
    # one pixel by hand: image 7, row 5, column 9, green = plane 1
    assert a["train_images"][7, 5, 9, 1] == w["train_data"][7, 1024 + 5 * 32 + 9]


def test_cifar100_uses_the_fine_labels(tiny_cifar):
    root, written = tiny_cifar
    ds = cifar100_dataset(root, val_size=50)
    assert (ds.num_train, ds.num_val, ds.num_test, ds.num_classes) == (350, 50, 200, 100)
    labels = torch.cat([ds.raw("val")[1], ds.raw("train")[1]])
    np.testing.assert_array_equal(labels.numpy(), written["cifar100"]["train_labels"])
    assert labels.max() == 99  # coarse labels would stop at 19


def test_eval_inputs_are_normalised_flat_hwc(tiny_cifar):
    root, written = tiny_cifar
    ds = cifar10_dataset(root, val_size=10, one_hot=True)
    assert (ds.num_train, ds.num_val, ds.num_test, ds.in_dim) == (90, 10, 30, 3072)
    x = ds.inputs("test")
    img = hwc(written["cifar10"]["test_data"]).astype(np.float32) / np.float32(255)
    expected = ((img - np.float32(IMAGENET_MEAN)) / np.float32(IMAGENET_STD)).reshape(30, -1)
    np.testing.assert_allclose(x.numpy(), expected, rtol=0, atol=1e-6)
    b = ds.next_test_batch(8)  # test batches are not augmented
    np.testing.assert_allclose(b.inputs.numpy(), expected[b.ids.numpy()], rtol=0, atol=1e-6)


def test_training_batches_are_augmented(tiny_cifar):
    root, written = tiny_cifar
    ds = cifar10_dataset(root, val_size=0)
    b = ds.next_train_batch(100)  # one full pass over the 100 training images
    clean = ds.inputs("train")[b.ids]
    changed = (b.inputs - clean).abs().amax(1) > 1e-6
    assert changed.sum() > 80  # crop offset (4, 4) without flip is the only identity: p = 1/162
    padded_value = ((0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)).astype(np.float32)
    border = b.inputs.view(100, 32, 32, 3)[:, 0, 0]  # top-left pixel, often from the zero padding
    hits = np.isclose(border.numpy(), padded_value, atol=1e-6).all(1)
    assert 30 < hits.sum() < 90  # P(top-left comes from padding) = 1 - (5/9)^2 = 0.69


def test_disabled_augmentation_means_raw_unit_range_inputs(tiny_cifar):
    root, written = tiny_cifar
    ds = cifar10_dataset(root, val_size=0, augmentation=False)
    b = ds.next_train_batch(16)
    img = hwc(written["cifar10"]["train_data"]).astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(b.inputs.numpy(), img.reshape(100, -1)[b.ids.numpy()])
    assert 0 <= ds.inputs("test").min() and ds.inputs("test").max() <= 1


def test_transform_is_deterministic_per_seed(tiny_cifar):
    root, _ = tiny_cifar
    a = cifar10_dataset(root, val_size=0, seed=3).next_train_batch(32).inputs
    b = cifar10_dataset(root, val_size=0, seed=3).next_train_batch(32).inputs
    assert torch.equal(a, b)
    x = torch.zeros(2, 32, 32, 3, dtype=torch.uint8)
    out = CIFARTransform(True)(x, augment=False, generator=torch.Generator())
    assert out.shape == (2, 3072) and out[0, 0].item() == pytest.approx(-0.485 / 0.229)


def test_pickles_that_execute_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps({b"data": Evil()}, protocol=4))
    with pytest.raises(DatasetError, match="builtins.print is not allowed"):
        read_pickle(path)
    path.write_bytes(b"\x80\x02}q\x00(")  # truncated pickle
    with pytest.raises(DatasetError, match="unreadable pickle"):
        read_pickle(path)


def test_pickles_resaved_by_python3_load_too(tmp_path):
    path = tmp_path / "test_batch"
    data = np.arange(2 * 3072, dtype=np.int64).astype(np.uint8).reshape(2, 3072)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": [3, 4]}, protocol=2))  # bytes via _codecs.encode
    batch = read_pickle(path)
    assert batch[b"labels"] == [3, 4] and np.array_equal(batch[b"data"], data)
