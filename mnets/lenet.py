"""LeNet-like classifier: two 5x5 convolutions with max-pooling, then two fully-connected layers.

Architectures (hypnettorch ``LeNet``): ``mnist_small`` (10/20 channels, FC 320-50, 21,840 weights),
``mnist_large`` (20/50 channels, FC 800-500, 431,080 weights), ``cifar`` (192/192 channels, FC 4800-1000,
5,747,394 weights), all with 10 outputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mnets.batched import batched_conv2d, batched_linear, fold_samples
from mnets.conv_base import ConvNet

ARCHITECTURES = {
    "mnist_small": [[10, 1, 5, 5], [10], [20, 10, 5, 5], [20], [50, 320], [50], [10, 50], [10]],
    "mnist_large": [[20, 1, 5, 5], [20], [50, 20, 5, 5], [50], [500, 800], [500], [10, 500], [10]],
    "cifar": [[192, 3, 5, 5], [192], [192, 192, 5, 5], [192], [1000, 4800], [1000], [10, 1000], [10]],
}


class LeNet(ConvNet):
    """conv -> [dropout2d] -> maxpool -> relu -> conv -> [dropout2d] -> maxpool -> relu -> fc -> relu
    -> [dropout] -> fc.

    Args:
        in_shape: ``(28, 28, 1)`` for the MNIST architectures, ``(32, 32, 3)`` for ``cifar``.
        arch: ``mnist_small``, ``mnist_large`` or ``cifar``.
        dropout_rate: Dropout probability (-1 = off); feature-map dropout after both convolutions.
    """

    def __init__(self, in_shape: Sequence[int] = (28, 28, 1), num_classes: int = 10,
                 arch: str = "mnist_large", no_weights: bool = False, dropout_rate: float = -1) -> None:
        super().__init__(in_shape, num_classes)
        if arch not in ARCHITECTURES:
            raise ValueError(f"unknown LeNet arch {arch!r}; valid: {', '.join(ARCHITECTURES)}")
        side = 28 if arch.startswith("mnist") else 32
        if list(in_shape[:2]) != [side, side]:
            raise ValueError(f"LeNet {arch!r} expects {side}x{side} images, got {list(in_shape)}")
        self.arch = arch
        shapes = [list(s) for s in ARCHITECTURES[arch]]
        shapes[-2][0] = shapes[-1][0] = num_classes
        for i, shape in enumerate(shapes):
            self._add_param(shape, "weight" if len(shape) > 1 else "bias", 2 * (i // 2) + 1)
        self._drop_conv = nn.Dropout2d(dropout_rate) if dropout_rate != -1 else None
        self._drop_fc = nn.Dropout(dropout_rate) if dropout_rate != -1 else None
        self._build_params(no_weights)
        self._check_setup()

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None, condition=None) -> Tensor:
        """Logits ``[B, num_classes]`` (``[K, B, num_classes]`` for weights with a sample axis K).

        Args:
            x: Flattened HWC images ``[B, H*W*C]`` or ``[K, B, H*W*C]``.
        """
        w, K = self.resolve_weights(weights)
        h = self._images(x, K)
        for conv_w, conv_b in ((w[0], w[1]), (w[2], w[3])):
            h = batched_conv2d(h, conv_w, conv_b)
            if self._drop_conv is not None:
                h = fold_samples(self._drop_conv, h, K)
            h = torch.relu(fold_samples(lambda a: F.max_pool2d(a, 2), h, K))
        h = h.flatten(-3)  # [(K,) B, C*H*W]
        h = torch.relu(batched_linear(h, w[4], w[5]))
        if self._drop_fc is not None:
            h = self._drop_fc(h)
        return batched_linear(h, w[6], w[7])
