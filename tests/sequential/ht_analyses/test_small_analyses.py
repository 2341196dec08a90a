"""Importance selection, BPTT distances, output-head similarity and supervised dimensionality reduction."""

import numpy as np
import pytest
import torch

from mnets.simple_rnn import SimpleRNN
from sequential.ht_analyses import bptt
from sequential.ht_analyses.head_similarity import head_similarity
from sequential.ht_analyses.importance import importance_values, mean_importance
from sequential.ht_analyses.supervised_dimred import elman_states, projected_outputs, readout


def test_mean_importance_of_connection_types():
    net = SimpleRNN(n_in=2, rnn_layers=[3], fc_layers=[4], use_lstm=False)
    fisher = [torch.full(s, float(i)) for i, s in enumerate(net.param_shapes)]  # value = tensor index
    # hh = weight [3,3] (index 2) and bias [3] (index 3): (9*2 + 3*3) / 12
    assert mean_importance(net.param_shapes_meta, fisher, "hh") == pytest.approx((9 * 2 + 3 * 3) / 12)
    assert importance_values(net.param_shapes_meta, fisher, "ho").size == 12
    assert np.isnan(mean_importance(net.param_shapes_meta, None, "hh"))


def test_bptt_distances_of_a_permutation():
    perm = np.array([1, 4, 2, 3, 0])  # output step k shows input step perm[k]
    d = bptt.bptt_distances(perm, stop=5)  # output step k is at time 6 + k
    assert d.tolist() == [5, 3, 6, 6, 10]
    ds, accs = bptt.accuracy_vs_distance(np.array([90.0, 80, 70, 50, 60]), d)
    assert ds == [3, 5, 6, 10] and accs == [80, 90, 60, 60]
    assert bptt.time_permutation(42, 0, 5).tolist() == [1, 4, 2, 3, 0]  # spec §1.1, seed 42


def test_per_output_step_accuracy():
    T, N, W, stop, p = 8, 4, 3, 2, 3
    targets = torch.zeros(T, N, W)
    window = torch.zeros(T, N, dtype=torch.bool)
    window[stop + 1:stop + 1 + p] = True
    outputs = -torch.ones(T, N, W)  # predicts 0 everywhere: correct except where a target bit is 1
    targets[stop + 2, :2] = 1  # half the samples wrong at output step 1
    accs = bptt.accuracy_per_output_step(outputs, targets, window, stop, p)
    np.testing.assert_allclose(accs, [100, 50, 100])


def test_head_similarity_identical_and_orthogonal_heads():
    w = torch.zeros(6, 4)
    w[0:2, 0:2] = torch.eye(2)  # head 0 reads units 0, 1
    w[2:4, 0:2] = torch.tensor([[1.0, 1.0], [1.0, -1.0]])  # head 1: the same span
    w[4:6, 2:4] = torch.eye(2)  # head 2: orthogonal span
    sim = head_similarity(w, 3, 2)
    np.testing.assert_allclose(sim, [[1, 1, 0], [1, 1, 0], [0, 0, 1]], atol=1e-12)


def test_projection_with_full_basis_reproduces_the_network():
    torch.manual_seed(0)
    net = SimpleRNN(n_in=3, rnn_layers=[5], fc_layers=[4], use_lstm=False)
    x = torch.randn(6, 2, 3)
    w = list(net.internal_params)
    expected = net(x)
    torch.testing.assert_close(readout(net, w, elman_states(net, w, x)), expected)
    eye = torch.eye(5)
    torch.testing.assert_close(projected_outputs(net, w, x, eye, None), expected)
    torch.testing.assert_close(projected_outputs(net, w, x, eye, at_step=2), expected)
    zero_dim = projected_outputs(net, w, x, eye[:, :0], None)  # no dimensions kept: a constant readout
    assert torch.allclose(zero_dim[0], zero_dim[-1])
