"""CIFAR ResNet (ResNet-32): layout, init and forward equal to hypnettorch 0.0.4, per-task batch-norm
statistics, K weight samples in one pass."""

import pytest
import torch

from mnets.resnet import ResNet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")

SMALL = dict(num_feature_maps=(4, 4, 8, 16), block_depth=1, in_shape=(8, 8, 3))  # a small ResNet-8


def theirs_kwargs(cfg):
    """Our constructor names -> hypnettorch's (``n``, ``k``)."""
    cfg = dict(cfg)
    cfg["n"] = cfg.pop("block_depth", 5)
    cfg["k"] = cfg.pop("widening_factor", 1)
    return cfg


@pytest.mark.parametrize("num_classes, use_bias, expected", [(10, True, 465_290), (100, True, 471_140),
                                                             (10, False, 464_144)],
                         ids=["splitcifar10", "splitcifar100", "no-bias"])
def test_resnet32_parameter_count(num_classes, use_bias, expected):
    net = ResNet(num_classes=num_classes, use_bias=use_bias, block_depth=5,
                 num_feature_maps=(16, 16, 32, 64), no_weights=True)
    assert net.num_params == expected


CONFIGS = {
    "resnet32": dict(block_depth=5),
    "resnet32-no-bias-no-bn": dict(block_depth=5, use_bias=False, use_batch_norm=False),
    "wide-k2": dict(num_feature_maps=(8, 8, 16, 32), block_depth=2, widening_factor=2, num_classes=5),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_layout_and_init_match_hypnettorch(ht, compat, cfg):
    torch.manual_seed(5)
    ours = ResNet(**cfg)
    torch.manual_seed(5)
    theirs = ht.ResNet(**theirs_kwargs(cfg), verbose=False)
    compat.assert_same_layout(ours, theirs)
    compat.assert_same_init(ours, theirs)


@pytest.mark.parametrize("train", [True, False], ids=["train", "eval"])
def test_forward_and_running_stats_match_hypnettorch(ht, compat, train):
    ours = ResNet(**SMALL, no_weights=True).train(train)
    theirs = ht.ResNet(**theirs_kwargs(SMALL), no_weights=True, verbose=False).train(train)
    x = torch.rand(6, 8 * 8 * 3)
    weights = compat.random_weights(ours.param_shapes)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)
    for a, b in zip(ours.batchnorm_layers, theirs.batchnorm_layers):
        torch.testing.assert_close(a.stats()[0], b.get_stats()[0], atol=1e-6, rtol=0)


def test_per_task_batchnorm_statistics(ht, compat):
    """A new set of statistics per task; ``condition=task_id`` selects it (as hypnettorch's ``bn_stats_id``)."""
    ours = ResNet(**SMALL, no_weights=True)
    theirs = ht.ResNet(**theirs_kwargs(SMALL), no_weights=True, verbose=False)
    weights = compat.random_weights(ours.param_shapes)
    for task in range(2):
        x = torch.rand(8, 8 * 8 * 3) + task  # task-specific statistics
        for net in (ours, theirs):
            net.train()
            net(x, weights)
        ours.checkpoint_bn_stats()
        for layer in theirs.batchnorm_layers:
            layer.checkpoint_stats()
    ours.eval(), theirs.eval()
    x = torch.rand(3, 8 * 8 * 3)
    outs = [ours(x, weights, condition=t) for t in range(2)]
    assert not torch.allclose(outs[0], outs[1])
    for t in range(2):
        torch.testing.assert_close(outs[t], theirs(x, weights, condition=t), atol=1e-6, rtol=0)
    assert int(ours.batchnorm_layers[0].num_stats) == 3


def test_state_dict_round_trip_restores_all_statistics():
    net = ResNet(**SMALL)
    net.checkpoint_bn_stats()
    fresh = ResNet(**SMALL)
    fresh.load_state_dict(net.state_dict())
    assert int(fresh.batchnorm_layers[0].num_stats) == 2


@pytest.mark.parametrize("train", [False, True], ids=["eval", "train"])
def test_k_samples_in_one_pass(compat, train):
    net = ResNet(**SMALL, no_weights=True).train(train)
    x = torch.rand(4, 8 * 8 * 3)
    assert compat.assert_k_equivalent(net, x, K=3).shape == (3, 4, 10)


def test_rejects_constant_channels_in_a_strided_group():
    with pytest.raises(ValueError, match="grow"):
        ResNet(num_feature_maps=(16, 16, 32, 32))
