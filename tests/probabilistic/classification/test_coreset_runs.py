"""Coreset features of the classification runners end to end on the GMM tasks (spec §2.11): experience replay
against fine-tuning, the coreset regulariser (BbB and implicit runners), final coreset fine-tuning, resume with
coresets, LR schedulers in every runner."""

import pytest

from tests.conftest import simulate_crash_in_task_3

BBB = "--cl_scenario=3 --split_head_cl3 --use_adam --lr=0.005 --train_sample_size=3 --val_sample_size=3"
DETERMINISTIC = "--mnet_only --mean_only --kl_scale=0 --kl_schedule=0 --cl_scenario=3 --use_adam --lr=0.01"
BUDGET = ["--n_iter=150", "--val_iter=1000"]


def test_experience_replay_keeps_old_tasks_that_fine_tuning_forgets(run_gmm, tmp_path):
    finetuned = run_gmm("gmm_bbb", DETERMINISTIC, tmp_path / "ft", BUDGET)
    replay = run_gmm("gmm_bbb", DETERMINISTIC + " --coreset_size=10 --per_task_coreset --coreset_reg=10 "
                     "--coresets_for_experience_replay --coreset_batch_size=8", tmp_path / "er", BUDGET)
    assert replay["acc_avg_task_given"] >= finetuned["acc_avg_task_given"] + 15
    assert replay["acc_avg_final"] >= 60


def test_coreset_regulariser_improves_entropy_based_task_inference(run_gmm, tmp_path):
    # PR-Dirac, CL3 split heads: old tasks' coreset samples are pushed to maximum entropy under the new task's
    # model, so the entropy picks the right model more often (measured: 33 % -> 42 %); CL1 stays at 100 %
    base = ("--kl_scale=0 --kl_schedule=0 --train_sample_size=1 --val_sample_size=1 --cl_scenario=3 "
            "--split_head_cl3 --use_adam --lr=0.005 --mean_only --hmlp_arch=10,10 --cond_emb_size=2 --beta=0.05")
    budget = ["--n_iter=300", "--val_iter=1000"]
    plain = run_gmm("gmm_bbb", base, tmp_path / "p", budget)
    cs = run_gmm("gmm_bbb", base + " --coreset_size=10 --per_task_coreset --coreset_reg=1", tmp_path / "cs", budget)
    assert cs["acc_avg_task_given"] >= 95
    assert cs["avg_task_inference_acc_ent"] >= plain["avg_task_inference_acc_ent"] + 4


def test_final_coreset_finetuning_runs_and_retests(run_gmm, tmp_path):
    s = run_gmm("gmm_bbb", BBB + " --regularizer=w2 --coreset_size=4 --final_coresets_finetune "
                "--final_coresets_n_iter=30 --final_coresets_balance=0.5", tmp_path / "f", ["--n_iter=60"])
    assert s["finished"] == 1 and s["acc_avg_task_given"] > 60
    log = (tmp_path / "f" / "logfile.txt").read_text()
    assert "Final fine-tuning on 12 coreset samples for 30 iterations." in log


@pytest.mark.parametrize("args", [
    BBB + " --coreset_size=6 --per_task_coreset",
    DETERMINISTIC + " --coreset_size=6 --coresets_for_experience_replay",
    BBB + " --coreset_size=4 --final_coresets_finetune --final_coresets_n_iter=5",
], ids=["regulariser", "replay", "finetune"])
def test_resume_with_coresets_reproduces_the_uninterrupted_run(run_gmm, tmp_path, args):
    budget = ["--n_iter=15", "--val_iter=1000"]
    full = run_gmm("gmm_bbb", args, tmp_path / "full", budget)
    run_gmm("gmm_bbb", args, tmp_path / "cut", budget)
    simulate_crash_in_task_3(tmp_path / "cut")  # the rerun resumes after task 2
    resumed = run_gmm("gmm_bbb", args, tmp_path / "cut", budget)
    assert resumed["acc_task_given"] == pytest.approx(full["acc_task_given"])
    assert resumed["acc_task_inferred_ent"] == pytest.approx(full["acc_task_inferred_ent"])


def test_implicit_runner_with_shared_coreset_regulariser(run_gmm, tmp_path):
    s = run_gmm("gmm_ssge", "--cl_scenario=3 --split_head_cl3 --use_adam --train_sample_size=4 "
                "--ssge_sample_size=6 --val_sample_size=4 --coreset_size=6", tmp_path / "s", ["--n_iter=10"])
    assert s["finished"] == 1


@pytest.mark.parametrize("mode, args", [
    ("gmm_bbb", BBB),
    ("gmm_ewc", "--cl_scenario=1 --use_adam --lr=0.01"),
    ("gmm_mt", "--cl_scenario=3 --use_adam --lr=0.01"),
    ("gmm_avb", "--cl_scenario=3 --split_head_cl3 --use_adam --train_sample_size=4 --num_kl_samples=4 "
                "--val_sample_size=4 --num_ac_samples=8 --dis_batch_size=4"),
], ids=["bbb", "ewc", "mt", "avb"])
def test_lr_schedulers_run_in_every_runner(run_gmm, tmp_path, mode, args):
    s = run_gmm(mode, args + " --plateau_lr_scheduler --lambda_lr_scheduler --epochs=3 --batch_size=8",
                tmp_path / "r", [])
    assert s["finished"] == 1
