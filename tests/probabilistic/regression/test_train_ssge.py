"""End-to-end runs of ``probabilistic/regression/train_ssge.py``: every README command at a reduced budget
(PR-SSGE and PF-SSGE), the PF sign fix, and a short training run that must fit."""

import json
from pathlib import Path

import pytest

from probabilistic.regression.summary_keys import SUMMARY_KEYS_SSGE
from probabilistic.regression.train_ssge import main

SPEC = Path(__file__).resolve().parents[4] / "shared" / "spec" / "targets_posterior_replay.json"
TARGETS = [t for t in json.loads(SPEC.read_text()) if t["parser_mode"] == "regression_ssge"] if SPEC.exists() else []
IDS = [f"L{t['readme_line']}-{t['method']}-set{t['effective_config']['used_task_set']}" for t in TARGETS]


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_readme_command_runs_end_to_end(target, tmp_path, shrunk_run, check_outputs, golden_summary):
    s = shrunk_run(main, target["args"], tmp_path / "run", n_iter=2)  # some configs have 6M hh-net weights
    golden_summary(s)
    check_outputs(s, tmp_path / "run", SUMMARY_KEYS_SSGE, "regression_ssge")
    assert s["aa_num_weights_main"] == 141
    assert s["aa_num_weights_hm_ratio"] == pytest.approx(s["aa_num_weights_hyper"] / 141)
    if "--prior_focused" in target["args"]:
        assert s["aa_num_weights_hyper_hyper"] == -1


PF = ("--prior_focused --used_task_set=3 --use_adam --lr=0.005 --net_act=relu --latent_dim=2 --imp_hmlp_arch=10,10 "
      "--full_support_perturbation=0.02 --kl_scale=0.1 --train_sample_size=4 --ssge_sample_size=8")


def test_pf_sign_fix_changes_the_training(tmp_path, shrunk_run):
    original = shrunk_run(main, PF, tmp_path / "a", n_iter=15)
    fixed = shrunk_run(main, PF + " --pf_ssge_sign_fix", tmp_path / "b", n_iter=15)
    assert original["aa_mse_during"][0] == pytest.approx(fixed["aa_mse_during"][0], rel=1e-6)  # t = 0: no prior term
    assert original["aa_mse_final"][2] != pytest.approx(fixed["aa_mse_final"][2], rel=1e-6)


def test_training_fits_the_first_task(tmp_path, shrunk_run):
    args = ("--used_task_set=3 --use_adam --lr=0.005 --net_act=relu --latent_dim=4 --imp_hmlp_arch=10,10 "
            "--hh_hmlp_arch=10,10 --full_support_perturbation=0.02 --ll_dist_std=0.05 --beta=1 --train_sample_size=4")
    short = shrunk_run(main, args, tmp_path / "a", n_iter=2)
    longer = shrunk_run(main, args, tmp_path / "b", n_iter=120)
    assert longer["aa_mse_during"][0] < 0.3 * short["aa_mse_during"][0]
