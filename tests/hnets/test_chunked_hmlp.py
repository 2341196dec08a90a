"""ChunkedHMLP: layout, init and outputs equal to hypnettorch 0.0.4; all conditions in one call; the RNN
README hypernetwork sizes."""

import pytest
import torch

from hnets.chunked_hmlp import ChunkedHMLP
from hnets.hmlp import HMLP

TARGET = [[7, 5], [7], [3, 7], [3]]  # 66 weights

CONFIGS = {
    "shared-chunk-embs": dict(chunk_size=10, chunk_emb_size=4, cond_in_size=3, layers=(6, 5), num_cond_embs=3),
    "cond-chunk-embs": dict(chunk_size=9, chunk_emb_size=2, cond_in_size=3, layers=(6,), num_cond_embs=2,
                            cond_chunk_embs=True),
    "cond-chunk-embs-no-task-emb": dict(chunk_size=20, chunk_emb_size=3, cond_in_size=0, layers=(4,),
                                        num_cond_embs=2, cond_chunk_embs=True),
    "linear-no-bias-sigmoid": dict(chunk_size=66, chunk_emb_size=2, cond_in_size=4, layers=(), use_bias=False,
                                   activation_fn="sigmoid"),
}


def theirs_kwargs(cfg):
    acts = {"relu": torch.nn.ReLU(), "sigmoid": torch.nn.Sigmoid()}
    return {**cfg, "activation_fn": acts[cfg.get("activation_fn", "relu")], "verbose": False}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(hht, cfg):
    torch.manual_seed(3)
    ours = ChunkedHMLP(TARGET, **cfg)
    torch.manual_seed(3)
    theirs = hht.ChunkedHMLP(TARGET, **theirs_kwargs(cfg))
    assert ours.param_shapes == theirs.param_shapes
    assert ours.param_shapes_meta == [{k: v for k, v in m.items() if k != "index"}
                                      for m in theirs.param_shapes_meta]
    assert len(ours.internal_params) == len(theirs.internal_params)
    for a, b in zip(ours.internal_params, theirs.internal_params):
        assert torch.equal(a, b)
    assert [p.shape for p in ours.conditional_params] == [p.shape for p in theirs.conditional_params]
    ids = list(range(cfg.get("num_cond_embs", 1)))
    out = ours(cond_id=ids)
    assert out.shape == (len(ids), 66)
    torch.testing.assert_close(out, theirs(cond_id=ids, ret_format="flattened"), atol=1e-6, rtol=0)
    for i in ids:  # one call for all conditions = one call per condition
        torch.testing.assert_close(out[i], ours(cond_id=i)[0], atol=1e-6, rtol=0)


def test_unconditional_input_and_external_weights(hht):
    cfg = dict(chunk_size=8, chunk_emb_size=3, uncond_in_size=2, cond_in_size=0, num_cond_embs=0, layers=(5,))
    torch.manual_seed(0)
    ours = ChunkedHMLP(TARGET, **cfg)
    torch.manual_seed(0)
    theirs = hht.ChunkedHMLP(TARGET, **theirs_kwargs(cfg))
    z = torch.randn(4, 2)
    torch.testing.assert_close(ours(uncond_input=z), theirs(uncond_input=z, ret_format="flattened"),
                               atol=1e-6, rtol=0)
    external = [torch.randn(s) for s in ours.unconditional_param_shapes]
    torch.testing.assert_close(ours(uncond_input=z, weights=external),
                               theirs(uncond_input=z, weights=external, ret_format="flattened"), atol=1e-6, rtol=0)


