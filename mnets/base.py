"""The contract every main network fulfils (the hypnettorch discipline, kept small).

Dimension letters used throughout ``mnets/`` and ``hnets/``: K weight samples (or conditions), B batch, I/O layer
input/output sizes, P number of parameters.

A main network

* lists its parameters in :attr:`MainNet.param_shapes` (hypnettorch 0.0.4 order) with one meta dict per tensor in
  :attr:`MainNet.param_shapes_meta` (``name`` in ``weight/bias/bn_scale/bn_shift/...``, ``layer`` index);
* owns them in :attr:`MainNet.internal_params` unless built with ``no_weights=True`` (then a hypernetwork or a
  posterior supplies them);
* runs ``forward(x, weights=None, condition=None)``. ``weights`` is a list in ``param_shapes`` order, either one
  weight set (``shape``) or K sets with a leading sample axis (``[K, *shape]``); the output is ``[B, ...]`` or
  ``[K, B, ...]`` accordingly. ``x`` is ``[B, ...]`` (shared by all K samples) or ``[K, B, ...]``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn


class MainNet(nn.Module):
    """Base class: holds the parameter bookkeeping shared by all main networks."""

    def __init__(self) -> None:
        super().__init__()
        self.param_shapes: list[list[int]] = []
        self.param_shapes_meta: list[dict] = []
        self.internal_params: nn.ParameterList | None = None

    @property
    def num_params(self) -> int:
        """Total number of parameters P described by :attr:`param_shapes`."""
        return sum(math.prod(s) for s in self.param_shapes)

    def _check_setup(self) -> None:
        """Invariants checked at the end of every constructor."""
        assert len(self.param_shapes) == len(self.param_shapes_meta)
        if self.internal_params is not None:
            assert [list(p.shape) for p in self.internal_params] == self.param_shapes

    def resolve_weights(self, weights: Sequence[Tensor] | None) -> tuple[list[Tensor], int | None]:
        """Return the weight list to use and K (None if the weights carry no sample axis)."""
        if weights is None:
            if self.internal_params is None:
                raise ValueError(f"{type(self).__name__} was built with no_weights=True; pass `weights`")
            weights = list(self.internal_params)
        if len(weights) != len(self.param_shapes):
            raise ValueError(f"expected {len(self.param_shapes)} weight tensors, got {len(weights)}")
        extra_dims = weights[0].dim() - len(self.param_shapes[0])
        if extra_dims not in (0, 1):
            raise ValueError(f"weights[0] has shape {list(weights[0].shape)}, expected "
                             f"{self.param_shapes[0]} or [K, *{self.param_shapes[0]}]")
        return list(weights), (weights[0].shape[0] if extra_dims == 1 else None)


def flatten_weights(weights: Sequence[Tensor], sample_axis: bool = False) -> Tensor:
    """Concatenate a weight list into ``[P]`` (or ``[K, P]`` if ``sample_axis``)."""
    if sample_axis:
        return torch.cat([w.reshape(w.shape[0], -1) for w in weights], dim=1)
    return torch.cat([w.reshape(-1) for w in weights])


def unflatten_weights(flat: Tensor, shapes: Sequence[Sequence[int]]) -> list[Tensor]:
    """Split ``[..., P]`` into tensors ``[..., *shape]`` in ``shapes`` order (leading dims preserved)."""
    lead = flat.shape[:-1]
    sizes = [math.prod(s) for s in shapes]
    if sum(sizes) != flat.shape[-1]:
        raise ValueError(f"flat weights have {flat.shape[-1]} entries, shapes need {sum(sizes)}")
    return [chunk.reshape(*lead, *s) for chunk, s in zip(flat.split(sizes, dim=-1), shapes)]


def init_linear_(weight: Tensor, bias: Tensor | None) -> None:
    """PyTorch's default ``nn.Linear`` init (kaiming-uniform a=sqrt(5), bias U(+-1/sqrt(fan_in))), in place."""
    nn.init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1.0 / math.sqrt(weight.shape[1] * math.prod(weight.shape[2:]))
        nn.init.uniform_(bias, -bound, bound)


ACTIVATIONS = {
    "linear": None,
    "sigmoid": torch.sigmoid,
    "relu": torch.relu,
    "elu": nn.functional.elu,
    "tanh": torch.tanh,
}


def activation(name: str):
    """The activation function called ``name`` (None for ``linear``)."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")
    return ACTIVATIONS[name]
