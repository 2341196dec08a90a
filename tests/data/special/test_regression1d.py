"""1D regression task sets: sizes, ranges, noise and seeding as the original."""

import numpy as np
import pytest
import torch

from data.special.regression1d import TASK_SETS, InfiniteBatches, make_task, make_task_set


@pytest.mark.parametrize("task_set, num_tasks", [(0, 1), (1, 3), (2, 3), (3, 3)])
def test_sizes_and_ranges(task_set, num_tasks):
    tasks = make_task_set(task_set)
    assert len(tasks) == num_tasks
    for task in tasks:
        lo, hi = task.spec.train_range
        assert task.train_x.shape == (20, 1) and task.val_x.shape == (50, 1) and task.test_x.shape == (50, 1)
        assert lo <= task.train_x.min() and task.train_x.max() <= hi
        assert task.val_x[0, 0] == pytest.approx(lo) and task.val_x[-1, 0] == pytest.approx(hi)
        assert task.test_x[0, 0] == pytest.approx(task.spec.test_range[0])


def test_same_seed_same_uniform_quantiles_across_tasks():
    t1, t2, _ = make_task_set(3)
    # every task draws from RandomState(42): the relative positions inside the interval are identical
    rel1 = (t1.train_x - t1.spec.train_range[0]) / 2
    rel2 = (t2.train_x - t2.spec.train_range[0]) / 2
    assert torch.allclose(rel1, rel2, atol=1e-6)


def test_exact_draw_order_and_noise():
    spec = TASK_SETS[3][1]
    task = make_task(spec, data_random_seed=42)
    rand = np.random.RandomState(42)
    x = rand.uniform(-1, 1, size=(20, 1))
    noise = rand.normal(0, 0.05, size=(20, 1))
    assert np.allclose(task.train_x.numpy(), x, atol=1e-6)
    assert np.allclose(task.train_y.numpy(), 2 * x**2 - 1 + noise, atol=1e-5)
    assert np.allclose(task.val_y.numpy(), 2 * task.val_x.numpy() ** 2 - 1, atol=1e-5)  # noise-free


def test_task_set_3_polynomials():
    fns = [s.fn for s in TASK_SETS[3]]
    assert [f(np.array(0.0)) for f in fns] == [27.0, -1.0, 27.0]


def test_infinite_batches_full_size_and_epoch_coverage():
    batches = InfiniteBatches(20, 32, torch.Generator().manual_seed(0))
    first = batches.next()
    assert first.shape == (32,)
    assert set(first[:20].tolist()) == set(range(20))  # the first pass covers every sample once
    assert InfiniteBatches(20, 8, torch.Generator().manual_seed(1)).next().unique().numel() == 8
