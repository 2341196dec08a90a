"""Regression evaluation: in-domain MSE per task and task inference by predictive uncertainty (spec §2.13).

For every task i and every model j (a task's posterior), V weight samples predict i's validation set (50
in-range points). MSE(i) uses model j = i. Task inference picks, per input, the model with the lowest std over
its V predictions; the inferred MSE uses all V predictions of that model. Sampling is deterministic: a fresh
generator seeded 2147483647 per call, so every evaluation uses the same noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from data.special.regression1d import RegressionTask
from probabilistic.posterior import WeightPosterior

EVAL_SEED = 2147483647


@dataclass
class RegressionEval:
    """Results of evaluating n tasks with n models."""

    mse: list[float]  # MSE(i) of model i on task i
    inferred_mse: list[float]  # MSE with the per-input inferred model
    task_inference: list[float]  # % of inputs of task i assigned to model i
    predictions: Tensor  # [n models, V, n tasks, points] on the validation sets


def eval_generator(device: torch.device) -> torch.Generator:
    """The fixed-seed generator of the original ``test()``."""
    return torch.Generator(device=device).manual_seed(EVAL_SEED)


@torch.no_grad()
def predict_tasks(models: list[tuple[WeightPosterior, int]], x: Tensor, num_samples: int, lrt: bool,
                  head_of_model: list[int] | None = None) -> Tensor:
    """Predictions ``[n models, V, B]`` of each (posterior, task id) pair on inputs ``x [B, 1]``.

    Models sharing one posterior object (one hypernetwork) are evaluated in a single batched call.
    """
    gen = eval_generator(x.device)
    preds: list[Tensor | None] = [None] * len(models)
    groups: dict[int, list[int]] = {}
    for m, (posterior, _) in enumerate(models):
        groups.setdefault(id(posterior), []).append(m)
    for members in groups.values():
        posterior = models[members[0]][0]
        raw = posterior.raw([models[m][1] for m in members])
        out = posterior.predict(x, raw, num_samples, gen, lrt=lrt)  # [N, V, B, O]
        for n, m in enumerate(members):
            head = 0 if head_of_model is None else head_of_model[m]
            preds[m] = out[n, :, :, head]  # [V, B]
    return torch.stack(preds)  # [n models, V, B]


def evaluate_regression(models: list[tuple[WeightPosterior, int]], tasks: list[RegressionTask], num_samples: int,
                        lrt: bool, multi_head: bool = False) -> RegressionEval:
    """Evaluate ``len(models)`` models on the first ``len(models)`` tasks' validation sets."""
    n = len(models)
    x = torch.cat([t.val_x for t in tasks[:n]])  # [n * points, 1]
    y = torch.stack([t.val_y[:, 0] for t in tasks[:n]])  # [n tasks, points]
    heads = list(range(n)) if multi_head else None
    pred = predict_tasks(models, x, num_samples, lrt, heads).reshape(n, num_samples, n, -1)  # [j, V, i, x]
    sq_err = (pred - y.unsqueeze(0).unsqueeze(0)) ** 2  # [j, V, i, x]
    idx = torch.arange(n)
    mse = sq_err[idx, :, idx].mean(dim=(1, 2))  # model i on task i: [n]

    std = pred.std(dim=1, unbiased=False)  # [j, i, x]
    inferred = std.argmin(dim=0)  # [i, x]
    task_inference = (inferred == idx.unsqueeze(1).to(inferred.device)).float().mean(dim=1) * 100  # [i]
    inferred_err = torch.gather(sq_err.permute(2, 3, 0, 1), 2,  # [i, x, j, V] -> pick j = inferred
                                inferred[:, :, None, None].expand(-1, -1, 1, num_samples))
    inferred_mse = inferred_err.mean(dim=(1, 2, 3))  # [i]
    return RegressionEval(mse.tolist(), inferred_mse.tolist(), task_inference.tolist(), pred)
