"""WRN: layout, init and forward equal to hypnettorch 0.0.4; K weight samples in one pass."""

import pytest
import torch

from mnets.wide_resnet import WRN

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")

SMALL = dict(block_depth=1, widening_factor=2, num_feature_maps=(4, 4, 8, 8), in_shape=(8, 8, 3))


def theirs_kwargs(cfg):
    cfg = dict(cfg)
    cfg["n"], cfg["k"] = cfg.pop("block_depth"), cfg.pop("widening_factor")
    return cfg


def test_wrn_28_10_parameter_count():
    """README config ``--wrn_block_depth=4 --wrn_widening_factor=10 --wrn_use_fc_bias --no_bias``."""
    net = WRN(block_depth=4, widening_factor=10, use_bias=False, use_fc_bias=True, no_weights=True)
    assert net.num_params == 36_479_194
    assert net.extra_repr() == "WRN-28-10"


def test_wrn_28_10_layout_matches_hypnettorch(ht, compat):
    kwargs = dict(block_depth=4, widening_factor=10, use_bias=False, use_fc_bias=True, no_weights=True)
    compat.assert_same_layout(WRN(**kwargs), ht.WRN(**theirs_kwargs(kwargs), verbose=False))


CONFIGS = {
    "small": SMALL,
    "small-no-bias-fc-bias": dict(SMALL, use_bias=False, use_fc_bias=True),
    "small-no-bn-identity-first-group": dict(block_depth=2, widening_factor=1, num_feature_maps=(4, 4, 8, 16),
                                             use_batch_norm=False, num_classes=3, in_shape=(8, 8, 3)),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(ht, compat, cfg):
    torch.manual_seed(11)
    ours = WRN(**cfg).train()
    torch.manual_seed(11)
    theirs = ht.WRN(**theirs_kwargs(cfg), verbose=False).train()
    compat.assert_same_layout(ours, theirs)
    compat.assert_same_init(ours, theirs)
    x = torch.rand(5, 8 * 8 * 3)
    weights = compat.random_weights(ours.param_shapes)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)


def test_chw_input_format(compat):
    net = WRN(**SMALL, no_weights=True).eval()
    weights = compat.random_weights(net.param_shapes)
    chw = WRN(**SMALL, no_weights=True, chw_input_format=True).eval()
    images = torch.rand(2, 8, 8, 3)
    torch.testing.assert_close(net(images.flatten(1), weights), chw(images.permute(0, 3, 1, 2), weights))


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_k_samples_in_one_pass(compat, train):
    net = WRN(**SMALL, no_weights=True, dropout_rate=0.3 if not train else -1).train(train)
    assert compat.assert_k_equivalent(net, torch.rand(3, 8 * 8 * 3), K=2).shape == (2, 3, 10)
