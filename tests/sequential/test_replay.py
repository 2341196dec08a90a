"""Distillation: zero when student = teacher, positive otherwise; replay batch split over previous tasks."""

import numpy as np
import pytest
import torch

from sequential.replay import bernoulli_distillation, sample_coreset, softmax_distillation, split_replay_batch


def test_softmax_distillation_zero_iff_equal():
    torch.manual_seed(0)
    z = torch.randn(6, 3)
    assert float(softmax_distillation(z, z)) == pytest.approx(0.0, abs=1e-7)
    assert float(softmax_distillation(z + torch.randn(6, 3), z)) > 1e-3


def test_softmax_distillation_value():
    # T^2 KL(p_t || p_s) with T = 2 for one sample with two classes
    s, t = torch.tensor([[0.0, 0.0]]), torch.tensor([[2.0, 0.0]])
    p = torch.softmax(t / 2, -1)[0]
    expected = 4 * float((p * (p.log() - np.log(0.5))).sum())
    assert float(softmax_distillation(s, t)) == pytest.approx(expected, rel=1e-6)


def test_bernoulli_distillation_zero_iff_equal_and_only_in_window():
    torch.manual_seed(0)
    z = torch.randn(5, 4, 7)
    window = torch.zeros(5, 4, dtype=torch.bool)
    window[2:] = True
    assert float(bernoulli_distillation(z, z, window)) == pytest.approx(0.0, abs=1e-6)
    changed = z.clone()
    changed[:2] += 5.0  # outside the window: no effect
    assert float(bernoulli_distillation(changed, z, window)) == pytest.approx(0.0, abs=1e-6)
    changed[2:] += 1.0
    assert float(bernoulli_distillation(changed, z, window)) > 1e-3


def test_replay_batch_split_and_coreset():
    counts = split_replay_batch(64, 3, np.random.RandomState(0))
    assert sum(counts) == 64 and sorted(counts) == [21, 21, 22]
    idx = sample_coreset(10, 50, np.random.RandomState(0))
    assert len(set(idx.tolist())) == 10 and int(idx.max()) < 50
