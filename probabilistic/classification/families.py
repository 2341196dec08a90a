"""Data and main network of each experiment family, keyed by the parser mode's family (``gmm``, ``split``, ...).

Wired up: the 2D GMM (``gmm``), SplitMNIST (``split``: ``--net_type`` mlp or lenet), PermutedMNIST (``perm``:
an MLP) and SplitCIFAR-10/100 (``resnet``: ``--net_type`` resnet (ResNet-32), wrn (WRN-28-10), iresnet (ResNet-18),
lenet or mlp; ``zenke``: the ZenkeNet). Library code below the runners never reads the config: the adapters here
turn flags into constructor keyword arguments.
Image datasets are read from ``--data_dir`` (else ``$HYPERCL_DATA_DIR``, else ``<repo>/datasets``; never
downloaded unless ``HYPERCL_DOWNLOAD=1``); a missing or corrupt file raises :class:`~data.errors.DatasetError`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from data.dataset import Dataset
from data.special.gmm import get_gmm_handlers
from data.special.permuted_mnist import get_permuted_mnist_handlers
from data.special.split_cifar import get_split_cifar_handlers
from data.special.split_mnist import get_split_mnist_handlers
from mnets.base import MainNet
from mnets.lenet import LeNet
from mnets.mlp import MLP
from mnets.resnet import ResNet
from mnets.resnet_imgnet import ResNetIN
from mnets.wide_resnet import WRN
from mnets.zenkenet import ZenkeNet
from utils.cli import ConfigError, parse_int_list

#: The GMM task set of the paper (``TASK_SET = 3`` is hard-coded in the original ``prob_gmm/train_utils``).
GMM_TASK_SET = 3


def gmm_tasks(config: argparse.Namespace, device: torch.device) -> list[Dataset]:
    """Three 2-class GMM tasks (20 train / 200 test points each, no validation set)."""
    return get_gmm_handlers(GMM_TASK_SET, config.data_random_seed, seed=config.random_seed, device=device)


def mlp_main_net(config: argparse.Namespace, in_dim: int, num_outputs: int, no_weights: bool) -> MainNet:
    """The ``--mlp_arch`` / ``--net_act`` MLP (e.g. GMM: 2-10-10-6)."""
    return MLP(n_in=in_dim, n_out=num_outputs, hidden_layers=parse_int_list(config.mlp_arch, "mlp_arch"),
               activation_fn=config.net_act, use_bias=not config.no_bias, no_weights=no_weights,
               dropout_rate=config.dropout_rate)


def _data_dir(config: argparse.Namespace) -> str | None:
    return config.data_dir or None


def split_mnist_tasks(config: argparse.Namespace, device: torch.device) -> list[Dataset]:
    """``--num_tasks`` SplitMNIST tasks of ``--num_classes_per_task`` consecutive digits each, the first
    ``--val_set_size`` training images of each task held out for validation."""
    return get_split_mnist_handlers(_data_dir(config), num_tasks=config.num_tasks,
                                    num_classes_per_task=config.num_classes_per_task,
                                    val_size=config.val_set_size, seed=config.random_seed, device=device)


def perm_mnist_tasks(config: argparse.Namespace, device: torch.device) -> list[Dataset]:
    """``--num_tasks`` PermutedMNIST tasks (``--padding`` zeros per side, permutations from ``--data_random_seed``;
    ``--trgt_padding`` extra output classes)."""
    return get_permuted_mnist_handlers(_data_dir(config), num_tasks=config.num_tasks, padding=config.padding,
                                       data_random_seed=config.data_random_seed, val_size=config.val_set_size,
                                       trgt_padding=config.trgt_padding, seed=config.random_seed, device=device)


#: Image shape (HWC) of the SplitMNIST inputs, for the convolutional networks.
MNIST_SHAPE = (28, 28, 1)


class OutputLayerLeNet(LeNet):
    """:class:`~mnets.lenet.LeNet` that also answers ``len(hidden_layers)`` with the ``layer`` index of its output
    layer, as :func:`probabilistic.heads.output_unit_entries` (written for MLPs) reads it to mask the head rows."""

    @property
    def hidden_layers(self) -> range:
        return range(max(meta["layer"] for meta in self.param_shapes_meta))


def split_main_net(config: argparse.Namespace, in_dim: int, num_outputs: int, no_weights: bool) -> MainNet:
    """``--net_type`` of the SplitMNIST scripts: the ``--mlp_arch`` MLP or the ``--lenet_type`` LeNet."""
    if config.net_type == "mlp":
        return mlp_main_net(config, in_dim, num_outputs, no_weights)
    if config.net_type == "lenet":
        if not config.lenet_type.startswith("mnist"):
            raise ConfigError(f"--lenet_type={config.lenet_type} expects 32x32 images; use mnist_small or "
                              "mnist_large for SplitMNIST")
        return OutputLayerLeNet(in_shape=MNIST_SHAPE, num_classes=num_outputs, arch=config.lenet_type,
                                no_weights=no_weights, dropout_rate=config.dropout_rate)
    raise ConfigError(f"--net_type={config.net_type} is not supported for SplitMNIST yet; use mlp or lenet")


def split_cifar_tasks(config: argparse.Namespace, device: torch.device) -> list[Dataset]:
    """SplitCIFAR: task 0 = CIFAR-10 (or its ``--num_classes_per_task`` splits), then CIFAR-100 splits; the first
    ``--skip_tasks`` generated tasks dropped (README SplitCIFAR-100: ``--num_tasks=10 --num_classes_per_task=10
    --skip_tasks=1``). Training batches are augmented (random crop + flip, ImageNet normalisation) unless
    ``--disable_data_augmentation`` (which also drops the normalisation, as the original)."""
    return get_split_cifar_handlers(_data_dir(config), num_tasks=config.num_tasks,
                                    num_classes_per_task=config.num_classes_per_task, skip_tasks=config.skip_tasks,
                                    val_size=config.val_set_size,
                                    augmentation=not config.disable_data_augmentation, seed=config.random_seed,
                                    device=device)


#: Image shape (HWC) of the CIFAR inputs.
CIFAR_SHAPE = (32, 32, 3)


def _bn_kwargs(config: argparse.Namespace) -> dict:
    """Batch norm of the conv nets: on unless ``--no_batchnorm``; running statistics unless
    ``--bn_no_running_stats`` (their per-task checkpointing is :mod:`~probabilistic.classification.batchnorm_stats`)."""
    return dict(use_batch_norm=not config.no_batchnorm, bn_track_stats=not config.bn_no_running_stats)


def resnet_main_net(config: argparse.Namespace, in_dim: int, num_outputs: int, no_weights: bool) -> MainNet:
    """``--net_type`` of the ``train_resnet_*`` scripts (``get_mnet_model`` of the original)."""
    net = config.net_type
    if net == "resnet":  # ResNet-32 for --resnet_block_depth=5 (465,290 weights with 10 outputs)
        return ResNet(in_shape=CIFAR_SHAPE, num_classes=num_outputs, use_bias=not config.no_bias,
                      num_feature_maps=parse_int_list(config.resnet_channel_sizes, "resnet_channel_sizes"),
                      block_depth=config.resnet_block_depth, no_weights=no_weights, **_bn_kwargs(config))
    if net == "wrn":  # WRN-28-10 for --wrn_block_depth=4 --wrn_widening_factor=10
        return WRN(in_shape=CIFAR_SHAPE, num_classes=num_outputs, block_depth=config.wrn_block_depth,
                   widening_factor=config.wrn_widening_factor, use_bias=not config.no_bias,
                   use_fc_bias=config.wrn_use_fc_bias, no_weights=no_weights, dropout_rate=config.dropout_rate,
                   **_bn_kwargs(config))
    if net == "iresnet":
        # ResNet-18 with the CIFAR stem. Original quirk (spec §6.2.2): the FC bias follows --wrn_use_fc_bias, so
        # --iresnet_use_fc_bias is ignored (the README parameter counts were produced this way).
        return ResNetIN(in_shape=CIFAR_SHAPE, num_classes=num_outputs, use_bias=not config.no_bias,
                        use_fc_bias=config.wrn_use_fc_bias,
                        num_feature_maps=parse_int_list(config.iresnet_channel_sizes, "iresnet_channel_sizes"),
                        blocks_per_group=parse_int_list(config.iresnet_blocks_per_group, "iresnet_blocks_per_group"),
                        projection_shortcut=config.iresnet_projection_shortcut,
                        bottleneck_blocks=config.iresnet_bottleneck_blocks, cutout_mod=True, no_weights=no_weights,
                        **_bn_kwargs(config))
    if net == "lenet":
        if config.lenet_type != "cifar":
            raise ConfigError(f"--lenet_type={config.lenet_type} expects 28x28 images; use cifar for SplitCIFAR")
        return OutputLayerLeNet(in_shape=CIFAR_SHAPE, num_classes=num_outputs, arch="cifar", no_weights=no_weights,
                                dropout_rate=config.dropout_rate)
    if net == "mlp":
        return mlp_main_net(config, in_dim, num_outputs, no_weights)
    raise ConfigError(f"--net_type={net} is not supported for SplitCIFAR; use resnet, wrn, iresnet, lenet or mlp")


def zenke_main_net(config: argparse.Namespace, in_dim: int, num_outputs: int, no_weights: bool) -> MainNet:
    """The ZenkeNet of the ``train_zenke_*`` scripts (``--dropout_rate``, default 0.25)."""
    return ZenkeNet(in_shape=CIFAR_SHAPE, num_classes=num_outputs, no_weights=no_weights,
                    dropout_rate=config.dropout_rate)


DATA: dict[str, Callable[[argparse.Namespace, torch.device], list[Dataset]]] = {
    "gmm": gmm_tasks, "split": split_mnist_tasks, "perm": perm_mnist_tasks, "resnet": split_cifar_tasks,
    "zenke": split_cifar_tasks}
MAIN_NETS: dict[str, Callable[[argparse.Namespace, int, int, bool], MainNet]] = {
    "gmm": mlp_main_net, "split": split_main_net, "perm": mlp_main_net, "resnet": resnet_main_net,
    "zenke": zenke_main_net}


def load_tasks(family: str, config: argparse.Namespace, device: torch.device) -> list[Dataset]:
    """One dataset handler per task."""
    if family not in DATA:
        raise ConfigError(f"the classification runner does not support the {family!r} family yet "
                          f"(available: {', '.join(sorted(DATA))})")
    return DATA[family](config, device)


def build_main_net(family: str, config: argparse.Namespace, in_dim: int, num_outputs: int,
                   no_weights: bool = True) -> MainNet:
    """The family's main network with ``num_outputs`` output units."""
    return MAIN_NETS[family](config, in_dim, num_outputs, no_weights)
