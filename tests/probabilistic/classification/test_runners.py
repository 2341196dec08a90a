"""Behaviour of the classification runners on the GMM tasks: learning, forgetting, resume, exit codes, multitask."""

import pytest
import torch

from probabilistic.classification.summary_keys import MT_KEYS
from tests.conftest import simulate_crash_in_task_3

DIRAC = ("--kl_scale=0 --kl_schedule=0 --train_sample_size=1 --val_sample_size=1 --cl_scenario=2 "
         "--use_adam --lr=0.005 --mean_only --hmlp_arch=10,10 --cond_emb_size=2")
BBB = "--cl_scenario=3 --split_head_cl3 --use_adam --lr=0.005 --train_sample_size=3 --val_sample_size=3"


def test_hnet_regulariser_prevents_forgetting_that_fine_tuning_shows(run_gmm, tmp_path):
    # CL2 (one shared head): PR-Dirac keeps every task's solution, a fine-tuned main network overwrites them
    budget = ["--n_iter=150", "--val_iter=1000"]
    protected = run_gmm("gmm_bbb", DIRAC + " --beta=0.05", tmp_path / "pr", budget)
    finetuned = run_gmm("gmm_bbb", DIRAC + " --beta=0 --mnet_only", tmp_path / "ft", budget)
    assert min(protected["acc_task_given_during"]) >= 95 and min(finetuned["acc_task_given_during"]) >= 95
    assert protected["acc_avg_task_given"] >= 95  # CL1 kept
    assert finetuned["acc_avg_task_given"] < protected["acc_avg_task_given"] - 10  # old tasks overwritten


@pytest.mark.parametrize("mode, args", [
    ("gmm_bbb", BBB + " --regularizer=w2"),
    ("gmm_ewc", "--cl_scenario=1 --use_adam --lr=0.01"),
    ("gmm_avb", "--cl_scenario=3 --split_head_cl3 --use_adam --train_sample_size=4 --num_kl_samples=4 "
                "--val_sample_size=4 --num_ac_samples=8 --dis_batch_size=4"),
    ("gmm_ssge_pf", "--cl_scenario=3 --split_head_cl3 --use_adam --train_sample_size=4 --ssge_sample_size=6 "
                    "--val_sample_size=4"),
], ids=["bbb", "ewc", "avb", "ssge_pf"])
def test_resume_after_interruption_reproduces_the_uninterrupted_run(run_gmm, tmp_path, mode, args):
    budget = ["--n_iter=20", "--val_iter=1000"]
    full = run_gmm(mode, args, tmp_path / "full", budget)
    run_gmm(mode, args, tmp_path / "cut", budget)
    simulate_crash_in_task_3(tmp_path / "cut")  # the rerun resumes after task 2
    resumed = run_gmm(mode, args, tmp_path / "cut", budget)
    assert resumed["acc_task_given"] == pytest.approx(full["acc_task_given"])
    assert resumed["acc_task_inferred_ent"] == pytest.approx(full["acc_task_inferred_ent"])
    assert resumed["acc_task_given_during"] == pytest.approx(full["acc_task_given_during"])


