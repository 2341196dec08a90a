"""Online EWC: the batched per-sample Fisher equals the one-sample-at-a-time estimate (penalty and decay:
tests/utils/test_ewc.py)."""

import pytest
import torch

from data.timeseries.copy_task import CopyTaskSpec, copy_tasks
from mnets.simple_rnn import SimpleRNN
from sequential.ewc import fisher_diagonal
from sequential.families import copy_loss


def _one_at_a_time(net, data, tbptt):
    """The original's estimate: one forward/backward per sample, squared gradients averaged."""
    weights = list(net.internal_params)
    fisher = [torch.zeros_like(w) for w in weights]
    net.bptt_depth = tbptt
    for n in range(len(data)):
        split = data.select(torch.tensor([n]))
        x = split.inputs.transpose(0, 1)
        from data.timeseries.sequence_task import to_batch

        loss = copy_loss(net(x)[..., :7], to_batch(split, 0)).sum()
        for f, g in zip(fisher, torch.autograd.grad(loss, weights)):
            f += g**2
    net.bptt_depth = -1
    return [f / len(data) for f in fisher]


@pytest.mark.parametrize("use_lstm", [False, True], ids=["elman", "lstm"])
@pytest.mark.parametrize("tbptt", [-1, 3], ids=["full_bptt", "tbptt3"])
def test_batched_fisher_equals_one_at_a_time(use_lstm, tbptt):
    torch.manual_seed(0)
    data = copy_tasks([CopyTaskSpec(mean_len=4, permute_time=True)], 42, 10, 2, 2)[0].splits["train"]
    net = SimpleRNN(n_in=8, rnn_layers=[6], fc_layers=[14], use_lstm=use_lstm, kaiming_rnn_init=True)

    def nll(logits, batch):
        return copy_loss(logits[..., :7], batch)

    batched = fisher_diagonal(net, list(net.internal_params), data, 0, nll, micro_batch=4, tbptt=tbptt)
    reference = _one_at_a_time(net, data, tbptt)
    for b, r in zip(batched, reference):
        torch.testing.assert_close(b, r, rtol=1e-4, atol=1e-7)
    assert sum(float(f.sum()) for f in batched) > 0

