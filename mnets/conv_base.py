"""Bookkeeping shared by the image classifiers (LeNet, ZenkeNet, ResNet, WRN, ResNetIN).

Inputs are flattened images in HWC order (``[B, H*W*C]``, as the data handlers deliver them), or already
``[B, C, H, W]`` with ``chw_input_format``; with a sample axis ``[K, B, ...]``. Parameters are registered in
hypnettorch 0.0.4 order and initialised in that order, so the same seed gives the same weights.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mnets.base import MainNet, init_linear_
from mnets.batchnorm import BatchNormLayer


def init_layer_params_(params: Sequence[Tensor], meta: Sequence[dict]) -> None:
    """hypnettorch's construction-time init, in parameter order.

    Each ``weight`` gets PyTorch's layer default (together with the ``bias`` right after it, if any),
    batch-norm scales 1 and shifts 0.
    """
    with torch.no_grad():
        for i, (p, m) in enumerate(zip(params, meta)):
            if m["name"] == "weight":
                has_bias = i + 1 < len(meta) and meta[i + 1]["name"] == "bias"
                init_linear_(p, params[i + 1] if has_bias else None)
            elif m["name"] == "bn_scale":
                p.fill_(1.0)
            elif m["name"] == "bn_shift":
                p.zero_()


class ConvNet(MainNet):
    """Base of the image classifiers: parameter registration, image reshaping, per-task batch-norm stats.

    Subclasses record where their tensors sit in :attr:`param_shapes`: ``layer_param_ids`` (a
    ``(weight, bias-or-None)`` pair per convolution / linear layer, in forward order) and ``bn_param_ids``
    (a ``(scale, shift)`` pair per batch-norm layer); the structured hypernetwork chunkings read them.

    Args:
        in_shape: Image shape ``(H, W, C)``.
        num_classes: Number of output units.
        chw_input_format: Inputs are ``[B, C, H, W]`` instead of flattened HWC images.
    """

    def __init__(self, in_shape: Sequence[int], num_classes: int, chw_input_format: bool = False) -> None:
        super().__init__()
        self.in_shape = list(in_shape)
        self.num_classes = num_classes
        self.chw_input_format = chw_input_format
        self.batchnorm_layers: nn.ModuleList | None = None

    def _add_param(self, shape: Sequence[int], name: str, layer: int = -1) -> int:
        """Register a tensor; returns its index in :attr:`param_shapes`."""
        self.param_shapes.append(list(shape))
        self.param_shapes_meta.append({"name": name, "layer": layer})
        return len(self.param_shapes) - 1

    def _add_layer(self, weight_shape: Sequence[int], bias: bool, layer: int = -1) -> tuple[int, int | None]:
        """Register a layer's weight (and bias); returns their indices in :attr:`param_shapes`."""
        w = self._add_param(weight_shape, "weight", layer)
        return w, (self._add_param([weight_shape[0]], "bias", layer) if bias else None)

    def _add_batchnorm_layers(self, sizes: Sequence[int], layers: Sequence[int] | None,
                              track_stats: bool) -> list[tuple[int, int]]:
        """One :class:`BatchNormLayer` per size, with its ``bn_scale``/``bn_shift`` pair of parameters.

        Returns the ``(scale, shift)`` indices in :attr:`param_shapes`, one pair per layer.
        """
        if self.batchnorm_layers is None:
            self.batchnorm_layers = nn.ModuleList()
        ids = []
        for i, size in enumerate(sizes):
            self.batchnorm_layers.append(BatchNormLayer(size, track_running_stats=track_stats))
            layer = -1 if layers is None else layers[i]
            ids.append((self._add_param([size], "bn_scale", layer), self._add_param([size], "bn_shift", layer)))
        return ids

    @staticmethod
    def _pick(weights: Sequence[Tensor], ids: Sequence[tuple[int, int | None]]) -> list[tuple]:
        """``(weight, bias-or-None)`` tuples for index pairs from :meth:`_add_layer`."""
        return [(weights[i], None if j is None else weights[j]) for i, j in ids]

    def _build_params(self, no_weights: bool) -> None:
        """Create (and initialise) :attr:`internal_params` for all registered shapes."""
        if no_weights:
            return
        self.internal_params = nn.ParameterList([nn.Parameter(torch.empty(s)) for s in self.param_shapes])
        init_layer_params_(list(self.internal_params), self.param_shapes_meta)

    def checkpoint_bn_stats(self) -> None:
        """Start a new set of batch-norm running statistics (call after learning a task)."""
        for layer in self.batchnorm_layers or []:
            layer.checkpoint_stats()

    def _images(self, x: Tensor, K: int | None) -> Tensor:
        """Inputs as ``[B, C, H, W]``, or ``[K, B, C, H, W]`` if they carry a sample axis."""
        if self.chw_input_format:
            return x
        H, W, C = self.in_shape
        if K is not None and x.dim() == 3:  # one input batch per weight sample
            return x.reshape(K, -1, H, W, C).permute(0, 1, 4, 2, 3)  # [K, B, C, H, W]
        return x.reshape(-1, H, W, C).permute(0, 3, 1, 2)  # [B, C, H, W]
