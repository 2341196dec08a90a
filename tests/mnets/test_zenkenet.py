"""ZenkeNet: layout, init and forward equal to hypnettorch 0.0.4; K weight samples in one pass."""

import pytest
import torch

from mnets.zenkenet import ZenkeNet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")


@pytest.mark.parametrize("num_classes, expected", [(10, 1_250_858), (100, 1_297_028)], ids=["10out", "100out"])
def test_parameter_count(num_classes, expected):
    assert ZenkeNet(num_classes=num_classes, no_weights=True).num_params == expected


@pytest.mark.parametrize("num_classes", [10, 4], ids=["10out", "4out"])
def test_matches_hypnettorch(ht, compat, num_classes):
    torch.manual_seed(3)
    ours = ZenkeNet(num_classes=num_classes, dropout_rate=0.25).eval()
    torch.manual_seed(3)
    theirs = ht.ZenkeNet(num_classes=num_classes, dropout_rate=0.25, verbose=False).eval()
    assert ours.param_shapes == theirs.param_shapes
    compat.assert_same_init(ours, theirs)
    x = torch.rand(3, 32 * 32 * 3)
    weights = compat.random_weights(ours.param_shapes)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)


def test_k_samples_in_one_pass(compat):
    net = ZenkeNet(no_weights=True).eval()
    assert compat.assert_k_equivalent(net, torch.rand(4, 32 * 32 * 3), K=2).shape == (2, 4, 10)


def test_dropout_is_active_in_training_mode():
    net = ZenkeNet(dropout_rate=0.25).train()
    x = torch.rand(2, 32 * 32 * 3)
    assert not torch.equal(net(x), net(x))
