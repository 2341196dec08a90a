"""Coresets of the classification runners (spec §2.11): the coreset regulariser, experience replay and the data
of the final coreset fine-tuning.

A coreset is a small random subset of a task's training set, stored as network inputs (after the *training*
transform, i.e. augmented for CIFAR, as the original) with local labels. With ``--per_task_coreset`` every task
keeps ``coreset_size`` samples; otherwise one coreset of fixed size ``coreset_size`` is shared: after task t the
``coreset_size // (t + 1)`` samples with the highest predictive entropy under task t's model are replaced by random
samples of task t.

Losses (all batched: one forward pass per loss, whatever the number of old tasks):

* :func:`max_entropy_loss`, the coreset regulariser: soft cross-entropy of old tasks' coreset samples to the
  uniform distribution over the current task's allowed outputs.
* :func:`distillation_loss`, experience replay: knowledge distillation at temperature 2 from the start-of-task
  snapshot on each old task's allowed outputs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from data.dataset import Dataset, derive_seed
from probabilistic.heads import Heads

#: Distillation temperature of experience replay (fixed in the original).
DISTILL_TEMPERATURE = 2.0


class Coresets:
    """Per-task coreset samples; ``inputs[t] [K_t, I]`` and local ``labels[t] [K_t]`` (empty until added).

    Args:
        num_tasks: T.
        size: ``--coreset_size`` (per task, or in total without ``per_task``).
        per_task: ``--per_task_coreset``.
        seed: Seeds the sample choice and the mini-batch draws.
    """

    def __init__(self, num_tasks: int, size: int, per_task: bool, seed: int) -> None:
        self.num_tasks, self.size, self.per_task = num_tasks, size, per_task
        self.inputs: list[Tensor | None] = [None] * num_tasks
        self.labels: list[Tensor | None] = [None] * num_tasks
        self._seed = seed
        self._draws = torch.Generator().manual_seed(derive_seed(seed, 7001))

    # ------------------------------------------------------------------ construction
    def choose(self, task: Dataset, task_id: int, num: int) -> Tensor:
        """Indices of ``num`` random distinct training samples of ``task`` (reproducible per task)."""
        if num > task.num_train:
            raise ValueError(f"--coreset_size={num} exceeds the {task.num_train} training samples of task "
                             f"{task_id + 1}; choose a smaller coreset")
        gen = torch.Generator().manual_seed(derive_seed(self._seed, 7000, task_id))
        return torch.randperm(task.num_train, generator=gen)[:num].to(task.device)

    def add_task(self, task: Dataset, task_id: int, ids: Tensor | None = None) -> Tensor:
        """Store the samples ``ids`` (default: :meth:`choose`) of ``task`` as task ``task_id``'s coreset, the inputs
        after the training transform; returns the indices."""
        ids = self.choose(task, task_id, self.size) if ids is None else ids
        self.inputs[task_id] = task.inputs("train", ids, augment=True)
        self.labels[task_id] = task.targets("train", ids, one_hot=False)
        return ids

    def replace_uncertain(self, task: Dataset, task_id: int, entropy: Callable[[Tensor], Tensor]) -> None:
        """Shared coreset (no ``--per_task_coreset``): after task ``task_id`` > 0, its ``size // (task_id + 1)``
        most uncertain samples (``entropy(inputs) -> [K]`` under the current model) become random samples of
        ``task``. Samples keep their task of origin."""
        x, y, owner = self.stacked(list(range(task_id)))
        num_new = self.size // (task_id + 1)
        keep = entropy(x).argsort()[:x.shape[0] - num_new]  # drop the num_new highest entropies
        for t in range(task_id):
            mine = keep[owner[keep] == t]
            self.inputs[t], self.labels[t] = x[mine], y[mine]
        ids = self.choose(task, task_id, num_new)
        self.add_task(task, task_id, ids)

    def update_after_task(self, task: Dataset, task_id: int, entropy: Callable[[Tensor], Tensor]) -> None:
        """Coreset update after training ``task_id`` (coresets not built up front)."""
        if self.per_task or task_id == 0:
            self.add_task(task, task_id)
        else:
            self.replace_uncertain(task, task_id, entropy)

    # ------------------------------------------------------------------ access
    def stacked(self, task_ids: Sequence[int]) -> tuple[Tensor, Tensor, Tensor]:
        """Inputs ``[K, I]``, local labels ``[K]`` and task of origin ``[K]`` of the coresets of ``task_ids``."""
        present = [t for t in task_ids if self.inputs[t] is not None]
        if not present:
            raise ValueError(f"no coreset stored for tasks {list(task_ids)}")
        x = torch.cat([self.inputs[t] for t in present])
        y = torch.cat([self.labels[t] for t in present])
        owner = torch.cat([torch.full((self.labels[t].shape[0],), t, device=y.device) for t in present])
        return x, y, owner

    def sample(self, task_ids: Sequence[int], batch_size: int) -> tuple[Tensor, Tensor, Tensor]:
        """``batch_size`` samples drawn uniformly with replacement from the union of the coresets of ``task_ids``."""
        x, y, owner = self.stacked(task_ids)
        ids = torch.randint(x.shape[0], (batch_size,), generator=self._draws).to(x.device)
        return x[ids], y[ids], owner[ids]

    def sample_each(self, task_ids: Sequence[int], batch_size: int) -> tuple[Tensor, Tensor]:
        """``batch_size`` samples with replacement from *each* task's coreset: inputs ``[len(task_ids)·B, I]`` and
        task of origin (task-major order)."""
        xs, owners = [], []
        for t in task_ids:
            x = self.inputs[t]
            ids = torch.randint(x.shape[0], (batch_size,), generator=self._draws).to(x.device)
            xs.append(x[ids])
            owners.append(torch.full((batch_size,), t, device=x.device))
        return torch.cat(xs), torch.cat(owners)

    def total(self) -> int:
        """Number of stored coreset samples."""
        return sum(0 if y is None else y.shape[0] for y in self.labels)

    def state(self) -> dict[str, Tensor]:
        """Tensors to checkpoint (resume)."""
        out = {"coreset_draws_rng": self._draws.get_state()}
        for t in range(self.num_tasks):
            if self.inputs[t] is not None:
                out[f"coreset_inputs_{t}"], out[f"coreset_labels_{t}"] = self.inputs[t], self.labels[t]
        return out

    def load_state(self, tensors: dict[str, Tensor]) -> None:
        """Restore what :meth:`state` returned."""
        if "coreset_draws_rng" in tensors:
            self._draws.set_state(tensors["coreset_draws_rng"].cpu())
        for t in range(self.num_tasks):
            if f"coreset_inputs_{t}" in tensors:
                self.inputs[t], self.labels[t] = tensors[f"coreset_inputs_{t}"], tensors[f"coreset_labels_{t}"]


def build_up_front(coresets: Coresets, tasks: Sequence[Dataset], remove: bool) -> None:
    """Coresets of all tasks before training (final fine-tuning, experience replay); with ``remove`` their
    samples leave the training sets (final fine-tuning)."""
    for t, task in enumerate(tasks):
        ids = coresets.add_task(task, t)
        if remove:
            task.drop_train_samples(ids)


# ---------------------------------------------------------------------------------------------------------------
# Losses
# ---------------------------------------------------------------------------------------------------------------
def soft_cross_entropy(logits: Tensor, target_probs: Tensor) -> Tensor:
    """Mean over all leading dims of ``−Σ_c p_c log softmax(logits)_c``."""
    return -(target_probs * logits.log_softmax(-1)).sum(-1).mean()


def max_entropy_loss(allowed_logits: Tensor) -> Tensor:
    """Coreset regulariser: soft CE of ``[S, B, W]`` logits to the uniform distribution over the W units,
    averaged over the S weight samples and the batch."""
    W = allowed_logits.shape[-1]
    return -(allowed_logits.log_softmax(-1).sum(-1) / W).mean()


def distillation(student: Tensor, teacher: Tensor, temperature: float = DISTILL_TEMPERATURE) -> Tensor:
    """Knowledge distillation ``T² · CE(softmax(teacher/T), log_softmax(student/T))``, mean over the batch."""
    return soft_cross_entropy(student / temperature, (teacher / temperature).softmax(-1)) * temperature ** 2


def replay_batch_size(coreset_batch_size: int, num_prev: int, fix_coreset_size: bool) -> int:
    """Per-old-task replay batch: ``coreset_batch_size`` each, or split evenly with ``--fix_coreset_size``."""
    return max(1, coreset_batch_size // num_prev) if fix_coreset_size else coreset_batch_size


@dataclass
class ReplayBatch:
    """Extra inputs of one training iteration and the loss on the current model's logits for them."""

    #: ``[R, I]`` coreset inputs.
    inputs: Tensor
    #: ``logits [S, R, O] -> scalar``.
    loss: Callable[[Tensor], Tensor]
    #: TensorBoard name of the loss (``coreset_reg`` or ``er_reg``).
    name: str


