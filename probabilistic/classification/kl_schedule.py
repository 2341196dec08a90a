"""KL warm-up / annealing schedule of the classification runners (``--kl_scale``, ``--kl_schedule``, spec §2.3).

With ``kl_schedule = s != 0`` (and ``kl_scale != 1``) the m = ``abs(s)`` factors ``linspace(kl_scale, 1, m)``
(reversed if s < 0) are applied on m equal-length, piecewise-constant intervals of the task's n iterations:
interval k covers iterations ``[ceil(k n / m), ceil((k+1) n / m))``. Otherwise the factor is ``kl_scale``.
"""

from __future__ import annotations

import numpy as np


def kl_factor(it: int, num_iter: int, kl_scale: float, kl_schedule: int) -> float:
    """Factor of the prior-matching term at iteration ``it`` of ``num_iter``."""
    if kl_schedule == 0 or kl_scale == 1:
        return float(kl_scale)
    steps = abs(kl_schedule)
    values = np.linspace(kl_scale, 1.0, steps)
    if kl_schedule < 0:
        values = values[::-1]
    interval = min(it * steps // max(num_iter, 1), steps - 1)
    return float(values[interval])
