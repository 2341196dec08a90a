"""End-to-end runs of ``probabilistic/regression/train_avb.py``: every README command at a reduced budget
(PR-AVB and PF-AVB), separate networks, no discriminator, resume."""

import json
from pathlib import Path

import pytest

from probabilistic.regression.summary_keys import SUMMARY_KEYS_AVB
from probabilistic.regression.train_avb import main
from tests.conftest import simulate_crash_in_task_3

SPEC = Path(__file__).resolve().parents[4] / "shared" / "spec" / "targets_posterior_replay.json"
TARGETS = [t for t in json.loads(SPEC.read_text()) if t["parser_mode"] == "regression_avb"] if SPEC.exists() else []
IDS = [f"L{t['readme_line']}-{t['method']}-set{t['effective_config']['used_task_set']}" for t in TARGETS]


@pytest.mark.parametrize("target", TARGETS, ids=IDS)
def test_readme_command_runs_end_to_end(target, tmp_path, shrunk_run, check_outputs, golden_summary):
    s = shrunk_run(main, target["args"], tmp_path / "run", n_iter=2)  # some configs have 6M hh-net weights
    golden_summary(s)
    check_outputs(s, tmp_path / "run", SUMMARY_KEYS_AVB, "regression_avb")
    assert all(0 <= a <= 1 for a in s["aa_acc_dis"]) and 0 <= s["aa_acc_avg_dis"] <= 1
    assert s["aa_num_weights_main"] == 141 and s["aa_num_weights_dis"] > 0
    assert s["aa_num_weights_dm_ratio"] == pytest.approx(s["aa_num_weights_dis"] / 141)
    if "--prior_focused" in target["args"]:
        assert s["aa_num_weights_hyper_hyper"] == -1 and s["aa_num_weights_hhm_ratio"] == -1
    else:
        assert s["aa_num_weights_hhm_ratio"] == pytest.approx(s["aa_num_weights_hyper_hyper"] / 141)


def test_separate_networks_without_discriminator(tmp_path, shrunk_run, check_outputs):
    s = shrunk_run(main, "--used_task_set=3 --train_from_scratch --no_hhnet --no_dis --use_adam --multi_head",
                   tmp_path / "r", n_iter=10)
    check_outputs(s, tmp_path / "r", SUMMARY_KEYS_AVB, "regression_avb")
    assert s["aa_num_weights_hyper_hyper"] == -1 and s["aa_num_weights_dis"] == -1
    assert s["aa_acc_dis"] == [-1, -1, -1]


def test_resume_after_interruption_reproduces_the_uninterrupted_run(tmp_path, shrunk_run):
    args = "--used_task_set=3 --use_adam --net_act=relu --latent_dim=4 --full_support_perturbation=0.02"
    full = shrunk_run(main, args, tmp_path / "full", n_iter=10)
    shrunk_run(main, args, tmp_path / "cut", n_iter=10)
    simulate_crash_in_task_3(tmp_path / "cut")  # the rerun resumes after task 2
    resumed = shrunk_run(main, args, tmp_path / "cut", n_iter=10)
    assert resumed["aa_mse_final"] == pytest.approx(full["aa_mse_final"], rel=1e-5)
    assert resumed["aa_acc_dis"] == full["aa_acc_dis"]


@pytest.mark.parametrize("argv, flag", [
    (["--dis_net_type=chunked_mlp"], "--dis_net_type"),
    (["--imp_hnet_type=hdeconv"], "--imp_hnet_type"),
    (["--prior_focused", "--train_from_scratch"], "--prior_focused"),
    (["--coreset_size=5"], "--coreset_size"),
])
def test_unsupported_options_exit_2_before_training(argv, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv + [f"--out_dir={tmp_path / 'never'}"])
    assert exc.value.code == 2 and flag in capsys.readouterr().err
