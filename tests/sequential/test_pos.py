"""PoS pieces of the RNN runner: token loss / accuracy / weighted F-score, word embeddings, the BiLSTM (masking
quirk and its fix, fused forward, per-sample Fisher with sequence lengths, masks) and token distillation."""

import numpy as np
import pytest
import torch

from data.timeseries.sequence_task import SeqBatch
from sequential import ewc
from sequential.args import parse_args
from sequential.families import pos_confusion, pos_correct, pos_loss, weighted_fscore
from sequential.masks import generate_masks
from sequential.networks import build_bidirectional_net, mask_layer_sizes, merge_weights, rnn_forward
from sequential.replay import softmax_kd, token_distillation
from sequential.word_embeddings import WordEmbeddings, initial_tables


def token_batch(ids: list[list[int]], tags: list[list[int]]) -> SeqBatch:
    """Time-major batch of sentences (word ids, tags), zero-padded."""
    T = max(len(s) for s in ids)
    x = torch.zeros(T, len(ids), 1)
    y = torch.zeros(T, len(ids), 1, dtype=torch.long)
    for b, (s, t) in enumerate(zip(ids, tags)):
        x[: len(s), b, 0] = torch.tensor(s, dtype=torch.float)
        y[: len(t), b, 0] = torch.tensor(t)
    lengths = torch.tensor([len(s) for s in ids])
    return SeqBatch(x, y, lengths, None, torch.zeros(len(ids), dtype=torch.long))


def test_token_loss_and_accuracy_count_unpadded_known_words():
    batch = token_batch([[3, 4, 0], [5]], [[1, 2, 0], [2]])  # word 0 inside the first sentence is not scored
    logits = torch.zeros(3, 2, 3)
    logits[0, 0, 1] = logits[1, 0, 0] = logits[2, 0, 0] = logits[0, 1, 2] = 10.0  # predictions 1, 0, 0 | 2
    logits[1:, 1] = 50.0  # padding of sentence 2: huge logits that must not count
    hits, count = pos_correct(logits, batch)
    assert (hits, count) == (2.0, 3.0)  # sentence 1: tokens 0 (right), 1 (wrong); sentence 2: token 0 (right)
    ce = torch.nn.functional.cross_entropy
    expected = [ce(logits[:3, 0], batch.targets[:3, 0, 0], reduction="sum"), ce(logits[:1, 1], batch.targets[:1, 1, 0])]
    torch.testing.assert_close(pos_loss(logits, batch), torch.stack(expected))  # word 0 still counts in the loss
    conf = pos_confusion(logits, batch)
    assert conf.tolist() == [[0, 0, 0], [0, 1, 0], [1, 0, 1]]


def test_weighted_fscore_closed_form():
    # true 0: 3 tokens (2 right, 1 -> 1); true 1: 1 token (-> 0); tag 2 never seen nor predicted.
    conf = torch.tensor([[2, 1, 0], [1, 0, 0], [0, 0, 0]])
    f0 = 2 * 2 / (2 * 2 + 1 + 1)  # tp 2, fp 1, fn 1
    f1 = 0.0
    assert weighted_fscore(conf) == pytest.approx((3 * f0 + 1 * f1) / 4)
    assert weighted_fscore(torch.eye(4, dtype=torch.long) * 5) == 1.0


def test_word_embeddings_mix_tasks_and_train_one_table():
    torch.manual_seed(0)
    tables = initial_tables([np.ones((3, 2), np.float32), None], [3, 5], 2)
    assert tables[1][0].abs().sum() == 0 and tables[1].shape == (5, 2)  # random init: zero unknown/padding row
    emb = WordEmbeddings(tables, trainable=True)
    ids = torch.tensor([[1.0, 4.0], [2.0, 0.0]])  # [T, B]: sample 0 from task 0, sample 1 from task 1
    out = emb(ids, torch.tensor([0, 1]))
    torch.testing.assert_close(out[:, 0], torch.ones(2, 2))
    torch.testing.assert_close(out[:, 1], torch.stack([tables[1][4], tables[1][0]]))
    assert emb.trainable_params(1) == [emb.tables[1]] and len(emb.trainable_params(None)) == 2
    assert WordEmbeddings(tables, trainable=False).trainable_params(0) == []


