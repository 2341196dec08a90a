"""End-to-end runs of ``probabilistic/regression/train_mt.py`` (the original crashes): joint training on all
tasks, single and multi head."""

import pytest

from probabilistic.regression.summary_keys import SUMMARY_KEYS_EWC
from probabilistic.regression.train_mt import main


@pytest.mark.parametrize("heads", ["", " --multi_head"], ids=["single-head", "multi-head"])
def test_multitask_runs_and_during_equals_final(heads, tmp_path, shrunk_run, check_outputs, golden_summary):
    s = shrunk_run(main, "--used_task_set=3 --use_adam --net_act=relu" + heads, tmp_path / "r", n_iter=20)
    golden_summary(s)
    check_outputs(s, tmp_path / "r", SUMMARY_KEYS_EWC, "regression_mt", figures_after=(3,))
    assert s["aa_mse_during"] == s["aa_mse_final"]
    assert s["aa_num_weights_main"] == (163 if heads else 141)


def test_multitask_training_fits_all_tasks(tmp_path, shrunk_run):
    args = "--used_task_set=3 --use_adam --lr=0.01 --net_act=relu --multi_head --ll_dist_std=0.05"
    short = shrunk_run(main, args, tmp_path / "a", n_iter=2)
    longer = shrunk_run(main, args, tmp_path / "b", n_iter=400)
    assert longer["aa_mse_final_mean"] < 0.3 * short["aa_mse_final_mean"]


def test_interrupted_multitask_run_starts_over_and_equals_the_uninterrupted_one(tmp_path, shrunk_run):
    """Multitask runs train once on all tasks, so there is no task checkpoint: a rerun after a crash trains
    again from the start in the same folder and ends where the uninterrupted run does."""
    from tests.conftest import simulate_crash_in_task_3

    args = "--used_task_set=3 --use_adam --net_act=relu --multi_head"
    full = shrunk_run(main, args, tmp_path / "full", n_iter=30)
    shrunk_run(main, args, tmp_path / "cut", n_iter=30)
    simulate_crash_in_task_3(tmp_path / "cut")
    assert not list((tmp_path / "cut" / "checkpoints").glob("task_*"))
    again = shrunk_run(main, args, tmp_path / "cut", n_iter=30)
    assert again["finished"] == 1 and again["aa_mse_final"] == pytest.approx(full["aa_mse_final"])
