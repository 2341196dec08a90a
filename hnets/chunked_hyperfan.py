"""Chunked hyperfan-in initialisation of a :class:`~hnets.chunked_hmlp.ChunkedHMLP` (hypnettorch's
``apply_chunked_hyperfan_init``).

The MLP's layers get fan-in init (Kaiming, or Xavier with ``use_xavier``) and zero biases; the output layer
is *not* adapted per target tensor (one output layer serves all chunks). Instead, each chunk's embedding is
drawn with the variance that gives the chunk's outputs the variance a fan-in init of the target network would
give the weights it covers (averaged over the tensors the chunk overlaps):
``Var(c_emb) = ((d_in + d_c) * Var(chunk) - d_in * Var(input)) / d_c``, clipped below at ``eps``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import torch

from hnets.chunked_hmlp import ChunkedHMLP


def generic_target_meta(target_shapes: Sequence[Sequence[int]]) -> list[dict]:
    """Meta information guessed from shapes alone: tensors with >1 dims are weights of successive layers,
    vectors are the biases of the weight right before them."""
    meta, layer = [], 0
    for s in target_shapes:
        if len(s) > 1:
            meta.append({"name": "weight", "layer": layer})
            layer += 1
        else:
            follows_weight = bool(meta) and meta[-1]["name"] == "weight"
            meta.append({"name": "bias", "layer": meta[-1]["layer"] if follows_weight else -1})
    return meta


def target_variances(target_shapes: Sequence[Sequence[int]], target_meta: Sequence[dict],
                     method: str = "in", use_xavier: bool = False) -> list[float]:
    """Variance a fan-in (or fan-out) init gives each target tensor: ``c/fan_in`` for weights
    (c = 2 Kaiming, 1 Xavier), ``1/(3 fan_in)`` for biases (PyTorch's layer default), 1 for anything else."""
    layer_shape = {m["layer"]: s for s, m in zip(target_shapes, target_meta)
                   if m["name"] == "weight" and m["layer"] != -1}
    c_relu = 1.0 if use_xavier else 2.0
    out = []
    for s, m in zip(target_shapes, target_meta):
        if m["name"] == "weight":
            fan_in, fan_out = s[1] * math.prod(s[2:]), s[0] * math.prod(s[2:])
            out.append(c_relu / (fan_in if method == "in" else fan_out))
        elif m["name"] == "bias":
            ws = layer_shape.get(m["layer"])
            out.append(1.0 / (3.0 * (ws[1] * math.prod(ws[2:]) if ws is not None else s[0])))
        else:
            out.append(1.0)
    return out


def chunk_variances(hnet: ChunkedHMLP, target_vars: Sequence[float]) -> list[float]:
    """Per chunk, the size-weighted mean of the variances of the target tensors it covers (the padding of the
    last chunk counts as part of the last tensor)."""
    S, C = hnet.chunk_size, hnet.num_chunks
    ends = list(torch.tensor([math.prod(s) for s in hnet.target_shapes]).cumsum(0).tolist())
    ends[-1] = C * S
    starts = [0] + ends[:-1]
    out = []
    for c in range(C):
        lo, hi = c * S, (c + 1) * S
        out.append(sum(max(0, min(hi, e) - max(lo, s)) / S * v for s, e, v in zip(starts, ends, target_vars)))
    return out


@torch.no_grad()
def chunked_hyperfan_init_(hnet: ChunkedHMLP, target_meta: Sequence[dict] | None = None, method: str = "in",
                           use_xavier: bool = False, uncond_var: float = 1.0, cond_var: float = 1.0,
                           eps: float = 1e-5, cemb_normal_init: bool = False,
                           target_vars: Sequence[float | None] | dict[str, float] | None = None) -> None:
    """Re-initialise ``hnet``'s MLP layers and chunk embeddings in place.

    Args:
        target_meta: ``param_shapes_meta`` of the target network (default: guessed from the shapes).
        method: ``in`` (fan-in) or ``out`` (fan-out) target variances.
        use_xavier: Xavier instead of Kaiming fan-in init (and gain 1 instead of 2 in the target variances).
        uncond_var, cond_var: Variances of the unconditional input and of the task embeddings.
        eps: Smallest chunk-embedding variance.
        cemb_normal_init: Draw chunk embeddings from a normal instead of a uniform distribution.
        target_vars: Explicit variances per target tensor (list; None entries are computed), or per meta
            ``name`` (dict).
    """
    if method not in ("in", "out"):
        raise ValueError(f"method must be 'in' or 'out', got {method!r}")
    missing = [i for i in hnet.mlp_ids + hnet.chunk_emb_ids if i not in hnet.owned_ids]
    if missing:
        raise ValueError("chunked hyperfan init needs internally maintained MLP weights and chunk embeddings")
    target_meta = list(target_meta) if target_meta is not None else generic_target_meta(hnet.target_shapes)
    if len(target_meta) != len(hnet.target_shapes):
        raise ValueError("target_meta must have one entry per target tensor")

    mlp = [hnet.owned_param(i) for i in hnet.mlp_ids]
    names = [hnet.param_shapes_meta[i]["name"] for i in hnet.mlp_ids]
    weights = [p for p, n in zip(mlp, names) if n == "weight"]
    biases = [p for p, n in zip(mlp, names) if n == "bias"]
    for i, weight in enumerate(weights):
        if use_xavier:
            a = math.sqrt(3.0 / weight.shape[1])
            weight.uniform_(-a, a)
        else:
            torch.nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu")
        if biases:
            biases[i].zero_()

    computed = target_variances(hnet.target_shapes, target_meta, method, use_xavier)
    if isinstance(target_vars, dict):
        target_vars = [target_vars.get(m["name"]) for m in target_meta]
    target_vars = [c if t is None else t for c, t in zip(computed, target_vars or [None] * len(computed))]

    d_in, d_c = hnet.cond_in_size + hnet.uncond_in_size, hnet.chunk_emb_size
    in_var = 0.0 if d_in == 0 else (hnet.cond_in_size * cond_var + hnet.uncond_in_size * uncond_var) / d_in
    chunk_vars = chunk_variances(hnet, target_vars)
    if d_in > 0 and in_var >= (d_in + d_c) / d_in * min(chunk_vars):
        warnings.warn("the hypernetwork inputs have too large a variance for chunked hyperfan init",
                      stacklevel=2)
    emb_vars = [((d_in + d_c) * v - d_in * in_var) / d_c for v in chunk_vars]
    if any(v < eps for v in emb_vars):
        warnings.warn(f"{sum(v < eps for v in emb_vars)}/{len(emb_vars)} chunk-embedding variances clipped to "
                      f"{eps}", stacklevel=2)
    embs = [hnet.owned_param(i) for i in hnet.chunk_emb_ids]  # one matrix [C, E] per condition (or shared)
    for c, var in enumerate(emb_vars):  # chunk-major order, as the original (same RNG stream)
        std = math.sqrt(max(eps, var))
        for emb in embs:
            if cemb_normal_init:
                emb[c].normal_(0.0, std)
            else:
                emb[c].uniform_(-math.sqrt(3.0) * std, math.sqrt(3.0) * std)
