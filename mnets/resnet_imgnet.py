"""ImageNet-style ResNet (ResNet-18/34 with basic blocks, ResNet-50+ with bottleneck blocks), hypnettorch's
``ResNetIN``; the posterior-replay README calls it ``iresnet``.

Layout: the ``bn_scale``/``bn_shift`` pairs of the main batch-norm layers and then of the projection shortcuts,
the 1x1 projection filters (no bias), then ``W[, b]`` of the stem, of all block convolutions and of the output
layer. ResNet-18 with the CIFAR stem (``cutout_mod``), projection shortcuts, no biases: 11,220,032 weights for
100 classes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor
from torch.nn import functional as F

from mnets.batched import batched_conv2d, batched_linear, fold_samples
from mnets.conv_base import ConvNet


class ResNetIN(ConvNet):
    """Stem conv (7x7/2 + 3x3/2 max-pool, or 3x3/1 without pool if ``cutout_mod``) -> 4 groups of residual
    blocks -> global average pool -> output layer. Every convolution is followed by BN and relu (the shortcut
    is added before the last relu of a block).

    Args:
        in_shape: Image shape ``(H, W, C)``.
        num_feature_maps: Channels of the stem and of the 4 groups (bottleneck blocks output 4x as many).
        blocks_per_group: Number of blocks in each of the 4 groups.
        projection_shortcut: 1x1 conv (+ BN) shortcuts where the shape changes, instead of zero-padding.
        bottleneck_blocks: 1x1 -> 3x3 -> 1x1 blocks instead of two 3x3 convolutions.
        cutout_mod: CIFAR stem (DeVries & Taylor, 2017): 3x3 stride-1 first convolution, no max-pooling.
        use_bias: Biases in the convolutions; ``use_fc_bias`` (None = ``use_bias``) in the output layer.
    """

    def __init__(self, in_shape: Sequence[int] = (224, 224, 3), num_classes: int = 1000, use_bias: bool = True,
                 use_fc_bias: bool | None = None, num_feature_maps: Sequence[int] = (64, 64, 128, 256, 512),
                 blocks_per_group: Sequence[int] = (2, 2, 2, 2), projection_shortcut: bool = False,
                 bottleneck_blocks: bool = False, cutout_mod: bool = False, no_weights: bool = False,
                 use_batch_norm: bool = True, bn_track_stats: bool = True,
                 chw_input_format: bool = False) -> None:
        super().__init__(in_shape, num_classes, chw_input_format)
        if len(blocks_per_group) != 4 or len(num_feature_maps) != 5:
            raise ValueError("blocks_per_group needs 4 entries and num_feature_maps 5")
        use_fc_bias = use_bias if use_fc_bias is None else use_fc_bias
        fs = list(num_feature_maps)
        self.filter_sizes, self.blocks_per_group = fs, list(blocks_per_group)
        self.projection_shortcut, self.bottleneck_blocks, self.cutout_mod = (projection_shortcut,
                                                                             bottleneck_blocks, cutout_mod)
        factor = 4 if bottleneck_blocks else 1
        # Groups 2-4 always change shape (stride 2); group 1 only if the stem's channels differ.
        self.group_has_1x1 = [projection_shortcut and (g > 0 or fs[0] != fs[1] * factor) for g in range(4)]
        self.stem = (3, 1, 1) if cutout_mod else (7, 2, 3)  # kernel, stride, padding

        # (out channels, kernel) of every convolution: stem, then the blocks.
        convs = [(fs[0], self.stem[0])]
        for g in range(4):
            block = [(fs[g + 1], 1), (fs[g + 1], 3), (4 * fs[g + 1], 1)] if bottleneck_blocks else \
                [(fs[g + 1], 3), (fs[g + 1], 3)]
            convs += block * blocks_per_group[g]
        num_main = len(convs)  # hypnettorch's layer numbering: main layers first, then the shortcuts

        self.bn_param_ids, self.shortcut_bn_param_ids = [], [None] * 4
        if use_batch_norm:
            main_layers = list(range(2, 3 * num_main + 1, 3))
            self.bn_param_ids = self._add_batchnorm_layers([c for c, _ in convs], main_layers, bn_track_stats)
            layer = 3 * (num_main + 1) + 2
            for g in range(4):
                if self.group_has_1x1[g]:
                    size = fs[g + 1] * factor
                    self.shortcut_bn_param_ids[g] = self._add_batchnorm_layers([size], [layer], bn_track_stats)[0]
                    layer += 3
        self.shortcut_param_ids = [None] * 4
        layer, c_in = 3 * (num_main + 1) + 1, fs[0]
        for g in range(4):
            if self.group_has_1x1[g]:
                self.shortcut_param_ids[g] = self._add_layer([fs[g + 1] * factor, c_in, 1, 1], False, layer)
                layer, c_in = layer + 3, fs[g + 1] * factor
        self.layer_param_ids = []
        c_in = in_shape[2]
        for i, (c_out, k) in enumerate(convs):
            self.layer_param_ids.append(self._add_layer([c_out, c_in, k, k], use_bias, 1 + 3 * i))
            c_in = c_out
        self.layer_param_ids.append(self._add_layer([num_classes, c_in], use_fc_bias, 1 + 3 * num_main))
        self._build_params(no_weights)
        self._check_setup()

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None,
                condition: int | None = None) -> Tensor:
        """Logits ``[B, num_classes]`` (``[K, B, num_classes]`` for weights with a sample axis K).

        Args:
            x: Flattened HWC images ``[B, H*W*C]`` (or ``[B, C, H, W]``), optionally with a leading K.
            condition: Task id selecting the batch-norm statistics (None = newest set).
        """
        w, K = self.resolve_weights(weights)
        convs = self._pick(w, self.layer_param_ids)
        layer = 0

        def batch_norm(h: Tensor, bn_layer: int, ids) -> Tensor:
            return self.batchnorm_layers[bn_layer](h, w[ids[0]], w[ids[1]], K, condition)

        def conv_bn_relu(h: Tensor, stride: int, padding: int, shortcut: Tensor | None = None) -> Tensor:
            nonlocal layer
            h = batched_conv2d(h, *convs[layer], stride=stride, padding=padding)
            if self.bn_param_ids:
                h = batch_norm(h, layer, self.bn_param_ids[layer])
            layer += 1
            return torch.relu(h if shortcut is None else h + shortcut)

        h = conv_bn_relu(self._images(x, K), self.stem[1], self.stem[2])
        if not self.cutout_mod:
            h = fold_samples(lambda a: F.max_pool2d(a, 3, stride=2, padding=1), h, K)
        factor = 4 if self.bottleneck_blocks else 1
        c_prev = self.filter_sizes[0]
        num_main_bn = len(self.bn_param_ids)
        for g in range(4):
            c = self.filter_sizes[g + 1] * factor
            stride = 2 if g > 0 else 1
            for j in range(self.blocks_per_group[g]):
                shortcut = h
                if j == 0 and (stride != 1 or c_prev != c):
                    if self.projection_shortcut:
                        shortcut = batched_conv2d(h, w[self.shortcut_param_ids[g][0]], None, stride=stride)
                        if self.bn_param_ids:
                            bn_layer = num_main_bn + sum(self.group_has_1x1[:g])
                            shortcut = batch_norm(shortcut, bn_layer, self.shortcut_bn_param_ids[g])
                    else:  # subsample and zero-pad the channels
                        if stride == 2:
                            shortcut = shortcut[..., ::2, ::2]
                        pad = ((c - c_prev) // 2, math.ceil((c - c_prev) / 2))
                        shortcut = F.pad(shortcut, (0, 0, 0, 0, *pad))
                if self.bottleneck_blocks:
                    h = conv_bn_relu(h, stride, 0)
                    h = conv_bn_relu(h, 1, 1)
                    h = conv_bn_relu(h, 1, 0, shortcut)
                else:
                    h = conv_bn_relu(h, stride, 1)
                    h = conv_bn_relu(h, 1, 1, shortcut)
                stride = 1
            c_prev = c
        h = fold_samples(lambda a: F.avg_pool2d(a, a.shape[-2:]), h, K).flatten(-3)  # [(K,) B, C]
        return batched_linear(h, *convs[layer])

    def extra_repr(self) -> str:
        return f"ResNet-{len(self.layer_param_ids)}"
