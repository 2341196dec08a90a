"""Fully-connected main network (hypnettorch ``MLP`` layout: ``W0, b0, W1, b1, ...``, ``W`` is ``[out, in]``)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from mnets.base import MainNet, activation, init_linear_
from mnets.batched import batched_linear


class MLP(MainNet):
    """Multi-layer perceptron ``n_in -> hidden_layers -> n_out`` with dropout and activation on hidden layers only.

    Args:
        hidden_layers: Sizes of the hidden layers (may be empty).
        activation_fn: Name of the hidden activation (``linear, sigmoid, relu, elu, tanh``).
        use_bias: Whether layers have biases.
        no_weights: If True the network owns no parameters; weights must be passed to :meth:`forward`.
        dropout_rate: Dropout probability after each hidden activation (-1 = off).
    """

    def __init__(self, n_in: int = 1, n_out: int = 1, hidden_layers: Sequence[int] = (10, 10),
                 activation_fn: str = "relu", use_bias: bool = True, no_weights: bool = False,
                 dropout_rate: float = -1) -> None:
        super().__init__()
        self.n_in, self.n_out = n_in, n_out
        self.hidden_layers = list(hidden_layers)
        self.activation_name = activation_fn
        self._act = activation(activation_fn)
        self.has_bias = use_bias
        self._dropout = nn.Dropout(dropout_rate) if dropout_rate != -1 else None

        sizes = [n_in, *self.hidden_layers, n_out]
        for layer, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
            self.param_shapes.append([fan_out, fan_in])
            self.param_shapes_meta.append({"name": "weight", "layer": layer})
            if use_bias:
                self.param_shapes.append([fan_out])
                self.param_shapes_meta.append({"name": "bias", "layer": layer})

        if not no_weights:
            self.internal_params = nn.ParameterList(
                [nn.Parameter(torch.empty(*s)) for s in self.param_shapes])
            for weight, bias in self._layer_params(list(self.internal_params)):
                init_linear_(weight.data, None if bias is None else bias.data)
        self._check_setup()

    def _layer_params(self, weights: list[Tensor]) -> list[tuple[Tensor, Tensor | None]]:
        """Pair up ``(weight, bias)`` per layer."""
        if self.has_bias:
            return list(zip(weights[0::2], weights[1::2]))
        return [(w, None) for w in weights]

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None, condition=None) -> Tensor:
        """Logits/outputs ``[B, n_out]``, or ``[K, B, n_out]`` for weights with a sample axis K."""
        weights, _ = self.resolve_weights(weights)
        layers = self._layer_params(weights)
        h = x
        for i, (weight, bias) in enumerate(layers):
            h = batched_linear(h, weight, bias)
            if i < len(layers) - 1:
                if self._dropout is not None:  # before the activation, as hypnettorch
                    h = self._dropout(h)
                if self._act is not None:
                    h = self._act(h)
        return h
