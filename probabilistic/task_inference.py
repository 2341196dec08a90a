"""Uncertainty-based task inference for classification (spec §2.13), vectorised over models × test samples.

Shapes: J models (one per task, or the same model under J task conditions), V weight samples, N test samples
(all test sets concatenated), W softmax width (models with narrower softmaxes are zero-padded to the widest,
their real width is given in ``widths [J]``).

For model j and sample n, with the predictive p̄ = mean over the V softmaxes:

* entropy  H = −Σ_c p̄_c log max(p̄_c, 1e−5) / log C   (C = classes of one task, also for wider softmaxes)
* confidence = max_c p̄_c
* agreement = mean over the W_j classes of the (biased) std over the V softmaxes (lower = more agreement)

The inferred task of sample n is argmin_j entropy ("ent"), argmax_j confidence ("conf") or argmin_j agreement
("agree"); the prediction is the argmax of the inferred model's p̄.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

CRITERIA = ("ent", "conf", "agree")


@dataclass
class Uncertainty:
    """Per-model, per-sample uncertainty ``[J, N]`` and the predictive ``[J, N, W]``."""

    predictive: Tensor
    entropy: Tensor
    confidence: Tensor
    agreement: Tensor

    def score(self, criterion: str) -> Tensor:
        """Scores ``[J, N]`` where *lower* means "more likely the right model"."""
        if criterion == "ent":
            return self.entropy
        if criterion == "conf":
            return -self.confidence
        if criterion == "agree":
            return self.agreement
        raise ValueError(f"unknown task-inference criterion {criterion!r}; valid: {CRITERIA}")


def uncertainty(probs: Tensor, num_classes: int, widths: Tensor | None = None,
                entropy_norm: Tensor | None = None) -> Uncertainty:
    """Entropy, confidence and agreement of V-sample softmaxes.

    Args:
        probs: Softmax outputs ``[J, V, N, W]`` (zero beyond each model's width).
        num_classes: C, the entropy normaliser is log C (the original's choice, spec §6.2 quirk 10).
        widths: ``[J]`` real softmax width per model (default W for all), used by the agreement mean.
        entropy_norm: Optional ``[J]`` normaliser replacing log C (``--fix_entropy_normalization``: log W_j).
    """
    J, V, N, W = probs.shape
    widths = torch.full((J,), W, device=probs.device) if widths is None else widths.to(probs.device)
    predictive = probs.mean(dim=1)  # average the predictive over samples: [J, N, W]
    norm = torch.full((J,), math.log(num_classes), device=probs.device) if entropy_norm is None else entropy_norm
    entropy = -(predictive * predictive.clamp_min(1e-5).log()).sum(-1) / norm.to(probs.device)[:, None]  # [J, N]
    confidence = predictive.max(dim=-1).values  # [J, N]
    agreement = probs.std(dim=1, unbiased=False).sum(-1) / widths[:, None]  # [J, N]
    return Uncertainty(predictive, entropy, confidence, agreement)


def infer_tasks(unc: Uncertainty, criterion: str) -> Tensor:
    """Inferred model index ``[N]`` per sample."""
    return unc.score(criterion).argmin(dim=0)


@dataclass
class TaskInferenceResult:
    """Accuracies (%) per test task i, for the task-given and the inferred-task settings."""

    acc_task_given: list[float]
    acc_task_inferred: dict[str, list[float]]  # criterion -> [num test tasks]
    task_inference_acc: dict[str, list[float]]


def score_task_inference(unc: Uncertainty, class_offsets: Tensor, labels: Tensor, sample_task: Tensor,
                         model_of_task: list[int], test_tasks: list[int]) -> TaskInferenceResult:
    """Accuracies with the task given and with inferred tasks.

    Args:
        unc: Uncertainty of all J models on all N samples.
        class_offsets: ``[J]`` global class id of unit 0 of each model's softmax.
        labels: ``[N]`` global class ids of the samples.
        sample_task: ``[N]`` index into ``test_tasks`` of each sample's task.
        model_of_task: For each test task, the index j of its own model (task given).
        test_tasks: Task ids of the test sets (for ``sample_task``); model j has task id j.
    """
    pred = unc.predictive.argmax(dim=-1) + class_offsets.to(labels.device)[:, None]  # global class: [J, N]
    correct = pred == labels[None]  # [J, N]
    n_idx = torch.arange(labels.shape[0], device=labels.device)
    own = torch.as_tensor(model_of_task, device=labels.device)[sample_task]  # [N]

    def per_task(values: Tensor) -> list[float]:
        return [values[sample_task == k].float().mean().item() * 100 for k in range(len(test_tasks))]

    given = per_task(correct[own, n_idx])
    inferred, inference = {}, {}
    true_task = torch.as_tensor(test_tasks, device=labels.device)[sample_task]  # [N]
    for criterion in CRITERIA:
        j = infer_tasks(unc, criterion)  # [N]
        inferred[criterion] = per_task(correct[j, n_idx])
        inference[criterion] = per_task(j == true_task)
    return TaskInferenceResult(given, inferred, inference)
