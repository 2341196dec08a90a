"""Networks of the RNN runner: the recurrent main network, its hypernetwork, and a fused forward pass.

* :func:`build_main_net` — a :class:`~mnets.simple_rnn.SimpleRNN` from the config (``nn.Linear``-style init
  of the recurrent matrices, optional orthogonal hidden-to-hidden init, masks as context modulation).
* :func:`build_hnet` — the chunked / full hypernetwork from the ``nh_*`` flags (``--use_new_hnet``) or from the
  deprecated ``--hyper_chunks/--hnet_arch/--temb_size/--emb_size/--hnet_act`` flags (translated to the same
  implementation, spec §3.1).
* :func:`rnn_forward` — the main network's forward with PyTorch's fused RNN kernels (``nn.RNN`` / ``nn.LSTM``
  through :func:`torch.func.functional_call`) when no context modulation is active, so no Python loop over
  timesteps runs; Elman's hidden-to-output block is applied to all steps at once afterwards.

Shapes: ``T`` time, ``B`` batch, ``F`` input features, ``H`` hidden units, ``O`` output units.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn
from torch.func import functional_call
from torch.nn import functional as F

from hnets.base import HyperNet
from hnets.chunked_hyperfan import chunked_hyperfan_init_
from hnets.flag_translation import deprecated_hnet_config, new_hnet_config
from hnets.init import init_embeddings_
from hnets.registry import hnet_class
from mnets.bi_rnn import BiRNN
from mnets.simple_rnn import SimpleRNN
from utils.cli import ConfigError, parse_int_list


def build_main_net(config: argparse.Namespace, n_in: int, n_out: int, no_weights: bool = False,
                   use_masks: bool = False) -> SimpleRNN:
    """The classifier: pre-FC -> recurrent (Elman with ``--use_vanilla_rnn``, else LSTM) -> post-FC -> output.

    Args:
        n_in: Input size per step (task one-hot included with ``--input_task_identity``).
        n_out: Output units (all heads, plus the encoder's latent units under generative replay).
        no_weights: The weights come from a hypernetwork (``--hnet_all``).
        use_masks: Add context-mod layers on the recurrent layers for binary masks (gains passed per task).
    """
    net = SimpleRNN(
        n_in=n_in, rnn_layers=parse_int_list(config.rnn_arch, "rnn_arch"),
        fc_layers_pre=parse_int_list(config.srnn_pre_fc_layers, "srnn_pre_fc_layers"),
        fc_layers=parse_int_list(config.srnn_post_fc_layers, "srnn_post_fc_layers") + [n_out],
        activation_fn=config.net_act, use_lstm=not config.use_vanilla_rnn, no_weights=no_weights,
        kaiming_rnn_init=True, use_context_mod=use_masks, no_last_layer_context_mod=True,
        context_mod_no_weights=True,
    )
    if config.orthogonal_hh_init and not no_weights:
        net.init_hh_weights_orthogonal()
    return net


def build_bidirectional_net(config: argparse.Namespace, n_in: int, n_out: int, no_weights: bool = False,
                            use_masks: bool = False) -> BiRNN:
    """The PoS BiRNN (``--use_bidirectional_net``): per direction pre-FC -> recurrent -> post-FC layers, both
    directions' outputs concatenated -> linear output layer (all heads).

    As in the original, the halves keep PyTorch's recurrent init (it does not ask the BiRNN for ``nn.Linear``-style
    init); masks act on every recurrent layer of both directions; ``--fix_bilstm_masking`` selects the corrected
    forward-direction masking (:class:`~mnets.bi_rnn.BiRNN`).
    """
    post = parse_int_list(config.srnn_post_fc_layers, "srnn_post_fc_layers")
    rec = parse_int_list(config.rnn_arch, "rnn_arch")
    rnn_args = dict(n_in=n_in, rnn_layers=rec, fc_layers_pre=parse_int_list(config.srnn_pre_fc_layers,
                                                                            "srnn_pre_fc_layers"),
                    fc_layers=post, activation_fn=config.net_act, use_lstm=not config.use_vanilla_rnn,
                    use_context_mod=use_masks, context_mod_no_weights=True)
    mlp_args = dict(n_in=2 * (post or rec)[-1], n_out=n_out, hidden_layers=[])
    net = BiRNN(rnn_args, mlp_args, no_weights=no_weights, fix_bilstm_masking=config.fix_bilstm_masking)
    if config.orthogonal_hh_init and not no_weights:
        net.init_hh_weights_orthogonal()
    return net


def merge_weights(net: SimpleRNN | BiRNN, cm_weights: Sequence[Tensor], main_weights: Sequence[Tensor]
                  ) -> list[Tensor]:
    """All weights in ``param_shapes`` order from the context-mod ones (a task's masks) and the others."""
    cm, main = iter(cm_weights), iter(main_weights)
    return [next(cm) if m["name"].startswith("cm_") else next(main) for m in net.param_shapes_meta]


def mask_layer_sizes(net: SimpleRNN | BiRNN) -> list[int]:
    """Units of every context-mod (mask) layer, in ``param_shapes`` order."""
    return [s[0] for s, m in zip(net.param_shapes, net.param_shapes_meta) if m["name"] == "cm_scale"]


def hnet_config(config: argparse.Namespace) -> tuple[str, dict]:
    """Hypernetwork type and constructor kwargs from the new (``nh_*``) or the deprecated flags."""
    try:
        if config.use_new_hnet:
            return new_hnet_config(config.nh_hnet_type, config.nh_hmlp_arch, config.nh_cond_emb_size,
                                   config.nh_chmlp_chunk_size, config.nh_chunk_emb_size,
                                   config.nh_use_cond_chunk_embs, config.nh_hnet_net_act, config.nh_hnet_no_bias,
                                   config.nh_hnet_dropout_rate, config.nh_hnet_specnorm)
        return deprecated_hnet_config(config.hyper_chunks, config.hnet_arch, config.hnet_act, config.temb_size,
                                      config.emb_size, config.hnet_noise_dim, config.hnet_dropout_rate,
                                      config.temb_std)
    except NotImplementedError as err:
        raise ConfigError(str(err)) from None


def build_hnet(config: argparse.Namespace, target_shapes: Sequence[Sequence[int]], num_tasks: int,
               target_meta: Sequence[dict] | None = None) -> HyperNet:
    """The task-conditioned hypernetwork; embeddings drawn from N(0, ``std_normal_temb``^2) (task) and
    N(0, ``std_normal_emb``^2) (chunks), or hyperfan-in init with ``--hyper_fan_init``."""
    if config.nh_separate_out_head:
        raise ConfigError("--nh_separate_out_head is not supported by this runner (no README run uses it)")
    name, kwargs = hnet_config(config)
    hnet = hnet_class(name)(target_shapes, num_cond_embs=num_tasks, **kwargs)
    init_embeddings_(hnet, config.std_normal_temb, config.std_normal_emb)
    if config.hyper_fan_init:
        if name != "chunked_hmlp":
            raise ConfigError("--hyper_fan_init is only supported for chunked hypernetworks here")
        chunked_hyperfan_init_(hnet, target_meta)
    return hnet


def compression_ratio(hnet: HyperNet) -> float:
    """All hypernetwork parameters (embeddings included) divided by the number of generated weights."""
    return hnet.num_params / hnet.num_outputs


# ----------------------------------------------------------------------------------------------------------
# Fused forward pass
# ----------------------------------------------------------------------------------------------------------
_KERNELS: dict[tuple, nn.Module] = {}


def _kernel(use_lstm: bool, n_in: int, hidden: int, act: str) -> nn.Module:
    """A parameter-free template ``nn.RNN``/``nn.LSTM`` whose fused kernel runs with external weights."""
    key = (use_lstm, n_in, hidden, act)
    if key not in _KERNELS:
        # The template's own random init must not consume the global RNG: it happens once per process, so a run
        # would otherwise differ from one resumed in a new process (or from the second run of a process).
        with torch.random.fork_rng(devices=[]):
            module = nn.LSTM(n_in, hidden) if use_lstm else nn.RNN(n_in, hidden, nonlinearity=act)
        _KERNELS[key] = module.requires_grad_(False)
    return _KERNELS[key]


def can_fuse(net: SimpleRNN, weights: Sequence[Tensor] | None) -> bool:
    """Whether :func:`rnn_forward` can use the fused kernels (no masks, no sample axis, tanh/relu cells)."""
    if net.num_cm_params > 0 or not net.has_bias:
        return False
    if net.use_lstm and net.activation_name != "tanh":
        return False
    if not net.use_lstm and net.activation_name not in ("tanh", "relu"):
        return False
    shapes_ok = weights is None or weights[0].dim() == len(net.param_shapes[0])
    return shapes_ok and net.fc_layers == net.fc_layers[:]  # any FC stack works


def _recurrent_fused(net: SimpleRNN, x: Tensor, p: list[Tensor]) -> Tensor:
    """One recurrent layer over ``x`` ``[T, B, I]`` -> ``[T, B, H]`` (Elman: ``y``, LSTM: ``h``)."""
    w_ih, b_ih, w_hh, b_hh = p[:4]
    H = w_hh.shape[1]
    module = _kernel(net.use_lstm, w_ih.shape[1], H, net.activation_name)
    params = {"weight_ih_l0": w_ih, "bias_ih_l0": b_ih, "weight_hh_l0": w_hh, "bias_hh_l0": b_hh}
    T = x.shape[0]
    depth = net.bptt_depth
    if depth != -1 and depth < T:
        # Truncated BPTT: states older than the last `depth` steps carry no gradient (as the loop version).
        with torch.no_grad():
            first, state = functional_call(module, {k: v.detach() for k, v in params.items()}, (x[: T - depth],))
        last, _ = functional_call(module, params, (x[T - depth:], state))
        hs = torch.cat([first, last])  # [T, B, H]
    else:
        hs, _ = functional_call(module, params, (x,))  # [T, B, H]
    if net.use_lstm:
        return hs
    return net._act(F.linear(hs, p[4], p[5]))  # Elman hidden-to-output block, all steps at once


def rnn_forward(net: SimpleRNN | BiRNN, x: Tensor, weights: Sequence[Tensor] | None = None,
                lengths: Tensor | None = None) -> Tensor:
    """``net(x, weights)`` for ``x`` ``[T, B, F]`` -> ``[T, B, O]``, fused where :func:`can_fuse` allows.

    A :class:`~mnets.bi_rnn.BiRNN` also needs the unpadded ``lengths`` ``[B]``; each direction runs fused.
    """
    if isinstance(net, BiRNN):
        return net(x, weights, seq_lengths=lengths, rnn_fn=rnn_forward)
    if not can_fuse(net, weights):
        return net(x, weights=weights)
    w, _ = net.resolve_weights(weights)
    layers = [(w[i], w[i + 1]) for i in range(0, len(w), 2)]
    n_pre, n_post = len(net.fc_layers_pre), len(net.fc_layers)
    h = x
    for weight, bias in layers[:n_pre]:
        h = F.linear(h, weight, bias)
        h = h if net._act is None else net._act(h)
    per_layer = 2 if net.use_lstm else 3
    rec = [t for pair in layers[n_pre:len(layers) - n_post] for t in pair]
    for d in range(len(net.rnn_layers)):
        h = _recurrent_fused(net, h, rec[2 * per_layer * d:2 * per_layer * (d + 1)])
    for i, (weight, bias) in enumerate(layers[len(layers) - n_post:]):
        h = F.linear(h, weight, bias)
        if i < n_post - 1 and net._act is not None:
            h = net._act(h)
    return h


def hh_weight_ids(net: SimpleRNN) -> list[int]:
    """Indices (in ``param_shapes``) of the hidden-to-hidden matrices."""
    return [i for i, m in enumerate(net.param_shapes_meta) if m["name"] == "weight" and m.get("info") == "hh"]


def orthogonal_regularizer(weights: Sequence[Tensor], hh_ids: Sequence[int], use_lstm: bool) -> Tensor:
    """Orthogonality penalty ``sum_W ||W W^T - I||_F^2`` over all hidden-to-hidden matrices (spec §3.7).

    LSTM matrices are split into their four gate blocks ``[H, H]``, each penalised separately.
    """
    total = weights[hh_ids[0]].new_zeros(())
    for i in hh_ids:
        blocks = weights[i].reshape(4 if use_lstm else 1, -1, weights[i].shape[-1])  # [G, H, H]
        eye = torch.eye(blocks.shape[1], device=blocks.device, dtype=blocks.dtype)
        total = total + ((blocks @ blocks.transpose(1, 2) - eye) ** 2).sum()
    return total


def output_head_mask(net: SimpleRNN, task: int, num_tasks: int, head_dim: int, device=None) -> Tensor:
    """``[P]`` 0/1 mask over the flattened weights that drops the output rows of all heads but ``task``.

    Used by the hypernetwork regulariser: a task's targets cover only its own head (spec §3.1, multi-head).
    """
    sizes = [math.prod(s) for s in net.param_shapes]
    mask = torch.ones(sum(sizes), device=device)
    start = sum(sizes[:-2])  # the output layer's weight [O_total, I] and bias [O_total] come last
    n_rows, n_in = net.param_shapes[-2]
    keep = torch.zeros(n_rows, dtype=torch.bool, device=device)
    keep[task * head_dim:(task + 1) * head_dim] = True
    keep[num_tasks * head_dim:] = True  # units after the heads (replay latents) belong to every task
    mask[start:start + n_rows * n_in] = keep.repeat_interleave(n_in).float()
    mask[start + n_rows * n_in:start + n_rows * n_in + n_rows] = keep.float()
    return mask
