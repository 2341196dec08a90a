"""Bidirectional RNN (hypnettorch ``BiRNN``): per layer a forward and a backward :class:`SimpleRNN`, their
outputs concatenated, then an optional output :class:`MLP`.

The backward network reads each sequence reversed within its unpadded length. Faithful quirk: with sequence
lengths given, the original zeroes the forward network's outputs at the *valid* steps (it meant the padded
ones), so the forward direction contributes nothing and receives no gradient: the PoS "BiLSTM" is in effect a
backward LSTM. This is the default; ``fix_bilstm_masking=True`` zeroes the padded steps instead.

Layout: per layer the forward network's weights, then the backward network's, then the output MLP's. The
BiRNN owns all weights; the sub-networks are run with weights passed in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch
from torch import Tensor, nn

from mnets.base import MainNet
from mnets.mlp import MLP
from mnets.simple_rnn import SimpleRNN


def reverse_sequences(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Reverse ``[(K,) T, B, F]`` along time within each sequence's length; padded steps become 0.

    ``lengths`` is ``[B]``, or ``[K, B]`` when every weight sample k runs its own sequences (per-sample Fisher).
    """
    if lengths is None:
        return x.flip(-3)
    T = x.shape[-3]
    t = torch.arange(T, device=x.device)[:, None]  # [T, 1]
    L = lengths.unsqueeze(-2)  # [(K,) 1, B]
    source = (L - 1 - t).clamp(min=0)  # [(K,) T, B]: time step read for output step t
    out = x.gather(-3, source[..., None].expand(x.shape))  # [(K,) T, B, F]
    return torch.where((t < L)[..., None], out, torch.zeros((), dtype=x.dtype))