def test_during_acc_criterion_exits_with_code_1_and_leaves_finished_0(run_gmm, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_gmm("gmm_bbb", BBB + " --during_acc_criterion=101", tmp_path / "r", ["--n_iter=5"])
    assert exc.value.code == 1
    assert "below --during_acc_criterion" in capsys.readouterr().err
    text = (tmp_path / "r" / "performance_overview.txt").read_text()
    assert "finished 0" in text


def test_partial_tests_and_store_final_model(run_gmm, tmp_path):
    s = run_gmm("gmm_bbb", BBB + " --full_test_interval=5 --store_final_model --mnet_only", tmp_path / "r",
                ["--n_iter=10", "--val_iter=1000"])
    assert s["finished"] == 1 and all(a >= 0 for a in s["acc_task_given"])  # the last test covers every task
    assert (tmp_path / "r" / "checkpoints" / "final.safetensors").exists()
    assert s["num_weights_hyper"] == -1 and s["num_weights_hm_ratio"] == -1


def test_multitask_runner_works_and_learns_all_tasks(run_gmm, tmp_path, golden_summary):
    s = run_gmm("gmm_mt", "--cl_scenario=3 --use_adam --lr=0.01 --net_act=relu", tmp_path / "mt",
                ["--n_iter=300"])
    golden_summary(s)
    assert list(s) == MT_KEYS and s["finished"] == 1
    assert s["acc_avg_task_given"] >= 95 and s["acc_avg_final"] >= 90  # jointly trained: no forgetting


def test_ewc_multi_head_posteriors(run_gmm, tmp_path):
    args = "--use_adam --lr=0.01 --net_act=relu"
    dirac = run_gmm("gmm_ewc", "--cl_scenario=3 --split_head_cl3 --det_multi_head " + args, tmp_path / "d",
                    ["--n_iter=150"])
    assert min(dirac["acc_task_given_during"]) >= 95 and dirac["acc_avg_task_given"] >= 90
    # Laplace posterior N(φ*, F⁻¹): the empirical Fisher leaves stds up to σ_p = 1 on weights of size ~0.3, so
    # the sampled networks are mostly random (why the README uses --det_multi_head; spec §1.5)
    laplace = run_gmm("gmm_ewc", "--cl_scenario=1 " + args, tmp_path / "l", ["--n_iter=150"])
    assert laplace["finished"] == 1 and laplace["acc_avg_task_given"] < dirac["acc_avg_task_given"]


def test_distribution_regularizer_double_normalisation_and_its_fix():
    from probabilistic.args import parse_args
    from probabilistic.classification.families import build_main_net
    from probabilistic.heads import Heads, regularizer_mask
    from probabilistic.methods.explicit import build_posterior, output_regularizer

    heads = Heads(3, 3, 2, split_head=True)
    values = {}
    for fix in (False, True):
        torch.manual_seed(0)
        config = parse_args("gmm_bbb", ["--regularizer=w2"] + (["--fix_dist_reg_normalization"] if fix else []))
        post = build_posterior(config, build_main_net("gmm", config, 2, heads.num_outputs), 3, torch.device("cpu"))
        targets = post.raw([0, 1, 2]).detach() + 0.1  # shifted means and rhos
        masks = regularizer_mask(post.mnet, heads, [0, 1, 2], gaussian=True)
        values[fix] = output_regularizer(config, post, post.raw([0, 1]), targets[:2], masks[:2], task_id=2).item()
    assert values[True] > 0 and values[False] == pytest.approx(values[True] / 2)  # divided again by t = 2


@pytest.mark.parametrize("mode, flag", [("gmm_bbb", "--calibrate_temp"), ("gmm_bbb", "--distill_iter=5"),
                                        ("gmm_avb", "--dis_net_type=chunked_mlp")])
def test_unimplemented_options_fail_with_one_line_naming_the_flag(run_gmm, tmp_path, capsys, mode, flag):
    with pytest.raises(SystemExit) as exc:
        run_gmm(mode, flag, tmp_path / "r", ["--n_iter=1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag.split("=")[0] in err


def test_vcl_prior_keeps_the_previous_posterior_for_new_heads_unless_reset():
    from probabilistic.args import parse_args
    from probabilistic.classification.families import build_main_net
    from probabilistic.heads import Heads, output_unit_entries
    from probabilistic.methods.explicit import build_posterior, previous_posterior

    heads = Heads(3, 3, 2, split_head=True)
    config = parse_args("gmm_bbb", ["--mnet_only", "--use_prev_post_as_prior", "--prior_variance=0.5"])
    post = build_posterior(config, build_main_net("gmm", config, 2, heads.num_outputs), 3, torch.device("cpu"))
    mean, std = post.mean_std(post.raw([0]))
    kept = previous_posterior(post, 1)  # the original: previous posterior everywhere
    assert torch.equal(kept[0], mean) and torch.equal(kept[1], std)
    new = output_unit_entries(post.mnet, [2, 3, 4, 5])  # heads of tasks 1 and 2 (not trained yet)
    reset_mean, reset_std = previous_posterior(post, 1, new, config.prior_variance)
    assert new.sum() == 2 * 2 * (10 + 1)  # 4 output units x (10 hidden weights + bias)
    assert (reset_mean[:, new] == 0).all() and torch.allclose(reset_std[:, new], torch.tensor(0.5**0.5))
    assert torch.equal(reset_mean[:, ~new], mean[:, ~new]) and torch.equal(reset_std[:, ~new], std[:, ~new])


def test_vcl_reset_flag_needs_vcl(run_gmm, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        run_gmm("gmm_bbb", "--mnet_only --vcl_reset_new_heads", tmp_path / "r", ["--n_iter=1"])
    assert exc.value.code == 2 and "--use_prev_post_as_prior" in capsys.readouterr().err


def test_later_tasks_embeddings_stay_put_under_weight_decay(run_gmm, tmp_path, monkeypatch):
    """A task embedding no step has used has no gradient, as in the original (hypnettorch, PyTorch 1.4), so Adam's
    ``--weight_decay`` cannot move it before its task starts; a zero gradient would pull it towards 0."""
    import probabilistic.trainer as trainer

    embeddings, save = [], trainer.checkpoint

    def record(ctx, family, method, task_id):
        embeddings.append([e.detach().clone() for e in method.current.hnet.conditional_params])
        save(ctx, family, method, task_id)

    monkeypatch.setattr(trainer, "checkpoint", record)
    run_gmm("gmm_bbb", DIRAC + " --beta=0.05 --weight_decay=0.1", tmp_path / "wd", ["--n_iter=20", "--val_iter=1000"])
    after_first, after_second = embeddings[0], embeddings[1]
    assert len(after_first) == 3
    assert torch.equal(after_first[2], after_second[2])  # task 3's embedding: untouched by tasks 1 and 2
    assert not torch.equal(after_first[1], after_second[1])  # task 2's: trained in task 2
