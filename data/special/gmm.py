"""2D GMM mode classification: tasks of two Gaussian modes each, the label says which mode a point came from.

As ``prob_gmm/train_utils.generate_datasets`` of the original (``TASK_SET = 3`` hard-coded there): six modes
with means on a circle of radius 5 at angles ``(i + 0.5) / 6 * 2 * pi``, ``mean_i = (5 sin a_i, 5 cos a_i)``,
covariance ``0.2**2 * I``. Mode ``i`` draws its samples from ``RandomState(data_random_seed + i)``: first
``num_train`` training points, then ``num_test`` test points, both with ``multivariate_normal``. Task ``k``
holds modes ``2k`` (label 0) and ``2k + 1`` (label 1), training points of mode ``2k`` first; there is no
validation set. Inputs are the raw float32 coordinates ``[B, 2]``.

Task sets 0 to 2 are the other hard-coded sets of the original (see :data:`GMM_TASK_SETS`); the README runs
use set 3 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from data.dataset import Dataset, derive_seed


@dataclass(frozen=True)
class GMMTaskSet:
    """Modes of one task set; consecutive groups of ``modes_per_task`` modes form the tasks."""

    means: tuple[tuple[float, float], ...]
    std: float
    modes_per_task: int = 2


def _circle_means(num_modes: int = 6, radius: float = 5.0) -> tuple[tuple[float, float], ...]:
    angles = [(i + 0.5) / num_modes * 2 * np.pi for i in range(num_modes)]  # same expression as the original
    return tuple((radius * np.sin(a), radius * np.cos(a)) for a in angles)


GMM_TASK_SETS = {
    0: GMMTaskSet(((0.0, 1.0), (0.0, -1.0)), 0.05),  # one task
    1: GMMTaskSet(_circle_means(), 0.1),
    2: GMMTaskSet(_circle_means(), 1.0),
    3: GMMTaskSet(_circle_means(), 0.2),  # the paper's task set
}


def sample_modes(
    task_set: int = 3, data_random_seed: int = 42, num_train: int = 10, num_test: int = 100
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Draw ``(train [num_train, 2], test [num_test, 2])`` float64 points for every mode of ``task_set``."""
    spec = GMM_TASK_SETS[task_set]
    cov = spec.std**2 * np.eye(2)
    samples = []
    for i, mean in enumerate(spec.means):
        rand = np.random.RandomState(data_random_seed + i)
        train = rand.multivariate_normal(np.array(mean), cov, size=num_train)
        test = rand.multivariate_normal(np.array(mean), cov, size=num_test)
        samples.append((train, test))
    return samples


def _label_by_mode(points: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a task's modes one after the other; a point's label is its mode's position in the task."""
    x = np.concatenate(points)  # [sum N_i, 2]
    y = np.concatenate([np.full(len(p), label) for label, p in enumerate(points)])
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.long)


def get_gmm_handlers(
    task_set: int = 3,
    data_random_seed: int = 42,
    *,
    num_train: int = 10,
    num_test: int = 100,
    one_hot: bool = True,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> list[Dataset]:
    """Return one :class:`~data.dataset.Dataset` per GMM task (set 3: 3 tasks, 20 train / 200 test points).

    Args:
        task_set: Key of :data:`GMM_TASK_SETS`.
        data_random_seed: Mode ``i`` draws from ``RandomState(data_random_seed + i)``.
        seed: Seeds batch order; task ``t`` uses its own stream derived from ``(seed, t)``.
    """
    if task_set not in GMM_TASK_SETS:
        raise ValueError(f"unknown GMM task set {task_set}; valid: {sorted(GMM_TASK_SETS)}")
    spec = GMM_TASK_SETS[task_set]
    modes = sample_modes(task_set, data_random_seed, num_train, num_test)
    k = spec.modes_per_task
    handlers = []
    for t in range(len(modes) // k):
        group = modes[t * k : (t + 1) * k]
        handlers.append(
            Dataset(
                _label_by_mode([train for train, _ in group]),
                _label_by_mode([test for _, test in group]),
                None,
                name="GMM",
                in_shape=(2,),
                num_classes=k,
                one_hot=one_hot,
                classes=range(t * k, (t + 1) * k),
                seed=derive_seed(seed, t),
                device=device,
            )
        )
    return handlers
