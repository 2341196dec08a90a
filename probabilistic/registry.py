"""``--parser_mode`` -> (family, method): the one module that imports the concrete families and methods.

To add a method, write ``probabilistic/methods/<name>.py`` (a :class:`~probabilistic.methods.base.Method`) and add
its parser-mode method name to :data:`METHODS` (see ``docs/architecture.rst``).
"""

from __future__ import annotations

import argparse

from probabilistic.args import mode_of
from probabilistic.families.base import Family
from probabilistic.families.classification import ClassificationFamily
from probabilistic.families.regression import RegressionFamily
from probabilistic.methods.base import Method
from probabilistic.methods.explicit import ExplicitPosterior
from probabilistic.methods.implicit import ImplicitMethod
from probabilistic.methods.laplace import OnlineEWC
from probabilistic.methods.multitask import Multitask

#: Parser-mode method -> method class (constructed with the config and the name).
METHODS: dict[str, type[Method]] = {
    "bbb": ExplicitPosterior, "avb": ImplicitMethod, "avb_pf": ImplicitMethod, "ssge": ImplicitMethod,
    "ssge_pf": ImplicitMethod, "ewc": OnlineEWC, "mt": Multitask,
}


def family_of(experiment: str, config: argparse.Namespace) -> Family:
    """``reg`` -> regression; every other parser-mode family (gmm, split, perm, zenke, resnet) is classification."""
    return RegressionFamily(config) if experiment == "reg" else ClassificationFamily(config)


def family_and_method(config: argparse.Namespace) -> tuple[Family, Method]:
    """The family and the method of ``config.parser_mode``."""
    method, experiment = mode_of(config.parser_mode)
    return family_of(experiment, config), METHODS[method](config, method)
