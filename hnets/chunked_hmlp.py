"""Chunked hypernetwork (hypnettorch ``ChunkedHMLP``): one small MLP produces the target weights chunk by chunk.

The flat target vector (P values) is split into ``C = ceil(P / chunk_size)`` chunks. Chunk c of condition n is
``mlp([uncond_input_n, chunk_emb_c, task_emb_n])``; all N*C rows go through the MLP in one batched call, the
chunks are concatenated and the surplus of the last chunk is dropped.

Layout: ``num_cond_embs`` task embeddings ``[cond_in_size]``, the MLP's ``W, b`` per layer, then the chunk
embeddings ``[C, chunk_emb_size]``: one shared matrix, or one per condition with ``cond_chunk_embs``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hnets.base import HyperNet
from mnets.base import init_linear_
from mnets.mlp import MLP


class ChunkedHMLP(HyperNet):
    """Hypernetwork ``[uncond_input, chunk embedding, task embedding] -> MLP -> chunk of chunk_size weights``.

    Args:
        target_shapes: ``param_shapes`` of the target network.
        chunk_size: Number of weights the MLP produces per call.
        chunk_emb_size: Size of the chunk embeddings.
        cond_chunk_embs: Chunk embeddings are task-specific (conditional) instead of shared.
        uncond_in_size: Size of an optional unconditional input (0 = none).
        cond_in_size: Size of the task embeddings (0 = none; then ``cond_chunk_embs`` or an unconditional
            input must tell conditions apart).
        layers: Hidden layer sizes of the MLP.
        activation_fn: Hidden activation name.
        num_cond_embs: Number of conditions (tasks) with internal embeddings.
        no_uncond_weights: The MLP weights and shared chunk embeddings are passed to :meth:`forward`.
        no_cond_weights: Task embeddings (and conditional chunk embeddings) are not internal.
        dropout_rate: Dropout before each hidden activation (-1 = off).
    """

    def __init__(self, target_shapes: Sequence[Sequence[int]], chunk_size: int, chunk_emb_size: int = 8,
                 cond_chunk_embs: bool = False, uncond_in_size: int = 0, cond_in_size: int = 8,
                 layers: Sequence[int] = (100, 100), activation_fn: str = "relu", use_bias: bool = True,
                 no_uncond_weights: bool = False, no_cond_weights: bool = False, num_cond_embs: int = 1,
                 dropout_rate: float = -1) -> None:
        super().__init__(target_shapes)
        if chunk_size <= 0 or chunk_emb_size <= 0:
            raise ValueError("chunk_size and chunk_emb_size must be positive")
        if cond_chunk_embs and num_cond_embs == 0:
            raise ValueError("conditional chunk embeddings need known conditions (num_cond_embs > 0)")
        if cond_in_size == 0 and uncond_in_size == 0 and not cond_chunk_embs:
            raise ValueError("without any input the hypernetwork has a fixed output; use cond_chunk_embs")
        self.chunk_size, self.chunk_emb_size, self.cond_chunk_embs = chunk_size, chunk_emb_size, cond_chunk_embs
        self.uncond_in_size, self.cond_in_size = uncond_in_size, cond_in_size
        self.num_cond_embs = num_cond_embs
        self.layers = list(layers)
        self.num_chunks = math.ceil(self.num_outputs / chunk_size)
        self.mlp = MLP(uncond_in_size + chunk_emb_size + cond_in_size, chunk_size, layers, activation_fn,
                       use_bias, no_weights=True, dropout_rate=dropout_rate)

        # (param index, owned?) bookkeeping, in hypnettorch order; created and initialised in that order.
        self.owned_ids: list[int] = []
        self.task_emb_ids: list[int] = []  # indices into param_shapes
        self.chunk_emb_ids: list[int] = []
        self.mlp_ids: list[int] = []
        owned_params: list[nn.Parameter] = []

        def add(shape, meta, owned, init):
            self.param_shapes.append(list(shape))
            self.param_shapes_meta.append(meta)
            if owned:
                self.owned_ids.append(len(self.param_shapes) - 1)
                owned_params.append(nn.Parameter(init(torch.empty(shape))))
            return len(self.param_shapes) - 1

        for _ in range(num_cond_embs if cond_in_size > 0 else 0):
            self.task_emb_ids.append(add([cond_in_size], {"name": "embedding", "layer": 0}, not no_cond_weights,
                                         lambda t: t.normal_()))
        mlp_params = [torch.empty(s) for s in self.mlp.param_shapes]
        if not no_uncond_weights:  # nn.Linear default init, layer by layer (hypnettorch's RNG order)
            step = 2 if use_bias else 1
            for i in range(0, len(mlp_params), step):
                init_linear_(mlp_params[i], mlp_params[i + 1] if use_bias else None)
        for p, meta in zip(mlp_params, self.mlp.param_shapes_meta):
            self.mlp_ids.append(add(p.shape, {"name": meta["name"], "layer": 2 * meta["layer"] + 1},
                                    not no_uncond_weights, lambda t, p=p: p))
        num_cemb = num_cond_embs if cond_chunk_embs else 1
        owned_cemb = not (no_cond_weights if cond_chunk_embs else no_uncond_weights)
        for _ in range(num_cemb):
            self.chunk_emb_ids.append(add([self.num_chunks, chunk_emb_size],
                                          {"name": "embedding", "layer": 0, "info": "chunk embeddings"},
                                          owned_cemb, lambda t: t.normal_()))
        self.internal_params = nn.ParameterList(owned_params)
        cond = set(self.task_emb_ids) | (set(self.chunk_emb_ids) if cond_chunk_embs else set())
        self.conditional_param_ids = [j for j, i in enumerate(self.owned_ids) if i in cond]

    @property
    def unconditional_param_shapes(self) -> list[list[int]]:
        """Shapes of the unconditional parameters (what ``weights`` of :meth:`forward` holds)."""
        return [self.param_shapes[i] for i in self._uncond_ids]

    @property
    def _uncond_ids(self) -> list[int]:
        return self.mlp_ids + ([] if self.cond_chunk_embs else self.chunk_emb_ids)

    def owned_param(self, param_id: int) -> Tensor:
        """The internal parameter with index ``param_id`` in :attr:`param_shapes`."""
        if param_id not in self.owned_ids:
            raise ValueError(f"parameter {param_id} ({self.param_shapes_meta[param_id]['name']}) is not "
                             "maintained internally; pass it to forward (cond_input / chunk_embs / weights)")
        return self.internal_params[self.owned_ids.index(param_id)]

    def embeddings(self, cond_id: int | Sequence[int] | Tensor) -> Tensor:
        """Stacked task embeddings ``[N, cond_in_size]`` for the given task ids."""
        return self._stack_per_task([self.owned_param(i) for i in self.task_emb_ids], cond_id)

    def chunk_embeddings(self, cond_id: int | Sequence[int] | Tensor | None = None) -> Tensor:
        """Chunk embeddings ``[C, chunk_emb_size]`` (shared) or ``[N, C, chunk_emb_size]`` for task ids."""
        if not self.cond_chunk_embs:
            return self.owned_param(self.chunk_emb_ids[0])
        return self._stack_per_task([self.owned_param(i) for i in self.chunk_emb_ids], cond_id)

    def forward(self, cond_id: int | Sequence[int] | Tensor | None = None, cond_input: Tensor | None = None,
                uncond_input: Tensor | None = None, weights: Sequence[Tensor] | None = None,
                chunk_embs: Tensor | None = None, keep_padding: bool = False) -> Tensor:
        """Generated target weights ``[N, P]``, one row per condition.

        Args:
            cond_id: Task id(s) selecting internal task embeddings (and conditional chunk embeddings).
            cond_input: Explicit task embeddings ``[N, cond_in_size]`` instead of ``cond_id``.
            uncond_input: ``[N, uncond_in_size]`` if the network has an unconditional input.
            weights: Unconditional parameters in :attr:`unconditional_param_shapes` order (default: internal).
            chunk_embs: Conditional chunk embeddings ``[N, C, chunk_emb_size]`` to use with ``cond_input``.
            keep_padding: Return all ``C * chunk_size`` columns, the surplus of the last chunk included.
        """
        if cond_id is not None and cond_input is not None:
            raise ValueError("pass at most one of cond_id / cond_input")
        if weights is None:
            weights = [self.owned_param(i) for i in self._uncond_ids]
        if len(weights) != len(self._uncond_ids):
            raise ValueError(f"expected {len(self._uncond_ids)} unconditional tensors, got {len(weights)}")
        mlp_weights = list(weights[:len(self.mlp_ids)])

        if cond_id is not None:
            cond_input = self.embeddings(cond_id) if self.cond_in_size > 0 else None
            if self.cond_chunk_embs:
                chunk_embs = self.chunk_embeddings(cond_id)
        if self.cond_in_size > 0 and cond_input is None:
            raise ValueError("this hypernetwork needs `cond_id` or `cond_input`")
        if self.cond_chunk_embs and chunk_embs is None:
            raise ValueError("conditional chunk embeddings: pass `cond_id`, or `chunk_embs` with `cond_input`")
        if self.uncond_in_size > 0 and uncond_input is None:
            raise ValueError("this hypernetwork needs `uncond_input`")
        N = next(t.shape[0] for t in (cond_input, uncond_input, chunk_embs) if t is not None)
        C = self.num_chunks
        if not self.cond_chunk_embs:
            chunk_embs = weights[-1].expand(N, C, self.chunk_emb_size)

        rows = [chunk_embs]  # each [N, C, *]
        if uncond_input is not None:
            rows.insert(0, uncond_input[:, None, :].expand(N, C, self.uncond_in_size))
        if cond_input is not None:
            rows.append(cond_input[:, None, :].expand(N, C, self.cond_in_size))
        rows = torch.cat(rows, dim=2).reshape(N * C, -1)  # [N*C, U+E+D]
        chunks = self.mlp(rows, mlp_weights)  # [N*C, chunk_size]
        flat = chunks.reshape(N, C * self.chunk_size)
        if keep_padding:
            return flat
        # split, not a slice: its backward copies the gradient once instead of zero-filling [N, C * chunk] first
        return flat.split([self.num_outputs, flat.shape[1] - self.num_outputs], dim=1)[0]  # [N, P]

    def padded_outputs(self, cond_id: int | Sequence[int] | Tensor) -> Tensor:
        """The uncut chunks ``[N, C * chunk_size]`` of ``cond_id`` (see :meth:`hnets.base.HyperNet.padded_outputs`)."""
        return self(cond_id=cond_id, keep_padding=True)
