"""Wide residual network WRN-d-k of Zagoruyko & Komodakis (2016): pre-activation blocks, 1x1 conv shortcuts.

Layout (hypnettorch ``WRN``): the ``bn_scale``/``bn_shift`` pairs of all 6n+1 batch-norm layers, the 1x1
shortcut filters (no bias) of the groups that change shape, then ``W[, b]`` of the first convolution, of the
6n block convolutions and of the output layer. WRN-28-10 (n=4, k=10, no conv biases, output bias):
36,479,194 weights for 10 classes.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mnets.batched import batched_conv2d, batched_linear, fold_samples
from mnets.conv_base import ConvNet

STRIDES = (1, 1, 2, 2)  # first convolution, groups 1-3


class WRN(ConvNet):
    """Each block: BN -> relu -> conv3x3 -> [dropout] -> BN -> relu -> conv3x3 (+ shortcut); a final BN -> relu
    precedes the global average pool and the output layer.

    Args:
        in_shape: Image shape ``(H, W, C)``.
        block_depth: Blocks per group ``n`` (depth 6n+4 counting the shortcut convolutions, ``--wrn_block_depth``).
        widening_factor: ``k``, multiplies the channels of the three groups (``--wrn_widening_factor``).
        num_feature_maps: Channels of the first convolution and of the three groups (before widening).
        use_bias: Biases in the 3x3 convolutions.
        use_fc_bias: Bias in the output layer (None = ``use_bias``).
        dropout_rate: Dropout between the two convolutions of a block (-1 = off).
        chw_input_format: Inputs are ``[B, C, H, W]`` images instead of flattened HWC.
    """

    def __init__(self, in_shape: Sequence[int] = (32, 32, 3), num_classes: int = 10, block_depth: int = 4,
                 widening_factor: int = 10, num_feature_maps: Sequence[int] = (16, 16, 32, 64),
                 use_bias: bool = True, use_fc_bias: bool | None = None, no_weights: bool = False,
                 use_batch_norm: bool = True, bn_track_stats: bool = True, dropout_rate: float = -1,
                 chw_input_format: bool = False) -> None:
        super().__init__(in_shape, num_classes, chw_input_format)
        if len(num_feature_maps) != 4:
            raise ValueError("num_feature_maps must have 4 entries")
        use_fc_bias = use_bias if use_fc_bias is None else use_fc_bias
        fs = [num_feature_maps[0]] + [widening_factor * c for c in num_feature_maps[1:]]
        self.filter_sizes, self.block_depth, self.widening_factor = fs, block_depth, widening_factor
        self.use_bias, self.use_fc_bias = use_bias, use_fc_bias
        n = block_depth
        self._dropout = nn.Dropout(dropout_rate) if dropout_rate != -1 else None

        self.bn_param_ids = []
        if use_batch_norm:
            bn_sizes = [fs[0]] + [c for c in fs[1:] for _ in range(2 * n)]
            bn_layers = list(range(2, 3 * len(bn_sizes) + 1, 3))  # hypnettorch's layer numbering
            self.bn_param_ids = self._add_batchnorm_layers(bn_sizes, bn_layers, bn_track_stats)
        self.group_has_1x1 = [fs[g] != fs[g + 1] or STRIDES[g + 1] != 1 for g in range(3)]
        self.shortcut_param_ids = [self._add_layer([fs[g + 1], fs[g], 1, 1], False)
                                   if self.group_has_1x1[g] else None for g in range(3)]
        self.layer_param_ids = []  # first convolution, 6n block convolutions, output layer
        c_in = in_shape[2]
        for i, c_out in enumerate([fs[0]] + [c for c in fs[1:] for _ in range(2 * n)]):
            self.layer_param_ids.append(self._add_layer([c_out, c_in, 3, 3], use_bias, 1 + 3 * i))
            c_in = c_out
        out_layer = 1 + 3 * len(self.layer_param_ids)
        self.layer_param_ids.append(self._add_layer([num_classes, c_in], use_fc_bias, out_layer))
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
        bns = self._pick(w, self.bn_param_ids)
        convs = self._pick(w, self.layer_param_ids)
        shortcut_filters = [None if ids is None else w[ids[0]] for ids in self.shortcut_param_ids]
        bn_index = 0

        def bn_relu(h: Tensor) -> Tensor:
            nonlocal bn_index
            if bns:
                h = self.batchnorm_layers[bn_index](h, *bns[bn_index], K, condition)
                bn_index += 1
            return torch.relu(h)

        h = batched_conv2d(self._images(x, K), *convs[0], stride=STRIDES[0], padding=1)
        layer = 1
        for g in range(3):
            stride = STRIDES[g + 1]
            for j in range(self.block_depth):
                shortcut = h
                if j == 0 and self.group_has_1x1[g]:
                    shortcut = batched_conv2d(h, shortcut_filters[g], None, stride=stride)
                h = batched_conv2d(bn_relu(h), *convs[layer], stride=stride, padding=1)
                if self._dropout is not None:
                    h = self._dropout(h)
                h = batched_conv2d(bn_relu(h), *convs[layer + 1], stride=1, padding=1) + shortcut
                layer, stride = layer + 2, 1
        h = bn_relu(h)
        h = fold_samples(lambda a: F.avg_pool2d(a, a.shape[-2:]), h, K).flatten(-3)  # [(K,) B, C]
        return batched_linear(h, *convs[layer])

    def extra_repr(self) -> str:
        depth = 1 + 6 * self.block_depth + sum(self.group_has_1x1)
        return f"WRN-{depth}-{self.widening_factor}"