# spec_cl_in_rnns.md §2.3: (target weights, chunk, hidden layers, task emb, chunk emb, tasks) -> hnet params
README = {
    "copy-5x7": (142_883, 2500, (50, 50), 32, 32, 5, 135_316),
    "copy-single-head": (135_687, 2500, (50, 50), 32, 16, 5, 133_540),
    "copy-padded": (142_883, 4000, (60, 60, 30), 16, 32, 5, 133_662),
    "copy-pattern-manipulation-old-hnet": (142_883, 4000, (64, 64, 32), 32, 32, 5, 143_712),
    "pos-bilstm": (47_188, 190, (75, 125), 32, 8, 20, 39_147),
    "seqsmnist-m1": (270_858, 10_000, (25, 25), 32, 16, 5, 262_483),
    "seqsmnist-m3": (270_858, 5000, (50, 50), 32, 16, 5, 261_040),
    "seqsmnist-m4": (270_858, 10_000, (25, 25), 16, 16, 5, 262_003),
    "splitsmnist-decoder": (281_604, 5000, (50, 50), 32, 32, 5, 262_784),
    "splitsmnist-decoder-fc256": (597_508, 5000, (50, 50), 32, 32, 5, 264_800),
    "audioset": (24_036, 2000, (10, 10), 32, 32, 10, 23_496),
}


@pytest.mark.parametrize("P, chunk, layers, temb, cemb, tasks, expected", README.values(), ids=README.keys())
def test_readme_hypernetwork_sizes(P, chunk, layers, temb, cemb, tasks, expected):
    hnet = ChunkedHMLP([[P]], chunk, chunk_emb_size=cemb, cond_in_size=temb, layers=layers,
                       num_cond_embs=tasks, no_uncond_weights=True, no_cond_weights=True)
    assert hnet.num_params == expected


def test_external_task_embeddings_need_cond_input():
    hnet = ChunkedHMLP(TARGET, chunk_size=10, chunk_emb_size=2, cond_in_size=3, layers=(4,), num_cond_embs=2,
                       no_cond_weights=True)
    assert hnet.conditional_params == []
    with pytest.raises(ValueError, match="not maintained internally"):
        hnet(cond_id=0)
    assert hnet(cond_input=torch.randn(2, 3)).shape == (2, 66)


def test_padded_outputs_keep_the_last_chunks_surplus():
    hnet = ChunkedHMLP(TARGET, chunk_size=10, chunk_emb_size=2, cond_in_size=3, layers=(4,), num_cond_embs=3)
    padded = hnet.padded_outputs([2, 0])
    assert padded.shape == (2, 70)  # 7 chunks of 10 for 66 weights
    assert torch.equal(padded[:, :66], hnet(cond_id=[2, 0]))
    plain = HMLP(TARGET, cond_in_size=3, layers=(4,), num_cond_embs=3)
    assert torch.equal(plain.padded_outputs([1]), plain(cond_id=[1]))  # nothing to cut


@pytest.mark.parametrize("cfg", [CONFIGS["shared-chunk-embs"], CONFIGS["cond-chunk-embs"]], ids=["shared", "cond"])
def test_tasks_outside_the_call_get_no_gradient_as_in_hypnettorch(hht, cfg):
    """Embeddings of tasks not in ``cond_id`` stay out of the graph: their gradient is None, as hypnettorch's, so
    Adam with weight decay leaves them alone (a zero gradient would move them)."""
    torch.manual_seed(3)
    ours = ChunkedHMLP(TARGET, **cfg)
    torch.manual_seed(3)
    theirs = hht.ChunkedHMLP(TARGET, **theirs_kwargs(cfg))
    ours(cond_id=[1]).sum().backward()
    theirs(cond_id=[1], ret_format="flattened").sum().backward()
    assert [p.grad is None for p in ours.internal_params] == [p.grad is None for p in theirs.internal_params]
    assert ours.conditional_params[0].grad is None and ours.conditional_params[1].grad is not None
    before = ours.conditional_params[0].detach().clone()
    opt = torch.optim.Adam(ours.parameters(), lr=0.1, weight_decay=0.01)
    for _ in range(3):
        opt.zero_grad(set_to_none=False)
        ours(cond_id=[1]).sum().backward()
        opt.step()
    assert torch.equal(ours.conditional_params[0], before)
