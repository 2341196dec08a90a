"""Generative replay / HNET+R: VAE terms in closed form, replayed data, frozen snapshots, HNET+R regulariser."""

import math

import numpy as np
import pytest
import torch

import sequential.families as families
from data.timeseries.sequence_task import to_batch
from sequential import generative_replay as gen
from sequential.args import parse_args
from sequential.runner import MethodState, before_task, build_model, regularizers, train_step
from utils.hnet_regularizer import compute_targets

COPY_GR = ["--multi_head", "--num_tasks=3", "--use_vanilla_rnn", "--use_replay", "--latent_dim=4",
           "--rnn_arch=16", "--dec_srnn_rec_layers=12", "--dec_srnn_rec_type=elman", "--permute_time",
           "--input_len_step=0", "--input_len_variability=0", "--first_task_input_len=3"]
HNET_R = ["--hnet_all", "--use_new_hnet", "--nh_hnet_type=chunked_hmlp", "--nh_chmlp_chunk_size=200",
          "--nh_hmlp_arch=8", "--nh_cond_emb_size=4", "--nh_chunk_emb_size=4", "--beta=0.1"]


def _copy_setup(monkeypatch, extra=()):
    monkeypatch.setattr(families, "COPY_SIZES", (32, 8, 8))
    config = parse_args("copy", COPY_GR + list(extra))
    torch.manual_seed(0)
    fam = families.build_family(config, torch.device("cpu"))
    return config, fam, build_model(config, fam, torch.device("cpu"))


@pytest.mark.parametrize("mu,logvar,std,expected", [
    (0.0, 0.0, 1.0, 0.0),
    (1.0, 0.0, 1.0, 0.5),
    (1.0, math.log(4.0), 2.0, 0.125),  # log(2/2) + (4 + 1) / 8 - 1/2
    (0.0, math.log(0.25), 1.0, 0.5 * (0.25 - 1 - math.log(0.25))),
], ids=["standard", "shifted_mean", "prior_std_2", "narrow"])
def test_gaussian_kl_closed_form(mu, logvar, std, expected):
    T, B, L = 3, 2, 5
    kl = gen.gaussian_kl(torch.full((T, B, L), mu), torch.full((T, B, L), logvar), std)
    assert kl.shape == (B,)
    torch.testing.assert_close(kl, torch.full((B,), T * L * expected))


def test_gaussian_kl_matches_torch_distributions_and_masks_time():
    torch.manual_seed(0)
    mu, logvar = torch.randn(4, 3, 2), torch.randn(4, 3, 2)
    q = torch.distributions.Normal(mu, (0.5 * logvar).exp())
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.full_like(mu, 1.5))
    reference = torch.distributions.kl_divergence(q, p).sum((0, 2))
    torch.testing.assert_close(gen.gaussian_kl(mu, logvar, 1.5), reference)
    valid = torch.arange(4)[:, None] < torch.tensor([4, 2, 0])[None, :]  # [T, B]
    masked = gen.gaussian_kl(mu, logvar, 1.5, valid)
    torch.testing.assert_close(masked, (torch.distributions.kl_divergence(q, p).sum(-1) * valid).sum(0))
    assert float(masked[2]) == 0.0


def test_reconstruction_loss_relations():
    torch.manual_seed(0)
    x = torch.randn(5, 4, 3)
    assert torch.all(gen.reconstruction_loss(x, x, bernoulli=False) == 0)
    assert torch.allclose(gen.reconstruction_loss(x + 1.0, x, bernoulli=False), torch.full((4,), 15.0))
    bits = (torch.rand(5, 4, 3) > 0.5).float()
    confident = 20.0 * (2 * bits - 1)  # logits agreeing with the bits
    good = gen.reconstruction_loss(confident, bits, bernoulli=True)
    assert float(good.max()) < 1e-6
    assert torch.all(gen.reconstruction_loss(-confident, bits, bernoulli=True) > 100 * (good + 1.0))
    valid = torch.zeros(5, 4, dtype=torch.bool)  # nothing counts
    assert torch.all(gen.reconstruction_loss(-confident, bits, True, valid) == 0)


def test_sum_of_task_means():
    values = torch.tensor([1.0, 3.0, 10.0, 0.0, 5.0])
    task_ids = torch.tensor([0, 0, 1, 2, 2])
    assert float(gen.sum_of_task_means(values, task_ids)) == pytest.approx(2.0 + 10.0 + 2.5)


