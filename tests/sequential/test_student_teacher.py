"""Student-teacher family: loss, summaries with losses, the fixed defects (longer outputs, replay) and forgetting."""

import json

import pytest
import torch

import sequential.student_teacher.family as st_family
from data.timeseries.sequence_task import SeqBatch
from sequential.runner import evaluate
from sequential.stored_models import load_run
from sequential.student_teacher.family import mse_distillation, st_loss
from sequential.student_teacher.train_student import main

BASE = "--num_tasks=3 --multi_head --use_vanilla_rnn --rnn_arch=32 --val_iter=100 --loglevel_info".split()
HNET = ("--hnet_all --use_new_hnet --nh_hnet_type=chunked_hmlp --nh_chmlp_chunk_size=500 --nh_hmlp_arch=50,50 "
        "--std_normal_emb=0.1 --beta=0.01").split()


@pytest.fixture
def small(monkeypatch):
    monkeypatch.setattr(st_family, "ST_SIZES", (2000, 300))


def test_loss_is_mean_over_channels_and_time():
    out, tgt = torch.zeros(4, 2, 3), torch.zeros(4, 2, 3)
    tgt[:, 0] = 2.0  # sample 0: squared error 4 everywhere
    tgt[0, 1, 0] = 3.0  # sample 1: one entry of 9 among 4 * 3
    batch = SeqBatch(torch.zeros(4, 2, 1), tgt, torch.tensor([4, 4]), torch.ones(4, 2, dtype=torch.bool),
                     torch.zeros(2, dtype=torch.long))
    assert st_loss(out, batch).tolist() == pytest.approx([4.0, 9 / 12])
    assert float(mse_distillation(out, tgt)) == pytest.approx((4 * 4 * 3 + 9) / 2)


def test_longer_outputs_and_loss_summary(tmp_path, small):
    """num_timesteps_out > num_timesteps_in crashed in the original; the summary holds losses."""
    s = main(BASE + ["--n_iter=20", "--num_timesteps_in=4", "--num_timesteps_out=7", f"--out_dir={tmp_path}"])
    assert list(s)[:2] == ["mean_final_loss", "std_final_loss"] and len(s["final_loss"]) == 3
    assert s["final_loss"][2] == s["during_loss"][2] > 0
    lines = (tmp_path / "performance_overview.txt").read_text().splitlines()
    assert lines[0] == f"mean_final_loss {s['mean_final_loss']:f}" and lines[-1] == "finished 1"
    assert json.loads((tmp_path / "config.json").read_text())["num_timesteps_out"] == 7


@pytest.mark.slow
def test_hnet_keeps_task_one_and_fine_tuning_forgets(tmp_path, small):
    ft = main(BASE + ["--n_iter=200", f"--out_dir={tmp_path / 'ft'}"])
    hnet = main(BASE + HNET + ["--n_iter=200", "--store_final_models", f"--out_dir={tmp_path / 'hnet'}"])
    # measured: fine-tuning 0.0087 -> 0.130 (15x), HNET 0.0072 -> 0.0075 (+5 %)
    assert ft["final_loss"][0] > 2 * ft["during_loss"][0]
    assert hnet["final_loss"][0] < 1.2 * hnet["during_loss"][0]
    # the stored hypernetwork regenerates the same students
    run = load_run(tmp_path / "hnet")
    losses = [evaluate(run.config, run.model, run.fam, j)[1] for j in range(3)]
    assert losses == pytest.approx(hnet["final_loss"], rel=1e-5)
    # the hypernetwork diagnostics the original logs
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "hnet" / "summary"), size_guidance={"histograms": 0}).Reload()
    assert {"train/task_0/hnet_grad_norm", "train/task_1/hnet_reg_ff_loss", "train/task_1/hnet_reg_rec_loss",
            "train/task_2/hnet_grad_norm_per_rec_w", "hreg/task_0/edist", "cl/edist_prev"} <= set(
        events.Tags()["scalars"])
    assert {"train/task_1/hnet_grad_ff", "train/task_1/hnet_grad_rec"} <= set(events.Tags()["histograms"])
    assert events.Scalars("hreg/task_0/edist")[-1].value < events.Scalars("cl/edist_prev")[-1].value


@pytest.mark.slow
def test_replay_runs_and_coresets_protect(tmp_path, small):
    """--use_replay crashed in the original (missing soft-target accuracy); coresets and the VAE both run."""
    cs = main(BASE + ["--n_iter=200", "--use_replay", "--coreset_size=100", f"--out_dir={tmp_path / 'cs'}"])
    assert cs["final_loss"][0] < 1.2 * cs["during_loss"][0]  # measured: 0.0087 -> 0.0090
    gr = main(BASE + ["--n_iter=30", "--use_replay", "--latent_dim=4", "--dec_srnn_rec_layers=16",
                      f"--out_dir={tmp_path / 'gr'}"])
    assert all(0 < v < 1 for v in gr["final_loss"])


@pytest.mark.parametrize("flags", ["--use_ewc --n_fisher=16", "--use_si", "--use_masks --use_si", "--multitask",
                                   "--train_from_scratch", "--use_best_models --val_iter=2"],
                         ids=["ewc", "si", "masks_si", "multitask", "scratch", "best_models"])
def test_every_method_runs(tmp_path, monkeypatch, flags):
    monkeypatch.setattr(st_family, "ST_SIZES", (64, 32))
    s = main(["--num_tasks=2", "--multi_head", "--rnn_arch=8", "--n_iter=4", "--loglevel_info", *flags.split(),
              f"--out_dir={tmp_path}"])
    assert len(s["final_loss"]) == 2 and all(0 < v < 10 for v in s["final_loss"])
    assert ("during_loss" in s) != ("--multitask" in flags)


@pytest.mark.parametrize("flags, match", [("--num_timesteps_in=5 --num_timesteps_out=3", "num_timesteps_out"),
                                          ("--orth_teacher_hid_mat --rank_teacher_hid_mat=2", "orth_A"),
                                          ("--rank_teacher_hid_mat=9", "rank_A")])
def test_bad_teacher_flags_exit_with_one_line(tmp_path, small, capsys, flags, match):
    with pytest.raises(SystemExit) as err:
        main([*flags.split(), "--n_iter=1", f"--out_dir={tmp_path}"])
    assert err.value.code == 2 and match in capsys.readouterr().err


def test_resume_continues_losses_and_curves(tmp_path, small):
    """A rerun after a crash in task 3 ends with the losses, loss matrix and training curves of an uninterrupted
    run (the loss matrix and the curves travel with the resume checkpoints / train_loss.json)."""
    from tests.conftest import simulate_crash_in_task_3

    argv = BASE + ["--n_iter=6", "--batch_size=8", "--use_si"]
    full = main(argv + [f"--out_dir={tmp_path / 'full'}"])
    main(argv + [f"--out_dir={tmp_path / 'cut'}"])
    simulate_crash_in_task_3(tmp_path / "cut")
    resumed = main(argv + [f"--out_dir={tmp_path / 'cut'}"])
    assert json.dumps(resumed) == json.dumps(full)
    assert "Resuming after task 2" in (tmp_path / "cut" / "logfile.txt").read_text()
    for name in ("test_loss.npy", "train_loss.json"):
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "full" / name).read_bytes()
