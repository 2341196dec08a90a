"""LeNet: layout, init and forward equal to hypnettorch 0.0.4; K weight samples in one pass."""

import pytest
import torch

from mnets.lenet import LeNet

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")

CONFIGS = {
    "mnist_small": dict(in_shape=(28, 28, 1), arch="mnist_small", num_classes=10),
    "mnist_large": dict(in_shape=(28, 28, 1), arch="mnist_large", num_classes=10),
    "mnist_large-5out": dict(in_shape=(28, 28, 1), arch="mnist_large", num_classes=5),
    "cifar": dict(in_shape=(32, 32, 3), arch="cifar", num_classes=10),
}


@pytest.mark.parametrize("arch, expected", [("mnist_small", 21_840), ("mnist_large", 431_080),
                                            ("cifar", 5_747_394)], ids=["mnist_small", "mnist_large", "cifar"])
def test_parameter_count(arch, expected):
    in_shape = (32, 32, 3) if arch == "cifar" else (28, 28, 1)
    assert LeNet(in_shape=in_shape, arch=arch, no_weights=True).num_params == expected


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(ht, compat, cfg):
    torch.manual_seed(7)
    ours = LeNet(**cfg)
    torch.manual_seed(7)
    theirs = ht.LeNet(**cfg, verbose=False)
    compat.assert_same_layout(ours, theirs)
    compat.assert_same_init(ours, theirs)
    x = torch.rand(4, cfg["in_shape"][0] * cfg["in_shape"][1] * cfg["in_shape"][2])
    weights = compat.random_weights(ours.param_shapes)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=0)
    torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("per_sample_input", [False, True], ids=["shared-x", "per-sample-x"])
def test_k_samples_in_one_pass(compat, per_sample_input):
    net = LeNet(arch="mnist_small", no_weights=True)
    x = torch.rand(3, 5, 784) if per_sample_input else torch.rand(5, 784)
    if per_sample_input:
        weights = compat.random_weights(net.param_shapes, K=3, seed=1)
        batched = net(x, weights)
        loop = torch.stack([net(x[k], [w[k] for w in weights]) for k in range(3)])
        torch.testing.assert_close(batched, loop, atol=1e-5, rtol=1e-5)
    else:
        assert compat.assert_k_equivalent(net, x, K=3).shape == (3, 5, 10)


def test_rejects_wrong_image_size():
    with pytest.raises(ValueError, match="28x28"):
        LeNet(in_shape=(32, 32, 1), arch="mnist_small")
