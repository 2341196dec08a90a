"""CIFAR ResNet of He et al. (2016) with 6n+2 layers (ResNet-32 for n=5), batch norm and zero-padding shortcuts.

Layout (hypnettorch ``ResNet``): the ``bn_scale``/``bn_shift`` pairs of all 6n+1 batch-norm layers, then
``W, b`` of the first convolution, of the 6n block convolutions (3 groups of n blocks of 2 convolutions) and of
the output layer. With ``num_feature_maps=(16, 16, 32, 64)``: 465,290 weights for 10 classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from mnets.batched import batched_conv2d, batched_linear, fold_samples
from mnets.conv_base import ConvNet


class ResNet(ConvNet):
    """Each block: conv3x3 -> BN -> relu -> conv3x3 -> BN -> (+ shortcut) -> relu.

    When the number of channels grows (first block of groups 2 and 3, stride 2) the shortcut subsamples the
    input spatially and zero-pads its channels.

    Args:
        in_shape: Image shape ``(H, W, C)``.
        use_bias: Biases in the convolutions (the output layer always has one iff this is True).
        num_feature_maps: Channels of the first convolution and of the three groups.
        block_depth: Blocks per group ``n`` (``--resnet_block_depth``).
        widening_factor: Multiplies the channels of the three groups.
        use_batch_norm: Batch norm after every convolution.
        bn_track_stats: Keep running statistics (one set per task, see :meth:`checkpoint_bn_stats`).
    """

    def __init__(self, in_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, use_bias: bool = True,
                 num_feature_maps: Sequence[int] = (16, 16, 32, 64), block_depth: int = 5,
                 widening_factor: int = 1, no_weights: bool = False, use_batch_norm: bool = True,
                 bn_track_stats: bool = True) -> None:
        super().__init__(in_shape, num_classes)
        if len(num_feature_maps) != 4:
            raise ValueError("num_feature_maps must have 4 entries")
        fs = [num_feature_maps[0]] + [widening_factor * c for c in num_feature_maps[1:]]
        if fs[1] < fs[0] or fs[2] <= fs[1] or fs[3] <= fs[2]:
            # (the zero-padding shortcut subsamples only where the channels grow)
            raise ValueError("channels must grow from group to group (the first group may keep them)")
        self.filter_sizes, self.block_depth, self.has_bias = fs, block_depth, use_bias
        n = block_depth

        conv_channels = [fs[0]] + [c for c in fs[1:] for _ in range(2 * n)]  # output channels per convolution
        self.bn_param_ids = self._add_batchnorm_layers(conv_channels, None, bn_track_stats) if use_batch_norm else []
        self.layer_param_ids = []  # first convolution, 6n block convolutions, output layer
        c_in = in_shape[2]
        for c_out in conv_channels:
            self.layer_param_ids.append(self._add_layer([c_out, c_in, 3, 3], use_bias))
            c_in = c_out
        self.layer_param_ids.append(self._add_layer([num_classes, fs[-1]], use_bias))
        self._build_params(no_weights)
        self._check_setup()

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None, condition: int | None = None) -> Tensor:
        """Logits ``[B, num_classes]`` (``[K, B, num_classes]`` for weights with a sample axis K).

        Args:
            x: Flattened HWC images ``[B, H*W*C]`` or ``[K, B, H*W*C]``.
            condition: Task id selecting the batch-norm statistics (None = newest set).
        """
        w, K = self.resolve_weights(weights)
        bns, convs = self._pick(w, self.bn_param_ids), self._pick(w, self.layer_param_ids)
        layer = 0

        def conv_bn_relu(h: Tensor, stride: int, shortcut: Tensor | None = None) -> Tensor:
            nonlocal layer
            h = batched_conv2d(h, *convs[layer], stride=stride, padding=1)
            if bns:
                h = self.batchnorm_layers[layer](h, *bns[layer], K, condition)
            layer += 1
            return torch.relu(h if shortcut is None else h + shortcut)

        h = conv_bn_relu(self._images(x, K), 1)
        for g in range(3):
            stride = 1 if g == 0 else 2
            c_prev, c = self.filter_sizes[g], self.filter_sizes[g + 1]
            for j in range(self.block_depth):
                shortcut = h
                if j == 0 and c != c_prev:  # subsample and zero-pad the channels
                    if stride == 2:
                        shortcut = shortcut[..., ::2, ::2]
                    pad = ((c - c_prev) // 2, math.ceil((c - c_prev) / 2))
                    shortcut = F.pad(shortcut, (0, 0, 0, 0, *pad))  # pads the channel axis (-3)
                h = conv_bn_relu(h, stride)
                stride = 1
                h = conv_bn_relu(h, 1, shortcut)
        h = fold_samples(lambda a: F.avg_pool2d(a, a.shape[-2:]), h, K).flatten(-3)  # [(K,) B, C]
        return batched_linear(h, *convs[layer])

    def extra_repr(self) -> str:
        return f"ResNet-{6 * self.block_depth + 2}, channels {self.filter_sizes}"


