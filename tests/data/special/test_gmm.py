"""2D GMM task set 3: six modes on a circle, per-mode seeds, train drawn before test, 2 classes per task."""

import numpy as np
import pytest
import torch

from data.special.gmm import GMM_TASK_SETS, get_gmm_handlers, sample_modes


def test_task_set_3_sizes_and_labels():
    tasks = get_gmm_handlers()
    assert len(tasks) == 3
    for k, task in enumerate(tasks):
        assert (task.num_train, task.num_test, task.num_val) == (20, 200, 0)
        assert (task.in_dim, task.num_classes, task.classes) == (2, 2, (2 * k, 2 * k + 1))
        assert task.raw("train")[1].tolist() == [0] * 10 + [1] * 10
        assert task.raw("test")[1].bincount().tolist() == [100, 100]
        assert task.targets("train").shape == (20, 2)


def test_means_on_the_circle_and_spread():
    means = np.array(GMM_TASK_SETS[3].means)
    assert np.allclose(np.linalg.norm(means, axis=1), 5.0)
    assert np.allclose(means[0], [2.5, 5 * np.sqrt(3) / 2])  # angle 30 degrees from the y axis
    tasks = get_gmm_handlers()
    test_x = tasks[2].raw("test")[0].numpy()
    assert np.allclose(test_x[:100].mean(0), means[4], atol=0.06)  # mode 4 is label 0 of task 2
    assert 0.15 < test_x[100:].std(0).mean() < 0.25  # std 0.2


def test_seeds_and_draw_order_match_the_original():
    tasks = get_gmm_handlers(data_random_seed=42)
    mean3, cov = np.array(GMM_TASK_SETS[3].means[3]), 0.2**2 * np.eye(2)
    rand = np.random.RandomState(42 + 3)  # mode 3 = task 1, label 1
    train, test = (
        rand.multivariate_normal(mean3, cov, size=10),
        rand.multivariate_normal(mean3, cov, size=100),
    )
    assert torch.equal(tasks[1].raw("train")[0][10:], torch.as_tensor(train, dtype=torch.float32))
    assert torch.equal(tasks[1].raw("test")[0][100:], torch.as_tensor(test, dtype=torch.float32))
    other = get_gmm_handlers(data_random_seed=43)
    assert not torch.equal(tasks[0].raw("train")[0], other[0].raw("train")[0])
    # mode i uses RandomState(seed + i): mode 1 under seed 42 and mode 0 under seed 43 share their noise
    means = np.array(GMM_TASK_SETS[3].means)
    a, b = sample_modes(3, 42)[1][0] - means[1], sample_modes(3, 43)[0][0] - means[0]
    np.testing.assert_allclose(a, b, atol=1e-12)


@pytest.mark.parametrize("task_set, num_tasks, std", [(0, 1, 0.05), (1, 3, 0.1), (2, 3, 1.0), (3, 3, 0.2)])
def test_other_task_sets(task_set, num_tasks, std):
    assert len(get_gmm_handlers(task_set)) == num_tasks
    assert GMM_TASK_SETS[task_set].std == std
    assert len(sample_modes(task_set, num_train=3, num_test=4)[0][1]) == 4
    with pytest.raises(ValueError):
        get_gmm_handlers(7)
