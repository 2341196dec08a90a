"""SimpleRNN (Elman / LSTM): layout, init and forward equal to hypnettorch 0.0.4, the README parameter
counts, context modulation, truncated BPTT and K weight samples in one pass."""

import pytest
import torch

from mnets.simple_rnn import SimpleRNN

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:hypnettorch.*")

ACTS = {"tanh": torch.nn.Tanh(), "relu": torch.nn.ReLU(), "linear": None}


def theirs_kwargs(cfg):
    """Our kwargs -> hypnettorch's. hypnettorch's SimpleRNN crashes when it should own context-mod weights
    (it fills ``_weights`` but indexes ``_internal_params``), so the oracle never owns them."""
    cfg = dict(cfg)
    cfg["activation"] = ACTS[cfg.pop("activation_fn", "tanh")]
    if cfg.get("use_context_mod"):
        cfg["context_mod_no_weights"] = True
    return cfg


# (config, target weights) from spec_cl_in_rnns.md §2.3.
README_COUNTS = {
    "copy-elman256-5x7": (dict(n_in=8, rnn_layers=(256,), fc_layers=(35,)), 142_883),
    "copy-elman256-single-head": (dict(n_in=8, rnn_layers=(256,), fc_layers=(7,)), 135_687),
    "copy-elman256-task-id-input": (dict(n_in=13, rnn_layers=(256,), fc_layers=(35,)), 144_163),
    "seqsmnist-lstm256-5x2": (dict(n_in=4, rnn_layers=(256,), fc_layers=(10,), use_lstm=True), 270_858),
    "smnist-lstm256-latent-outputs": (dict(n_in=4, rnn_layers=(256,), fc_layers=(42,), use_lstm=True), 279_082),
    "smnist-decoder-lstm256": (dict(n_in=16, rnn_layers=(256,), fc_layers=(4,), use_lstm=True), 281_604),
    "smnist-decoder-lstm256-fc256": (dict(n_in=16, rnn_layers=(256,), fc_layers_pre=(256,), fc_layers=(256, 4),
                                          use_lstm=True), 597_508),
    "audioset-lstm8": (dict(n_in=128, rnn_layers=(8,), fc_layers=(100,), use_lstm=True), 5_316),
    "audioset-lstm16": (dict(n_in=128, rnn_layers=(16,), fc_layers=(100,), use_lstm=True), 11_044),
    "audioset-lstm32": (dict(n_in=128, rnn_layers=(32,), fc_layers=(100,), use_lstm=True), 24_036),
    "audioset-lstm64": (dict(n_in=128, rnn_layers=(64,), fc_layers=(100,), use_lstm=True), 56_164),
    "audioset-lstm128": (dict(n_in=128, rnn_layers=(128,), fc_layers=(100,), use_lstm=True), 144_996),
    "audioset-lstm256": (dict(n_in=128, rnn_layers=(256,), fc_layers=(100,), use_lstm=True), 420_964),
}


@pytest.mark.parametrize("cfg, expected", README_COUNTS.values(), ids=README_COUNTS.keys())
def test_readme_parameter_counts(ht, cfg, expected):
    net = SimpleRNN(**cfg, no_weights=True)
    assert net.num_params == expected
    assert ht.SimpleRNN(**cfg, no_weights=True, verbose=False).num_params == expected


CONFIGS = {
    "elman-kaiming": dict(n_in=5, rnn_layers=(6,), fc_layers=(3,), kaiming_rnn_init=True),
    "elman-2layers-prefc-relu": dict(n_in=5, rnn_layers=(6, 4), fc_layers_pre=(7,), fc_layers=(8, 3),
                                     activation_fn="relu"),
    "elman-no-bias-linear": dict(n_in=5, rnn_layers=(6,), fc_layers=(3,), use_bias=False,
                                 activation_fn="linear"),
    "elman-recurrent-output": dict(n_in=5, rnn_layers=(6, 3), fc_layers=()),
    "lstm": dict(n_in=5, rnn_layers=(6,), fc_layers=(3,), use_lstm=True),
    "lstm-2layers-fc-kaiming": dict(n_in=5, rnn_layers=(6, 4), fc_layers_pre=(7,), fc_layers=(8, 3),
                                    use_lstm=True, kaiming_rnn_init=True),
    "elman-cm": dict(n_in=5, rnn_layers=(6,), fc_layers_pre=(4,), fc_layers=(8, 3), use_context_mod=True,
                     context_mod_inputs=True),
    "elman-cm-post-softplus-nolast": dict(n_in=5, rnn_layers=(6,), fc_layers=(8, 3), use_context_mod=True,
                                          context_mod_post_activation=True, context_mod_gain_softplus=True,
                                          no_last_layer_context_mod=True),
    "lstm-cm-offset": dict(n_in=5, rnn_layers=(6,), fc_layers=(3,), use_lstm=True, use_context_mod=True,
                           context_mod_gain_offset=True),
    "elman-recurrent-output-cm-nolast": dict(n_in=5, rnn_layers=(6, 3), fc_layers=(), use_context_mod=True,
                                             no_last_layer_context_mod=True),
}