def pos_config(*extra: str):
    return parse_args("pos", ["--use_bidirectional_net", "--rnn_arch=4", *extra])


def forward_grad_norm(net, x, lengths) -> float:
    out = net(x, seq_lengths=lengths)
    valid = torch.arange(x.shape[0])[:, None] < lengths[None, :]  # a loss reads the unpadded steps only
    (out * valid[..., None]).sum().backward()
    forward_ids = [i for i, m in zip(net.owned_ids, net.param_shapes_meta) if m["birnn_layer_type"] == "forward_rnn"]
    params = dict(zip(net.owned_ids, net.internal_params))
    return float(sum(params[i].grad.norm() for i in forward_ids))


def test_bilstm_quirk_by_default_and_the_fix_flag():
    torch.manual_seed(0)
    x, lengths = torch.randn(5, 3, 6), torch.tensor([5, 2, 3])
    quirk = build_bidirectional_net(pos_config(), 6, 17)
    assert forward_grad_norm(quirk, x, lengths) == 0.0  # the forward LSTM never influences the tags
    fixed = build_bidirectional_net(pos_config("--fix_bilstm_masking"), 6, 17)
    assert forward_grad_norm(fixed, x, lengths) > 0.0


@pytest.mark.parametrize("fix", [False, True], ids=["quirk", "fixed"])
def test_fused_bilstm_forward_equals_the_loop(fix):
    torch.manual_seed(1)
    net = build_bidirectional_net(pos_config(*(["--fix_bilstm_masking"] if fix else [])), 6, 10)
    x, lengths = torch.randn(7, 4, 6), torch.tensor([7, 1, 4, 6])
    torch.testing.assert_close(rnn_forward(net, x, None, lengths), net(x, seq_lengths=lengths), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("masks", [False, True], ids=["plain", "masked"])
def test_per_sample_fisher_with_lengths_equals_one_sample_at_a_time(masks):
    torch.manual_seed(2)
    config = pos_config("--fix_bilstm_masking", *(["--use_masks"] if masks else []))
    net = build_bidirectional_net(config, 6, 3, use_masks=masks)
    fixed = generate_masks(mask_layer_sizes(net), 1, 0.5, np.random.RandomState(0))[0] if masks else []
    assert mask_layer_sizes(net) == ([4, 4] if masks else [])
    batch = token_batch([[1, 2, 3, 4], [2, 1], [3, 3, 1]], [[0, 1, 2, 0], [1, 1], [2, 0, 1]])
    batch.inputs = torch.randn(4, 3, 6)
    main = list(net.internal_params)
    grads = ewc.per_sample_grads(net, main, batch, pos_loss, fixed, forward=rnn_forward)
    for s in range(3):
        L = int(batch.lengths[s])
        single = SeqBatch(batch.inputs[:L, s:s + 1], batch.targets[:L, s:s + 1], batch.lengths[s:s + 1], None,
                          batch.task_ids[s:s + 1])
        out = net(single.inputs, merge_weights(net, fixed, main), seq_lengths=single.lengths)
        expected = torch.autograd.grad(pos_loss(out, single).sum(), main)
        for g, e in zip(grads, expected):
            torch.testing.assert_close(g[s], e, atol=1e-5, rtol=1e-4)


def test_token_distillation_averages_over_unpadded_tokens():
    torch.manual_seed(3)
    student, teacher = torch.randn(3, 2, 5), torch.randn(3, 2, 5)
    lengths = torch.tensor([3, 1])
    kd = softmax_kd(student, teacher)  # [T, B]
    expected = (kd[:, 0].sum() + kd[0, 1]) / 4
    torch.testing.assert_close(token_distillation(student, teacher, lengths), expected)
    assert float(token_distillation(teacher, teacher, lengths)) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("argv", [["--wemb_init=text"], ["--wemb_file=v.{lang}.txt"]], ids=["no-file", "no-text"])
def test_vector_file_and_text_init_go_together(argv, capsys):
    with pytest.raises(SystemExit) as code:
        parse_args("pos", argv)
    assert code.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--wemb_file" in err and "--wemb_init=text" in err
