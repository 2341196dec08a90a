"""Weight importance of recurrent connections: mean EWC Fisher or SI Omega per connection type (spec §5.2).

The importances come with a checkpoint (:class:`sequential.stored_models.MethodTensors`), one tensor per weight of
the main network's own weights. ``hh`` selects the hidden-to-hidden tensors, ``ho`` the Elman hidden-to-output
block (the ``y_t = act(W_ho h_t)`` layer inside the recurrent layer); biases are included, as the original does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from torch import Tensor

CONNECTIONS = ("hh", "ho", "ih")


def connection_ids(param_meta: Sequence[dict], kind: str) -> list[int]:
    """Indices into the main network's own weights (context-mod entries skipped) of the tensors of one kind."""
    if kind not in CONNECTIONS:
        raise ValueError(f"unknown connection type {kind!r}; valid: {', '.join(CONNECTIONS)}")
    own = [m for m in param_meta if not m["name"].startswith("cm_")]
    return [i for i, m in enumerate(own) if m.get("info") == kind]


def importance_values(param_meta: Sequence[dict], importance: Sequence[Tensor], kind: str = "hh") -> np.ndarray:
    """All importance values (flattened) of the tensors of one connection type."""
    ids = connection_ids(param_meta, kind)
    if not ids:
        return np.zeros(0)
    return np.concatenate([importance[i].detach().cpu().double().flatten().numpy() for i in ids])


def mean_importance(param_meta: Sequence[dict], importance: Sequence[Tensor] | None, kind: str = "hh") -> float:
    """Mean importance of one connection type (nan when there is none, e.g. after the last task, or an LSTM's
    ``ho``)."""
    if importance is None:
        return float("nan")
    values = importance_values(param_meta, importance, kind)
    return float(values.mean()) if values.size else float("nan")
