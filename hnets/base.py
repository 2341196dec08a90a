"""The contract every hypernetwork fulfils.

A hypernetwork maps a condition (a task id, i.e. an internal embedding, or an explicit ``cond_input``) to the
weights of a target network. It exposes :attr:`HyperNet.target_shapes` (the target's ``param_shapes``), its own
:attr:`HyperNet.param_shapes` in hypnettorch 0.0.4 order, and ``forward(cond_id=..., cond_input=...)`` returning
a flat tensor ``[N, P]`` — one row of target weights (in ``target_shapes`` order) per condition. ``cond_id`` may be
an int (N = 1) or a list of task ids (all old tasks in one call). :func:`mnets.base.unflatten_weights` turns the
rows into a weight list with leading axis N, which every main network accepts as K samples.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mnets.base import unflatten_weights


class HyperNet(nn.Module):
    """Base class with the bookkeeping shared by all hypernetworks."""

    def __init__(self, target_shapes: Sequence[Sequence[int]]) -> None:
        super().__init__()
        self.target_shapes = [list(s) for s in target_shapes]
        self.param_shapes: list[list[int]] = []
        self.param_shapes_meta: list[dict] = []
        self.internal_params = nn.ParameterList()
        self.conditional_param_ids: list[int] = []  # indices into internal_params (task embeddings)

    @property
    def num_outputs(self) -> int:
        """Number of generated target weights P."""
        return sum(math.prod(s) for s in self.target_shapes)

    @property
    def num_params(self) -> int:
        """Number of hypernetwork parameters (conditional + unconditional)."""
        return sum(math.prod(s) for s in self.param_shapes)

    @property
    def conditional_params(self) -> list[nn.Parameter]:
        """Task-specific parameters (embeddings), in task order."""
        return [self.internal_params[i] for i in self.conditional_param_ids]

    @property
    def unconditional_params(self) -> list[nn.Parameter]:
        """Parameters shared by all tasks."""
        ids = set(self.conditional_param_ids)
        return [p for i, p in enumerate(self.internal_params) if i not in ids]

    def padded_outputs(self, cond_id: int | Sequence[int] | Tensor) -> Tensor:
        """Generated rows ``[N, Q]`` whose first P columns are ``forward(cond_id=cond_id)``.

        A chunked hypernetwork returns its chunks uncut (``Q = C * chunk_size >= P``), so that a consumer that
        ignores the columns past P (:func:`utils.hnet_regularizer.regularized_rows`) saves the copy of the
        gradient that cutting them costs; every other hypernetwork returns its ``forward`` (``Q = P``).
        """
        return self(cond_id=cond_id)

    def target_weights(self, flat: Tensor) -> list[Tensor]:
        """Split generated rows ``[N, P]`` into the target's weight list (each ``[N, *shape]``)."""
        return unflatten_weights(flat, self.target_shapes)

    @staticmethod
    def _stack_per_task(params: Sequence[Tensor], cond_id: int | Sequence[int] | Tensor) -> Tensor:
        """``params[i]`` of every task id ``i`` in ``cond_id``, stacked ``[N, *shape]``.

        Only the selected tensors enter the graph, so the others get no gradient (None, as in hypnettorch) and
        the optimizer leaves them alone: a zero gradient would still move them under ``--weight_decay`` (and cost
        the optimizer a step for each).
        """
        ids = cond_id.reshape(-1).tolist() if isinstance(cond_id, Tensor) else (
            [cond_id] if isinstance(cond_id, int) else list(cond_id))
        return torch.stack([params[i] for i in ids])
