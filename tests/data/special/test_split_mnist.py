"""SplitMNIST: exact task sizes and label sets on the real MNIST, validation split, start-up from cache."""

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from data import mnist
from data.dataset import held_bytes
from data.special.split_mnist import get_split_mnist_handlers

REPO = Path(__file__).resolve().parents[3]
TRAIN_SIZES = [12665, 12089, 11263, 12183, 11800]  # digits {0,1}, {2,3}, ... of the 60000 training images
TEST_SIZES = [2115, 2042, 1874, 1986, 1983]


def test_real_split_mnist_5x2(mnist_root):
    tasks = get_split_mnist_handlers(mnist_root)
    assert len(tasks) == 5
    assert [t.num_train for t in tasks] == TRAIN_SIZES and [t.num_test for t in tasks] == TEST_SIZES
    assert [t.num_val for t in tasks] == [0] * 5
    raw = mnist.load_mnist(mnist_root)
    for k, task in enumerate(tasks):
        assert task.classes == (2 * k, 2 * k + 1)
        assert (task.num_classes, task.in_dim, task.in_shape) == (2, 784, (28, 28, 1))
        for split in ("train", "test"):
            assert set(task.raw(split)[1].unique().tolist()) == {0, 1}
            assert set(task.targets(split).sum(0).tolist()) == set(task.raw(split)[1].bincount().tolist())
        # the images are the original ones, in file order, scaled to [0, 1]
        keep = np.isin(raw["test_labels"], task.classes)
        expected = torch.from_numpy(raw["test_images"][keep].reshape(-1, 784)).float() / 255
        assert torch.equal(task.inputs("test"), expected)
    assert held_bytes(tasks) < 1.1 * held_bytes([mnist.mnist_dataset(mnist_root, val_size=0)])  # one MNIST


def test_real_split_mnist_validation_is_the_first_filtered_training_images(mnist_root):
    tasks = get_split_mnist_handlers(mnist_root, val_size=1000)
    assert [t.num_val for t in tasks] == [1000] * 5
    assert [t.num_train for t in tasks] == [n - 1000 for n in TRAIN_SIZES]
    raw = mnist.load_mnist(mnist_root)
    keep = np.isin(raw["train_labels"], (4, 5))
    first = torch.from_numpy(raw["train_images"][keep][:1000])
    assert torch.equal(tasks[2].raw("val")[0], first)
    assert tasks[2].raw("val")[1][:6].tolist() == (raw["train_labels"][keep][:6] - 4).tolist()


def test_real_split_mnist_start_up_from_cache_is_fast(mnist_root, real_mnist_cache, monkeypatch):
    get_split_mnist_handlers(mnist_root)  # make sure the cache exists
    monkeypatch.setattr(mnist, "read_idx", lambda path: pytest.fail(f"re-parsed {path}"))
    start = time.perf_counter()
    get_split_mnist_handlers(mnist_root)
    assert time.perf_counter() - start < 2.0


@pytest.mark.slow
def test_real_split_mnist_start_up_in_a_fresh_process(mnist_root, real_mnist_cache):
    code = (
        "import time, torch; t = time.perf_counter();"
        "from data.special.split_mnist import get_split_mnist_handlers as g;"
        f"g({str(mnist_root)!r}); print(time.perf_counter() - t)"
    )
    env = {"PYTHONPATH": str(REPO), "HYPERCL_CACHE_DIR": str(real_mnist_cache), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert float(out.stdout) < 2.0


def test_tasks_of_more_classes_and_target_padding(tiny_mnist):
    root, arrays = tiny_mnist
    tasks = get_split_mnist_handlers(root, num_classes_per_task=5)
    assert [t.classes for t in tasks] == [(0, 1, 2, 3, 4), (5, 6, 7, 8, 9)]
    assert sum(t.num_train for t in tasks) == 200 and sum(t.num_test for t in tasks) == 50
    padded = get_split_mnist_handlers(root, num_tasks=2, trgt_padding=3)
    assert len(padded) == 2 and padded[1].num_classes == 5
    y = padded[1].targets("train")
    assert y.shape == (padded[1].num_train, 5) and y[:, 2:].sum() == 0 and y.sum() == padded[1].num_train
    assert padded[1].targets("train", one_hot=False).max() == 1


def test_invalid_task_counts(tiny_mnist):
    root, _ = tiny_mnist
    for num_tasks, per_task in [(6, 2), (0, 2), (2, 6)]:
        with pytest.raises(ValueError, match="cannot create"):
            get_split_mnist_handlers(root, num_tasks=num_tasks, num_classes_per_task=per_task)
    with pytest.raises(ValueError, match="validation set size"):
        get_split_mnist_handlers(root, val_size=10_000)


def test_tasks_have_their_own_batch_streams(tiny_mnist):
    root, _ = tiny_mnist
    a, b = get_split_mnist_handlers(root, seed=1)[:2]
    again = get_split_mnist_handlers(root, seed=1)[0]
    assert a.next_train_batch(16).ids.tolist() == again.next_train_batch(16).ids.tolist()
    assert a.seed != b.seed