def coreset_regularizer_batch(coresets: Coresets, task_id: int, heads: Heads, batch_size: int,
                              past_and_future: bool = False) -> ReplayBatch:
    """Coreset regulariser of task ``task_id`` > 0: ``batch_size`` samples of old tasks' coresets (all other tasks
    with ``--past_and_future_coresets``) pushed to maximum entropy on the current task's allowed outputs."""
    others = [j for j in range(coresets.num_tasks) if j != task_id] if past_and_future else list(range(task_id))
    x, _, _ = coresets.sample(others, batch_size)
    return ReplayBatch(x, lambda out: max_entropy_loss(heads.logits(out, task_id, task_id + 1)), "coreset_reg")


def experience_replay_batch(coresets: Coresets, task_id: int, heads: Heads, teacher: Callable[[Tensor], Tensor],
                            coreset_batch_size: int, fix_coreset_size: bool) -> ReplayBatch:
    """Experience replay while training task ``task_id`` > 0: a batch of every old task j's coreset, distilled
    from the start-of-task ``teacher`` (``x -> logits [R, O]``) on j's allowed outputs while training task t (for
    a growing softmax: every head up to t's, as the original's ``num_trained`` is already t + 1). Summed over j
    and divided by the number of old tasks (not divided with ``--fix_coreset_size``, which splits
    ``coreset_batch_size`` over the old tasks instead)."""
    prev = list(range(task_id))
    bs = replay_batch_size(coreset_batch_size, task_id, fix_coreset_size)
    x, _ = coresets.sample_each(prev, bs)
    with torch.no_grad():
        target = teacher(x)  # [R, O]
    norm = 1 if fix_coreset_size else task_id

    def loss(out: Tensor) -> Tensor:
        total = out.new_zeros(())
        for n, j in enumerate(prev):
            a, b = heads.allowed(j, num_trained=task_id + 1)
            rows = slice(n * bs, (n + 1) * bs)
            student = out[:, rows, a:b]
            total = total + distillation(student, target[rows, a:b].expand_as(student))
        return total / norm

    return ReplayBatch(x, loss, "er_reg")


def final_batch_owner_mix(batch_size: int, balance: float) -> int:
    """Samples of the current task in a final fine-tuning batch with ``--final_coresets_balance=balance``."""
    return math.ceil(balance * batch_size)
