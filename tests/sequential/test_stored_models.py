"""Stored models, activations and run outputs of an RNN run, loaded back without re-running."""

import json

import numpy as np
import pytest
import torch

import sequential.student_teacher.family as st_family
from sequential.stored_models import FINAL_NAME, during_name, hidden_states, load_activations, load_run
from sequential.student_teacher.train_student import main

ARGS = ("--num_tasks=2 --multi_head --use_vanilla_rnn --rnn_arch=8 --n_iter=10 --val_iter=100 --loglevel_info "
        "--use_si --store_during_models --store_final_models --store_activations").split()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setattr(st_family, "ST_SIZES", (64, 32))
    out = tmp_path_factory.mktemp("st_si")
    main(ARGS + [f"--out_dir={out}"])
    mp.undo()
    return out


def test_final_checkpoint_reproduces_the_test_losses(run_dir, monkeypatch):
    from sequential.runner import evaluate

    monkeypatch.setattr(st_family, "ST_SIZES", (64, 32))
    run = load_run(run_dir)
    losses = [evaluate(run.config, run.model, run.fam, j)[1] for j in range(2)]
    summary = json.loads((run_dir / "summary.json").read_text())
    np.testing.assert_allclose(losses, summary["final_loss"], rtol=1e-5)
    assert run.meta["mean_final_loss"] == pytest.approx(summary["mean_final_loss"])
    # SI's importance after task 0 travels with the checkpoints (none is computed after the last task)
    run.load(during_name(0))
    assert run.method.si_big_omega is not None and len(run.method.si_big_omega) == len(run.model.main_weights())
    assert run.method.fisher is None and run.meta["task"] == 0


def test_stored_activations_match_a_recomputation(run_dir, monkeypatch):
    monkeypatch.setattr(st_family, "ST_SIZES", (64, 32))
    run = load_run(run_dir, FINAL_NAME)
    stored = load_activations(run_dir, 1)
    again = hidden_states(run.config, run.model, run.fam, 1)
    assert stored["h_int"].shape == (10, 32, 8) and stored["outputs"].shape == (10, 32, 7)
    for key in ("outputs", "y", "h_int"):
        torch.testing.assert_close(stored[key], again[key])


def test_run_outputs(run_dir):
    header, row = (run_dir / "results_summary.csv").read_text().splitlines()
    assert header.split(";")[:3] == ["mean_final_loss", "std_final_loss", "mean_during_loss"]
    assert row.split(";")[-3] == '"8"'
    assert np.load(run_dir / "test_loss.npy").shape == (2, 2)
    curves = json.loads((run_dir / "train_loss.json").read_text())
    assert len(curves) == 2 and curves[0]["iter"] == [0, 9] and set(curves[0]) >= {"task", "ewc", "si", "hnet"}
    assert curves[1]["si"][-1] > 0 and curves[0]["si"] == [0.0, 0.0]  # SI penalty from the second task on
    for name in ("train_loss", "test_loss"):
        assert (run_dir / f"{name}.pdf").stat().st_size > 0 and (run_dir / f"{name}.png").stat().st_size > 0


def test_missing_checkpoint_names_the_flags(run_dir):
    with pytest.raises(FileNotFoundError, match="--store_during_models"):
        load_run(run_dir, during_name(5))


def test_tensorboard_diagnostics(run_dir):
    """The tags the original logs besides the losses: weight drift, SI importance histograms, gradient norms."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run_dir / "summary"), size_guidance={"histograms": 0, "scalars": 0}).Reload()
    scalars, histograms = set(events.Tags()["scalars"]), set(events.Tags()["histograms"])
    assert {"cl/edist_first", "cl/edist_prev", "si/min_omega", "si/max_omega", "train/task_0/tnet_grad_norm",
            "train/task_1/tnet_weights_hh_norm",
            "test/task_1/loss"} <= scalars
    assert {"si/omega", "si/log_omega"} <= histograms
    assert events.Scalars("cl/edist_first")[0].value > 0
