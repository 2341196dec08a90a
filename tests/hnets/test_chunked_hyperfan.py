"""Chunked hyperfan-in init: the same parameters as hypnettorch's ``apply_chunked_hyperfan_init`` for a seed,
and generated weights with roughly the target fan-in variances."""

import warnings

import pytest
import torch

from hnets.chunked_hmlp import ChunkedHMLP
from hnets.chunked_hyperfan import chunk_variances, chunked_hyperfan_init_
from mnets.mlp import MLP


@pytest.mark.parametrize("kwargs", [dict(), dict(use_xavier=True, cemb_normal_init=True, cond_var=0.5),
                                    dict(method="out")], ids=["kaiming-uniform", "xavier-normal", "fan-out"])
@pytest.mark.parametrize("cond_chunk_embs", [False, True], ids=["shared", "conditional"])
def test_matches_hypnettorch(hht, kwargs, cond_chunk_embs):
    mnet = MLP(n_in=6, n_out=3, hidden_layers=(20,), no_weights=True)
    theirs_mnet = hht.mnets.MLP(n_in=6, n_out=3, hidden_layers=(20,), no_weights=True, verbose=False)
    cfg = dict(chunk_size=30, chunk_emb_size=8, cond_in_size=4, layers=(10,), num_cond_embs=2,
               cond_chunk_embs=cond_chunk_embs)
    torch.manual_seed(0)
    ours = ChunkedHMLP(mnet.param_shapes, **cfg)
    torch.manual_seed(0)
    theirs = hht.ChunkedHMLP(theirs_mnet.param_shapes, **cfg, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(1)
        chunked_hyperfan_init_(ours, mnet.param_shapes_meta, **kwargs)
        torch.manual_seed(1)
        theirs.apply_chunked_hyperfan_init(mnet=theirs_mnet, **kwargs)
    for a, b in zip(ours.internal_params, theirs.internal_params):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=0)


def test_generated_weights_have_fan_in_variance():
    target = [[200, 100], [200]]
    hnet = ChunkedHMLP(target, chunk_size=500, chunk_emb_size=16, cond_in_size=16, layers=(64, 64),
                       num_cond_embs=50)
    with torch.no_grad():
        for p in hnet.conditional_params:
            p.normal_(0.0, 0.1)
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the last chunk (all biases) gets a clipped embedding variance
        chunked_hyperfan_init_(hnet, [{"name": "weight", "layer": 0}, {"name": "bias", "layer": 0}],
                               cond_var=0.01)
    out = hnet(cond_id=list(range(50)))
    var_w = out[:, :20_000].var().item()
    assert 0.5 * 2 / 100 < var_w < 2 * 2 / 100  # Kaiming fan-in variance of the target weights


def test_chunk_variances_weight_by_overlap():
    hnet = ChunkedHMLP([[3], [5]], chunk_size=4, chunk_emb_size=2, cond_in_size=2, layers=())
    assert chunk_variances(hnet, [1.0, 2.0]) == pytest.approx([1.25, 2.0])
