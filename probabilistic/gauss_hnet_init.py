"""Initialisation of hypernetworks as the posterior-replay runners do it (spec §1.4, §2.3 ``--hyper_gauss_init``).

Default (``apply_custom_hnet_init``): Xavier-uniform layer weights, zero biases, task embeddings
N(0, ``std_normal_temb``²) — or N(0, ``std_normal_init``²) weights with ``--normal_init``.
``--hyper_gauss_init``: hyperfan-style init such that, at initialisation, the generated means have variance
0.003 and the generated raw ρ variance 0.083 (the original's rounding of 0.1²/3 and 0.5²/3, those of the Gaussian
main network's own init): the output layer
weights are zero and its biases are drawn with these variances; with ``--keep_orig_init`` the hyperfan-in init of
the mean outputs is kept. For a chunked hypernetwork (:func:`gauss_chunked_hyperfan_init_`) the chunk embeddings
carry these variances instead (chunked hyperfan-in, Xavier variant; ``--keep_orig_init`` has no effect there).
"""

from __future__ import annotations

import torch
from torch import nn

from hnets.chunked_hmlp import ChunkedHMLP
from hnets.chunked_hyperfan import chunked_hyperfan_init_
from hnets.hmlp import HMLP
from hnets.hyperfan import hyperfan_in_init_

# The original's rounded defaults (``gauss_hyperfan_init(mean_var=0.003, rho_var=0.083)``), not the exact variances
# 0.1²/3 and 0.5²/3 of U(-0.1, 0.1) and U(-0.5, 0.5) that they approximate: with 0.1²/3 the generated means were
# 1.054x those of the original run with the same seed.
MEAN_INIT_VAR = 0.003
RHO_INIT_VAR = 0.083


@torch.no_grad()
def custom_hnet_init_(hnet: HMLP, std_normal_temb: float = 1.0, normal_init: bool = False,
                      std_normal_init: float = 0.02) -> None:
    """The runners' default hypernetwork init (in place): Xavier-uniform (or normal) layer weights and zero biases
    first, then the task embeddings N(0, ``std_normal_temb``²), the original's draw order, so that a
    ``--random_seed`` gives the original's initial hypernetwork bit for bit (the other order draws the same
    distributions but other values)."""
    for i in hnet.layer_weights:
        if normal_init:
            hnet.internal_params[i].normal_(0.0, std_normal_init)
        else:
            nn.init.xavier_uniform_(hnet.internal_params[i])
    for i in hnet.layer_biases:
        hnet.internal_params[i].zero_()
    for emb in hnet.conditional_params:
        emb.normal_(0.0, std_normal_temb)


@torch.no_grad()
def gauss_hyperfan_init_(hnet: HMLP, mnet_meta: list[dict], std_normal_temb: float = 1.0,
                         keep_orig_init: bool = False, mean_only: bool = False) -> None:
    """``--hyper_gauss_init`` for an HMLP whose targets are ``[means..., raw rhos...]`` of a main network.

    Args:
        mnet_meta: ``param_shapes_meta`` of the main network (one entry per mean tensor).
    """
    for emb in hnet.conditional_params:
        emb.normal_(0.0, std_normal_temb)
    n = len(mnet_meta)
    target_meta = list(mnet_meta) if mean_only else list(mnet_meta) + list(mnet_meta)
    overrides = {}
    if not keep_orig_init:
        overrides.update({t: (0.0, 0.0, 0.0, MEAN_INIT_VAR) for t in range(n)})
    if not mean_only:
        overrides.update({n + t: (0.0, 0.0, 0.0, RHO_INIT_VAR) for t in range(n)})
    hyperfan_in_init_(hnet, target_meta, cond_var=std_normal_temb**2, use_xavier=True, overrides=overrides)


@torch.no_grad()
def gauss_chunked_hyperfan_init_(hnet: ChunkedHMLP, mnet_meta: list[dict], std_normal_temb: float = 1.0,
                                 mean_only: bool = False) -> None:
    """``--hyper_gauss_init`` for a :class:`~hnets.chunked_hmlp.ChunkedHMLP` (spec §2.3): task embeddings
    N(0, ``std_normal_temb``²), then chunked hyperfan-in (Xavier variant, ``cond_var = std_normal_temb²``) with
    target variances 0.1²/3 for the means and 0.5²/3 for the raw ρ."""
    for i in hnet.task_emb_ids:
        hnet.owned_param(i).normal_(0.0, std_normal_temb)
    n = len(mnet_meta)
    target_meta = list(mnet_meta) if mean_only else list(mnet_meta) + list(mnet_meta)
    variances = [MEAN_INIT_VAR] * n + ([] if mean_only else [RHO_INIT_VAR] * n)
    chunked_hyperfan_init_(hnet, target_meta, use_xavier=True, cond_var=std_normal_temb**2, target_vars=variances)
