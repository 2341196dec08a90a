"""The main-network registry names every network type and rejects unknown names."""

import pytest
import torch

from mnets.registry import MNETS, mnet_class


def test_registry_names():
    assert sorted(MNETS) == ["bi_rnn", "iresnet", "lenet", "mlp", "resnet", "simple_rnn", "wrn", "zenke"]


@pytest.mark.parametrize("name, kwargs, expected", [
    ("mlp", dict(n_in=784, n_out=10, hidden_layers=(100, 100)), 89_610),
    ("mlp", dict(n_in=784, n_out=10, hidden_layers=(400, 400)), 478_410),
    ("mlp", dict(n_in=784, n_out=100, hidden_layers=(100, 100)), 98_700),
    ("mlp", dict(n_in=1024, n_out=100, hidden_layers=(1000, 1000)), 2_126_100),
    ("mlp", dict(n_in=1024, n_out=1000, hidden_layers=(1000, 1000)), 3_027_000),
    ("mlp", dict(n_in=1, n_out=1, hidden_layers=(10, 10)), 141),
    ("mlp", dict(n_in=2, n_out=6, hidden_layers=(10, 10)), 206),
    ("mlp", dict(n_in=2, n_out=2, hidden_layers=(10, 10)), 162),
    ("lenet", dict(arch="mnist_large"), 431_080),
    ("resnet", dict(num_classes=100), 471_140),
], ids=["split-small-mlp", "split-large-mlp", "perm-small-mlp", "perm-large-mlp", "perm100-mlp",
        "regression-mlp", "gmm-mlp-3heads", "gmm-mlp-cl2", "lenet-large", "resnet32-cifar100"])
def test_readme_parameter_counts(name, kwargs, expected):
    assert mnet_class(name)(**kwargs, no_weights=True).num_params == expected


def test_unknown_name():
    with pytest.raises(ValueError, match="lenet"):
        mnet_class("vgg")


SMALL = {
    "mlp": (dict(n_in=6, n_out=3, hidden_layers=(5,)), (4, 6)),
    "lenet": (dict(arch="mnist_small"), (2, 784)),
    "zenke": (dict(), (2, 3072)),
    "resnet": (dict(in_shape=(8, 8, 3), num_feature_maps=(2, 2, 4, 8), block_depth=1), (2, 192)),
    "wrn": (dict(in_shape=(8, 8, 3), num_feature_maps=(2, 2, 4, 8), block_depth=1, widening_factor=1), (2, 192)),
    "iresnet": (dict(in_shape=(8, 8, 3), num_feature_maps=(2, 2, 4, 4, 8), blocks_per_group=(1, 1, 1, 1),
                     projection_shortcut=True, cutout_mod=True), (2, 192)),
    "simple_rnn": (dict(n_in=3, rnn_layers=(4,), fc_layers=(2,), use_lstm=True), (5, 2, 3)),
    "bi_rnn": (dict(rnn_args=dict(n_in=3, rnn_layers=(4,), fc_layers=())), (5, 2, 3)),
}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_every_network_follows_the_dtype_and_device_of_its_weights(name):
    """No hard-coded dtype/device: a float64 network runs on float64 inputs, also with K weight samples."""
    kwargs, x_shape = SMALL[name]
    net = MNETS[name](**kwargs).double().eval()
    x = torch.rand(*x_shape, dtype=torch.float64)
    assert net(x).dtype == torch.float64
    stacked = [p.detach().expand(2, *p.shape) for p in net.internal_params]
    assert net(x, stacked).dtype == torch.float64
