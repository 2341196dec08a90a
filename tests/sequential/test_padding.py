"""Training batches drop trailing padded steps where no loss reads them (``trim_padding``): the same loss and
gradients as the padded batch, and only for the runs where that holds."""

from types import SimpleNamespace

import pytest
import torch

from data.timeseries.sequence_task import SeqBatch, trim_padding
from sequential.args import parse_args
from sequential.families import last_step_logits, make_class_loss, pos_loss
from sequential.networks import build_bidirectional_net, build_main_net, rnn_forward
from sequential.runner import padding_is_inert


def _batch(T: int = 30, lengths=(5, 12, 9, 3)) -> SeqBatch:
    torch.manual_seed(0)
    lengths = torch.tensor(lengths)
    x = torch.randn(T, len(lengths), 4) * (torch.arange(T)[:, None] < lengths[None, :])[..., None]
    return SeqBatch(x, torch.tensor([1, 0, 2, 1]), lengths, None, torch.zeros(len(lengths), dtype=torch.long))


def test_trim_padding_keeps_the_longest_sequence_and_one_step_more():
    batch = _batch()
    trimmed = trim_padding(batch)
    assert trimmed.inputs.shape == (13, 4, 4)
    assert torch.equal(trimmed.inputs, batch.inputs[:13]) and torch.equal(trimmed.lengths, batch.lengths)
    assert trim_padding(_batch(T=13)).inputs.shape[0] == 13  # nothing to cut
    window = torch.zeros(30, 4, dtype=torch.bool)
    copy_like = SeqBatch(batch.inputs, torch.zeros(30, 4, 3), batch.lengths, window, batch.task_ids)
    cut = trim_padding(copy_like, extra=0)
    assert cut.inputs.shape[0] == cut.targets.shape[0] == cut.window.shape[0] == 12


@pytest.mark.parametrize("use_lstm", [True, False], ids=["lstm", "elman"])
@pytest.mark.parametrize("weighting", ["last", "unpadded", "last_ten_percent", "discount"])
def test_trimmed_batch_gives_the_padded_batch_loss_and_gradients(use_lstm, weighting):
    torch.manual_seed(1)
    net = build_main_net(parse_args("seq_smnist", ["--rnn_arch=16"] + ([] if use_lstm else ["--use_vanilla_rnn"])),
                         4, 3)
    w = [p.detach().clone().requires_grad_() for p in net.internal_params]
    loss_fn = make_class_loss(weighting)
    results = []
    for batch in (_batch(), trim_padding(_batch())):
        logits = rnn_forward(net, batch.inputs, w)
        loss = loss_fn(logits, batch).mean()
        results.append((loss, last_step_logits(logits, batch.lengths, 1), torch.autograd.grad(loss, w)))
    (loss_a, after_a, grads_a), (loss_b, after_b, grads_b) = results
    torch.testing.assert_close(loss_b, loss_a, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(after_b, after_a, rtol=1e-6, atol=1e-7)  # the replay distillation's read
    for a, b in zip(grads_a, grads_b, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)



def test_trimmed_pos_batch_gives_the_padded_batch_loss_and_gradients():
    """A bidirectional tagger reverses each sentence within its length, so its outputs on the tokens do not depend
    on the padding either; the PoS loss sums over unpadded tokens."""
    torch.manual_seed(2)
    net = build_bidirectional_net(parse_args("pos", ["--use_bidirectional_net", "--rnn_arch=8"]), 4, 5)
    w = [p.detach().clone().requires_grad_() for p in net.internal_params]
    padded = _batch()
    padded.targets = torch.randint(0, 5, (30, 4, 1))
    results = []
    for batch in (padded, trim_padding(padded, extra=0)):
        loss = pos_loss(rnn_forward(net, batch.inputs, w, batch.lengths), batch).mean()
        results.append((loss, torch.autograd.grad(loss, w)))
    torch.testing.assert_close(results[1][0], results[0][0], rtol=1e-6, atol=1e-7)
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)

@pytest.mark.parametrize("argv, kind, decoder, inert", [
    ([], "class", None, True),
    (["--ts_weighting=none"], "class", None, False),  # the mean over all padded steps
    ([], "copy", None, False),
    ([], "class", object(), False),  # generative replay
], ids=["smnist", "ts_weighting_none", "copy", "replay_decoder"])
def test_padding_is_inert_only_where_no_loss_reads_the_padded_steps(argv, kind, decoder, inert):
    config = parse_args("seq_smnist", ["--rnn_arch=8"] + argv)
    model = SimpleNamespace(mnet=build_main_net(config, 4, 3), decoder=decoder)
    assert padding_is_inert(config, model, SimpleNamespace(kind=kind)) is inert
    model.mnet.bptt_depth = 5  # truncated BPTT counts from the padded end
    assert not padding_is_inert(config, model, SimpleNamespace(kind=kind))


def test_padding_is_inert_for_a_bidirectional_tagger_without_truncated_bptt():
    config = parse_args("pos", ["--use_bidirectional_net", "--rnn_arch=8"])
    model = SimpleNamespace(mnet=build_bidirectional_net(config, 4, 5), decoder=None)
    assert padding_is_inert(config, model, SimpleNamespace(kind="tokens"))
    model.mnet.rnns[1].bptt_depth = 3
    assert not padding_is_inert(config, model, SimpleNamespace(kind="tokens"))
