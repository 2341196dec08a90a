"""utils.optim.eager: the same updates and state as torch.optim, without importing torch._dynamo."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from utils.optim import eager

OPTIMIZERS = [
    (torch.optim.Adam, {"lr": 0.01, "betas": (0.5, 0.999), "weight_decay": 0.1, "fused": True}),
    (torch.optim.Adam, {"lr": 0.01}),
    (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.01}),
    (torch.optim.RMSprop, {"lr": 0.01, "momentum": 0.5}),
    (torch.optim.Adadelta, {"lr": 1.0}),
    (torch.optim.Adagrad, {"lr": 0.1}),
]


def _train(cls, kwargs, steps=5):
    gen = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(7, 3, generator=gen)), torch.nn.Parameter(torch.randn(3, generator=gen))]
    opt = cls(params, **kwargs)
    for _ in range(steps):
        opt.zero_grad()
        ((params[0] @ params[1]) ** 2).sum().backward()
        opt.step()
    return params, opt


@pytest.mark.parametrize("cls,kwargs", OPTIMIZERS, ids=lambda v: getattr(v, "__name__", ""))
def test_same_updates_and_state_as_torch(cls, kwargs):
    ours, ours_opt = _train(eager(cls), kwargs)
    ref, ref_opt = _train(cls, kwargs)
    for a, b in zip(ours, ref):
        assert torch.equal(a, b)
    assert isinstance(ours_opt, cls) and isinstance(ours_opt, torch.optim.Optimizer)
    state, ref_state = ours_opt.state_dict(), ref_opt.state_dict()
    assert state["param_groups"] == ref_state["param_groups"]
    for i, s in state["state"].items():
        assert s.keys() == ref_state["state"][i].keys()
        assert all(torch.equal(torch.as_tensor(v), torch.as_tensor(ref_state["state"][i][k])) for k, v in s.items())
    ref_opt.load_state_dict(state)  # interchangeable checkpoints
    ours_opt.load_state_dict(ref_state)


def test_steps_without_gradient_tracking():
    params, opt = _train(eager(torch.optim.SGD), {"lr": 0.1}, steps=1)
    assert not params[0].grad_fn and params[0].is_leaf


def test_class_is_cached_and_named():
    assert eager(torch.optim.Adam) is eager(torch.optim.Adam)
    assert eager(torch.optim.Adam).__name__ == "EagerAdam"


def test_does_not_import_dynamo():
    """A whole optimizer life (build, step, zero_grad, LR schedulers, state dict) in a fresh interpreter."""
    code = textwrap.dedent("""
        import sys, warnings
        import torch
        from utils.optim import eager
        warnings.simplefilter("ignore")
        p = torch.nn.Parameter(torch.ones(3))
        opt = eager(torch.optim.Adam)([p], lr=0.1, fused=True)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 0.5)
        plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(opt)
        p.sum().backward(); opt.step(); sched.step(); plateau.step(1.0); opt.zero_grad()
        opt.load_state_dict(opt.state_dict())
        print("torch._dynamo" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
