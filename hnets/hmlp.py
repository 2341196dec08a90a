"""Fully-connected hypernetwork (hypnettorch ``HMLP`` layout).

Parameters, in order: ``num_cond_embs`` task embeddings ``[cond_in_size]``, then ``W, b`` of each hidden layer and
of one linear output layer that produces all P target weights at once.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hnets.base import HyperNet
from mnets.base import activation, init_linear_
from mnets.batched import linear


class HMLP(HyperNet):
    """Hypernetwork ``[uncond_input, embedding] -> hidden layers -> P target weights``.

    Args:
        target_shapes: ``param_shapes`` of the target network.
        uncond_in_size: Size of an optional unconditional input (0 = none).
        cond_in_size: Size of the task embeddings.
        layers: Hidden layer sizes (empty = linear hypernetwork).
        activation_fn: Hidden activation name.
        num_cond_embs: Number of internal task embeddings (tasks).
        no_cond_weights: If True, embeddings are not internal; pass ``cond_input``.
        dropout_rate: Dropout before each hidden activation (-1 = off).
    """

    def __init__(self, target_shapes: Sequence[Sequence[int]], uncond_in_size: int = 0,
                 cond_in_size: int = 8, layers: Sequence[int] = (100, 100), activation_fn: str = "relu",
                 use_bias: bool = True, num_cond_embs: int = 1, no_cond_weights: bool = False,
                 dropout_rate: float = -1) -> None:
        super().__init__(target_shapes)
        self.uncond_in_size, self.cond_in_size = uncond_in_size, cond_in_size
        self.layers = list(layers)
        self.has_bias = use_bias
        self.num_cond_embs = num_cond_embs
        self._act = activation(activation_fn)
        self._dropout = nn.Dropout(dropout_rate) if dropout_rate != -1 else None

        for _ in range(num_cond_embs):
            self.param_shapes.append([cond_in_size])
            self.param_shapes_meta.append({"name": "embedding", "layer": 0})
            if not no_cond_weights:
                self.conditional_param_ids.append(len(self.internal_params))
                self.internal_params.append(nn.Parameter(torch.empty(cond_in_size).normal_(0.0, 1.0)))

        sizes = [uncond_in_size + cond_in_size, *self.layers, self.num_outputs]
        self.layer_weights: list[int] = []  # indices into internal_params
        self.layer_biases: list[int] = []
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            weight = nn.Parameter(torch.empty(fan_out, fan_in))
            bias = nn.Parameter(torch.empty(fan_out)) if use_bias else None
            init_linear_(weight.data, None if bias is None else bias.data)
            for tensor, name in ((weight, "weight"), (bias, "bias")):
                if tensor is None:
                    continue
                (self.layer_weights if name == "weight" else self.layer_biases).append(len(self.internal_params))
                self.internal_params.append(tensor)
                self.param_shapes.append(list(tensor.shape))
                self.param_shapes_meta.append({"name": name, "layer": 2 * layer + 1})
        assert len(self.param_shapes) == len(self.param_shapes_meta)

    def embeddings(self, cond_id: int | Sequence[int] | Tensor) -> Tensor:
        """Stacked task embeddings ``[N, cond_in_size]`` for the given task ids."""
        return self._stack_per_task(self.conditional_params, cond_id)

    def forward(self, cond_id: int | Sequence[int] | Tensor | None = None, cond_input: Tensor | None = None,
                uncond_input: Tensor | None = None) -> Tensor:
        """Generated target weights ``[N, P]``, one row per condition.

        Args:
            cond_id: Task id(s) selecting internal embeddings.
            cond_input: Explicit embeddings ``[N, cond_in_size]`` (instead of ``cond_id``).
            uncond_input: ``[N, uncond_in_size]`` if the network has an unconditional input.
        """
        if (cond_id is None) == (cond_input is None):
            raise ValueError("pass exactly one of cond_id / cond_input")
        h = self.embeddings(cond_id) if cond_input is None else cond_input
        if self.uncond_in_size > 0:
            if uncond_input is None:
                raise ValueError("this hypernetwork needs `uncond_input`")
            h = torch.cat([uncond_input, h], dim=1)
        weights = [self.internal_params[i] for i in self.layer_weights]
        biases = [self.internal_params[i] for i in self.layer_biases] or [None] * len(weights)
        for i, (weight, bias) in enumerate(zip(weights, biases)):
            h = linear(h, weight, bias)
            if i < len(weights) - 1:
                if self._dropout is not None:
                    h = self._dropout(h)
                if self._act is not None:
                    h = self._act(h)
        return h  # [N, P]
