"""The RNN paper's two hypernetwork flag sets, translated to constructor arguments of *one* implementation.

The original builds its "old" hypernetworks from ``--hyper_chunks --hnet_arch --hnet_act --temb_size
--emb_size`` and its "new" ones from the ``--nh_*`` flags. Here both map onto :class:`~hnets.hmlp.HMLP` /
:class:`~hnets.chunked_hmlp.ChunkedHMLP`:

* ``--hyper_chunks=-1``: the old full hypernetwork (task embedding -> hidden layers -> one output head per
  target tensor) is an HMLP: its heads are the row blocks of the HMLP's single output layer.
* ``--hyper_chunks=K``: the old chunked hypernetwork (input ``[task emb, chunk emb]``) is a ChunkedHMLP with
  chunk size K (input order ``[chunk emb, task emb]``, immaterial). The original crashes on this path (a
  missing import); the README's pattern-manipulation runs use it.

Both functions return ``(name, kwargs)`` for ``HNETS[name](target_shapes, num_cond_embs=num_tasks, **kwargs)``.
"""

from __future__ import annotations


def parse_int_list(text: str | int) -> list[int]:
    """``"64,64,32"`` -> ``[64, 64, 32]``; ``""`` -> ``[]``."""
    return [int(v) for v in str(text).replace(" ", "").split(",") if v != ""]


def deprecated_hnet_config(hyper_chunks: str | int, hnet_arch: str, hnet_act: str, temb_size: int,
                           emb_size: int, hnet_noise_dim: int = -1, hnet_dropout_rate: float = -1,
                           temb_std: float = -1) -> tuple[str, dict]:
    """Constructor arguments for the deprecated flags.

    ``--temb_std`` is ignored: the original adds its noise out of place and discards the result.

    Raises:
        NotImplementedError: For the self-attention hypernetwork (2-3 ints in ``--hyper_chunks``) and the
            noise input (``--hnet_noise_dim``), which no README run uses.
    """
    chunks = parse_int_list(hyper_chunks)
    if len(chunks) != 1:
        raise NotImplementedError("the self-attention hypernetwork (--hyper_chunks with 2-3 ints) is not "
                                  "available")
    if hnet_noise_dim != -1:
        raise NotImplementedError("--hnet_noise_dim is not supported")
    kwargs = dict(layers=parse_int_list(hnet_arch), activation_fn=hnet_act, cond_in_size=temb_size,
                  dropout_rate=hnet_dropout_rate)
    if chunks[0] == -1:
        return "hmlp", kwargs
    return "chunked_hmlp", dict(kwargs, chunk_size=chunks[0], chunk_emb_size=emb_size)


def new_hnet_config(nh_hnet_type: str, nh_hmlp_arch: str, nh_cond_emb_size: int, nh_chmlp_chunk_size: int,
                    nh_chunk_emb_size: str | int, nh_use_cond_chunk_embs: bool, nh_hnet_net_act: str,
                    nh_hnet_no_bias: bool, nh_hnet_dropout_rate: float,
                    nh_hnet_specnorm: bool = False) -> tuple[str, dict]:
    """Constructor arguments for the ``--nh_*`` flags (``--use_new_hnet``).

    Raises:
        NotImplementedError: For ``hdeconv``/``chunked_hdeconv`` (not implemented in the original either),
            ``structured_hmlp`` (the RNN chunking is not part of this package) and spectral norm.
    """
    if nh_hnet_specnorm:
        raise NotImplementedError("spectral normalisation of the hypernetwork is not implemented")
    if nh_hnet_type not in ("hmlp", "chunked_hmlp"):
        raise NotImplementedError(f"--nh_hnet_type={nh_hnet_type} is not supported (hmlp, chunked_hmlp)")
    kwargs = dict(layers=parse_int_list(nh_hmlp_arch), activation_fn=nh_hnet_net_act,
                  use_bias=not nh_hnet_no_bias, cond_in_size=nh_cond_emb_size, dropout_rate=nh_hnet_dropout_rate)
    if nh_hnet_type == "hmlp":
        return "hmlp", kwargs
    return "chunked_hmlp", dict(kwargs, chunk_size=nh_chmlp_chunk_size,
                                chunk_emb_size=parse_int_list(nh_chunk_emb_size)[0],
                                cond_chunk_embs=nh_use_cond_chunk_embs)
