"""End-to-end runs of ``probabilistic/regression/train_ewc.py``: the README command at a reduced budget, the
multi-head Laplace variant, the online-EWC quirk fix, separate networks."""

import json
from pathlib import Path

import pytest

from probabilistic.regression.summary_keys import SUMMARY_KEYS_EWC
from probabilistic.regression.train_ewc import main

SPEC = Path(__file__).resolve().parents[4] / "shared" / "spec" / "targets_posterior_replay.json"
TARGETS = [t for t in json.loads(SPEC.read_text()) if t["parser_mode"] == "regression_ewc"] if SPEC.exists() else []
IDS = [f"L{t['readme_line']}-{t['method'].split()[0]}-set{t['effective_config']['used_task_set']}" for t in TARGETS]


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_readme_command_runs_end_to_end(target, tmp_path, shrunk_run, check_outputs, golden_summary):
    s = shrunk_run(main, target["args"], tmp_path / "run")
    golden_summary(s)
    check_outputs(s, tmp_path / "run", SUMMARY_KEYS_EWC, "regression_ewc")
    assert s["aa_num_weights_main"] == 141
    # single head, deterministic: every "model" is the same network, so the inferred MSE is the task's MSE
    assert s["aa_mse_final_inferred"] == pytest.approx(s["aa_mse_final"], rel=1e-5)


MULTI = "--used_task_set=3 --use_adam --lr=0.005 --net_act=relu --ll_dist_std=0.05 --multi_head --ewc_lambda=1"


def test_multi_head_laplace_posterior_and_quirk_fix(tmp_path, shrunk_run, check_outputs):
    s = shrunk_run(main, MULTI + " --ewc_gamma=0.9 --n_fisher=10", tmp_path / "a", n_iter=30)
    check_outputs(s, tmp_path / "a", SUMMARY_KEYS_EWC, "regression_ewc")
    assert s["aa_num_weights_main"] == 163  # three output heads: 141 + 2 * (10 + 1)
    fixed = shrunk_run(main, MULTI + " --ewc_gamma=0.9 --n_fisher=10 --fix_online_ewc", tmp_path / "b", n_iter=30)
    # the fix changes the Fisher (offset not rescaled by N/n = 2), hence the posterior stds and the training
    assert all(0 <= m < float("inf") for m in fixed["aa_mse_final"])
    assert fixed["aa_mse_final"] != pytest.approx(s["aa_mse_final"], rel=1e-6)


def test_separate_networks(tmp_path, shrunk_run, check_outputs):
    s = shrunk_run(main, MULTI + " --train_from_scratch", tmp_path / "r", n_iter=10)
    check_outputs(s, tmp_path / "r", SUMMARY_KEYS_EWC, "regression_ewc")
    assert s["aa_mse_final"] == pytest.approx(s["aa_mse_during"], rel=1e-6)  # nothing is forgotten


@pytest.mark.parametrize("extra", ["", " --ewc_gamma=0.9 --n_fisher=10", " --train_from_scratch"],
                         ids=["multi-head", "online-quirk", "separate-nets"])
def test_resume_after_interruption_reproduces_the_uninterrupted_run(tmp_path, shrunk_run, extra):
    from tests.conftest import simulate_crash_in_task_3

    full = shrunk_run(main, MULTI + extra, tmp_path / "full", n_iter=12)
    shrunk_run(main, MULTI + extra, tmp_path / "cut", n_iter=12)
    simulate_crash_in_task_3(tmp_path / "cut")  # the rerun resumes after task 2
    resumed = shrunk_run(main, MULTI + extra, tmp_path / "cut", n_iter=12)
    assert json.dumps(resumed) == json.dumps(full)
    assert "Resuming after task 2" in (tmp_path / "cut" / "logfile.txt").read_text()
