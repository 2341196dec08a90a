"""BiRNN: layout, init and forward equal to hypnettorch 0.0.4 (including its forward-masking quirk), the
corrected masking behind ``fix_bilstm_masking``, and K weight samples in one pass."""

import numpy as np
import pytest
import torch

from mnets.bi_rnn import BiRNN, reverse_sequences

pytestmark = [pytest.mark.filterwarnings("ignore:.*seq_lengths.*:UserWarning"),
              pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")]

POS = dict(rnn_args=dict(n_in=64, rnn_layers=(32,), fc_layers=(), use_lstm=True),
           mlp_args=dict(n_in=64, n_out=20 * 17, hidden_layers=()))
SMALL = dict(rnn_args=dict(n_in=4, rnn_layers=(5,), fc_layers=(), use_lstm=True, kaiming_rnn_init=True),
             mlp_args=dict(n_in=10, n_out=3, hidden_layers=(6,)))
TWO_LAYERS = dict(rnn_args=[dict(n_in=4, rnn_layers=(5,), fc_layers=()),
                            dict(n_in=10, rnn_layers=(3,), fc_layers=(), use_lstm=True)],
                  mlp_args=dict(n_in=6, n_out=2, hidden_layers=()))


def theirs_kwargs(ht, cfg):
    acts = {"tanh": torch.nn.Tanh(), "relu": torch.nn.ReLU()}
    rnn_args = cfg["rnn_args"] if isinstance(cfg["rnn_args"], list) else [cfg["rnn_args"]]
    rnn_args = [{**a, "activation": acts[a.get("activation_fn", "tanh")]} for a in rnn_args]
    for a in rnn_args:
        a.pop("activation_fn", None)
    mlp = None if cfg["mlp_args"] is None else {**cfg["mlp_args"], "activation_fn": torch.nn.ReLU()}
    return dict(rnn_args=rnn_args, mlp_args=mlp)


def test_pos_bilstm_parameter_count():
    assert BiRNN(**POS, no_weights=True).num_params == 47_188


@pytest.mark.parametrize("cfg", [POS, SMALL, TWO_LAYERS], ids=["pos-bilstm32", "small", "two-layers"])
def test_matches_hypnettorch(ht, compat, cfg):
    torch.manual_seed(9)
    ours = BiRNN(**cfg)
    torch.manual_seed(9)
    theirs = ht.BiRNN(**theirs_kwargs(ht, cfg), verbose=False)
    compat.assert_same_layout(ours, theirs)
    compat.assert_same_init(ours, theirs)
    n_in = cfg["rnn_args"]["n_in"] if isinstance(cfg["rnn_args"], dict) else 4
    x = torch.randn(6, 3, n_in)
    lengths = np.array([6, 2, 4])
    weights = compat.random_weights(ours.param_shapes)
    for seq_lengths in (None, lengths):
        torch.testing.assert_close(ours(x, weights, seq_lengths=seq_lengths),
                                   theirs(x, weights, seq_lengths=seq_lengths), atol=1e-6, rtol=1e-6)


def test_orthogonal_init_matches_hypnettorch(ht, compat):
    torch.manual_seed(0)
    ours = BiRNN(**TWO_LAYERS)
    ours.init_hh_weights_orthogonal()
    torch.manual_seed(0)
    theirs = ht.BiRNN(**theirs_kwargs(ht, TWO_LAYERS), verbose=False)
    theirs.init_hh_weights_orthogonal()
    compat.assert_same_init(ours, theirs)


def forward_gradient_norm(net):
    """Gradient reaching the forward RNN from a loss over the unpadded steps (as the PoS loss)."""
    x = torch.randn(5, 2, 4)
    lengths = np.array([5, 3])
    out = net(x, seq_lengths=lengths)
    valid = torch.arange(5)[:, None] < torch.as_tensor(lengths)[None, :]
    out[valid].sum().backward()
    n_forward = len(net.rnns[0].param_shapes)
    return sum(p.grad.abs().sum() for p in list(net.internal_params)[:n_forward])


def test_original_masking_quirk_silences_the_forward_direction():
    """Default: the forward RNN gets no gradient from the loss (outputs zeroed at all valid steps)."""
    assert forward_gradient_norm(BiRNN(**SMALL)) == 0


def test_fixed_masking_zeroes_padded_steps_only():
    net = BiRNN(**SMALL, fix_bilstm_masking=True)
    assert forward_gradient_norm(net) > 0
    no_mlp = BiRNN(rnn_args=SMALL["rnn_args"], fix_bilstm_masking=True)
    out = no_mlp(torch.randn(5, 2, 4), seq_lengths=[5, 3])
    assert torch.all(out[3:, 1] == 0) and torch.all(out[:3, 1, :5] != 0)


def test_reverse_sequences_within_length():
    x = torch.arange(4.0)[:, None, None].expand(4, 2, 1)  # value = time step
    out = reverse_sequences(x, torch.tensor([4, 2]))
    assert out[:, 0, 0].tolist() == [3, 2, 1, 0]
    assert out[:, 1, 0].tolist() == [1, 0, 0, 0]


@pytest.mark.parametrize("cfg", [SMALL, TWO_LAYERS], ids=["small", "two-layers"])
def test_k_samples_in_one_pass(compat, cfg):
    net = BiRNN(**cfg, no_weights=True)
    K = 3
    weights = compat.random_weights(net.param_shapes, K=K, seed=3)
    x = torch.randn(6, 2, 4)
    lengths = np.array([6, 3])
    batched = net(x, weights, seq_lengths=lengths)
    loop = torch.stack([net(x, [w[k] for w in weights], seq_lengths=lengths) for k in range(K)])
    assert batched.shape == (K, 6, 2, cfg["mlp_args"]["n_out"])
    torch.testing.assert_close(batched, loop, atol=1e-5, rtol=1e-5)


def test_masks_per_direction_as_context_mod_weights():
    """Masking with a BiRNN: owned main weights, each direction's binary gains passed as the only weights."""
    rnn = dict(n_in=4, rnn_layers=(5,), fc_layers=(), use_lstm=True, use_context_mod=True,
               context_mod_no_weights=True)
    net = BiRNN(rnn_args=rnn, fix_bilstm_masking=True)
    assert len(net.internal_params) == len(net.param_shapes) - 4
    fwd_mask, bwd_mask = torch.tensor([1.0, 0, 1, 1, 0]), torch.tensor([0.0, 1, 1, 0, 1])
    out = net(torch.randn(6, 2, 4), [fwd_mask, torch.zeros(5), bwd_mask, torch.zeros(5)], seq_lengths=[6, 6])
    assert out.shape == (6, 2, 10)
    off = torch.cat([fwd_mask, bwd_mask]) == 0
    assert torch.all(out[..., off] == 0) and torch.all(out[..., ~off] != 0)
