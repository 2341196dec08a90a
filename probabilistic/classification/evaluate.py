"""The test phase of the classification runners (spec §2.13 ``test()``): every model on every test set.

After training task n−1 (n tasks seen), model j (j < n, the posterior of task j) is evaluated **once** on the
concatenation of the test sets, with V = ``val_sample_size`` weight samples and deterministic sampling (a fresh
generator seeded 2147483647 for each chunk of ``val_batch_size`` inputs, so all chunks and test sets see the same
weight samples). Task-given accuracy, task inference by entropy / confidence / agreement and the accuracies with
the inferred task follow from :mod:`probabilistic.task_inference`. Results go into the summary dict with the
original keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from data.dataset import Dataset
from probabilistic.heads import Heads
from probabilistic.task_inference import TaskInferenceResult, Uncertainty, score_task_inference, uncertainty

EVAL_SEED = 2147483647

#: ``predict(model, x [B, I], task_ids, V, generator) -> logits [len(task_ids), V, B, O]``.
PredictFn = Callable[[object, Tensor, list[int], int, torch.Generator], Tensor]


class DuringAccuracyCriterionError(RuntimeError):
    """``--during_acc_criterion``: a task's accuracy right after training fell below the threshold (exit 1)."""


@dataclass
class TestResult:
    """Outcome of one test phase."""

    n: int  # tasks seen
    test_tasks: list[int]
    scores: TaskInferenceResult
    unc: Uncertainty
    sample_task: Tensor  # [N] index into test_tasks


def model_groups(models: Sequence[object]) -> dict[int, list[int]]:
    """Indices of the models sharing one object (one hypernetwork serves all tasks: one batched call)."""
    groups: dict[int, list[int]] = {}
    for j, m in enumerate(models):
        groups.setdefault(id(m), []).append(j)
    return groups


