"""KL warm-up / annealing schedule (spec §2.3)."""

import pytest

from probabilistic.classification.kl_schedule import kl_factor


@pytest.mark.parametrize("kl_scale, kl_schedule, expected", [
    (0.5, 0, [0.5, 0.5, 0.5, 0.5]),       # off
    (1.0, 4, [1.0, 1.0, 1.0, 1.0]),       # no effect with kl_scale = 1
    (0.0, 2, [0.0, 0.0, 1.0, 1.0]),       # warm-up in 2 intervals: linspace(0, 1, 2)
    (0.1, 4, [0.1, 0.4, 0.7, 1.0]),       # 4 intervals
    (0.1, -4, [1.0, 0.7, 0.4, 0.1]),      # annealing (reversed)
], ids=["off", "scale-1", "warmup-2", "warmup-4", "anneal-4"])
def test_kl_factor_at_interval_starts(kl_scale, kl_schedule, expected):
    n_iter = 100
    starts = [0, 25, 50, 75] if abs(kl_schedule) != 2 else [0, 49, 50, 99]
    assert [kl_factor(i, n_iter, kl_scale, kl_schedule) for i in starts] == pytest.approx(expected)


def test_kl_factor_is_piecewise_constant_and_ends_at_one():
    values = [kl_factor(i, 10, 0.0, 5) for i in range(10)]
    assert values == pytest.approx([0, 0, 0.25, 0.25, 0.5, 0.5, 0.75, 0.75, 1, 1])
