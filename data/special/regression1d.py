"""1D polynomial regression task sets of the posterior-replay paper (spec_posterior_replay.md §1.3).

Per task: 20 training inputs drawn uniformly from the training interval with noisy targets ``f(x) + eps``;
a validation set of 50 equidistant, noise-free points on the *training* interval (fit quality and task
inference); a test set of 50 equidistant, noise-free points on the (wider) test interval (plots only). Every task
draws from its own ``RandomState(data_random_seed)`` (same uniform quantiles for all tasks), first the inputs,
then the noise — as the original, so the data are bit-identical for the same seed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

NUM_TRAIN, NUM_VAL, NUM_TEST = 20, 50, 50


@dataclass(frozen=True)
class TaskSpec:
    """One regression task: the function, its training interval and the noise std of training targets."""

    name: str
    fn: Callable[[np.ndarray], np.ndarray]
    train_range: tuple[float, float]
    test_range: tuple[float, float]
    noise_std: float


_THREE_RANGES = ((-4.0, -2.0), (-1.0, 1.0), (2.0, 4.0))
_TEST = (-4.1, 4.1)


def _three_tasks(fns: list[tuple[str, Callable]], noise_std: float) -> list[TaskSpec]:
    return [TaskSpec(name, fn, rng, _TEST, noise_std) for (name, fn), rng in zip(fns, _THREE_RANGES)]


#: ``--used_task_set`` -> task definitions (spec §1.3 table).
TASK_SETS: dict[int, list[TaskSpec]] = {
    0: [TaskSpec("x^3", lambda x: x**3, (-4.0, 4.0), (-5.5, 5.5), 3.0)],
    1: _three_tasks([("x+3", lambda x: x + 3), ("2x^2-1", lambda x: 2 * x**2 - 1),
                     ("(x-3)^3", lambda x: (x - 3) ** 3)], 0.05),
    2: _three_tasks([("(x+3)^3", lambda x: (x + 3) ** 3), ("2x^2-1", lambda x: 2 * x**2 - 1),
                     ("-(x-3)^3", lambda x: -((x - 3) ** 3))], 0.1),
    3: _three_tasks([("(x+3)^3", lambda x: (x + 3) ** 3), ("2x^2-1", lambda x: 2 * x**2 - 1),
                     ("-(x-3)^3", lambda x: -((x - 3) ** 3))], 0.05),
}


@dataclass
class RegressionTask:
    """Tensors of one task (all ``[N, 1]``, float32, on one device)."""

    spec: TaskSpec
    train_x: Tensor
    train_y: Tensor
    val_x: Tensor
    val_y: Tensor
    test_x: Tensor
    test_y: Tensor

    @property
    def num_train(self) -> int:
        return self.train_x.shape[0]

    def to(self, device: torch.device | str) -> RegressionTask:
        moved = {k: v.to(device) for k, v in vars(self).items() if isinstance(v, Tensor)}
        return RegressionTask(spec=self.spec, **moved)


def make_task(spec: TaskSpec, data_random_seed: int = 42) -> RegressionTask:
    """Draw one task's data exactly as the original ``ToyRegression`` does."""
    rand = np.random.RandomState(data_random_seed)
    train_x = rand.uniform(low=spec.train_range[0], high=spec.train_range[1], size=(NUM_TRAIN, 1))
    train_y = spec.fn(train_x) + rand.normal(loc=0.0, scale=spec.noise_std, size=(NUM_TRAIN, 1))
    val_x = np.linspace(spec.train_range[0], spec.train_range[1], NUM_VAL).reshape(-1, 1)
    test_x = np.linspace(spec.test_range[0], spec.test_range[1], NUM_TEST).reshape(-1, 1)

    def t(a: np.ndarray) -> Tensor:
        return torch.as_tensor(a, dtype=torch.float32)

    return RegressionTask(spec, t(train_x), t(train_y), t(val_x), t(spec.fn(val_x)), t(test_x), t(spec.fn(test_x)))


def make_task_set(used_task_set: int, data_random_seed: int = 42,
                  device: torch.device | str = "cpu") -> list[RegressionTask]:
    """All tasks of ``--used_task_set``, moved once to ``device``."""
    if used_task_set not in TASK_SETS:
        raise ValueError(f"--used_task_set={used_task_set} is unknown; valid: {sorted(TASK_SETS)}")
    return [make_task(spec, data_random_seed).to(device) for spec in TASK_SETS[used_task_set]]


class InfiniteBatches:
    """Endless shuffled mini-batch indices over N samples from a seeded generator.

    As the original: the index stream is reshuffled after every pass and batches are always full, so a batch may
    straddle an epoch boundary (with 20 points and batch size 32 a batch contains repeats).
    """

    def __init__(self, num_samples: int, batch_size: int, generator: torch.Generator) -> None:
        self.n, self.batch_size, self.gen = num_samples, batch_size, generator
        self._perm = torch.randperm(self.n, generator=self.gen)
        self._pos = 0

    def next(self) -> Tensor:
        """Indices ``[batch_size]`` of the next batch."""
        out = []
        needed = self.batch_size
        while needed > 0:
            if self._pos == self.n:
                self._perm, self._pos = torch.randperm(self.n, generator=self.gen), 0
            take = min(needed, self.n - self._pos)
            out.append(self._perm[self._pos:self._pos + take])
            self._pos += take
            needed -= take
        return torch.cat(out)
