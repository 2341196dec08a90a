"""Online EWC: the batched per-sample Fisher equals the one-sample-at-a-time estimate, on both batched paths
(structured gradients of a SimpleRNN, weight copies for masks); penalty and decay: tests/utils/test_ewc.py."""

import pytest
import torch

from data.timeseries.copy_task import CopyTaskSpec, copy_tasks
from data.timeseries.sequence_task import to_batch
from hnets.hmlp import HMLP
from mnets.simple_rnn import SimpleRNN
from sequential import ewc
from sequential.ewc import can_use_structure, fisher_diagonal
from sequential.families import copy_loss
from sequential.networks import merge_weights


def _nll(logits, batch):
    return copy_loss(logits[..., :7], batch)


def _one_at_a_time(net, weights, data, tbptt, fixed=()):
    """The original's estimate: one forward/backward per sample (the network's own forward), squared gradients
    averaged."""
    fisher = [torch.zeros_like(w) for w in weights]
    net.bptt_depth = tbptt
    for n in range(len(data)):
        split = data.select(torch.tensor([n]))
        out = net(split.inputs.transpose(0, 1), weights=merge_weights(net, fixed, weights))
        loss = _nll(out, to_batch(split, 0)).sum()
        for f, g in zip(fisher, torch.autograd.grad(loss, weights)):
            f += g**2
    net.bptt_depth = -1
    return [f / len(data) for f in fisher]


def _copy_data():
    return copy_tasks([CopyTaskSpec(mean_len=4, permute_time=True)], 42, 10, 2, 2)[0].splits["train"]


def _assert_equal(batched, reference):
    for b, r in zip(batched, reference, strict=True):
        torch.testing.assert_close(b, r, rtol=1e-4, atol=1e-7)
    assert sum(float(f.sum()) for f in batched) > 0


@pytest.mark.parametrize("use_lstm", [False, True], ids=["elman", "lstm"])
@pytest.mark.parametrize("tbptt", [-1, 3], ids=["full_bptt", "tbptt3"])
def test_batched_fisher_equals_one_at_a_time(use_lstm, tbptt):
    torch.manual_seed(0)
    data = _copy_data()
    net = SimpleRNN(n_in=8, rnn_layers=[6], fc_layers=[14], use_lstm=use_lstm, kaiming_rnn_init=True)
    weights = list(net.internal_params)
    assert can_use_structure(net)
    batched = fisher_diagonal(net, weights, data, 0, _nll, micro_batch=4, tbptt=tbptt)
    _assert_equal(batched, _one_at_a_time(net, weights, data, tbptt))


NETS = {  # SimpleRNN kwargs beyond n_in=8: every layer kind of the structured path
    "elman-prefc-2layers-postfc": dict(fc_layers_pre=[5], rnn_layers=[6, 4], fc_layers=[9, 14]),
    "lstm-prefc-2layers-postfc-relu": dict(fc_layers_pre=[5], rnn_layers=[6, 4], fc_layers=[9, 14],
                                           use_lstm=True, activation_fn="relu"),
    "elman-no-bias-linear": dict(rnn_layers=[6], fc_layers=[14], use_bias=False, activation_fn="linear"),
    "lstm-no-bias": dict(rnn_layers=[6], fc_layers=[14], use_bias=False, use_lstm=True),
}


@pytest.mark.parametrize("tbptt", [-1, 2], ids=["full_bptt", "tbptt2"])
@pytest.mark.parametrize("kwargs", NETS.values(), ids=NETS.keys())
def test_structured_fisher_equals_one_at_a_time_for_every_layer_kind(kwargs, tbptt, monkeypatch):
    monkeypatch.setattr(ewc, "GRAD_BLOCK", 3)  # 4-sample chunks in blocks of 3 and 1: blocks must not matter
    torch.manual_seed(1)
    data = _copy_data()
    net = SimpleRNN(n_in=8, kaiming_rnn_init=True, **kwargs)
    weights = list(net.internal_params)
    batched = fisher_diagonal(net, weights, data, 0, _nll, micro_batch=4, tbptt=tbptt)
    _assert_equal(batched, _one_at_a_time(net, weights, data, tbptt))


def test_structured_fisher_of_hypernetwork_generated_weights():
    """The hnet case: a main network without own weights, run with a hypernetwork's output for task 1."""
    torch.manual_seed(2)
    data = _copy_data()
    net = SimpleRNN(n_in=8, rnn_layers=[6], fc_layers=[14], no_weights=True)
    hnet = HMLP(net.param_shapes, cond_in_size=4, layers=[10], num_cond_embs=2)
    weights = [w[0].detach() for w in hnet.target_weights(hnet(cond_id=1))]
    assert can_use_structure(net)
    batched = fisher_diagonal(net, weights, data, 1, _nll, micro_batch=3, tbptt=-1)
    reference = _one_at_a_time(net, [w.requires_grad_() for w in weights], data, -1)
    _assert_equal(batched, reference)


@pytest.mark.parametrize("use_lstm", [False, True], ids=["elman", "lstm"])
def test_weight_copy_fisher_with_masks_equals_one_at_a_time(use_lstm):
    """Masks (fixed context-mod gains) take the weight-copy path; it too equals the loop."""
    torch.manual_seed(3)
    data = _copy_data()
    net = SimpleRNN(n_in=8, rnn_layers=[6], fc_layers=[14], use_lstm=use_lstm, use_context_mod=True,
                    no_last_layer_context_mod=True, context_mod_no_weights=True)
    masks = [(torch.rand(s) < 0.5).float() if m["name"] == "cm_scale" else torch.zeros(s)
             for s, m in zip(net.param_shapes[:net.num_cm_params], net.param_shapes_meta)]
    weights = list(net.internal_params)
    assert not can_use_structure(net, masks)
    batched = fisher_diagonal(net, weights, data, 0, _nll, masks, micro_batch=4, tbptt=-1)
    _assert_equal(batched, _one_at_a_time(net, weights, data, -1, masks))


def test_structured_and_weight_copy_paths_agree_on_one_chunk():
    torch.manual_seed(4)
    net = SimpleRNN(n_in=8, fc_layers_pre=[5], rnn_layers=[6], fc_layers=[14], use_lstm=True)
    weights = list(net.internal_params)
    batch = to_batch(_copy_data(), 0)
    structured = ewc.grad_square_sums(net, weights, batch, _nll)
    copies = [(g**2).sum(0) for g in ewc.per_sample_grads(net, weights, batch, _nll)]
    _assert_equal(structured, copies)
