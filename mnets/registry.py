"""Main-network types by the names the scripts' ``--net_type`` flags use."""

from __future__ import annotations

from mnets.base import MainNet
from mnets.bi_rnn import BiRNN
from mnets.lenet import LeNet
from mnets.mlp import MLP
from mnets.resnet import ResNet
from mnets.resnet_imgnet import ResNetIN
from mnets.simple_rnn import SimpleRNN
from mnets.wide_resnet import WRN
from mnets.zenkenet import ZenkeNet

MNETS: dict[str, type[MainNet]] = {
    "mlp": MLP,
    "lenet": LeNet,
    "zenke": ZenkeNet,
    "resnet": ResNet,
    "wrn": WRN,
    "iresnet": ResNetIN,
    "simple_rnn": SimpleRNN,
    "bi_rnn": BiRNN,
}


def mnet_class(name: str) -> type[MainNet]:
    """The main-network class registered as ``name``."""
    if name not in MNETS:
        raise ValueError(f"unknown network type {name!r}; valid: {', '.join(sorted(MNETS))}")
    return MNETS[name]
