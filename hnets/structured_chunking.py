"""Layer-aligned chunkings of ResNet and WRN for :class:`~hnets.structured_hmlp.StructuredHMLP` (the
"smart" chunking of hypnettorch's ``structured_hmlp_examples``).

Each function returns a :class:`Chunking`: the chunk shapes and counts per internal hypernetwork, the assembly
function (batched over N conditions) and which of the network's parameter tensors are generated.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from mnets.resnet import ResNet
from mnets.wide_resnet import WRN


@dataclass
class Chunking:
    """A structured chunking.

    Attributes:
        chunk_shapes: Per internal hypernetwork, the tensor shapes of one chunk.
        num_per_chunk: Per internal hypernetwork, the number of chunks.
        assembly_fct: Chunks -> generated tensors (see :mod:`hnets.structured_hmlp`).
        target_ids: Indices into the network's ``param_shapes`` of the generated tensors, in assembly order.
    """

    chunk_shapes: list[list[list[int]]]
    num_per_chunk: list[int]
    assembly_fct: Callable[[list[list[Tensor]]], list[Tensor]]
    target_ids: list[int]


def _layer_chunk(shapes: list[list[int]], ids: tuple) -> list[list[int]]:
    """Shapes of the tensors with indices ``ids`` (None entries skipped)."""
    return [shapes[i] for i in ids if i is not None]


def resnet_chunking(net: ResNet, gcd_chunking: bool = False) -> Chunking:
    """One chunk per convolution (filters, bias, batch-norm scale and shift), one internal hypernetwork per
    distinct layer shape: the first convolution, per group its first and its other 2n-1 convolutions, the
    output layer. With ``gcd_chunking`` a layer is split into ``channels / g`` chunks of g output channels
    (g = gcd of all channel numbers) and one internal hypernetwork serves all layers with the same number of
    input channels."""
    n, fs = net.block_depth, net.filter_sizes
    has_bn = bool(net.bn_param_ids)
    convs = net.layer_param_ids  # (weight, bias) per layer: first conv, 6n block convs, output layer
    bns = net.bn_param_ids or [(None, None)] * (len(convs) - 1)
    layer_ids = [(*convs[i], *bns[i]) for i in range(len(convs) - 1)]  # (w, b, bn_scale, bn_shift)
    shapes = net.param_shapes
    out_ids = convs[-1]

    def split_layer(ts: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        """One layer's chunk tensors -> (layer tensors W[, b], batch-norm tensors)."""
        k = 2 if net.has_bias else 1
        return ts[:k], ts[k:] if has_bn else []

    if not gcd_chunking:
        chunk_shapes = [_layer_chunk(shapes, layer_ids[0])]
        num_per_chunk = [1]
        for g in range(3):
            first = 1 + 2 * n * g
            chunk_shapes += [_layer_chunk(shapes, layer_ids[first]), _layer_chunk(shapes, layer_ids[first + 1])]
            num_per_chunk += [1, 2 * n - 1]
        chunk_shapes.append(_layer_chunk(shapes, out_ids))
        num_per_chunk.append(1)

        def assemble(chunks: list[list[Tensor]]) -> list[Tensor]:
            layers, bn = [], []
            sources = [(0, 0)] + [(h, k) for g in range(3) for h, k in
                                  [(1 + 2 * g, 0)] + [(2 + 2 * g, m) for m in range(2 * n - 1)]]
            for h, k in sources:  # layer order: first conv, then the groups' convolutions
                lay, b = split_layer([t[:, k] for t in chunks[h]])
                layers += lay
                bn += b
            return bn + layers + [t[:, 0] for t in chunks[-1]]
    else:
        g_size = math.gcd(*fs)
        per_group = [c // g_size for c in fs[1:]]  # chunks per layer of groups 1-3
        out_groups = [i // (2 * n) for i in range(6 * n)]  # group of each block conv
        # The block convs with fs[h] input channels share internal hypernetwork h (hypnettorch's order):
        # conv 0 reads fs[0], convs 1..2n read fs[1] (incl. group 2's first), and so on.
        hnet_of = [0] + [(i - 1) // (2 * n) + 1 for i in range(1, 6 * n)]
        counts = [sum(per_group[out_groups[i]] for i in range(6 * n) if hnet_of[i] == h) for h in range(4)]
        chunk_shapes = [_layer_chunk(shapes, layer_ids[0])]
        for c in fs:
            chunk_shapes.append([[g_size, c, 3, 3]] + ([[g_size]] if net.has_bias else [])
                                + ([[g_size], [g_size]] if has_bn else []))
        chunk_shapes.append(_layer_chunk(shapes, out_ids))
        num_per_chunk = [1, *counts, 1]

        def assemble(chunks: list[list[Tensor]]) -> list[Tensor]:
            layers, bn = split_layer([t[:, 0] for t in chunks[0]])
            layers, bn = list(layers), list(bn)
            cursor = [0] * 4  # next unused chunk per input-channel hypernetwork
            for i in range(6 * n):
                h, m = hnet_of[i], per_group[out_groups[i]]
                # m consecutive chunks of g output channels each: [N, m, g, ...] -> [N, m*g, ...]
                parts = [t[:, cursor[h]:cursor[h] + m].flatten(1, 2) for t in chunks[1 + h]]
                cursor[h] += m
                lay, b = split_layer(parts)
                layers += lay
                bn += b
            return bn + layers + [t[:, 0] for t in chunks[-1]]

    return Chunking(chunk_shapes, num_per_chunk, assemble, list(range(len(shapes))))


def wrn_chunking(net: WRN, ignore_bn_weights: bool = True, ignore_out_weights: bool = True,
                 gcd_chunking: bool = False) -> Chunking:
    """Chunking of a WRN (hypnettorch's ``wrn_chunking``): per group, the convolutions after the first share
    one internal hypernetwork (one chunk each); the first one gets its own, unless the group's channel
    numbers differ at most by a factor of 2 (or ``gcd_chunking``): then the group's convolutions are cut along
    their input channels into chunks of ``g`` (the smaller channel number, or the gcd) input channels.
    1x1 shortcuts get one hypernetwork each. Batch-norm and output-layer weights are left out (to be learned
    separately) unless ``ignore_bn_weights`` / ``ignore_out_weights`` are False."""
    n, fs = net.block_depth, net.filter_sizes
    shapes = net.param_shapes
    bn = [] if ignore_bn_weights or not net.bn_param_ids else net.bn_param_ids
    convs = net.layer_param_ids  # first conv, 6n block convs, output layer

    def layer(i: int) -> tuple:
        """(w, b, bn_scale, bn_shift) ids of convolution i; the batch norm preceding it in the block."""
        return (*convs[i], *(bn[i] if bn and i < len(bn) else (None, None)))

    # The batch norm of block conv i is bn layer i (conv i's input); hypnettorch pairs the first conv with BN 0.
    gcd = [None] * 3
    for g in range(3):
        lo, hi = sorted((fs[g], fs[g + 1]))
        if hi / lo in (1, 2):
            gcd[g] = lo
        elif gcd_chunking:
            gcd[g] = math.gcd(lo, hi)

    chunk_shapes, num_per_chunk, plan = [], [], []  # plan: how the assembly consumes the chunks
    chunk_shapes.append(_layer_chunk(shapes, layer(0)))
    num_per_chunk.append(1)
    for g in range(3):
        first = 1 + 2 * n * g
        rest = [first + k for k in range(1, 2 * n)]
        if gcd[g] is None:
            chunk_shapes += [_layer_chunk(shapes, layer(first)), _layer_chunk(shapes, layer(rest[0]))]
            num_per_chunk += [1, 2 * n - 1]
            plan.append(("separate", g))
        else:
            extra = [[fs[g + 1]]] if net.use_bias else []
            extra += [[fs[g + 1]], [fs[g + 1]]] if bn else []
            chunk_shapes.append([[fs[g + 1], gcd[g], 3, 3]] + extra)
            num_per_chunk.append(fs[g] // gcd[g] + (2 * n - 1) * (fs[g + 1] // gcd[g]))
            plan.append(("gcd", g))
    shortcut_groups = [g for g in range(3) if net.shortcut_param_ids[g] is not None]
    for g in shortcut_groups:
        chunk_shapes.append([shapes[net.shortcut_param_ids[g][0]]])
        num_per_chunk.append(1)
    if not ignore_out_weights:
        chunk_shapes.append(_layer_chunk(shapes, convs[-1]))
        num_per_chunk.append(1)

    def split_layer(ts: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        k = 2 if net.use_bias else 1
        return list(ts[:k]), list(ts[k:])

    def assemble(chunks: list[list[Tensor]]) -> list[Tensor]:
        layers, bn_out = split_layer([t[:, 0] for t in chunks[0]])
        h = 1
        for kind, g in plan:
            if kind == "separate":
                for src, k in [(h, 0)] + [(h + 1, m) for m in range(2 * n - 1)]:
                    lay, b = split_layer([t[:, k] for t in chunks[src]])
                    layers += lay
                    bn_out += b
                h += 2
            else:
                start = 0
                for m in [fs[g] // gcd[g]] + [fs[g + 1] // gcd[g]] * (2 * n - 1):
                    w = chunks[h][0][:, start:start + m]  # [N, m, O, g, 3, 3]: m slices of input channels
                    w = w.transpose(1, 2).flatten(2, 3)  # [N, O, m*g, 3, 3]
                    first = [t[:, start] for t in chunks[h][1:]]  # bias / BN of the layer's first chunk
                    lay, b = split_layer([w, *first])
                    layers += lay
                    bn_out += b
                    start += m
                h += 1
        shortcuts = [chunks[h + k][0][:, 0] for k in range(len(shortcut_groups))]
        h += len(shortcut_groups)
        out = [] if ignore_out_weights else [t[:, 0] for t in chunks[h]]
        return bn_out + shortcuts + layers + out

    target_ids = [i for pair in bn for i in pair]
    target_ids += [net.shortcut_param_ids[g][0] for g in shortcut_groups]
    target_ids += [i for w_b in convs[:-1] for i in w_b if i is not None]
    if not ignore_out_weights:
        target_ids += [i for i in convs[-1] if i is not None]
    return Chunking(chunk_shapes, num_per_chunk, assemble, target_ids)


