"""ResNetIN (``iresnet``): layout, init and forward equal to hypnettorch 0.0.4; K weight samples in one pass."""

import pytest
import torch

from mnets.resnet_imgnet import ResNetIN

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")

RESNET18_CIFAR = dict(in_shape=(32, 32, 3), num_classes=100, num_feature_maps=(64, 64, 128, 256, 512),
                      blocks_per_group=(2, 2, 2, 2), projection_shortcut=True, cutout_mod=True,
                      use_bias=False, use_fc_bias=False)


def test_resnet18_parameter_count():
    """README config (``--iresnet_use_fc_bias`` is ignored by the original, hence no output bias)."""
    assert ResNetIN(**RESNET18_CIFAR, no_weights=True).num_params == 11_220_032


def test_resnet18_layout_matches_hypnettorch(ht, compat):
    compat.assert_same_layout(ResNetIN(**RESNET18_CIFAR, no_weights=True),
                              ht.ResNetIN(**RESNET18_CIFAR, no_weights=True, verbose=False))


SMALL = dict(in_shape=(16, 16, 3), num_classes=5, num_feature_maps=(4, 8, 8, 16, 16),
             blocks_per_group=(1, 2, 1, 1))
CONFIGS = {
    "basic-padding-shortcut": dict(SMALL),
    "basic-projection-cutout": dict(SMALL, projection_shortcut=True, cutout_mod=True, use_bias=False),
    "bottleneck-projection": dict(SMALL, projection_shortcut=True, bottleneck_blocks=True,
                                  num_feature_maps=(8, 2, 4, 4, 8)),
    "bottleneck-identity-first-group": dict(SMALL, projection_shortcut=True, bottleneck_blocks=True,
                                            num_feature_maps=(8, 2, 4, 4, 4), use_fc_bias=False),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(ht, compat, cfg):
    torch.manual_seed(2)
    ours = ResNetIN(**cfg).train()
    torch.manual_seed(2)
    theirs = ht.ResNetIN(**cfg, verbose=False).train()
    compat.assert_same_layout(ours, theirs)
    compat.assert_same_init(ours, theirs)
    x = torch.rand(4, 16 * 16 * 3)
    weights = compat.random_weights(ours.param_shapes)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)
    ours.eval(), theirs.eval()
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)


@pytest.mark.parametrize("cfg", [CONFIGS["basic-projection-cutout"], CONFIGS["bottleneck-projection"]],
                         ids=["basic", "bottleneck"])
def test_k_samples_in_one_pass(compat, cfg):
    net = ResNetIN(**cfg, no_weights=True).eval()
    assert compat.assert_k_equivalent(net, torch.rand(3, 16 * 16 * 3), K=2).shape == (2, 3, 5)
