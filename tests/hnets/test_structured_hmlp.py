"""StructuredHMLP with the ResNet / WRN chunkings: layout, init and outputs equal to hypnettorch 0.0.4."""

import pytest
import torch

from hnets.structured_chunking import resnet_chunking, wrn_chunking
from hnets.structured_hmlp import StructuredHMLP
from mnets.resnet import ResNet
from mnets.wide_resnet import WRN

HMLP_KWARGS = dict(layers=(7,), use_bias=True)


def build_pair(hht, ours_net, theirs_net, ours_chunking, theirs_chunking, **kwargs):
    """Our and hypnettorch's structured hypernetwork for the same chunking, built from the same seed."""
    chunk_shapes, num_per_chunk, assembly = theirs_chunking
    target_shapes = [ours_net.param_shapes[i] for i in ours_chunking.target_ids]
    cfg = {"chunk_emb_sizes": 3, "cond_in_size": 4, "num_cond_embs": 2, **kwargs}
    torch.manual_seed(8)
    ours = StructuredHMLP(target_shapes, ours_chunking.chunk_shapes, ours_chunking.num_per_chunk,
                          assembly_fct=ours_chunking.assembly_fct, hmlp_kwargs=HMLP_KWARGS, **cfg)
    torch.manual_seed(8)
    theirs = hht.StructuredHMLP(target_shapes, chunk_shapes, num_per_chunk, assembly_fct=assembly,
                                hmlp_kwargs=dict(HMLP_KWARGS, activation_fn=torch.nn.ReLU()), verbose=False, **cfg)
    assert ours_chunking.chunk_shapes == chunk_shapes and ours_chunking.num_per_chunk == num_per_chunk
    return ours, theirs


def assert_same(ours, theirs, ids=(0, 1)):
    assert ours.param_shapes == [list(s) for s in theirs.param_shapes]
    assert ours.param_shapes_meta == [{k: v for k, v in m.items() if k != "index"}
                                      for m in theirs.param_shapes_meta]
    for a, b in zip(ours.internal_params, theirs.internal_params, strict=True):
        assert torch.equal(a, b)
    out = ours(cond_id=list(ids))
    assert out.shape == (len(ids), ours.num_outputs)
    torch.testing.assert_close(out, theirs(cond_id=list(ids), ret_format="flattened"), atol=1e-6, rtol=0)


RESNETS = {
    "bias-bn": dict(),
    "no-bias-bn": dict(use_bias=False),
    "bias-no-bn": dict(use_batch_norm=False),
}


@pytest.mark.parametrize("gcd", [False, True], ids=["layerwise", "gcd"])
@pytest.mark.parametrize("cfg", RESNETS.values(), ids=RESNETS.keys())
def test_resnet_chunking_matches_hypnettorch(hht, cfg, gcd):
    kwargs = dict(num_feature_maps=(4, 4, 8, 12), num_classes=3, **cfg)
    ours_net = ResNet(block_depth=2, no_weights=True, **kwargs)
    theirs_net = hht.mnets.ResNet(n=2, no_weights=True, verbose=False, **kwargs)
    ours, theirs = build_pair(hht, ours_net, theirs_net, resnet_chunking(ours_net, gcd_chunking=gcd),
                              hht.resnet_chunking(theirs_net, gcd_chunking=gcd))
    assert_same(ours, theirs)


WRNS = {
    "ratio-4-then-2": dict(num_feature_maps=(4, 4, 8, 16), widening_factor=2),
    "ratio-1-no-bias": dict(num_feature_maps=(4, 4, 8, 16), widening_factor=1, use_bias=False, use_fc_bias=True),
    "ratio-3-gcd": dict(num_feature_maps=(4, 6, 18, 36), widening_factor=1),
}


@pytest.mark.parametrize("with_bn_and_out", [False, True], ids=["conv-only", "all-weights"])
@pytest.mark.parametrize("cfg", WRNS.values(), ids=WRNS.keys())
def test_wrn_chunking_matches_hypnettorch(hht, cfg, with_bn_and_out):
    kwargs = dict(num_classes=3, **cfg)
    theirs_kwargs = dict(kwargs, k=kwargs.pop("widening_factor"))
    ours_net = WRN(block_depth=2, no_weights=True, widening_factor=theirs_kwargs["k"], **kwargs)
    theirs_net = hht.mnets.WRN(n=2, no_weights=True, verbose=False, **theirs_kwargs)
    flags = dict(ignore_bn_weights=not with_bn_and_out, ignore_out_weights=not with_bn_and_out,
                 gcd_chunking=cfg["num_feature_maps"] == (4, 6, 18, 36))
    ours, theirs = build_pair(hht, ours_net, theirs_net, wrn_chunking(ours_net, **flags),
                              hht.wrn_chunking(theirs_net, **flags))
    assert_same(ours, theirs)


def test_generated_resnet_weights_run_the_resnet():
    net = ResNet(block_depth=1, num_feature_maps=(4, 4, 8, 16), in_shape=(8, 8, 3), no_weights=True).eval()
    chunking = resnet_chunking(net)
    hnet = StructuredHMLP(net.param_shapes, chunking.chunk_shapes, chunking.num_per_chunk, 4,
                          chunking.assembly_fct, dict(layers=(10,)), num_cond_embs=3)
    weights = hnet.target_weights(hnet(cond_id=[0, 2]))  # two tasks' weight sets, [2, *shape] each
    assert net(torch.rand(5, 8 * 8 * 3), weights).shape == (2, 5, 10)


@pytest.mark.parametrize("cond_in_size", [4, 0], ids=["task-emb", "no-task-emb"])
def test_conditional_chunk_embeddings_match_hypnettorch(hht, cond_in_size):
    ours_net = ResNet(block_depth=1, num_feature_maps=(4, 4, 8, 16), no_weights=True)
    theirs_net = hht.mnets.ResNet(n=1, num_feature_maps=(4, 4, 8, 16), no_weights=True, verbose=False)
    ours, theirs = build_pair(hht, ours_net, theirs_net, resnet_chunking(ours_net), hht.resnet_chunking(theirs_net),
                              cond_chunk_embs=True, cond_in_size=cond_in_size)
    assert_same(ours, theirs)
    assert len(ours.conditional_params) == len(theirs.conditional_params)
