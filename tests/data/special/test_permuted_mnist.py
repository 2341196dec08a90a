"""PermutedMNIST: 1024 padded inputs, task 0 identity, seeded permutations, 100 tasks at the memory of 10."""

import numpy as np
import pytest
import torch

from data.dataset import held_bytes
from data.special.permuted_mnist import get_permuted_mnist_handlers, pad_permute_index, permutations


def padded(images: torch.Tensor, padding: int) -> torch.Tensor:
    """Reference: zero-pad uint8 ``[N, H, W]`` images and flatten them as floats in [0, 1]."""
    x = np.pad(images.numpy(), ((0, 0), (padding, padding), (padding, padding)))
    return torch.from_numpy(x.reshape(len(x), -1)).float() / 255


def test_real_permuted_mnist_10(mnist_root):
    tasks = get_permuted_mnist_handlers(mnist_root, num_tasks=10)
    assert len(tasks) == 10
    assert all((t.num_train, t.num_test, t.num_val) == (60000, 10000, 0) for t in tasks)
    assert all((t.in_dim, t.in_shape, t.num_classes) == (1024, (32, 32, 1), 10) for t in tasks)
    images = tasks[0].raw("test")[0][:500]
    reference = padded(images, 2)
    assert torch.equal(tasks[0].inputs("test", torch.arange(500)), reference)  # task 0: identity
    perms = permutations(10, 1024, 42)
    for t in (1, 2, 9):
        assert torch.equal(tasks[t].inputs("test", torch.arange(500)), reference[:, perms[t]])
    assert not torch.equal(tasks[1].inputs("test", torch.arange(10)), tasks[2].inputs("test", torch.arange(10)))


def test_same_seed_same_permutations(mnist_root):
    a = get_permuted_mnist_handlers(mnist_root, num_tasks=10)
    b = get_permuted_mnist_handlers(mnist_root, num_tasks=10, data_random_seed=42)
    c = get_permuted_mnist_handlers(mnist_root, num_tasks=10, data_random_seed=43)
    x = [t.inputs("test", torch.arange(20)) for t in a]
    assert all(torch.equal(xa, tb.inputs("test", torch.arange(20))) for xa, tb in zip(x, b))
    assert torch.equal(x[0], c[0].inputs("test", torch.arange(20)))  # identity does not depend on the seed
    assert not torch.equal(x[3], c[3].inputs("test", torch.arange(20)))


def test_permutations_follow_the_original_draw_order():
    perms = permutations(4, 1024, 42)
    rand = np.random.RandomState(42)
    assert perms[0] is None
    for t in (1, 2, 3):
        np.testing.assert_array_equal(perms[t], rand.permutation(1024))
    assert permutations(100, 1024)[50].tolist() == permutations(100, 1024)[50].tolist()
    assert sorted(perms[2].tolist()) == list(range(1024))


def test_real_permuted_mnist_100_memory_is_at_most_1_5_times_that_of_10(mnist_root):
    ten = held_bytes(get_permuted_mnist_handlers(mnist_root, num_tasks=10))
    hundred_tasks = get_permuted_mnist_handlers(mnist_root, num_tasks=100)
    hundred = held_bytes(hundred_tasks)
    assert ten >= 60000 * 784 + 10000 * 784  # one uint8 MNIST
    assert hundred / ten <= 1.5
    assert hundred - ten == 90 * 1024 * 8  # only the gather indices grow
    b = hundred_tasks[99].next_train_batch(128)
    assert b.inputs.shape == (128, 1024) and b.targets.shape == (128, 10)


def test_padding_zero_and_validation(tiny_mnist):
    root, arrays = tiny_mnist
    tasks = get_permuted_mnist_handlers(root, num_tasks=3, padding=0, val_size=40, trgt_padding=2)
    assert (tasks[0].in_dim, tasks[0].num_train, tasks[0].num_val, tasks[0].num_classes) == (30, 160, 40, 12)
    first = torch.from_numpy(arrays["train_images"][:40])
    assert torch.equal(tasks[2].raw("val")[0], first)
    perm = permutations(3, 30, 42)[2]
    assert torch.equal(tasks[2].inputs("val"), padded(first, 0)[:, perm])
    assert tasks[1].targets("val").shape == (40, 12)


def test_pad_permute_index_points_padding_at_the_zero():
    idx = pad_permute_index(2, 2, 1, None)  # 4x4 padded image of a 2x2 image
    assert idx.view(4, 4).tolist() == [[4, 4, 4, 4], [4, 0, 1, 4], [4, 2, 3, 4], [4, 4, 4, 4]]
    perm = np.array([5, 0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15])
    assert pad_permute_index(2, 2, 1, perm)[:2].tolist() == [0, 4]


def test_tasks_share_one_copy_and_can_be_used_together(tiny_mnist):
    root, _ = tiny_mnist
    t0, t1 = get_permuted_mnist_handlers(root, num_tasks=2, padding=1)
    assert t0.raw("train")[0].untyped_storage().data_ptr() == t1.raw("train")[0].untyped_storage().data_ptr()
    b0, b1 = t0.next_train_batch(8), t1.next_train_batch(8)  # no hidden "active permutation"
    assert torch.equal(b0.inputs, t0.inputs("train")[b0.ids])
    assert torch.equal(b1.inputs, t1.inputs("train")[b1.ids])


@pytest.mark.parametrize("num_tasks", [1, 100])
def test_task_counts(tiny_mnist, num_tasks):
    root, _ = tiny_mnist
    assert len(get_permuted_mnist_handlers(root, num_tasks=num_tasks)) == num_tasks
