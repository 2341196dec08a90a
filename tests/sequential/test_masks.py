"""Masks switch off exactly ``int(n * mask_fraction)`` units per layer and task, and the masked units output 0."""

import numpy as np
import pytest
import torch

from mnets.simple_rnn import SimpleRNN
from sequential.masks import generate_masks


@pytest.mark.parametrize("fraction", [0.2, 0.4, 0.6, 0.8])
def test_masks_switch_off_the_fraction(fraction):
    masks = generate_masks([256, 10], num_tasks=3, mask_fraction=fraction, rng=np.random.RandomState(0))
    assert len(masks) == 3
    for task in masks:
        gains, shifts = task[0::2], task[1::2]
        assert [int((g == 0).sum()) for g in gains] == [int(256 * fraction), int(10 * fraction)]
        assert all(set(g.unique().tolist()) <= {0.0, 1.0} for g in gains)
        assert all(float(s.abs().sum()) == 0 for s in shifts)
    assert not torch.equal(masks[0][0], masks[1][0])  # a different mask per task


@pytest.mark.parametrize("use_lstm", [False, True], ids=["elman", "lstm"])
def test_masked_units_output_zero(use_lstm):
    torch.manual_seed(0)
    net = SimpleRNN(n_in=3, rnn_layers=[8], fc_layers=[2], use_lstm=use_lstm, use_context_mod=True,
                    no_last_layer_context_mod=True, context_mod_no_weights=True, kaiming_rnn_init=True)
    mask = generate_masks([8], 1, 0.5, rng=np.random.RandomState(1))[0]
    with torch.no_grad():
        _, hidden = net(torch.randn(5, 4, 3), weights=mask, return_hidden=True)
    off = mask[0] == 0
    assert float(hidden[0][..., off].abs().max()) == 0.0
    assert float(hidden[0][..., ~off].abs().max()) > 0.0
