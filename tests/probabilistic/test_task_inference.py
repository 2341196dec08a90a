"""Entropy / confidence / agreement on hand-made softmaxes and the accuracies of task inference (spec §2.13)."""

import math

import pytest
import torch

from probabilistic.task_inference import infer_tasks, score_task_inference, uncertainty


def test_closed_form_entropy_confidence_agreement():
    # J = 2 models, V = 2 samples, N = 1 sample, C = 2 classes
    probs = torch.tensor([[[[0.5, 0.5]], [[0.5, 0.5]]],     # model 0: uniform, samples agree
                          [[[0.9, 0.1]], [[0.7, 0.3]]]])    # model 1: p̄ = (0.8, 0.2), samples disagree by 0.1
    unc = uncertainty(probs, num_classes=2)
    assert unc.entropy[0, 0].item() == pytest.approx(1.0)
    h = -(0.8 * math.log(0.8) + 0.2 * math.log(0.2)) / math.log(2)
    assert unc.entropy[1, 0].item() == pytest.approx(h, rel=1e-6)
    assert unc.confidence[:, 0].tolist() == pytest.approx([0.5, 0.8])
    assert unc.agreement[:, 0].tolist() == pytest.approx([0.0, 0.1])  # biased std 0.1 for both classes
    assert infer_tasks(unc, "ent").item() == 1 and infer_tasks(unc, "conf").item() == 1
    assert infer_tasks(unc, "agree").item() == 0


def test_entropy_clamp_and_padding_and_normaliser():
    probs = torch.tensor([[[[1.0, 0.0, 0.0, 0.0]]], [[[0.25, 0.25, 0.25, 0.25]]]])  # J=2, V=1, N=1, W=4
    unc = uncertainty(probs, num_classes=2, widths=torch.tensor([2, 4]))
    assert unc.entropy[0, 0].item() == pytest.approx(0.0)  # log max(p, 1e-5): zero probabilities add nothing
    assert unc.entropy[1, 0].item() == pytest.approx(2.0)  # log 4 / log 2 (the original's normaliser)
    fixed = uncertainty(probs, 2, torch.tensor([2, 4]), entropy_norm=torch.tensor([2.0, 4.0]).log())
    assert fixed.entropy[1, 0].item() == pytest.approx(1.0)


def test_task_inference_accuracies():
    # 2 models, 4 test samples: two of task 0, two of task 1; C = 2, multi-head global labels (task 1 -> +2)
    p0 = torch.tensor([[0.99, 0.01], [0.01, 0.99], [0.6, 0.4], [0.5, 0.5]])  # model 0 sure on its task
    p1 = torch.tensor([[0.5, 0.5], [0.7, 0.3], [0.02, 0.98], [0.97, 0.03]])  # model 1 sure on its task
    probs = torch.stack([p0, p1]).unsqueeze(1)  # [J=2, V=1, N=4, C=2]
    unc = uncertainty(probs, 2)
    labels = torch.tensor([0, 1, 3, 2])  # global class ids
    sample_task = torch.tensor([0, 0, 1, 1])
    res = score_task_inference(unc, torch.tensor([0, 2]), labels, sample_task, [0, 1], [0, 1])
    assert res.acc_task_given == [100.0, 100.0]
    assert res.task_inference_acc["ent"] == [100.0, 100.0]
    assert res.acc_task_inferred["ent"] == [100.0, 100.0]
    # a wrong model picked for sample 1 (agreement: V = 1 gives 0 everywhere -> argmin = model 0 for all)
    assert res.task_inference_acc["agree"] == [100.0, 0.0]
    assert res.acc_task_inferred["agree"] == [100.0, 0.0]
