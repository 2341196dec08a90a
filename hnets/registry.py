"""Hypernetwork types by the names the scripts' ``--*hnet_type`` flags use."""

from __future__ import annotations

from hnets.base import HyperNet
from hnets.chunked_hmlp import ChunkedHMLP
from hnets.hmlp import HMLP
from hnets.structured_hmlp import StructuredHMLP

HNETS: dict[str, type[HyperNet]] = {
    "hmlp": HMLP,
    "chunked_hmlp": ChunkedHMLP,
    "structured_hmlp": StructuredHMLP,
}


def hnet_class(name: str) -> type[HyperNet]:
    """The hypernetwork class registered as ``name``."""
    if name not in HNETS:
        raise ValueError(f"unknown hypernetwork type {name!r}; valid: {', '.join(sorted(HNETS))}")
    return HNETS[name]
