"""Helpers comparing our main networks with the hypnettorch 0.0.4 oracle (layout, init, forward, K samples)."""

from __future__ import annotations

import copy
import math
import warnings
from types import SimpleNamespace

import pytest
import torch


def meta_without_index(meta: list[dict]) -> list[dict]:
    """hypnettorch's ``param_shapes_meta`` minus the ``index`` key (internal storage positions)."""
    return [{k: v for k, v in m.items() if k != "index"} for m in meta]


def assert_same_layout(ours, theirs) -> None:
    """Same ``param_shapes`` (order and sizes) and the same per-tensor meta information."""
    assert ours.param_shapes == [list(s) for s in theirs.param_shapes]
    assert ours.num_params == theirs.num_params
    assert meta_without_index(ours.param_shapes_meta) == meta_without_index(theirs.param_shapes_meta)


def assert_same_init(ours, theirs) -> None:
    """Same initial weights (both built right after the same ``torch.manual_seed``)."""
    theirs_params = list(theirs.internal_params)
    assert len(ours.internal_params) == len(theirs_params)
    for a, b in zip(ours.internal_params, theirs_params):
        assert torch.equal(a, b)


def random_weights(shapes, K: int | None = None, seed: int = 0) -> list[torch.Tensor]:
    """Random weights for ``shapes`` (with a leading sample axis if ``K``): N(0, 1/fan_in) for matrices and
    filters, N(0, 0.5^2) for vectors, so activations stay of order one."""
    gen = torch.Generator().manual_seed(seed)
    lead = [] if K is None else [K]
    out = []
    for s in shapes:
        if len(s) > 1:
            out.append(torch.randn(*lead, *s, generator=gen) / math.prod(s[1:]) ** 0.5)
        else:
            out.append(0.5 * torch.randn(*lead, *s, generator=gen))
    return out


def assert_k_equivalent(net, x, K: int = 3, atol: float = 1e-5, **forward_kwargs) -> torch.Tensor:
    """``forward`` with K stacked weight sets equals K separate forwards; returns the batched output."""
    weights = random_weights(net.param_shapes, K=K, seed=1)
    batched = net(x, weights=weights, **forward_kwargs)
    loop = torch.stack([net(x, weights=[w[k] for w in weights], **forward_kwargs) for k in range(K)])
    assert batched.shape == loop.shape
    torch.testing.assert_close(batched, loop, atol=atol, rtol=1e-5)
    return batched


@pytest.fixture(scope="session")
def compat():
    """The comparison helpers of this file."""
    return SimpleNamespace(assert_same_layout=assert_same_layout, assert_same_init=assert_same_init,
                           random_weights=random_weights, assert_k_equivalent=assert_k_equivalent)


@pytest.fixture
def ht():
    """``hypnettorch.mnets`` (plus ``ResNetIN``); class-level architecture tables are restored afterwards
    (hypnettorch's LeNet/ZenkeNet mutate them when ``num_classes != 10``)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import hypnettorch.mnets as mnets
        from hypnettorch.mnets.resnet_imgnet import ResNetIN
    saved = (copy.deepcopy(mnets.LeNet._ARCHITECTURES), copy.deepcopy(mnets.ZenkeNet._architectures))
    names = {n: getattr(mnets, n) for n in dir(mnets) if not n.startswith("_")}
    yield SimpleNamespace(**{**names, "ResNetIN": ResNetIN})
    mnets.LeNet._ARCHITECTURES, mnets.ZenkeNet._architectures = saved


@pytest.fixture(autouse=True)
def _small_tensor_cpu_settings():
    """One thread and PyTorch's plain CPU convolutions for the tiny networks of these tests: oneDNN builds a
    primitive per new convolution shape (about a second each on 2 cores), and OpenMP barriers make tiny ops
    orders of magnitude slower when the cores are oversubscribed (``pytest -n 2`` on 2 cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # oneDNN's TF32 notice when toggling the backend
        flags = torch.backends.mkldnn.flags(enabled=False)
        flags.__enter__()
    yield
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        flags.__exit__(None, None, None)
    torch.set_num_threads(threads)
