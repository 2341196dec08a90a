"""Data and main network of each experiment family, keyed by the parser mode's family (``gmm``, ``split``, ...).

Only the 2D GMM family is wired up so far; SplitMNIST, PermutedMNIST and SplitCIFAR add an entry to
:data:`DATA` and :data:`MAIN_NETS` (issue 6). Library code below the runners never reads the config: the two
adapters here turn flags into constructor keyword arguments.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

import torch

from data.dataset import Dataset
from data.special.gmm import get_gmm_handlers
from mnets.base import MainNet
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


DATA: dict[str, Callable[[argparse.Namespace, torch.device], list[Dataset]]] = {"gmm": gmm_tasks}
MAIN_NETS: dict[str, Callable[[argparse.Namespace, int, int, bool], MainNet]] = {"gmm": mlp_main_net}


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
