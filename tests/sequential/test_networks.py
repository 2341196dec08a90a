"""Networks of the RNN runner: README parameter counts, fused == looped forward, hnet regulariser, head masks."""

import pytest
import torch

from hnets.chunked_hmlp import ChunkedHMLP
from sequential.args import parse_args
from sequential.networks import (
    build_hnet,
    build_main_net,
    compression_ratio,
    hh_weight_ids,
    orthogonal_regularizer,
    output_head_mask,
    rnn_forward,
)
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer

COPY_HNET = ["--use_vanilla_rnn", "--multi_head", "--num_tasks=5", "--nh_chmlp_chunk_size=2500",
             "--nh_hnet_type=chunked_hmlp", "--nh_hmlp_arch=50,50", "--nh_cond_emb_size=32",
             "--nh_chunk_emb_size=32", "--use_new_hnet", "--hnet_all"]


@pytest.mark.parametrize("mode,argv,n_in,n_out,weights,hnet_params", [
    ("copy", COPY_HNET, 8, 35, 142_883, 135_316),
    ("copy", ["--use_vanilla_rnn", "--hyper_chunks=4000", "--hnet_arch=64,64,32", "--temb_size=32",
              "--emb_size=32", "--hnet_all", "--num_tasks=5"], 8, 35, 142_883, None),
    ("seq_smnist", ["--nh_chmlp_chunk_size=10000", "--nh_hnet_type=chunked_hmlp", "--nh_hmlp_arch=25,25",
                    "--nh_chunk_emb_size=16", "--use_new_hnet", "--hnet_all", "--num_tasks=5"], 4, 10,
     270_858, 262_483),
], ids=["copy_hnet", "copy_old_hnet", "seq_smnist_hnet"])
def test_readme_parameter_counts(mode, argv, n_in, n_out, weights, hnet_params):
    config = parse_args(mode, argv)
    mnet = build_main_net(config, n_in, n_out, no_weights=True)
    assert mnet.num_params == weights
    hnet = build_hnet(config, mnet.param_shapes, 5)
    assert isinstance(hnet, ChunkedHMLP)
    if hnet_params is not None:
        assert hnet.num_params == hnet_params
        assert compression_ratio(hnet) == pytest.approx(hnet_params / weights)
    else:  # old chunked hnet, chunk 4000, hidden 64,64,32, relu->sigmoid per --hnet_act (copy default)
        assert hnet.chunk_size == 4000 and hnet.layers == [64, 64, 32]


@pytest.mark.parametrize("vanilla,act", [(True, "tanh"), (True, "relu"), (False, "tanh")],
                         ids=["elman_tanh", "elman_relu", "lstm"])
def test_fused_forward_equals_loop(vanilla, act):
    torch.manual_seed(0)
    argv = ["--rnn_arch=6,5", "--srnn_pre_fc_layers=4", f"--net_act={act}"] + (["--use_vanilla_rnn"] * vanilla)
    net = build_main_net(parse_args("copy", argv), 3, 2)
    x = torch.randn(7, 4, 3)
    w = [p.detach().clone().requires_grad_() for p in net.internal_params]
    fused, loop = rnn_forward(net, x, w), net(x, weights=w)
    torch.testing.assert_close(fused, loop, rtol=1e-5, atol=1e-6)
    for a, b in zip(torch.autograd.grad(fused.sum(), w), torch.autograd.grad(loop.sum(), w)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_hnet_regularizer_zero_at_targets_and_head_mask():
    torch.manual_seed(0)
    config = parse_args("copy", COPY_HNET + ["--rnn_arch=8", "--nh_chmlp_chunk_size=50"])
    mnet = build_main_net(config, 8, 35, no_weights=True)
    hnet = build_hnet(config, mnet.param_shapes, 5)
    targets = compute_targets(hnet, 3)
    masks = torch.stack([output_head_mask(mnet, j, 5, 7) for j in range(3)])
    with torch.no_grad():
        assert float(hnet_output_regularizer(hnet(cond_id=[0, 1, 2]), targets, masks)) == 0.0
    # the head mask keeps the shared weights and exactly one head (7 rows of the 8-input layer + 7 biases)
    n_out = 35 * 8 + 35
    assert int(masks[1].sum()) == mnet.num_params - n_out + 7 * 8 + 7
    # changing another task's head does not count, changing its own does
    shifted = targets.clone()
    start = mnet.num_params - n_out
    shifted[0, start + 7 * 8:start + 14 * 8] += 1.0  # head 1's weights, seen from task 0
    assert float(hnet_output_regularizer(shifted, targets, masks)) == 0.0
    shifted[0, start:start + 8] += 1.0  # head 0's first row
    assert float(hnet_output_regularizer(shifted, targets, masks)) == pytest.approx(8 / 3)


def test_orthogonal_regularizer_zero_for_orthogonal_blocks():
    torch.manual_seed(0)
    config = parse_args("copy", ["--rnn_arch=6", "--orthogonal_hh_init"])
    net = build_main_net(config, 3, 2)  # LSTM: 4 orthogonal gate blocks
    ids = hh_weight_ids(net)
    assert float(orthogonal_regularizer(list(net.internal_params), ids, True)) == pytest.approx(0.0, abs=1e-9)
    w = list(net.internal_params)
    w[ids[0]] = 2 * w[ids[0]]  # each block W W^T = 4 I -> 4 blocks * 6 * 9
    assert float(orthogonal_regularizer(w, ids, True)) == pytest.approx(4 * 6 * 9, rel=1e-4)
