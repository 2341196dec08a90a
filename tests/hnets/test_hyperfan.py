"""Hyperfan-in init of an HMLP equals hypnettorch 0.0.4's ``apply_hyperfan_init`` for the same seed."""

import pytest
import torch

from hnets.hmlp import HMLP
from hnets.hyperfan import hyperfan_in_init_
from mnets.mlp import MLP
from probabilistic.gauss_hnet_init import MEAN_INIT_VAR, RHO_INIT_VAR, gauss_hyperfan_init_

hypnettorch = pytest.importorskip("hypnettorch")


@pytest.mark.parametrize("layers, use_xavier, cond_var", [([10, 10], False, 1.0), ([], True, 0.25), ([50], True, 1.0)],
                         ids=["kaiming-2-hidden", "xavier-linear", "xavier-1-hidden"])
def test_hyperfan_in_matches_hypnettorch(layers, use_xavier, cond_var):
    from hypnettorch.hnets import HMLP as RefHMLP
    from hypnettorch.mnets import MLP as RefMLP

    ref_mnet = RefMLP(n_in=1, n_out=1, hidden_layers=[10, 10], no_weights=True, verbose=False)
    mnet = MLP(1, 1, [10, 10], no_weights=True)
    torch.manual_seed(0)
    ref = RefHMLP(ref_mnet.param_shapes, cond_in_size=4, layers=layers, num_cond_embs=2, verbose=False)
    torch.manual_seed(0)
    ours = HMLP(mnet.param_shapes, cond_in_size=4, layers=layers, num_cond_embs=2)
    torch.manual_seed(1)
    ref.apply_hyperfan_init(method="in", use_xavier=use_xavier, cond_var=cond_var, mnet=ref_mnet)
    torch.manual_seed(1)
    hyperfan_in_init_(ours, mnet.param_shapes_meta, cond_var=cond_var, use_xavier=use_xavier)
    for a, b in zip(ref.internal_params, ours.internal_params):
        assert torch.equal(a, b)


def test_gauss_hyperfan_init_output_variances():
    mnet = MLP(1, 1, [100, 100], no_weights=True)
    hnet = HMLP(mnet.param_shapes + mnet.param_shapes, cond_in_size=8, layers=[20], num_cond_embs=3)
    torch.manual_seed(0)
    gauss_hyperfan_init_(hnet, mnet.param_shapes_meta, std_normal_temb=1.0, keep_orig_init=False)
    out = hnet(cond_id=[0, 1, 2])  # [3, 2P]
    P = mnet.num_params
    # output weights are zero: every task generates the same (random) initial posterior
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    assert out[0, :P].var().item() == pytest.approx(MEAN_INIT_VAR, rel=0.05)
    assert out[0, P:].var().item() == pytest.approx(RHO_INIT_VAR, rel=0.05)
    assert out[0, :P].mean().abs().item() < 0.01
