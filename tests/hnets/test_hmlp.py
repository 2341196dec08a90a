"""HMLP: layout, init and outputs equal to hypnettorch 0.0.4; all conditions in one call."""

import pytest
import torch

from hnets.hmlp import HMLP

TARGET = [[10, 1], [10], [10, 10], [10], [1, 10], [1]]
CONFIGS = {
    "regression": dict(cond_in_size=8, layers=(10, 10), num_cond_embs=3),
    "linear-hnet": dict(cond_in_size=2, layers=(), num_cond_embs=5),
    "uncond-input-no-bias": dict(uncond_in_size=3, cond_in_size=2, layers=(7,), use_bias=False, num_cond_embs=2),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(hht, cfg):
    torch.manual_seed(2)
    ours = HMLP(TARGET, **cfg)
    torch.manual_seed(2)
    theirs = hht.HMLP(TARGET, **cfg, verbose=False)
    assert ours.param_shapes == theirs.param_shapes
    for a, b in zip(ours.internal_params, theirs.internal_params, strict=True):
        assert torch.equal(a, b)
    ids = list(range(cfg["num_cond_embs"]))
    uncond = torch.randn(len(ids), cfg["uncond_in_size"]) if cfg.get("uncond_in_size") else None
    out = ours(cond_id=ids, uncond_input=uncond)
    assert out.shape == (len(ids), 141)
    expected = theirs(cond_id=ids, uncond_input=uncond, ret_format="flattened")
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=0)