class BiRNN(MainNet):
    """Stacked bidirectional recurrent layers plus an optional output MLP.

    Args:
        rnn_args: :class:`SimpleRNN` keyword arguments of one layer (a dict) or of several (a list of dicts);
            both directions of a layer share them.
        mlp_args: :class:`MLP` keyword arguments of the output network (None = no output network); its
            ``n_in`` must be twice the last layer's output size.
        preprocess_fct: Applied to the inputs first, as ``preprocess_fct(x, seq_lengths=...)`` (e.g. word
            embeddings for PoS tagging).
        fix_bilstm_masking: Zero the forward outputs at padded steps instead of (as the original) at the
            valid steps.
    """

    def __init__(self, rnn_args: dict | Sequence[dict] = (), mlp_args: dict | None = None,
                 preprocess_fct: Callable | None = None, no_weights: bool = False,
                 fix_bilstm_masking: bool = False) -> None:
        super().__init__()
        rnn_args = [rnn_args] if isinstance(rnn_args, dict) else list(rnn_args) or [{}]
        self.preprocess_fct, self.fix_bilstm_masking = preprocess_fct, fix_bilstm_masking
        nets, kinds = [], []
        for i, args in enumerate(rnn_args):  # construction order = hypnettorch's (same init for a seed)
            for kind in ("forward_rnn", "backward_rnn"):
                nets.append(SimpleRNN(**{**args, "no_weights": no_weights}))
                kinds.append((kind, i))
        if mlp_args is not None:
            nets.append(MLP(**{**mlp_args, "no_weights": no_weights}))
            kinds.append(("out_mlp", -1))
        self.rnns = nn.ModuleList(nets[:2 * len(rnn_args)])
        self.out_mlp = nets[-1] if mlp_args is not None else None

        owned, self.owned_ids, self._sizes = [], [], []
        for j, (net, (kind, net_id)) in enumerate(zip(nets, kinds)):
            offset = len(self.param_shapes)
            self._sizes.append(len(net.param_shapes))
            for meta in net.param_shapes_meta:
                self.param_shapes_meta.append({**meta, "layer": meta["layer"] if j == 0 else -1,
                                               "birnn_layer_type": kind, "birnn_layer_id": net_id})
            self.param_shapes.extend(net.param_shapes)
            net_owned = getattr(net, "owned_ids", range(len(net.param_shapes)))
            if net.internal_params is not None:
                self.owned_ids += [offset + i for i in net_owned]
                owned += list(net.internal_params)
            # The sub-network becomes functional: this module owns (and registers) its weights.
            net.internal_params = None
            if hasattr(net, "owned_ids"):
                net.owned_ids = []
        self.internal_params = nn.ParameterList(owned) if owned else None
        self._cm_ids = [i for i, m in enumerate(self.param_shapes_meta) if m["name"].startswith("cm_")]
        self._check_setup()

    @property
    def use_lstm(self) -> bool:
        """Whether the recurrent layers are LSTMs (the first layer's cell type)."""
        return self.rnns[0].use_lstm

    def _check_setup(self) -> None:
        assert len(self.param_shapes) == len(self.param_shapes_meta)
        if self.internal_params is not None:
            assert [list(p.shape) for p in self.internal_params] == [self.param_shapes[i] for i in self.owned_ids]

    def resolve_weights(self, weights: Sequence[Tensor] | None) -> tuple[list[Tensor], int | None]:
        """Like :meth:`MainNet.resolve_weights`; ``weights`` may also hold only the context-mod weights
        (all sub-networks' ``cm_*`` tensors in order), combined with the owned remaining weights."""
        n_all = len(self.param_shapes)
        if weights is not None and 0 < len(self._cm_ids) < n_all and len(weights) == len(self._cm_ids):
            full = dict(zip(self.owned_ids, self.internal_params or []))
            full.update(zip(self._cm_ids, weights))
            if len(full) != n_all:
                raise ValueError("only context-mod weights were passed but the other weights are not owned")
            return [full[i] for i in range(n_all)], None
        if weights is None and len(self.owned_ids) != n_all:
            raise ValueError("BiRNN does not own all its weights; pass `weights`")
        return super().resolve_weights(weights)

    @torch.no_grad()
    def init_hh_weights_orthogonal(self) -> None:
        """Orthogonal hidden-to-hidden init of every owned recurrent layer (all forward networks first)."""
        owned = dict(zip(self.owned_ids, self.internal_params or []))
        for kind in ("forward_rnn", "backward_rnn"):
            for i, meta in enumerate(self.param_shapes_meta):
                if meta["birnn_layer_type"] == kind and meta["name"] == "weight" and meta.get("info") == "hh" \
                        and i in owned:
                    lstm = self.rnns[2 * meta["birnn_layer_id"]].use_lstm
                    for block in owned[i].chunk(4 if lstm else 1, dim=0):
                        nn.init.orthogonal_(block)

    def forward(self, x: Tensor, weights: Sequence[Tensor] | None = None, condition=None,
                seq_lengths: Sequence[int] | np.ndarray | Tensor | None = None,
                rnn_fn: Callable[[SimpleRNN, Tensor, list[Tensor]], Tensor] | None = None) -> Tensor:
        """Outputs ``[T, B, n_out]`` (``[K, T, B, n_out]`` for weights with a sample axis K).

        Args:
            x: ``[T, B, n_in]`` or ``[K, T, B, n_in]`` (time-major, padded after each sequence's end).
            seq_lengths: Unpadded length of each of the B sequences (``[K, B]``: per weight sample).
            rnn_fn: Runs one direction as ``rnn_fn(net, x, weights)`` (default ``net(x, weights)``), e.g. a
                forward pass on fused kernels.
        """
        run = rnn_fn or (lambda net, h, w: net(h, w))
        w, K = self.resolve_weights(weights)
        parts, start = [], 0
        for size in self._sizes:
            parts.append(w[start:start + size])
            start += size
        if self.preprocess_fct is not None:
            x = self.preprocess_fct(x, seq_lengths=seq_lengths)
        if seq_lengths is None or isinstance(seq_lengths, Tensor):
            lengths = None if seq_lengths is None else seq_lengths.to(x.device)
        else:
            lengths = torch.as_tensor(np.asarray(seq_lengths), device=x.device)
        h = x
        for layer in range(len(self.rnns) // 2):
            h_f = run(self.rnns[2 * layer], h, parts[2 * layer])
            h_b = reverse_sequences(run(self.rnns[2 * layer + 1], reverse_sequences(h, lengths), parts[2 * layer + 1]),
                                    lengths)
            if lengths is not None:
                valid = torch.arange(h.shape[-3], device=x.device)[:, None] < lengths.unsqueeze(-2)  # [(K,) T, B]
                drop = valid if not self.fix_bilstm_masking else ~valid  # original: zeroes the VALID steps
                h_f = torch.where(drop[..., None], torch.zeros((), dtype=h_f.dtype), h_f)
            h = torch.cat([h_f, h_b], dim=-1)  # [(K,) T, B, 2H]
        if self.out_mlp is None:
            return h
        flat = h.flatten(-3, -2)  # [(K,) T*B, 2H]: the MLP sees one row per step and sequence
        return self.out_mlp(flat, parts[-1]).unflatten(-2, h.shape[-3:-1])  # [(K,) T, B, n_out]
