"""The RNN paper's deprecated and new hypernetwork flags map onto one implementation (HMLP/ChunkedHMLP)."""

import pytest
import torch

from hnets.chunked_hmlp import ChunkedHMLP
from hnets.flag_translation import deprecated_hnet_config, new_hnet_config, parse_int_list
from hnets.hmlp import HMLP
from hnets.registry import HNETS, hnet_class
from mnets.simple_rnn import SimpleRNN

COPY_ELMAN = SimpleRNN(n_in=8, rnn_layers=(256,), fc_layers=(35,), no_weights=True)  # 142,883 weights


def test_parse_int_list():
    assert parse_int_list("64,64,32") == [64, 64, 32]
    assert parse_int_list("") == []
    assert parse_int_list(-1) == [-1]


def test_pattern_manipulation_old_hnet_size():
    """README pattern-manipulation runs: --hyper_chunks=4000 --hnet_arch=64,64,32 --temb_size=32
    --emb_size=32 (5 tasks): 143,712 hypernetwork parameters."""
    name, kwargs = deprecated_hnet_config("4000", "64,64,32", "sigmoid", 32, 32)
    hnet = HNETS[name](COPY_ELMAN.param_shapes, num_cond_embs=5, **kwargs)
    assert isinstance(hnet, ChunkedHMLP) and hnet.num_params == 143_712
    assert hnet(cond_id=[0, 4]).shape == (2, 142_883)


def test_old_full_hnet_is_an_hmlp():
    name, kwargs = deprecated_hnet_config("-1", "10,10", "sigmoid", 2, 32)
    assert name == "hmlp"
    hnet = hnet_class(name)([[3, 4], [3]], num_cond_embs=2, **kwargs)
    assert isinstance(hnet, HMLP)
    assert hnet.num_params == 2 * 2 + (2 * 10 + 10) + (10 * 10 + 10) + (10 * 15 + 15)


def test_new_flags_copy_task_run():
    """README copy run: chunk 2500, 50,50, task emb 32, chunk emb 32 -> 135,316 parameters (5 tasks)."""
    name, kwargs = new_hnet_config("chunked_hmlp", "50,50", 32, 2500, "32", False, "relu", False, -1)
    hnet = HNETS[name](COPY_ELMAN.param_shapes, num_cond_embs=5, **kwargs)
    assert hnet.num_params == 135_316
    torch.manual_seed(0)
    weights = hnet.target_weights(hnet(cond_id=[1, 3]))
    assert COPY_ELMAN(torch.randn(9, 2, 8), weights).shape == (2, 9, 2, 35)


@pytest.mark.parametrize("call", [
    lambda: deprecated_hnet_config("5,5", "10", "relu", 2, 32),
    lambda: deprecated_hnet_config("-1", "10", "relu", 2, 32, hnet_noise_dim=4),
    lambda: new_hnet_config("hdeconv", "10", 8, 10, "8", False, "relu", False, -1),
    lambda: new_hnet_config("hmlp", "10", 8, 10, "8", False, "relu", False, -1, nh_hnet_specnorm=True),
], ids=["self-attention", "noise-dim", "hdeconv", "specnorm"])
def test_unavailable_options_raise(call):
    with pytest.raises(NotImplementedError):
        call()


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="chunked_hmlp"):
        hnet_class("hdeconv")
