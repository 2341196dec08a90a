"""Recurrent main network of the RNN paper: FC layers -> Elman or LSTM layers -> FC layers (hypnettorch
``SimpleRNN``), with optional context modulation.

Inputs are time-major: ``x`` is ``[T, B, n_in]`` and the output ``[T, B, n_out]``; with a leading sample axis
K (weights ``[K, *shape]``) ``[K, T, B, n_out]``. The Elman layer has an extra hidden-to-output block inside
the layer: ``h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)`` drives the recurrence and
``y_t = act(W_ho h_t + b_ho)`` is what the next layer sees. Since ``y`` does not feed back, it is computed for
all time steps at once after the loop; input projections are likewise computed for all steps before it.

Layout: [context-mod gain/shift pairs] -> per pre-FC layer ``W, b`` -> per recurrent layer
``W_ih, b_ih, W_hh, b_hh[, W_ho, b_ho]`` (LSTM gates stacked in the order input, forget, cell, output) ->
per post-FC layer ``W, b`` (the last one is the linear output layer).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from mnets.base import MainNet, activation, init_linear_
from mnets.batched import batched_linear
from mnets.context_mod import ContextModLayer


def seq_linear(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """A linear layer on a sequence ``[(K,) T, B, I]`` -> ``[(K,) T, B, O]`` (K from ``x`` or ``weight``)."""
    if weight.dim() == 2:
        return F.linear(x, weight, bias)
    T, B = x.shape[-3], x.shape[-2]
    flat = x.reshape(*x.shape[:-3], T * B, x.shape[-1])  # [(K,) T*B, I]
    return batched_linear(flat, weight, bias).unflatten(1, (T, B))  # [K, T, B, O]


def recurrent_step(pre: Tensor, h: Tensor, w_hh_t: Tensor) -> Tensor:
    """``pre + h @ w_hh_t`` in one fused call: ``[(K,) B, G*H]``."""
    if w_hh_t.dim() == 3:
        return torch.baddbmm(pre, h, w_hh_t)
    if h.dim() == 2:
        return torch.addmm(pre, h, w_hh_t)
    return pre + h @ w_hh_t


class SimpleRNN(MainNet):
    """Stack of FC, recurrent (Elman or LSTM) and FC layers with a linear output layer.

    Args:
        n_in: Input size per time step.
        rnn_layers: Sizes of the recurrent layers (at least one).
        fc_layers_pre: Sizes of FC layers before the recurrent layers.
        fc_layers: Sizes of FC layers after them; the last is the (linear) output layer. If empty, the last
            recurrent layer is the output.
        activation_fn: ``tanh``, ``relu`` or ``linear`` (hidden FC layers, Elman ``h``/``y``, LSTM cell
            output).
        use_lstm: LSTM instead of Elman layers.
        kaiming_rnn_init: Initialise recurrent layers like ``nn.Linear`` (the RNN paper's setting);
            otherwise U(-1/sqrt(H), 1/sqrt(H)) as PyTorch's RNN modules.
        use_context_mod: Add context-modulation gain/shift pairs (for the input if ``context_mod_inputs``, each
            pre-FC layer, each recurrent layer and each post-FC layer, the output layer unless
            ``no_last_layer_context_mod``). Applied before the activation (after it with
            ``context_mod_post_activation``); for the Elman layer to both ``h`` and ``y``, for the LSTM to
            the cell state entering the output activation.
        context_mod_no_weights: Context-mod weights are not owned (pass them to :meth:`forward`, alone or with
            all other weights).
        context_mod_gain_offset, context_mod_gain_softplus: Gain preprocessing, see
            :class:`~mnets.context_mod.ContextModLayer`.
    """

    def __init__(self, n_in: int = 1, rnn_layers: Sequence[int] = (10,), fc_layers_pre: Sequence[int] = (),
                 fc_layers: Sequence[int] = (1,), activation_fn: str = "tanh", use_lstm: bool = False,
                 use_bias: bool = True, no_weights: bool = False, kaiming_rnn_init: bool = False,
                 use_context_mod: bool = False, context_mod_inputs: bool = False,
                 no_last_layer_context_mod: bool = False, context_mod_no_weights: bool = False,
                 context_mod_post_activation: bool = False, context_mod_gain_offset: bool = False,
                 context_mod_gain_softplus: bool = False) -> None:
        super().__init__()
        if len(rnn_layers) == 0:
            raise ValueError("SimpleRNN needs at least one recurrent layer")
        if activation_fn not in ("tanh", "relu", "linear"):
            raise ValueError("recurrent networks allow the activations tanh, relu and linear")
        self.n_in, self.rnn_layers = n_in, list(rnn_layers)
        self.fc_layers_pre, self.fc_layers = list(fc_layers_pre), list(fc_layers)
        self.use_lstm, self.has_bias = use_lstm, use_bias
        self.activation_name, self._act = activation_fn, activation(activation_fn)
        self.context_mod_post_activation = context_mod_post_activation
        self.bptt_depth = -1  # truncated BPTT: detach states older than the last `bptt_depth` steps

        # Context-mod layers: input, pre-FC, recurrent, post-FC (hypnettorch's layer numbering).
        self.context_mod_layers: list[ContextModLayer] = []
        cm_sizes, cm_layer_ids = [], []
        n_rec_cm, n_fc_cm = len(rnn_layers), len(fc_layers)
        if use_context_mod:
            if no_last_layer_context_mod:  # the output layer is the last FC layer, or the last recurrent one
                n_fc_cm, n_rec_cm = (n_fc_cm - 1, n_rec_cm) if fc_layers else (0, n_rec_cm - 1)
            if context_mod_inputs:
                cm_sizes.append(n_in)
                cm_layer_ids.append(0)
            sizes = self.fc_layers_pre + self.rnn_layers[:n_rec_cm] + self.fc_layers[:n_fc_cm]
            cm_sizes += sizes
            cm_layer_ids += [2 + 2 * i for i in range(len(sizes))]
        for size, layer in zip(cm_sizes, cm_layer_ids):
            self.context_mod_layers.append(ContextModLayer(size, context_mod_gain_offset,
                                                           context_mod_gain_softplus))
            for name in ("cm_scale", "cm_shift"):
                self._add(name, [size], layer)
        self.context_mod_inputs = use_context_mod and context_mod_inputs
        self._cm_pre = int(self.context_mod_inputs)  # index of the first pre-FC context-mod layer
        self._cm_rec = self._cm_pre + (len(self.fc_layers_pre) if use_context_mod else 0)
        self._cm_post = self._cm_rec + (n_rec_cm if use_context_mod else 0)
        self._n_rec_cm, self._n_fc_cm = (n_rec_cm, n_fc_cm) if use_context_mod else (0, 0)
        self.num_cm_params = len(self.param_shapes)

        prev = n_in
        for i, size in enumerate(self.fc_layers_pre):
            self._add_linear(size, prev, 1 + 2 * i)
            prev = size
        gates = 4 if use_lstm else 1
        for i, size in enumerate(self.rnn_layers):
            layer = 1 + 2 * i + 2 * len(self.fc_layers_pre)
            self._add_linear(gates * size, prev, layer, "ih")
            self._add_linear(gates * size, size, layer, "hh")
            if not use_lstm:
                self._add_linear(size, size, layer, "ho")
            prev = size
        for i, size in enumerate(self.fc_layers):
            self._add_linear(size, prev, 1 + 2 * len(self.fc_layers_pre) + 2 * len(self.rnn_layers) + 2 * i)
            prev = size

        # Which tensors this network owns: main weights unless `no_weights`, context-mod weights unless
        # `context_mod_no_weights`.
        self.owned_ids = [i for i in range(len(self.param_shapes))
                          if (not context_mod_no_weights if i < self.num_cm_params else not no_weights)]
        if self.owned_ids:
            self.internal_params = nn.ParameterList(
                [nn.Parameter(torch.empty(self.param_shapes[i])) for i in self.owned_ids])
            self._init_params(kaiming_rnn_init)
        self._check_setup()

    def _add(self, name: str, shape: Sequence[int], layer: int, info: str | None = None) -> None:
        self.param_shapes.append(list(shape))
        self.param_shapes_meta.append({"name": name, "layer": layer, **({"info": info} if info else {})})

    def _add_linear(self, n_out: int, n_in: int, layer: int, info: str | None = None) -> None:
        self._add("weight", [n_out, n_in], layer, info)
        if self.has_bias:
            self._add("bias", [n_out], layer, info)

    def _check_setup(self) -> None:
        assert len(self.param_shapes) == len(self.param_shapes_meta)
        if self.internal_params is not None:
            assert [list(p.shape) for p in self.internal_params] == [self.param_shapes[i] for i in self.owned_ids]

    @torch.no_grad()
    def _init_params(self, kaiming_rnn_init: bool) -> None:
        """hypnettorch's init: identity context modulation, then every layer in order (RNG order kept)."""
        owned = dict(zip(self.owned_ids, self.internal_params))
        for j, cm in enumerate(self.context_mod_layers):
            if 2 * j in owned:
                cm.init_(owned[2 * j], owned[2 * j + 1])
        for i, meta in enumerate(self.param_shapes_meta):
            if meta["name"] != "weight" or i not in owned:
                continue
            weight, bias = owned[i], owned[i + 1] if self.has_bias else None
            if meta.get("info") in ("ih", "hh", "ho") and not kaiming_rnn_init:
                hidden = self.rnn_layers[(meta["layer"] - 1 - 2 * len(self.fc_layers_pre)) // 2]
                a = 1.0 / math.sqrt(hidden)
                weight.uniform_(-a, a)
                if bias is not None:
                    bias.uniform_(-a, a)
            else:
                init_linear_(weight, bias)

    @torch.no_grad()
    def init_hh_weights_orthogonal(self) -> None:
        """Re-initialise the owned hidden-to-hidden matrices orthogonally (per gate block for LSTMs)."""
        owned = dict(zip(self.owned_ids, self.internal_params))
        for i, meta in enumerate(self.param_shapes_meta):
            if meta["name"] == "weight" and meta.get("info") == "hh" and i in owned:
                for block in owned[i].chunk(4 if self.use_lstm else 1, dim=0):
                    nn.init.orthogonal_(block)

    def resolve_weights(self, weights: Sequence[Tensor] | None) -> tuple[list[Tensor], int | None]:
        """Like :meth:`MainNet.resolve_weights`; additionally ``weights`` may hold only the context-mod
        weights (e.g. a task's masks), which are combined with the owned main weights."""
        n_cm, n_all = self.num_cm_params, len(self.param_shapes)
        if weights is not None and 0 < n_cm < n_all and len(weights) == n_cm:
            owned = dict(zip(self.owned_ids, self.internal_params or []))
            if any(i not in owned for i in range(n_cm, n_all)):
                raise ValueError("only context-mod weights were passed but the main weights are not owned")
            if weights[0].dim() > len(self.param_shapes[0]):
                raise ValueError("context-mod weights alone cannot carry a sample axis; pass all weights")
            return list(weights) + [owned[i] for i in range(n_cm, n_all)], None
        if weights is None and len(self.owned_ids) != n_all:
            raise ValueError(f"{type(self).__name__} does not own all its weights; pass `weights`")
        return super().resolve_weights(weights)

    def _modulate(self, h: Tensor, cm_index: int | None, cm_weights: list[Tensor], post: bool) -> Tensor:
        """Context modulation of layer ``cm_index`` if it applies at this point (pre or post activation)."""
        if cm_index is None or post != self.context_mod_post_activation:
            return h
        return self.context_mod_layers[cm_index](h, cm_weights[2 * cm_index], cm_weights[2 * cm_index + 1])

    def _fc(self, h: Tensor, weight: Tensor, bias: Tensor | None, cm_index: int | None,
            cm_weights: list[Tensor], apply_act: bool) -> Tensor:
        h = self._modulate(seq_linear(h, weight, bias), cm_index, cm_weights, post=False)
        if apply_act and self._act is not None:
            h = self._act(h)
        return self._modulate(h, cm_index, cm_weights, post=True)

    def cell(self, z: Tensor, c: Tensor, cm_index: int | None = None, cm_weights: Sequence[Tensor] = ()
             ) -> tuple[Tensor, Tensor]:
        """One step of a recurrent layer after its linear maps: ``z = W_ih x_t + b + W_hh h_{t-1}``
        ``[(K,) B, G*H]`` and the previous cell state ``c`` -> ``(h_t, c_t)`` (Elman: ``c`` passes through)."""
        if self.use_lstm:
            i, f, g, o = z.chunk(4, dim=-1)
            c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            c_mod = self._modulate(c, cm_index, cm_weights, post=False)
            h = torch.sigmoid(o) * (c_mod if self._act is None else self._act(c_mod))
            return self._modulate(h, cm_index, cm_weights, post=True), c
        h = self._modulate(z, cm_index, cm_weights, post=False)
        h = h if self._act is None else self._act(h)
        return self._modulate(h, cm_index, cm_weights, post=True), c

    def _recurrent(self, x: Tensor, params: list[Tensor | None], cm_index: int | None,
                   cm_weights: list[Tensor]) -> tuple[Tensor, Tensor]:
        """One recurrent layer over the whole sequence.

        Returns:
            ``(outputs, internal)``, both ``[(K,) T, B, H]``: ``(y, h)`` for Elman layers, ``(h, c)`` for LSTMs.
        """
        w_ih, b_ih, w_hh, b_hh = params[:4]
        bias = None if b_ih is None else b_ih + b_hh  # (both biases exist or neither)
        pre = seq_linear(x, w_ih, bias)  # input projections of all steps, both biases: [(K,) T, B, G*H]
        T = pre.shape[-3]
        H = w_hh.shape[-1]
        w_hh_t = w_hh.transpose(-1, -2)  # [(K,) H, G*H]
        state = pre.new_zeros(*pre.shape[:-3], pre.shape[-2], H)  # [(K,) B, H]
        h, c = state, state
        outputs, cells = [], []
        for t in range(T):
            z = recurrent_step(pre[..., t, :, :], h, w_hh_t)  # [(K,) B, G*H]
            h, c = self.cell(z, c, cm_index, cm_weights)
            if self.bptt_depth != -1 and t < T - self.bptt_depth:
                h, c = h.detach(), c.detach()
            outputs.append(h)
            cells.append(c)
        hs = torch.stack(outputs, dim=-3)  # [(K,) T, B, H]
        if self.use_lstm:
            return hs, torch.stack(cells, dim=-3)
        # Elman: the hidden-to-output block, for all steps at once.
        return self._fc(hs, params[4], params[5], cm_index, cm_weights, apply_act=True), hs

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None, condition=None,
                return_hidden: bool = False, return_hidden_int: bool = False):
        """Outputs ``[T, B, n_out]`` (``[K, T, B, n_out]`` for weights with a sample axis K).

        Args:
            x: ``[T, B, n_in]`` (shared by all weight samples) or ``[K, T, B, n_in]``.
            return_hidden: Also return the list of every hidden layer's outputs (``y`` for Elman layers,
                ``h`` for LSTMs; the output layer excluded).
            return_hidden_int: Also return the internal states per layer (``h`` for Elman layers, ``c`` for
                LSTMs; None for FC layers).

        Returns:
            The outputs, or ``(outputs, hidden)`` / ``(outputs, hidden, hidden_int)``.
        """
        if condition is not None:
            raise NotImplementedError("checkpointed context-mod weights (condition) are not supported")
        if return_hidden_int and not return_hidden:
            raise ValueError("return_hidden_int requires return_hidden")
        w, _ = self.resolve_weights(weights)
        cm_weights, main = w[:self.num_cm_params], w[self.num_cm_params:]
        per_layer = 2 if self.has_bias else 1
        layers = [(main[i], main[i + 1] if self.has_bias else None) for i in range(0, len(main), per_layer)]
        hidden, hidden_int = [], []

        h = self.context_mod_layers[0](x, cm_weights[0], cm_weights[1]) if self.context_mod_inputs else x
        for i, (weight, bias) in enumerate(layers[:len(self.fc_layers_pre)]):
            cm = self._cm_pre + i if self.context_mod_layers else None
            h = self._fc(h, weight, bias, cm, cm_weights, apply_act=True)
            hidden.append(h)
            hidden_int.append(None)
        rec_params = [p for pair in layers[len(self.fc_layers_pre):len(layers) - len(self.fc_layers)]
                      for p in pair]
        n_rec = 3 if not self.use_lstm else 2
        for d in range(len(self.rnn_layers)):
            cm = self._cm_rec + d if d < self._n_rec_cm else None
            h, h_int = self._recurrent(h, rec_params[2 * n_rec * d:2 * n_rec * (d + 1)], cm, cm_weights)
            hidden.append(h)
            hidden_int.append(h_int)
        post = layers[len(layers) - len(self.fc_layers):]
        for i, (weight, bias) in enumerate(post):
            cm = self._cm_post + i if i < self._n_fc_cm else None
            h = self._fc(h, weight, bias, cm, cm_weights, apply_act=i < len(post) - 1)
            hidden.append(h)
            hidden_int.append(None)

        if not return_hidden:
            return h
        hidden.pop()
        hidden_int.pop()
        return (h, hidden, hidden_int) if return_hidden_int else (h, hidden)
