"""Binary per-task masks on the recurrent units (spec §3.4), applied as context modulation.

For every task and every context-mod layer a fixed random 0/1 gain vector switches off the fraction
``mask_fraction`` of the units (``int(n * mask_fraction)`` of n); shifts are 0. Masks are drawn once at start-up
with NumPy's global RNG (as the original). Gains act before the nonlinearity (Elman: on both ``h`` and ``y``;
LSTM: on the cell state entering the output activation), so masked units output 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from mnets.context_mod import mask_gains


def generate_masks(layer_sizes: list[int], num_tasks: int, mask_fraction: float,
                   rng: np.random.RandomState | None = None, device=None) -> list[list[Tensor]]:
    """Per task the context-mod weights ``[gain_0, shift_0, gain_1, shift_1, ...]`` of the masked layers."""
    masks = []
    for _ in range(num_tasks):
        weights = []
        for size in layer_sizes:
            weights += [mask_gains(size, mask_fraction, rng).to(device), torch.zeros(size, device=device)]
        masks.append(weights)
    return masks
