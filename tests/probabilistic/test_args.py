"""The posterior-replay parsers: every README command resolves exactly to the original's configuration."""

import json
import shlex
from pathlib import Path

import pytest

from probabilistic.args import MODES, build_mode_parser, parse_args
from utils.cli import pattern_matches
from utils.cli_posterior import FLAGS

SPEC = Path(__file__).resolve().parents[3] / "shared" / "spec" / "targets_posterior_replay.json"
TARGETS = json.loads(SPEC.read_text()) if SPEC.exists() else []
#: Flags of this re-implementation that the original lacks (quirk fixes; default = original behaviour).
NEW_FLAGS = {"fix_dist_reg_normalization": False, "fix_entropy_normalization": False, "pf_ssge_sign_fix": False,
             "fix_online_ewc": False, "vcl_reset_new_heads": False, "data_dir": ""}


@pytest.mark.parametrize("target", TARGETS, ids=[f"{t['parser_mode']}-L{t['readme_line']}" for t in TARGETS])
def test_readme_command_resolves_to_original_config(target):
    config = vars(parse_args(target["parser_mode"], shlex.split(target["args"])))
    config.pop("parser_mode")
    for name, default in NEW_FLAGS.items():
        assert config.pop(name, default) == default
    assert config == target["effective_config"]
    # same types too (argparse keeps e.g. int defaults of float flags as ints; config.json must match)
    assert {k: type(v) for k, v in config.items()} == {k: type(v) for k, v in target["effective_config"].items()}


def test_all_170_readme_commands_present():
    assert len(TARGETS) == 170


@pytest.mark.parametrize("mode", sorted(MODES))
def test_every_flag_has_a_default_in_every_mode_it_exists(mode):
    parser = build_mode_parser(mode)
    names = {a.dest for a in parser._actions}
    for flag in FLAGS:
        assert (flag.name in names) == pattern_matches(flag.modes, MODES[mode])


def test_flag_patterns_use_known_methods_and_families():
    methods = {m for m, _ in MODES.values()}
    families = {f for _, f in MODES.values()}
    for flag in FLAGS:
        patterns = [flag.modes] + (list(flag.default) if isinstance(flag.default, dict) else [])
        for pattern in patterns:
            for token in pattern.split():
                if token == "all":
                    continue
                method, _, fams = token.partition(":")
                assert method in methods, (flag.name, token)
                assert fams == "all" or set(fams.split(",")) <= families, (flag.name, token)


def test_flags_declared_once():
    names = [f.name for f in FLAGS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("argv, flag", [
    (["--mean_only"], "--mean_only"),  # needs kl_scale=0? regression has no kl_scale: still needs mse etc. (ok)
    (["--mean_only", "--regularizer=w2"], "--regularizer"),
    (["--mean_only", "--local_reparam_trick"], "--local_reparam_trick"),
    (["--radial_bnn", "--regularizer=fkl"], "--regularizer"),
    (["--radial_bnn", "--local_reparam_trick"], "--radial_bnn"),
    (["--radial_bnn", "--use_prev_post_as_prior"], "--use_prev_post_as_prior"),
    (["--use_prev_post_as_prior", "--train_from_scratch"], "--train_from_scratch"),
    (["--clip_grad_value=1", "--clip_grad_norm=1"], "--clip_grad_norm"),
    (["--used_task_set=7"], "--used_task_set"),
    (["--ll_dist_std=0"], "--ll_dist_std"),
    (["--n_iter=0"], "--n_iter"),
    (["--regularizer=kl"], "--regularizer"),
    (["--no_such_flag"], "--no_such_flag"),
])
def test_invalid_regression_flags_exit_2_with_one_line(argv, flag, capsys):
    if flag is None:
        parse_args("regression_bbb", argv)
        return
    if argv == ["--mean_only"]:  # valid on its own in regression (no kl_scale flag there)
        parse_args("regression_bbb", argv)
        return
    with pytest.raises(SystemExit) as exc:
        parse_args("regression_bbb", argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err


@pytest.mark.parametrize("mode, argv, flag", [
    ("split_mnist_bbb", ["--mean_only"], "--kl_scale"),  # kl_scale defaults to 1
    ("split_mnist_bbb", ["--plateau_lr_scheduler"], "--epochs"),
    ("split_mnist_bbb", ["--num_classes_per_task=1"], "--num_classes_per_task"),
    ("split_mnist_bbb", ["--coresets_for_experience_replay"], "--mnet_only"),
    ("split_mnist_ewc", ["--non_growing_sf_cl3", "--cl_scenario=1"], "--non_growing_sf_cl3"),
    ("split_mnist_ssge", ["--thr_ssge_eigenvals=0.9", "--num_ssge_eigenvals=5"], "--num_ssge_eigenvals"),
    ("gmm_bbb", ["--use_adam", "--use_rmsprop"], "--use_rmsprop"),
])
def test_invalid_classification_flags_exit_2_with_one_line(mode, argv, flag, capsys):
    with pytest.raises(SystemExit) as exc:
        parse_args(mode, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err


def test_post_parse_adjustments():
    c = parse_args("split_mnist_bbb", ["--train_from_scratch", "--coreset_batch_size=-1",
                                       "--final_coresets_finetune"])
    assert c.beta == 0 and c.coreset_batch_size == 128 and c.per_task_coreset
    assert parse_args("split_mnist_ewc", ["--cl_scenario=3"]).val_sample_size == 1
    assert parse_args("split_mnist_ewc", ["--cl_scenario=3", "--split_head_cl3"]).val_sample_size == 10
    assert parse_args("gmm_avb_pf", []).distill_iter == -1
