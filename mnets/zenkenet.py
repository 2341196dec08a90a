"""ZenkeNet: the CIFAR convolutional network of Zenke et al. (2017), "Continual learning through synaptic
intelligence": two blocks of two 3x3 convolutions with max-pooling and dropout, then FC 2304-512 and the output
layer (1,250,858 weights for 10 classes).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mnets.batched import batched_conv2d, batched_linear, fold_samples
from mnets.conv_base import ConvNet

CIFAR_SHAPES = [[32, 3, 3, 3], [32], [32, 32, 3, 3], [32], [64, 32, 3, 3], [64], [64, 64, 3, 3], [64],
                [512, 2304], [512], [10, 512], [10]]


class ZenkeNet(ConvNet):
    """conv(pad 1) -> relu -> conv -> relu -> maxpool -> dropout2d, twice; fc -> relu -> dropout(2*rate) -> fc.

    Args:
        in_shape: ``(32, 32, C)`` images.
        dropout_rate: Feature-map dropout rate (<= 0.5; the FC dropout uses twice the rate; -1 = off).
    """

    def __init__(self, in_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, no_weights: bool = False,
                 dropout_rate: float = 0.25) -> None:
        super().__init__(in_shape, num_classes)
        if list(in_shape[:2]) != [32, 32]:
            raise ValueError(f"ZenkeNet expects 32x32 images, got {list(in_shape)}")
        if dropout_rate > 0.5:
            raise ValueError("ZenkeNet's dropout rate must be <= 0.5")
        shapes = [list(s) for s in CIFAR_SHAPES]
        shapes[0][1] = in_shape[2]
        shapes[-2][0] = shapes[-1][0] = num_classes
        for i, shape in enumerate(shapes):  # (hypnettorch's ZenkeNet has no meta; layers numbered as LeNet's)
            self._add_param(shape, "weight" if len(shape) > 1 else "bias", 2 * (i // 2) + 1)
        self._drop_conv = nn.Dropout2d(dropout_rate) if dropout_rate != -1 else None
        self._drop_fc = nn.Dropout(2 * dropout_rate) if dropout_rate != -1 else None
        self._build_params(no_weights)
        self._check_setup()

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None, condition=None) -> Tensor:
        """Logits ``[B, num_classes]`` (``[K, B, num_classes]`` for weights with a sample axis K).

        Args:
            x: Flattened HWC images ``[B, 32*32*C]`` or ``[K, B, 32*32*C]``.
        """
        w, K = self.resolve_weights(weights)
        h = self._images(x, K)
        for i in (0, 4):  # two blocks of two convolutions
            h = torch.relu(batched_conv2d(h, w[i], w[i + 1], padding=1))
            h = torch.relu(batched_conv2d(h, w[i + 2], w[i + 3], padding=0))
            h = fold_samples(lambda a: F.max_pool2d(a, 2), h, K)
            if self._drop_conv is not None:
                h = fold_samples(self._drop_conv, h, K)
        h = h.flatten(-3)  # [(K,) B, 64*6*6]
        h = torch.relu(batched_linear(h, w[8], w[9]))
        if self._drop_fc is not None:
            h = self._drop_fc(h)
        return batched_linear(h, w[10], w[11])