@torch.no_grad()
def predict_softmax(models: Sequence[object], predict: PredictFn, x: Tensor, heads: Heads, num_trained: int,
                    num_samples: int, val_batch_size: int, temperature: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """Softmaxes of models j = 0..J−1 (model j = task j's posterior) on its allowed outputs.

    Returns:
        ``probs [J, V, N, W]`` (zero-padded to the widest softmax), ``widths [J]`` and the global class id of unit
        0 of each model's softmax ``class_offsets [J]``.
    """
    J = len(models)
    spans = [heads.allowed(j, num_trained) for j in range(J)]
    W = max(stop - start for start, stop in spans)
    chunks = []
    for start in range(0, x.shape[0], val_batch_size):
        xb = x[start:start + val_batch_size]
        logits: list[Tensor | None] = [None] * J
        for members in model_groups(models).values():
            gen = torch.Generator(device=x.device).manual_seed(EVAL_SEED)
            out = predict(models[members[0]], xb, members, num_samples, gen)  # [len(members), V, B, O]
            for n, j in enumerate(members):
                logits[j] = out[n]
        probs = []
        for j, (a, b) in enumerate(spans):
            p = (logits[j][..., a:b] / temperature).softmax(-1)  # [V, B, W_j]
            probs.append(torch.nn.functional.pad(p, (0, W - (b - a))))
        chunks.append(torch.stack(probs))  # [J, V, B, W]
    widths = torch.tensor([b - a for a, b in spans])
    offsets = torch.tensor([heads.label_offset(j) - heads.target_offset(j) for j in range(J)])
    return torch.cat(chunks, dim=2), widths, offsets


def test_inputs(tasks: Sequence[Dataset], test_tasks: list[int], heads: Heads) -> tuple[Tensor, Tensor, Tensor]:
    """Concatenated test inputs ``[N, I]``, global labels ``[N]`` and per-sample test-task index ``[N]``."""
    xs, labels, which = [], [], []
    for k, i in enumerate(test_tasks):
        x = tasks[i].inputs("test")
        xs.append(x)
        labels.append(tasks[i].targets("test", one_hot=False) + heads.label_offset(i))
        which.append(torch.full((x.shape[0],), k, dtype=torch.long, device=x.device))
    return torch.cat(xs), torch.cat(labels), torch.cat(which)


def test_models(models: Sequence[object], predict: PredictFn, tasks: Sequence[Dataset], heads: Heads,
                test_tasks: list[int], num_samples: int, val_batch_size: int,
                fix_entropy_normalization: bool = False) -> TestResult:
    """Evaluate ``len(models)`` models (model j = task j) on the test sets of ``test_tasks``."""
    n = len(models)
    x, labels, sample_task = test_inputs(tasks, test_tasks, heads)
    probs, widths, offsets = predict_softmax(models, predict, x, heads, n, num_samples, val_batch_size)
    norm = widths.double().log().float() if fix_entropy_normalization else None
    unc = uncertainty(probs, heads.num_classes, widths, norm)
    scores = score_task_inference(unc, offsets, labels, sample_task, test_tasks, test_tasks)
    return TestResult(n, test_tasks, scores, unc, sample_task)


@torch.no_grad()
def validate(env, logits: Callable[[Tensor], Tensor], task: Dataset, task_id: int, heads: Heads, it: int,
             log: bool = True) -> float:
    """Accuracy (returned, %) and mean normalised entropy of the current task on its validation split (test split
    if there is none), logged as ``eval/task_<t>/...`` unless ``log`` is off.

    Args:
        logits: ``x [B, I] -> [V, B, O]`` with random weight samples of the current task's posterior.
    """
    split = "val" if task.num_val > 0 else "test"
    x, y = task.inputs(split), task.targets(split, one_hot=False)
    p = heads.logits(logits(x), task_id, task_id + 1).softmax(-1).mean(0)  # predictive: [B, W]
    acc = (p.argmax(-1) == heads.targets(y, task_id)).float().mean().item() * 100
    if not log:
        return acc
    ent = (-(p * p.clamp_min(1e-5).log()).sum(-1) / np.log(heads.num_classes)).mean().item()
    env.writer.add_scalar(f"eval/task_{task_id}/accuracy", acc, it)
    env.writer.add_scalar(f"eval/task_{task_id}/mean_entropy", ent, it)
    env.logger.debug(f"Task {task_id + 1}, iteration {it}: {split} accuracy {acc:.2f} %, mean entropy {ent:.3f}")
    return acc


def tests_all_tasks(task_id: int, num_tasks: int, full_test_interval: int) -> bool:
    """``--full_test_interval``: test all tasks every k tasks and after the last; else only the current one."""
    return full_test_interval == -1 or task_id == num_tasks - 1 or (task_id + 1) % full_test_interval == 0


def update_summary(summary: dict, res: TestResult, scenario: int, num_tasks: int) -> dict:
    """Write one test phase into the summary (lists per task, averages; −1 if not all seen tasks were tested)."""
    n, s = res.n, res.scores
    current = n - 1
    k_cur = res.test_tasks.index(current)
    summary["acc_task_given_during"][current] = s.acc_task_given[k_cur]
    summary["acc_task_inferred_ent_during"][current] = s.acc_task_inferred["ent"][k_cur]
    for k, i in enumerate(res.test_tasks):
        summary["acc_task_given"][i] = s.acc_task_given[k]
        summary["acc_task_inferred_ent"][i] = s.acc_task_inferred["ent"][k]
    summary["acc_avg_task_given_during"] = float(np.mean(summary["acc_task_given_during"][:n]))
    summary["acc_avg_task_inferred_ent_during"] = float(np.mean(summary["acc_task_inferred_ent_during"][:n]))
    summary["acc_avg_during"] = summary["acc_avg_task_given_during" if scenario == 1
                                        else "acc_avg_task_inferred_ent_during"]
    full = len(res.test_tasks) == n
    averages = {
        "acc_avg_task_given": s.acc_task_given, "acc_avg_task_inferred_ent": s.acc_task_inferred["ent"],
        "avg_task_inference_acc_ent": s.task_inference_acc["ent"],
        "acc_avg_task_inferred_conf": s.acc_task_inferred["conf"],
        "avg_task_inference_acc_conf": s.task_inference_acc["conf"],
        "acc_avg_task_inferred_agree": s.acc_task_inferred["agree"],
        "avg_task_inference_acc_agree": s.task_inference_acc["agree"],
    }
    for key, values in averages.items():
        summary[key] = float(np.mean(values)) if full else -1
    summary["acc_avg_final"] = summary["acc_avg_task_given" if scenario == 1 else "acc_avg_task_inferred_ent"]
    return summary


def log_test(env, res: TestResult) -> None:
    """TensorBoard ``test/...`` scalars and one log line."""
    s, n, w = res.scores, res.n, env.writer
    ent = res.unc.entropy  # [J, N]
    in_ents, out_ents = [], []
    for k, i in enumerate(res.test_tasks):
        mask = res.sample_task == k
        own = ent[i, mask]
        others = torch.cat([ent[:i, mask], ent[i + 1:, mask]]).flatten()
        in_ents.append(own.mean().item())
        w.add_scalar(f"test/task_{i}/acc_task_given", s.acc_task_given[k], n)
        for crit in ("ent", "conf", "agree"):
            w.add_scalar(f"test/task_{i}/acc_task_inferred_{crit}", s.acc_task_inferred[crit][k], n)
            w.add_scalar(f"test/task_{i}/task_inference_acc_{crit}", s.task_inference_acc[crit][k], n)
        w.add_scalar(f"test/task_{i}/in_ents", in_ents[-1], n)
        if others.numel():
            out_ents.append(others.mean().item())
            w.add_scalar(f"test/task_{i}/out_ents", out_ents[-1], n)
    w.add_scalar("test/in_ents", float(np.mean(in_ents)), n)
    if out_ents:
        w.add_scalar("test/out_ents", float(np.mean(out_ents)), n)
    env.logger.info(
        f"After {n} task(s): task given {np.round(s.acc_task_given, 2).tolist()} %, entropy-inferred "
        f"{np.round(s.acc_task_inferred['ent'], 2).tolist()} %, task inference (ent) "
        f"{np.round(s.task_inference_acc['ent'], 2).tolist()} %")


def parse_during_criterion(value: str, num_tasks: int) -> list[float]:
    """``--during_acc_criterion`` (percent): one value for all tasks, or a comma-separated list per task."""
    values = [float(v) for v in str(value).strip().strip('"').split(",") if v.strip()]
    if len(values) == 1:
        values = values * num_tasks
    return (values + [-1.0] * num_tasks)[:num_tasks]


def check_during_criterion(criterion: str, summary: dict, task_id: int, num_tasks: int) -> None:
    """Raise :class:`DuringAccuracyCriterionError` if task ``task_id`` (not the last) is below its threshold."""
    if task_id == num_tasks - 1:
        return
    threshold = parse_during_criterion(criterion, num_tasks)[task_id]
    acc = summary["acc_task_given_during"][task_id]
    if threshold != -1 and acc < threshold:
        raise DuringAccuracyCriterionError(
            f"during accuracy of task {task_id + 1} is {acc:.2f} %, below --during_acc_criterion {threshold} %")

