"""Embedding / custom hypernetwork inits touch the right tensors with the right statistics."""

import pytest
import torch

from hnets.chunked_hmlp import ChunkedHMLP
from hnets.hmlp import HMLP
from hnets.init import custom_hnet_init_, init_embeddings_, init_task_embeddings_, owned_params_with_meta

TARGET = [[300, 200], [300]]


def test_init_embeddings_stds():
    torch.manual_seed(0)
    hnet = ChunkedHMLP(TARGET, chunk_size=100, chunk_emb_size=50, cond_in_size=500, layers=(10,),
                       num_cond_embs=4)
    layer_before = hnet.owned_param(hnet.mlp_ids[0]).clone()
    init_embeddings_(hnet, std_normal_temb=0.1, std_normal_emb=2.0)
    assert torch.stack(hnet.conditional_params).std().item() == pytest.approx(0.1, rel=0.1)
    assert hnet.chunk_embeddings().std().item() == pytest.approx(2.0, rel=0.05)
    assert torch.equal(hnet.owned_param(hnet.mlp_ids[0]), layer_before)  # layers untouched



def test_init_task_embeddings_leaves_chunk_embeddings_and_draws_only_for_tasks():
    hnet = ChunkedHMLP(TARGET, chunk_size=100, chunk_emb_size=5, cond_in_size=7, layers=(10,), num_cond_embs=3)
    cemb = hnet.chunk_embeddings().clone()
    torch.manual_seed(0)
    init_task_embeddings_(hnet, std_normal_temb=0.5)
    assert torch.equal(hnet.chunk_embeddings(), cemb)
    after = torch.rand(1)  # the RNG moved by exactly the 3 task embeddings (as three separate draws)
    torch.manual_seed(0)
    expected = [torch.empty(7).normal_(0.0, 0.5) for _ in range(3)]
    assert torch.equal(torch.rand(1), after)
    for emb, exp in zip(hnet.conditional_params, expected):
        torch.testing.assert_close(emb.detach(), exp)

@pytest.mark.parametrize("normal_init", [False, True], ids=["xavier", "normal"])
def test_custom_hnet_init(normal_init):
    hnet = HMLP(TARGET, cond_in_size=400, layers=(300,), num_cond_embs=3)
    custom_hnet_init_(hnet, std_normal_temb=0.5, normal_init=normal_init, std_normal_init=0.01)
    pairs = owned_params_with_meta(hnet)
    weights = [p for p, m in pairs if m["name"] == "weight"]
    assert all(torch.all(p == 0) for p, m in pairs if m["name"] == "bias")
    expected = 0.01 if normal_init else (2.0 / (400 + 300)) ** 0.5  # Xavier-uniform std
    assert weights[0].std().item() == pytest.approx(expected, rel=0.05)
    assert torch.stack([p for p, m in pairs if m["name"] == "embedding"]).std().item() == \
        pytest.approx(0.5, rel=0.1)
