"""Context modulation: gain preprocessing, identity init, sample-axis broadcasting, binary masks."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from mnets.context_mod import ContextModLayer, mask_gains
from mnets.simple_rnn import SimpleRNN


@pytest.mark.parametrize("kwargs, raw, effective", [
    (dict(), 0.5, 0.5),
    (dict(gain_offset=True), 0.5, 1.5),
    (dict(gain_softplus=True, softplus_scale=2.0), 0.5, F.softplus(torch.tensor(1.0)).item() / 2),
], ids=["plain", "offset", "softplus"])
def test_gain_preprocessing(kwargs, raw, effective):
    layer = ContextModLayer(3, **kwargs)
    out = layer(torch.ones(2, 3), torch.full((3,), raw), torch.full((3,), 0.25))
    torch.testing.assert_close(out, torch.full((2, 3), effective + 0.25))


@pytest.mark.parametrize("gain_offset, gain", [(False, 1.0), (True, 0.0)], ids=["plain", "offset"])
def test_identity_init(gain_offset, gain):
    net = SimpleRNN(n_in=2, rnn_layers=(4,), fc_layers=(3,), use_context_mod=True,
                    context_mod_gain_offset=gain_offset)
    assert all(torch.all(p == gain) for p in net.internal_params[0:net.num_cm_params:2])
    assert all(torch.all(p == 0) for p in net.internal_params[1:net.num_cm_params:2])


def test_sample_axis_broadcasts_over_time_and_batch():
    layer = ContextModLayer([4])
    x = torch.randn(3, 5, 2, 4)  # [K, T, B, n]
    gain, shift = torch.randn(3, 4), torch.randn(3, 4)
    expected = torch.stack([x[k] * gain[k] + shift[k] for k in range(3)])
    torch.testing.assert_close(layer(x, gain, shift), expected)


def test_feature_map_modulation():
    layer = ContextModLayer([2, 1, 1])
    x = torch.ones(1, 2, 3, 3)
    out = layer(x, torch.tensor([2.0, 3.0]).view(2, 1, 1), torch.zeros(2, 1, 1))
    assert out[0, 0].unique().tolist() == [2.0] and out[0, 1].unique().tolist() == [3.0]


def test_mask_gains_switches_off_a_fraction():
    mask = mask_gains(10, 0.8, np.random.RandomState(0))
    assert mask.shape == (10,) and int(mask.sum()) == 2 and set(mask.tolist()) <= {0.0, 1.0}
