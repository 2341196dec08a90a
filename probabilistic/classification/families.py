"""Data and main network of each experiment family, keyed by the parser mode's family (``gmm``, ``split``, ...).

Wired up: the 2D GMM (``gmm``), SplitMNIST (``split``: ``--net_type`` mlp or lenet) and PermutedMNIST (``perm``:
an MLP). SplitCIFAR (``resnet``) adds an entry to :data:`DATA` and :data:`MAIN_NETS` later (issue 6). Library code
below the runners never reads the config: the adapters here turn flags into constructor keyword arguments.
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
from data.special.split_mnist import get_split_mnist_handlers
from mnets.base import MainNet
from mnets.lenet import LeNet
from mnets.mlp import MLP
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


DATA: dict[str, Callable[[argparse.Namespace, torch.device], list[Dataset]]] = {
    "gmm": gmm_tasks, "split": split_mnist_tasks, "perm": perm_mnist_tasks}
MAIN_NETS: dict[str, Callable[[argparse.Namespace, int, int, bool], MainNet]] = {
    "gmm": mlp_main_net, "split": split_main_net, "perm": mlp_main_net}


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
