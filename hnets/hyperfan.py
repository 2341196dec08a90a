"""Hyperfan-in initialisation of an :class:`~hnets.hmlp.HMLP` (Chang et al., 2020), hypnettorch-style.

Hidden layers get (Xavier or Kaiming) fan-in init with zero biases; the output layer is initialised per target
tensor so that the *generated* weights have the variance a fan-in init of the target network would give them.
Per target tensor, the output rows can instead be set explicitly through ``overrides``: a dict
``{target index: (w_val, w_var, b_val, b_var)}`` (variance 0 = constant), which the Gaussian hypernetwork init
(:mod:`probabilistic.gauss_hnet_init`) uses.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from hnets.hmlp import HMLP


def _uniform_(tensor: torch.Tensor, mean: float, var: float) -> None:
    """U(mean - a, mean + a) with variance ``var`` (constant if ``var == 0``)."""
    a = math.sqrt(3.0 * var)
    if a == 0:
        tensor.fill_(mean)
    else:
        tensor.uniform_(mean - a, mean + a)


@torch.no_grad()
def hyperfan_in_init_(hnet: HMLP, target_meta: Sequence[dict], cond_var: float = 1.0,
                      uncond_var: float = 1.0, use_xavier: bool = False,
                      overrides: dict[int, tuple[float, float, float, float]] | None = None) -> None:
    """Re-initialise ``hnet``'s layers in place with hyperfan-in init.

    Args:
        target_meta: ``param_shapes_meta`` of the target network, one dict per target tensor (``name`` is
            ``weight`` or ``bias``, ``layer`` the target layer).
        cond_var: Variance of the task embeddings (``std_normal_temb**2``).
        uncond_var: Variance of the unconditional input.
        use_xavier: Xavier fan-in (gain 1) instead of Kaiming fan-in (gain 2) for hidden layers and the formula.
        overrides: Explicit ``(w_val, w_var, b_val, b_var)`` for the output rows of some target tensors.
    """
    overrides = overrides or {}
    if len(target_meta) != len(hnet.target_shapes):
        raise ValueError("target_meta must have one entry per target tensor")
    in_dim = hnet.cond_in_size + hnet.uncond_in_size
    input_var = (hnet.cond_in_size / in_dim) * cond_var + (hnet.uncond_in_size / in_dim) * uncond_var

    weights = [hnet.internal_params[i] for i in hnet.layer_weights]
    biases = [hnet.internal_params[i] for i in hnet.layer_biases]
    for i, weight in enumerate(weights[:-1]):
        if use_xavier:
            _uniform_(weight, 0.0, 1.0 / weight.shape[1])
        else:
            torch.nn.init.kaiming_uniform_(weight, mode="fan_in", nonlinearity="relu")
        if biases:
            biases[i].zero_()

    layer_has_bias = {m["layer"] for m in target_meta if m["name"] == "bias"}
    c_relu = 1.0 if use_xavier else 2.0
    out_w, out_b = weights[-1], (biases[-1] if biases else None)
    fan_in = out_w.shape[1]
    if out_b is not None:
        out_b.zero_()

    start = 0
    for t, (meta, shape) in enumerate(zip(target_meta, hnet.target_shapes)):
        end = start + math.prod(shape)
        if t in overrides:
            w_val, w_var, b_val, b_var = overrides[t]
            _uniform_(out_w[start:end], w_val, w_var)
            if out_b is not None:
                _uniform_(out_b[start:end], b_val, b_var)
        elif meta["name"] == "weight":
            m_fan_in = shape[1] * math.prod(shape[2:])
            c_bias = 2.0 if meta["layer"] in layer_has_bias else 1.0
            _uniform_(out_w[start:end], 0.0, c_relu / (c_bias * m_fan_in * fan_in * input_var))
        else:  # bias: half of the target unit's input variance comes from the bias
            _uniform_(out_w[start:end], 0.0, c_relu / (2.0 * fan_in * input_var))
        start = end