def test_replay_windows_recover_the_data_layout(monkeypatch):
    monkeypatch.setattr(families, "COPY_SIZES", (32, 8, 8))
    config = parse_args("copy", ["--num_tasks=1", "--first_task_input_len=4", "--input_len_variability=2"])
    data = families.build_family(config, torch.device("cpu")).tasks[0].splits["train"]
    assert len(set(data.lengths.tolist())) > 1  # lengths vary: the window moves with the stop flag
    x, valid = data.inputs.transpose(0, 1), torch.ones(data.inputs.shape[:2], dtype=torch.bool).T
    torch.testing.assert_close(gen.stop_flag_window(x, valid), data.window.T)
    # SMNIST layout: one end-of-digit flag at the last unpadded step; distill one step later (clamped)
    lengths = torch.tensor([3, 6, 2])
    x = torch.zeros(6, 3, 4)
    x[lengths - 1, torch.arange(3), 3] = 1.0
    valid = torch.ones(6, 3, dtype=torch.bool)
    assert gen.end_of_digit_steps(x, valid).tolist() == [3, 5, 2]
    valid[4:, 1] = False  # a replayed task of length 4 without any flag: its last step
    x[:, 1, 3] = 0.0
    assert gen.end_of_digit_steps(x, valid).tolist() == [3, 3, 2]


def test_replayed_samples_shape_length_and_range(monkeypatch):
    config, fam, model = _copy_setup(monkeypatch)
    snapshot = [p.detach().clone() for p in model.decoder.internal_params]
    replay = gen.generate_replay(model.decoder, snapshot, [3, 0, 2], [5, 9, 7], config, bernoulli=True)
    assert replay.inputs.shape == (9, 5, fam.in_dim)
    assert replay.task_ids.tolist() == [0, 0, 0, 2, 2]
    assert not replay.inputs.requires_grad
    assert torch.all(replay.inputs[5:, :3] == 0) and torch.all(replay.inputs[7:, 3:] == 0)
    inside = replay.inputs[replay.valid]
    assert float(inside.min()) > 0.0 and float(inside.max()) < 1.0  # sigmoid of the decoder outputs
    assert replay.valid.sum(0).tolist() == [5, 5, 5, 7, 7]


def test_decoder_snapshot_is_frozen_and_the_decoder_learns_from_replay(monkeypatch):
    config, fam, model = _copy_setup(monkeypatch)
    state = MethodState()
    before_task(config, model, fam, state, 1)
    snapshot = [w.clone() for w in state.dec_snapshot]
    teacher = [w.clone() for w in state.teacher]
    params = model.parameters()
    optimizer = torch.optim.Adam(params, lr=1e-2)
    batch = to_batch(fam.tasks[1].take("train", 8), 1)
    measured = train_step(config, model, fam, state, 1, batch, optimizer, params, np.random.RandomState(0), False)
    assert {"loss_vae_rec", "loss_vae_pm", "loss_distill", "acc_replayed"} <= set(measured)
    assert measured["loss_distill"] == pytest.approx(0.0, abs=1e-6)  # student = teacher before the first step
    assert measured["acc_replayed"] == 100.0
    assert all(not w.requires_grad and w.grad is None for w in state.dec_snapshot + state.teacher)
    assert all(torch.equal(a, b) for a, b in zip(snapshot, state.dec_snapshot))
    assert all(torch.equal(a, b) for a, b in zip(teacher, state.teacher))
    assert any(not torch.equal(a, b) for a, b in zip(snapshot, model.decoder.internal_params))


def test_hnet_r_regularizer_zero_at_task_start_and_snapshot_is_the_old_decoder(monkeypatch):
    config, fam, model = _copy_setup(monkeypatch, HNET_R)
    assert model.hnet is None and model.dec_hnet is not None  # the classifier keeps its own weights
    assert model.mnet.internal_params is not None and model.decoder.internal_params is None
    assert gen.decoder_gets_task_input(config) is False and model.decoder.n_in == config.latent_dim
    with torch.no_grad():  # as if task 0 had been learnt
        for p in model.dec_hnet.internal_params:
            p.add_(0.1 * torch.randn_like(p))
    state = MethodState()
    before_task(config, model, fam, state, 2)
    terms = regularizers(config, model, fam, state, 2, None, np.random.RandomState(0), 8)
    assert terms["hnet"].item() == pytest.approx(0.0, abs=1e-10)
    assert state.head_masks is None  # decoder weights have no heads
    for j in range(2):
        for snap, w in zip(state.dec_snapshot, model.decoder_weights(j)):
            torch.testing.assert_close(snap[j], w.detach())
    torch.testing.assert_close(state.hnet_targets, compute_targets(model.dec_hnet, 2))
    with torch.no_grad():  # moving the hypernetwork makes the regulariser positive
        model.dec_hnet.internal_params[-1].add_(1.0)
    assert regularizers(config, model, fam, state, 2, None, np.random.RandomState(0), 8)["hnet"].item() > 0
    replay = gen.generate_replay(model.decoder, state.dec_snapshot, [2, 3], [7, 7], config, bernoulli=True)
    assert replay.inputs.shape == (7, 5, fam.in_dim)


