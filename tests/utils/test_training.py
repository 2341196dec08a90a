"""The shared training toolkit: KL schedule at its interval boundaries, optimizers from the flags, clipping, NaN
guard."""

import argparse

import numpy as np
import pytest
import torch

from utils.training import NonFiniteLossError, check_finite, clip_gradients, kl_factor, make_optimizer, num_iterations


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


def _original_interval(it: int, num_iter: int, steps: int) -> int:
    """The original's rule: interval boundaries ``linspace(0, n, m + 1)`` cast to int; argmax of ``it < bounds``."""
    bounds = np.linspace(0, num_iter, steps + 1).astype(int)
    return int(np.argmax(it < bounds)) - 1


@pytest.mark.parametrize("num_iter, steps", [(5001, 10), (5001, 7), (10, 3), (3, 5), (2000, 10)])
def test_kl_factor_follows_the_original_boundaries_everywhere(num_iter, steps):
    values = np.linspace(0.1, 1.0, steps)
    for it in range(num_iter):
        assert kl_factor(it, num_iter, 0.1, steps) == pytest.approx(values[_original_interval(it, num_iter, steps)])


def test_kl_factor_boundaries_of_5001_iterations_in_10_intervals():
    # linspace(0, 5001, 11) = 0, 500.1, 1000.2, ... cast to int: the factor changes at 500, 1000, 1500, 2000, 2500
    changes = [it for it in range(1, 5001) if kl_factor(it, 5001, 0.0, 10) != kl_factor(it - 1, 5001, 0.0, 10)]
    assert changes == [500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 4500]


def _config(**kw) -> argparse.Namespace:
    base = dict(lr=0.1, weight_decay=0.0, momentum=0.9, adam_beta1=0.9, use_adam=False, use_rmsprop=False,
                use_adadelta=False, use_adagrad=False, clip_grad_value=-1, clip_grad_norm=-1, epochs=-1, n_iter=7,
                batch_size=32)
    return argparse.Namespace(**{**base, **kw})


@pytest.mark.parametrize("flag, cls, momentum", [
    ({}, torch.optim.SGD, 0.9), ({"use_adam": True}, torch.optim.Adam, None),
    ({"use_rmsprop": True}, torch.optim.RMSprop, 0.9), ({"use_adadelta": True}, torch.optim.Adadelta, None),
    ({"use_adagrad": True}, torch.optim.Adagrad, None), ({"momentum": -1}, torch.optim.SGD, 0),
], ids=["sgd", "adam", "rmsprop-keeps-momentum", "adadelta", "adagrad", "momentum-off"])
def test_optimizer_from_flags(flag, cls, momentum):
    opt = make_optimizer(_config(**flag), [torch.nn.Parameter(torch.ones(2))])
    assert type(opt).__mro__[1] is cls  # utils.optim.eager(cls)
    if momentum is not None:
        assert opt.defaults["momentum"] == momentum


def test_clipping_iterations_and_nan_guard():
    p = torch.nn.Parameter(torch.zeros(4))
    p.grad = torch.full((4,), 3.0)
    clip_gradients(_config(clip_grad_norm=1.0), [p])
    assert p.grad.norm().item() == pytest.approx(1.0)
    p.grad = torch.full((4,), 3.0)
    clip_gradients(_config(clip_grad_value=0.5), [p])
    assert p.grad.tolist() == [0.5] * 4
    assert num_iterations(_config(), 1000) == 7 and num_iterations(_config(epochs=2), 1000) == 2 * 32
    with pytest.raises(NonFiniteLossError, match=r"task 2 at iteration 5 \(kl=nan\)"):
        check_finite(torch.tensor(float("inf")), 1, 5, {"kl": torch.tensor(float("nan"))})
