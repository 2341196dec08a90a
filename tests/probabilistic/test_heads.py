"""Output heads per CL scenario (spec §2.2): allowed outputs, target placement, global labels, regulariser masks."""

import pytest
import torch

from mnets.mlp import MLP
from probabilistic.heads import Heads, output_unit_entries, regularizer_mask

C, T = 2, 3


@pytest.mark.parametrize("heads, task, num_trained, allowed, target_offset, label_offset", [
    (Heads(1, T, C), 1, None, (2, 4), 0, 2),
    (Heads(3, T, C, split_head=True), 2, None, (4, 6), 0, 4),
    (Heads(2, T, C), 2, None, (0, 2), 0, 0),
    (Heads(3, T, C), 1, None, (0, 4), 2, 2),  # growing softmax, one posterior per task
    (Heads(3, T, C, shared_model=True), 0, 3, (0, 6), 0, 0),  # growing, shared model: all heads trained so far
    (Heads(3, T, C, shared_model=True), 1, 2, (0, 4), 2, 2),
    (Heads(3, T, C, non_growing=True, shared_model=True), 0, 1, (0, 6), 0, 0),
], ids=["CL1", "CL3-split", "CL2", "CL3-growing-hnet", "CL3-growing-mnet-t0", "CL3-growing-mnet-t1",
        "CL3-non-growing"])
def test_allowed_outputs_and_targets(heads, task, num_trained, allowed, target_offset, label_offset):
    assert heads.allowed(task, num_trained) == allowed
    assert heads.target_offset(task) == target_offset
    assert heads.label_offset(task) == label_offset
    labels = torch.tensor([0, 1, 1])
    assert heads.targets(labels, task).tolist() == [target_offset, target_offset + 1, target_offset + 1]
    out = torch.arange(heads.num_outputs).float().expand(4, -1)  # [B, O]
    assert heads.logits(out, task, num_trained)[0].tolist() == list(range(*allowed))


def test_output_width_and_multi_head():
    assert Heads(2, T, C).num_outputs == 2 and Heads(1, T, C).num_outputs == 6
    assert Heads(1, T, C).multi_head and Heads(3, T, C, split_head=True).multi_head and not Heads(3, T, C).multi_head
    with pytest.raises(ValueError):
        Heads(1, T, C, non_growing=True)


def test_output_unit_entries_select_rows_of_the_last_layer():
    mnet = MLP(2, 6, [10, 10], no_weights=True)  # 206 weights; last layer W [6, 10], b [6]
    m = output_unit_entries(mnet, [2, 3])
    assert m.shape == (206,) and int(m.sum()) == 2 * 10 + 2
    last_w_start = 2 * 10 + 10 + 10 * 10 + 10
    assert m[last_w_start + 20:last_w_start + 40].all() and not m[:last_w_start].any()


@pytest.mark.parametrize("heads, kept_units", [
    (Heads(3, T, C, split_head=True), [[0, 1], [2, 3]]),
    (Heads(3, T, C), [[0, 1], [0, 1, 2, 3]]),  # growing softmax: task j keeps [0, (j+1)C)
    (Heads(2, T, C), [[0, 1], [0, 1]]),
])
def test_regularizer_mask_keeps_shared_weights_and_allowed_units(heads, kept_units):
    mnet = MLP(2, heads.num_outputs, [10, 10], no_weights=True)
    mask = regularizer_mask(mnet, heads, [0, 1], gaussian=True)
    P = mnet.num_params
    assert mask.shape == (2, 2 * P)
    hidden = 2 * 10 + 10 + 10 * 10 + 10
    for j, units in enumerate(kept_units):
        assert mask[j, :hidden].all() and mask[j, P:P + hidden].all()  # shared weights, mean and rho halves
        assert int(mask[j, :P].sum()) == hidden + 11 * len(units)
        assert torch.equal(mask[j, :P], mask[j, P:])