@pytest.mark.parametrize("pre_post,decoder_weights,hnet_params", [
    ("", 281_604, 262_784),
    ("256", 597_508, 264_800),
], ids=["readme36", "readme37"])
def test_hnet_r_readme_parameter_counts(pre_post, decoder_weights, hnet_params):
    from sequential.networks import build_hnet

    config = parse_args("split_smnist", [
        "--multi_head", "--num_tasks=5", "--nh_hnet_type=chunked_hmlp", "--nh_hmlp_arch=50,50",
        "--nh_cond_emb_size=32", "--nh_chmlp_chunk_size=5000", "--nh_chunk_emb_size=32", "--use_new_hnet",
        "--hnet_all", "--use_replay", "--latent_dim=16", "--dec_srnn_rec_layers=256",
        f"--dec_srnn_pre_fc_layers={pre_post}", f"--dec_srnn_post_fc_layers={pre_post}"])
    decoder = gen.build_decoder(config, 4, 5)
    assert decoder.num_params == decoder_weights
    assert build_hnet(config, decoder.param_shapes, 5).num_params == hnet_params


def test_vae_learns_to_reconstruct_the_copy_inputs(monkeypatch):
    config, _, model = _copy_setup(monkeypatch, ["--latent_dim=8"])
    monkeypatch.setattr(families, "COPY_SIZES", (256, 8, 8))
    fam = families.build_family(config, torch.device("cpu"))
    params, state, rng = model.parameters(), MethodState(), np.random.RandomState(0)
    optimizer = torch.optim.Adam(params, lr=1e-2)
    rec = [train_step(config, model, fam, state, 0, to_batch(fam.tasks[0].take("train", 32), 0), optimizer, params,
                      rng, False)["loss_vae_rec"] for _ in range(80)]
    # measured: 38.2 nats per sequence in the first steps -> 17.8 after 80 steps
    assert np.mean(rec[-10:]) < 0.6 * np.mean(rec[:5]), (np.mean(rec[:5]), np.mean(rec[-10:]))


@pytest.mark.parametrize("script,argv", [
    ("copy", COPY_GR + HNET_R),
    ("copy", [a for a in COPY_GR if a != "--multi_head"] + ["--dec_srnn_no_fc_out", "--dec_no_bias"]),
    ("seq_smnist", ["--multi_head", "--num_tasks=3", "--use_replay", "--latent_dim=4", "--rnn_arch=16",
                    "--dec_srnn_rec_layers=12", "--val_set_size=16", "--ssmnist_seq_len=2"]),
], ids=["copy_hnet_r", "copy_single_head_recurrent_out_no_bias", "seq_smnist"])
def test_variants_without_readme_command_run(script, argv, stroke_root, tmp_path, monkeypatch):
    from sequential.copy.train_copy import main as copy_main
    from sequential.seq_smnist.train_seq_smnist import main as seq_smnist_main

    monkeypatch.setenv("HYPERCL_DATA_DIR", str(stroke_root))
    monkeypatch.setenv("HYPERCL_CACHE_DIR", str(stroke_root / "cache"))
    monkeypatch.setattr(families, "COPY_SIZES", (32, 16, 16))
    monkeypatch.setattr(families, "SEQ_SMNIST_SIZES", (32, 16))
    main = copy_main if script == "copy" else seq_smnist_main
    summary = main(argv + ["--n_iter=3", "--batch_size=8", f"--out_dir={tmp_path}", "--loglevel_info"])
    assert summary["finished"] == 1 and len(summary["final_accuracy"]) == 3
    assert all(0.0 <= a <= 100.0 for a in summary["final_accuracy"])