@pytest.mark.parametrize("cfg", CONFIGS.values(), ids=CONFIGS.keys())
def test_matches_hypnettorch(ht, compat, cfg):
    torch.manual_seed(4)
    ours = SimpleRNN(**cfg)
    torch.manual_seed(4)
    theirs = ht.SimpleRNN(**theirs_kwargs(cfg), verbose=False)
    compat.assert_same_layout(ours, theirs)
    assert all(torch.equal(a, b) for a, b in zip(ours.internal_params[ours.num_cm_params:],
                                                  theirs.internal_params))
    x = torch.randn(7, 3, 5)
    weights = compat.random_weights(ours.param_shapes)
    # float32 agreement; linear Elman outputs grow over the 7 steps, so also a relative 1e-5 (the summation order of
    # the recurrent matmul differs between CPU kernels)
    torch.testing.assert_close(ours(x, weights), theirs(x, weights), atol=1e-6, rtol=1e-5)
    out, hidden, hidden_int = ours(x, weights, return_hidden=True, return_hidden_int=True)
    _, t_hidden, t_hidden_int = theirs(x, weights, return_hidden=True, return_hidden_int=True)
    assert len(hidden) == len(t_hidden) and len(hidden_int) == len(t_hidden_int)
    for a, b in zip(hidden + hidden_int, t_hidden + t_hidden_int):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("use_lstm", [False, True], ids=["elman", "lstm"])
def test_orthogonal_hh_init_matches_hypnettorch(ht, compat, use_lstm):
    cfg = dict(n_in=3, rnn_layers=(8,), fc_layers=(2,), use_lstm=use_lstm)
    torch.manual_seed(0)
    ours = SimpleRNN(**cfg)
    ours.init_hh_weights_orthogonal()
    torch.manual_seed(0)
    theirs = ht.SimpleRNN(**theirs_kwargs(cfg), verbose=False)
    theirs.init_hh_weights_orthogonal()
    compat.assert_same_init(ours, theirs)
    hh = ours.internal_params[2][:8]
    torch.testing.assert_close(hh @ hh.T, torch.eye(8), atol=1e-5, rtol=0)


def test_truncated_bptt_gradients_match_hypnettorch(ht, compat):
    cfg = dict(n_in=3, rnn_layers=(5,), fc_layers=(2,), use_lstm=True)
    ours, theirs = SimpleRNN(**cfg), ht.SimpleRNN(**theirs_kwargs(cfg), verbose=False)
    ours.bptt_depth = theirs.bptt_depth = 2
    x = torch.randn(6, 2, 3)
    weights = [w.requires_grad_() for w in compat.random_weights(ours.param_shapes)]
    grads = [torch.autograd.grad(net(x, weights).sum(), weights) for net in (ours, theirs)]
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    full = torch.autograd.grad(SimpleRNN(**cfg)(x, weights).sum(), weights)
    assert not torch.allclose(full[2], grads[0][2])  # truncation changes the recurrent gradient


def test_masks_as_context_mod_weights(ht):
    """The masking method: owned main weights, per-task binary gains passed as the only weights."""
    cfg = dict(n_in=4, rnn_layers=(6,), fc_layers=(3,), use_context_mod=True, no_last_layer_context_mod=True,
               context_mod_no_weights=True)
    torch.manual_seed(1)
    ours = SimpleRNN(**cfg)
    torch.manual_seed(1)
    theirs = ht.SimpleRNN(**theirs_kwargs(cfg), verbose=False)
    assert len(ours.internal_params) == len(ours.param_shapes) - 2
    mask = [torch.tensor([1.0, 0, 1, 1, 0, 1]), torch.zeros(6)]
    x = torch.randn(5, 2, 4)
    torch.testing.assert_close(ours(x, mask), theirs(x, mask), atol=1e-6, rtol=0)
    _, hidden = ours(x, mask, return_hidden=True)
    assert torch.all(hidden[0][..., 1] == 0) and torch.all(hidden[0][..., 4] == 0)  # masked units output 0


@pytest.mark.parametrize("cfg", [CONFIGS["elman-2layers-prefc-relu"], CONFIGS["lstm-cm-offset"]],
                         ids=["elman", "lstm-cm"])
@pytest.mark.parametrize("per_sample_input", [False, True], ids=["shared-x", "per-sample-x"])
def test_k_samples_in_one_pass(compat, cfg, per_sample_input):
    net = SimpleRNN(**cfg, no_weights=True)
    K = 3
    weights = compat.random_weights(net.param_shapes, K=K, seed=2)
    x = torch.randn(K, 7, 4, 5) if per_sample_input else torch.randn(7, 4, 5)
    batched = net(x, weights)
    loop = torch.stack([net(x[k] if per_sample_input else x, [w[k] for w in weights]) for k in range(K)])
    assert batched.shape == (K, 7, 4, 3)
    torch.testing.assert_close(batched, loop, atol=1e-5, rtol=1e-5)
