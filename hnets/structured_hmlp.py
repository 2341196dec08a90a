"""Structured chunked hypernetwork (hypnettorch ``StructuredHMLP``): chunks follow the target's layer structure.

Instead of cutting the flat weight vector into equal pieces, internal hypernetwork i produces ``num_per_chunk[i]``
chunks of the tensor shapes ``chunk_shapes[i]`` (e.g. one convolution's filter, bias and batch-norm parameters),
one chunk per chunk embedding. An *assembly function* turns the chunks into the target tensors. See
:mod:`hnets.structured_chunking` for the ResNet and WRN chunkings.

Layout: internal hypernetwork 0's task embeddings and layers, the other internal hypernetworks' layers (they
share hypernetwork 0's task embeddings), then the chunk embeddings ``[num_per_chunk[i], chunk_emb_sizes[i]]``
of every internal hypernetwork with a non-zero embedding size (one set, or one per condition with
``cond_chunk_embs``).

Assembly contract: ``assembly_fct(chunks)`` receives, per internal hypernetwork i, the list of its chunk tensors
``[N, num_per_chunk[i], *chunk_shapes[i][j]]`` and returns the target tensors ``[N, *target_shape]`` in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor, nn

from hnets.base import HyperNet
from mnets.base import init_linear_
from mnets.mlp import MLP

AssemblyFct = Callable[[list[list[Tensor]]], list[Tensor]]


class StructuredHMLP(HyperNet):
    """Several MLP hypernetworks, each producing structured chunks, assembled into the target weights.

    Args:
        target_shapes: Shapes of the generated tensors (in the order the assembly function returns them).
        chunk_shapes: Per internal hypernetwork, the list of tensor shapes forming one chunk.
        num_per_chunk: Per internal hypernetwork, the number of chunks it produces.
        chunk_emb_sizes: Chunk-embedding size per internal hypernetwork (or one int for all); 0 = no chunk
            embedding (only allowed with one chunk).
        assembly_fct: Maps the chunks to the target tensors (see the module docstring).
        hmlp_kwargs: MLP options (``layers``, ``activation_fn``, ``use_bias``, ``dropout_rate``), one dict for
            all internal hypernetworks or one per hypernetwork.
        cond_chunk_embs, uncond_in_size, cond_in_size, no_uncond_weights, no_cond_weights, num_cond_embs: As
            for :class:`~hnets.chunked_hmlp.ChunkedHMLP`.
    """

    def __init__(self, target_shapes: Sequence[Sequence[int]], chunk_shapes: Sequence[Sequence[Sequence[int]]],
                 num_per_chunk: Sequence[int], chunk_emb_sizes: int | Sequence[int],
                 assembly_fct: AssemblyFct, hmlp_kwargs: dict | Sequence[dict] | None = None,
                 cond_chunk_embs: bool = False, uncond_in_size: int = 0, cond_in_size: int = 8,
                 no_uncond_weights: bool = False, no_cond_weights: bool = False, num_cond_embs: int = 1) -> None:
        super().__init__(target_shapes)
        n_hnets = len(chunk_shapes)
        if len(num_per_chunk) != n_hnets or 0 in num_per_chunk:
            raise ValueError("num_per_chunk needs one positive entry per internal hypernetwork")
        emb_sizes = [chunk_emb_sizes] * n_hnets if isinstance(chunk_emb_sizes, int) else list(chunk_emb_sizes)
        if any(e == 0 and n != 1 for e, n in zip(emb_sizes, num_per_chunk)):
            raise ValueError("an internal hypernetwork without chunk embeddings can only produce one chunk")
        if cond_in_size == 0 and uncond_in_size == 0 and (0 in emb_sizes or not cond_chunk_embs):
            raise ValueError("without conditional or unconditional input every hypernetwork needs conditional "
                             "chunk embeddings")
        kwargs = [dict(hmlp_kwargs or {})] * n_hnets if not isinstance(hmlp_kwargs, (list, tuple)) \
            else [dict(k) for k in hmlp_kwargs]
        self.chunk_shapes = [[list(s) for s in cs] for cs in chunk_shapes]
        self.num_per_chunk, self.chunk_emb_sizes = list(num_per_chunk), emb_sizes
        self.assembly_fct, self.cond_chunk_embs = assembly_fct, cond_chunk_embs
        self.uncond_in_size, self.cond_in_size, self.num_cond_embs = uncond_in_size, cond_in_size, num_cond_embs
        self.mlps = nn.ModuleList(
            MLP(uncond_in_size + e + cond_in_size, sum(math.prod(s) for s in cs),
                k.get("layers", (100, 100)), k.get("activation_fn", "relu"), k.get("use_bias", True),
                no_weights=True, dropout_rate=k.get("dropout_rate", -1))
            for cs, e, k in zip(self.chunk_shapes, emb_sizes, kwargs))

        self.owned_ids: list[int] = []
        self.task_emb_ids: list[int] = []
        self.mlp_ids: list[list[int]] = []  # per internal hypernetwork
        self.chunk_emb_ids: list[list[int | None]] = []  # per condition set, per internal hypernetwork
        owned: list[nn.Parameter] = []

        def add(shape, meta, is_owned, value=None):
            self.param_shapes.append(list(shape))
            self.param_shapes_meta.append(meta)
            if is_owned:
                self.owned_ids.append(len(self.param_shapes) - 1)
                owned.append(nn.Parameter(torch.empty(shape).normal_() if value is None else value))
            return len(self.param_shapes) - 1

        for _ in range(num_cond_embs if cond_in_size > 0 else 0):
            self.task_emb_ids.append(add([cond_in_size], {"name": "embedding", "layer": 0, "hnet_ind": 0},
                                         not no_cond_weights))
        for i, mlp in enumerate(self.mlps):
            values = [torch.empty(s) for s in mlp.param_shapes]
            if not no_uncond_weights:
                pairs = [(values[j], values[j + 1] if mlp.has_bias else None)
                         for j in range(0, len(values), 2 if mlp.has_bias else 1)]
                for w, b in pairs:  # nn.Linear default init, layer by layer (hypnettorch's RNG order)
                    init_linear_(w, b)
            self.mlp_ids.append([add(v.shape, {"name": m["name"], "layer": 2 * m["layer"] + 1 if i == 0 else -1,
                                               "hnet_ind": i}, not no_uncond_weights, v)
                                 for v, m in zip(values, mlp.param_shapes_meta)])
        owned_cemb = not (no_cond_weights if cond_chunk_embs else no_uncond_weights)
        for c in range(num_cond_embs if cond_chunk_embs else 1):
            self.chunk_emb_ids.append([
                None if e == 0 else add([n, e], {"name": "embedding", "layer": 0, "info": "chunk embeddings",
                                                 "hnet_ind": i, "cond_id": c if cond_chunk_embs else -1},
                                        owned_cemb)
                for i, (n, e) in enumerate(zip(num_per_chunk, emb_sizes))])
        self.internal_params = nn.ParameterList(owned)
        cond = set(self.task_emb_ids)
        if cond_chunk_embs:
            cond |= {i for ids in self.chunk_emb_ids for i in ids if i is not None}
        self.conditional_param_ids = [j for j, i in enumerate(self.owned_ids) if i in cond]

    @property
    def num_chunks(self) -> int:
        """Total number of chunks produced per condition."""
        return sum(self.num_per_chunk)

    @property
    def _uncond_ids(self) -> list[int]:
        shared = [] if self.cond_chunk_embs else [i for i in self.chunk_emb_ids[0] if i is not None]
        return [i for ids in self.mlp_ids for i in ids] + shared

    @property
    def unconditional_param_shapes(self) -> list[list[int]]:
        """Shapes of the unconditional parameters (what ``weights`` of :meth:`forward` holds)."""
        return [self.param_shapes[i] for i in self._uncond_ids]

    def owned_param(self, param_id: int) -> Tensor:
        """The internal parameter with index ``param_id`` in :attr:`param_shapes`."""
        if param_id not in self.owned_ids:
            raise ValueError(f"parameter {param_id} ({self.param_shapes_meta[param_id]['name']}) is not "
                             "maintained internally; pass it to forward (cond_input / chunk_embs / weights)")
        return self.internal_params[self.owned_ids.index(param_id)]

    def forward(self, cond_id: int | Sequence[int] | Tensor | None = None, cond_input: Tensor | None = None,
                uncond_input: Tensor | None = None, weights: Sequence[Tensor] | None = None,
                chunk_embs: Sequence[Tensor | None] | None = None) -> Tensor:
        """Generated target weights ``[N, P]``, one row per condition.

        Args:
            cond_id: Task id(s) selecting internal task embeddings (and conditional chunk embeddings).
            cond_input: Explicit task embeddings ``[N, cond_in_size]`` instead of ``cond_id``.
            uncond_input: ``[N, uncond_in_size]`` if the network has an unconditional input.
            weights: Unconditional parameters in :attr:`unconditional_param_shapes` order (default: internal).
            chunk_embs: Conditional chunk embeddings per internal hypernetwork (``[N, n_i, e_i]`` or None),
                to use with ``cond_input``.
        """
        if cond_id is not None and cond_input is not None:
            raise ValueError("pass at most one of cond_id / cond_input")
        weights = [self.owned_param(i) for i in self._uncond_ids] if weights is None else list(weights)
        by_id = dict(zip(self._uncond_ids, weights))
        if cond_id is not None:
            if self.cond_in_size > 0:
                cond_input = self._stack_per_task([self.owned_param(i) for i in self.task_emb_ids], cond_id)
            if self.cond_chunk_embs:
                chunk_embs = [None if self.chunk_emb_sizes[h] == 0 else
                              self._stack_per_task([self.owned_param(s[h]) for s in self.chunk_emb_ids], cond_id)
                              for h in range(len(self.mlps))]
        if self.cond_in_size > 0 and cond_input is None:
            raise ValueError("this hypernetwork needs `cond_id` or `cond_input`")
        if self.cond_chunk_embs and chunk_embs is None:
            raise ValueError("conditional chunk embeddings: pass `cond_id`, or `chunk_embs` with `cond_input`")
        if self.uncond_in_size > 0 and uncond_input is None:
            raise ValueError("this hypernetwork needs `uncond_input`")
        candidates = [cond_input, uncond_input] + [c for c in (chunk_embs or []) if c is not None]
        N = next(t.shape[0] for t in candidates if t is not None)

        chunks = []
        for h, mlp in enumerate(self.mlps):
            n = self.num_per_chunk[h]
            rows = []  # each [N, n, *]
            if uncond_input is not None:
                rows.append(uncond_input[:, None, :].expand(N, n, self.uncond_in_size))
            if self.chunk_emb_sizes[h] > 0:
                rows.append(chunk_embs[h] if self.cond_chunk_embs else
                            by_id[self.chunk_emb_ids[0][h]].expand(N, n, self.chunk_emb_sizes[h]))
            if cond_input is not None:
                rows.append(cond_input[:, None, :].expand(N, n, self.cond_in_size))
            out = mlp(torch.cat(rows, dim=2).reshape(N * n, -1), [by_id[i] for i in self.mlp_ids[h]])
            sizes = [math.prod(s) for s in self.chunk_shapes[h]]
            chunks.append([t.reshape(N, n, *s) for t, s in zip(out.split(sizes, dim=1), self.chunk_shapes[h])])
        targets = self.assembly_fct(chunks)  # each [N, *target_shape]
        return torch.cat([t.reshape(N, -1) for t in targets], dim=1)  # [N, P]
