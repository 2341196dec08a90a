"""Embedding and layer initialisations selected by the scripts' init flags.

* :func:`init_embeddings_` — ``--std_normal_temb`` / ``--std_normal_emb``: task embeddings ~ N(0, std_temb^2),
  chunk embeddings ~ N(0, std_emb^2); the layers keep their construction-time init (RNN paper).
* :func:`init_task_embeddings_` — task embeddings only (hypnettorch's ``init_conditional_embeddings``): what the
  posterior-replay runners do before a hyperfan init, which then draws the chunk embeddings itself.
* :func:`custom_hnet_init_` — the posterior-replay scripts' default hypernetwork init: Xavier-uniform layer
  weights (N(0, ``std_normal_init``^2) with ``--normal_init``), zero biases, embeddings as above.

All work on any hypernetwork of this package through ``param_shapes_meta`` (``embedding`` entries carry
``info="chunk embeddings"`` for chunk embeddings) and touch only internally maintained parameters.
"""

from __future__ import annotations

from torch import Tensor, nn

from hnets.base import HyperNet


def owned_params_with_meta(hnet: HyperNet) -> list[tuple[Tensor, dict]]:
    """``(parameter, meta)`` for every internally maintained parameter, in parameter order."""
    owned_ids = getattr(hnet, "owned_ids", None)
    if owned_ids is None:  # HMLP: owns everything, or everything except the task embeddings
        owned_ids = list(range(len(hnet.param_shapes)))
        if len(hnet.internal_params) != len(owned_ids):
            owned_ids = [i for i, m in enumerate(hnet.param_shapes_meta) if m["name"] != "embedding"]
    return [(p, hnet.param_shapes_meta[i]) for i, p in zip(owned_ids, hnet.internal_params)]


def _is_chunk_embedding(meta: dict) -> bool:
    return meta["name"] == "embedding" and meta.get("info") == "chunk embeddings"


def init_embeddings_(hnet: HyperNet, std_normal_temb: float = 1.0, std_normal_emb: float = 1.0) -> None:
    """Redraw task embeddings from N(0, std_normal_temb^2) and chunk embeddings from N(0, std_normal_emb^2)."""
    for p, meta in owned_params_with_meta(hnet):
        if meta["name"] == "embedding":
            nn.init.normal_(p, 0.0, std_normal_emb if _is_chunk_embedding(meta) else std_normal_temb)


def init_task_embeddings_(hnet: HyperNet, std_normal_temb: float = 1.0) -> None:
    """Redraw only the task (conditional input) embeddings from N(0, std_normal_temb^2), in task order.

    Chunk embeddings are left alone and draw nothing from the RNG, so that a following hyperfan init draws the
    original's values at the same seed (redrawing them here first shifts the RNG stream by C * chunk_emb_size
    numbers).
    """
    for p, meta in owned_params_with_meta(hnet):
        if meta["name"] == "embedding" and not _is_chunk_embedding(meta):
            nn.init.normal_(p, 0.0, std_normal_temb)


def custom_hnet_init_(hnet: HyperNet, std_normal_temb: float = 1.0, std_normal_emb: float = 1.0,
                      normal_init: bool = False, std_normal_init: float = 0.02) -> None:
    """Xavier-uniform (or N(0, std_normal_init^2)) layer weights, zero biases, then the embeddings as
    :func:`init_embeddings_`."""
    for p, meta in owned_params_with_meta(hnet):
        if meta["name"] == "weight":
            nn.init.normal_(p, 0.0, std_normal_init) if normal_init else nn.init.xavier_uniform_(p)
        elif meta["name"] == "bias":
            nn.init.zeros_(p)
    init_embeddings_(hnet, std_normal_temb, std_normal_emb)
