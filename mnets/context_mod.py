"""Context modulation: a task-specific gain ``g`` and shift ``s`` per unit, ``x -> x * g + s``.

The RNN paper uses it in two ways: gains/shifts generated per task by a hypernetwork (with EWC/SI-protected
main weights), and fixed random binary *masks* (gain 0 or 1, shift 0) that switch units off per task. A
:class:`ContextModLayer` holds no parameters: the gains and shifts are entries of the network's weight list
(``cm_scale``/``cm_shift`` in ``param_shapes_meta``), so they can come from a hypernetwork or a mask table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F


class ContextModLayer:
    """Gain/shift modulation of activations with ``num_features`` shape (hypnettorch ``ContextModLayer``).

    Args:
        num_features: Shape of gain and shift, e.g. ``[n]`` (linear layer) or ``[C, 1, 1]`` (per feature map).
        gain_offset: Apply ``1 + g`` (the raw gain is initialised to 0).
        gain_softplus: Apply ``softplus(g * scale) / scale`` (positive gains).
        softplus_scale: The scale of the softplus.
    """

    def __init__(self, num_features: int | Sequence[int], gain_offset: bool = False,
                 gain_softplus: bool = False, softplus_scale: float = 1.0) -> None:
        if gain_offset and gain_softplus:
            raise ValueError("gain_offset and gain_softplus are not compatible")
        self.num_features = [num_features] if isinstance(num_features, int) else list(num_features)
        self.gain_offset, self.gain_softplus, self.softplus_scale = gain_offset, gain_softplus, softplus_scale

    @property
    def param_shapes(self) -> list[list[int]]:
        """Shapes of the gain and the shift (in this order)."""
        return [list(self.num_features), list(self.num_features)]

    def init_(self, gain: Tensor, shift: Tensor) -> None:
        """Identity modulation: raw gain 1 (0 with ``gain_offset``), shift 0."""
        with torch.no_grad():
            gain.fill_(0.0 if self.gain_offset else 1.0)
            shift.zero_()

    def preprocess_gain(self, gain: Tensor) -> Tensor:
        """The effective gain applied to the activations."""
        if self.gain_softplus:
            return F.softplus(gain * self.softplus_scale) / self.softplus_scale
        if self.gain_offset:
            return gain + 1.0
        return gain

    def __call__(self, x: Tensor, gain: Tensor, shift: Tensor) -> Tensor:
        """``x * g + s``.

        Args:
            x: Activations ``[..., *num_features]`` (broadcastable), or ``[K, ...]`` if the weights have a
                sample axis.
            gain, shift: ``num_features`` shaped, or ``[K, *num_features]``.
        """
        n = len(self.num_features)
        if gain.dim() > n:  # sample axis K: broadcast over all activation axes between K and the features
            K = gain.shape[0]
            middle = [1] * (x.dim() - 1 - n)
            gain = gain.reshape(K, *middle, *self.num_features)
            shift = shift.reshape(K, *middle, *self.num_features)
        return x * self.preprocess_gain(gain) + shift


def mask_gains(num_features: int, fraction_off: float, rng: np.random.RandomState | None = None) -> Tensor:
    """A binary gain vector with ``int(num_features * fraction_off)`` randomly chosen zeros (units off).

    Uses ``rng`` (default: NumPy's global RNG), as the original draws its masks with NumPy.
    """
    off = np.zeros(num_features, dtype=bool)
    off[: int(num_features * fraction_off)] = True
    (rng or np.random).shuffle(off)
    return torch.from_numpy((~off).astype(np.float32))
