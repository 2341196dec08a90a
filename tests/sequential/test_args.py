"""Parsing of the RNN scripts: README commands, per-script defaults, validity rules (spec §4, §6)."""

import json
import logging
import re
import shlex
from pathlib import Path

import pytest

from sequential.args import MODES, SCRIPTS, parse_args
from utils.cli_sequential import FLAGS

TARGETS = Path(__file__).resolve().parents[3] / "shared" / "spec" / "targets_cl_in_rnns.json"
FLAG_BY_NAME = {f.name: f for f in FLAGS}
MODE_OF_SCRIPT = {script: mode for mode, script in SCRIPTS.items()}


def _targets() -> list[dict]:
    if not TARGETS.exists():
        return []
    return json.loads(TARGETS.read_text())


def _target_id(target: dict) -> str:
    return re.sub(r"[^A-Za-z0-9_+.]+", "-", f"{target['id']:02d}-{target['experiment']}-{target['method']}")


def _given_values(argv: list[str]) -> dict:
    """Flag name -> value as the command line states it, converted with the flag's declared type."""
    given, i = {}, 0
    while i < len(argv):
        name, sep, text = argv[i].removeprefix("--").partition("=")
        flag = FLAG_BY_NAME[name]
        if flag.type is bool:
            given[name] = True
        else:
            if not sep:
                i += 1
                text = argv[i]
            given[name] = flag.type(text)
        i += 1
    return given


# ----------------------------------------------------------------------------------------------------------
# (a) every README command parses with its script's mode, and the stated values come through
# ----------------------------------------------------------------------------------------------------------


def test_targets_cover_all_readme_commands():
    if not TARGETS.exists():
        pytest.skip("shared/spec not present")
    targets = _targets()
    assert len(targets) == 95
    assert {t["script"] for t in targets} <= set(SCRIPTS.values())


@pytest.mark.parametrize("target", _targets(), ids=_target_id)
def test_readme_command_parses(target):
    mode = MODE_OF_SCRIPT[target["script"]]
    argv = shlex.split(target["args"])
    config = parse_args(mode, argv)
    assert config.parser_mode == mode
    for name, value in _given_values(argv).items():
        assert getattr(config, name) == value, name


# ----------------------------------------------------------------------------------------------------------
# (b) per-script defaults (spec §4 tables; C copy, P pos, S split_smnist, Q seq_smnist, A audioset, T student)
# ----------------------------------------------------------------------------------------------------------

_LETTER = {
    "C": "copy",
    "P": "pos",
    "S": "split_smnist",
    "Q": "seq_smnist",
    "A": "split_audioset",
    "T": "student_teacher",
}

# Flags whose default differs between scripts: flag -> {letters: default}.
PER_SCRIPT_DEFAULTS = {
    "beta": {"CSQA": 0.005, "PT": 0.01},
    "num_tasks": {"C": 6, "P": 20, "S": 5, "Q": 45, "A": 10, "T": 5},
    "num_classes_per_task": {"S": 2, "A": 10},
    "rnn_arch": {"CPSQT": "256", "A": "32"},
    "hnet_arch": {"C": "10,10", "PSQAT": "50,50"},
    "hnet_act": {"C": "sigmoid", "PSQAT": "relu"},
    "temb_size": {"C": 2, "PSQAT": 32},
    "val_set_size": {"S": 100, "Q": 1000, "A": 500, "T": 100},
    "classification": {"CPSQA": True, "T": False},
    "ewc_lambda": {"CSQA": 5000.0, "PT": 1e5},
    "dec_srnn_rec_layers": {"CPSQT": "256", "A": "32"},
    "data_random_seed": {"CSQAT": 42},
    "during_acc_criterion": {"CPSQA": "-1"},
    "ts_weighting": {"SQA": "last"},
    "ts_weighting_fisher": {"SQA": "last"},
    "early_stopping_thld": {"CQ": -1},
    "es_warm_up_iter": {"CQ": 5000},
    "es_best_val_diff": {"CQ": 0.01},
    "all_task_softmax": {"PSQAT": False},
    "distill_across_time": {"S": False},
    "use_bidirectional_net": {"P": False},
    "dont_learn_wembs": {"P": False},
    "ssmnist_seq_len": {"Q": 2},
    "ssmnist_two_classes": {"Q": False},
    "first_task_input_len": {"C": 5},
    "input_len_step": {"C": 7},
    "input_len_variability": {"C": 2},
    "seq_width": {"C": 7},
    "seq_out_width": {"C": -1},
    "pat_len": {"C": -1},
    "permute_xor_iter": {"C": 1},
    "input_feature_dim": {"T": 7},
    "output_feature_dim": {"T": 7},
    "rank_teacher_hid_mat": {"T": -1},
    "max_sv_teacher_hid_mat": {"T": -1},
    "num_timesteps_in": {"T": 10},
    "num_timesteps_out": {"T": -1},
}

# Defaults shared by all six scripts.
COMMON_DEFAULTS = {
    "batch_size": 64,
    "n_iter": 5000,
    "lr": 1e-3,
    "weight_decay": 0,
    "adam_beta1": 0.9,
    "clip_grad_norm": -1,
    "srnn_pre_fc_layers": "",
    "srnn_post_fc_layers": "",
    "net_act": "tanh",
    "use_vanilla_rnn": False,
    "hyper_chunks": "-1",
    "emb_size": 32,
    "hnet_noise_dim": -1,
    "hnet_dropout_rate": -1,
    "temb_std": -1,
    "sa_hnet_num_layers": 5,
    "sa_hnet_filters": "128,512,256,128",
    "sa_hnet_attention_layers": "1,3",
    "use_new_hnet": False,
    "nh_hnet_type": "hmlp",
    "nh_hmlp_arch": "50,50",
    "nh_cond_emb_size": 32,
    "nh_chmlp_chunk_size": 1000,
    "nh_chunk_emb_size": "32",
    "nh_hdeconv_shape": "512,512,3",
    "nh_hdeconv_num_layers": 5,
    "nh_hdeconv_filters": "128,512,256,128",
    "nh_hnet_net_act": "relu",
    "nh_hnet_dropout_rate": -1,
    "nh_shmlp_chunk_sizes": "8",
    "std_normal_temb": 1.0,
    "std_normal_emb": 1.0,
    "val_iter": 250,
    "out_dir": "./out/run_<date>_<time>",
    "use_cuda": False,
    "random_seed": 42,
    "mask_fraction": 0.8,
    "hnet_reg_batch_size": -1,
    "orthogonal_hh_reg": -1,
    "ewc_gamma": 1.0,
    "n_fisher": -1,
    "tbptt_fisher": -1,
    "si_lambda": 1.0,
    "context_mod_init": "constant",
    "sparsification_reg_strength": 1.0,
    "sparsification_reg_type": "l1",
    "replay_pm_strength": 1.0,
    "replay_rec_strength": 1.0,
    "replay_distill_reg": 1.0,
    "coreset_size": -1,
    "latent_dim": 100,
    "latent_std": 1.0,
    "dec_srnn_pre_fc_layers": "",
    "dec_srnn_post_fc_layers": "",
    "dec_srnn_rec_type": "lstm",
    "dec_net_act": "tanh",
}


def _per_script_cases():
    for flag, table in PER_SCRIPT_DEFAULTS.items():
        present = {letter: value for letters, value in table.items() for letter in letters}
        for letter, mode in _LETTER.items():
            yield pytest.param(mode, flag, present.get(letter, "ABSENT"), id=f"{flag}-{mode}")


@pytest.fixture(scope="module")
def defaults():
    """The parsed defaults of every script (parsed once)."""
    return {mode: vars(parse_args(mode, [])) for mode in MODES}


@pytest.mark.parametrize(("mode", "flag", "expected"), list(_per_script_cases()))
def test_per_script_default(defaults, mode, flag, expected):
    if expected == "ABSENT":
        assert flag not in defaults[mode]
    else:
        assert defaults[mode][flag] == expected
        assert type(defaults[mode][flag]) is type(expected)


@pytest.mark.parametrize("mode", sorted(MODES))
def test_common_defaults(defaults, mode):
    got = {flag: defaults[mode][flag] for flag in COMMON_DEFAULTS}
    assert got == COMMON_DEFAULTS


def test_flag_counts_per_script(defaults):
    # Flags of each script (parser_mode excluded); changes here must be deliberate.
    # New: --fix_online_ewc everywhere; --data_dir where a script reads dataset files (PoS, SMNIST, AudioSet).
    counts = {mode: len(values) - 1 for mode, values in defaults.items()}
    assert counts == {
        "copy": 134,
        "pos": 121,
        "split_smnist": 121,
        "seq_smnist": 124,
        "split_audioset": 120,
        "student_teacher": 122,
    }


def test_classification_keeps_the_type_bool_quirk():
    assert parse_args("student_teacher", ["--classification=False"]).classification is True
    assert parse_args("copy", ["--classification="]).classification is False


# ----------------------------------------------------------------------------------------------------------
# (c) validity rules of spec §4.12 and of the family notes in §1: exit code 2, one stderr line naming the flag
# ----------------------------------------------------------------------------------------------------------

INVALID = [
    # rule id, mode, argv, flag the message must name
    ("ewc-and-si", "copy", "--use_ewc --use_si", "--use_si"),
    ("ewc-multitask", "seq_smnist", "--use_ewc --multitask", "--multitask"),
    ("ewc-from-scratch", "seq_smnist", "--use_ewc --train_from_scratch", "--train_from_scratch"),
    ("ewc-hnet-all", "split_audioset", "--use_ewc --hnet_all", "--hnet_all"),
    ("ewc-train-tnet-once", "pos", "--use_ewc --train_tnet_once", "--train_tnet_once"),
    ("ewc-replay", "split_smnist", "--use_ewc --use_replay", "--use_replay"),
    ("si-multitask", "copy", "--use_si --multitask", "--multitask"),
    ("si-from-scratch", "copy", "--use_si --train_from_scratch", "--train_from_scratch"),
    ("si-hnet-all", "pos", "--use_si --hnet_all", "--hnet_all"),
    ("si-train-tnet-once", "copy", "--use_si --train_tnet_once", "--train_tnet_once"),
    ("si-replay", "split_smnist", "--use_si --use_replay", "--use_replay"),
    ("hnet-all-masks", "copy", "--hnet_all --use_masks", "--use_masks"),
    ("hnet-all-checkpoint-cm", "copy", "--hnet_all --checkpoint_context_mod", "--checkpoint_context_mod"),
    ("hnet-all-reinit", "seq_smnist", "--hnet_all --reinit_tnet", "--reinit_tnet"),
    ("masks-context-mod", "copy", "--use_masks --use_context_mod", "--use_context_mod"),
    ("masks-input-modulation", "split_audioset", "--use_masks --context_mod_inputs", "--context_mod_inputs"),
    ("replay-context-mod", "split_smnist", "--use_replay --use_context_mod", "--use_context_mod"),
    ("replay-masks", "split_smnist", "--use_replay --use_masks", "--use_masks"),
    ("replay-multitask", "split_smnist", "--use_replay --multitask", "--multitask"),
    ("replay-from-scratch", "split_smnist", "--use_replay --train_from_scratch", "--train_from_scratch"),
    ("replay-task-identity", "seq_smnist", "--use_replay --input_task_identity", "--input_task_identity"),
    ("coresets-need-replay", "pos", "--coreset_size=100", "--coreset_size"),
    ("coresets-hnet-all", "split_audioset", "--use_replay --coreset_size=100 --hnet_all", "--hnet_all"),
    ("true-data-needs-replay", "split_smnist", "--replay_true_data", "--replay_true_data"),
    ("true-data-hnet-all", "split_smnist", "--use_replay --replay_true_data --hnet_all", "--hnet_all"),
    ("all-task-softmax-multi-head", "split_smnist", "--all_task_softmax --multi_head", "--multi_head"),
    (
        "best-models-early-stopping",
        "seq_smnist",
        "--use_best_models --early_stopping_thld=0.01",
        "--early_stopping_thld",
    ),
    ("copy-xor-needs-permutation", "copy", "--permute_xor", "--permute_xor"),
    ("copy-scatter-needs-pat-len", "copy", "--scatter_pattern", "--pat_len"),
    (
        "copy-xor-iter-positive",
        "copy",
        "--permute_time --permute_xor --permute_xor_iter=0",
        "--permute_xor_iter",
    ),
    ("copy-replay-pat-len", "copy", "--use_replay --pat_len=5", "--pat_len"),
    ("pos-generative-replay", "pos", "--use_replay", "--use_replay"),
    ("pos-tbptt-birnn", "pos", "--use_bidirectional_net --tbptt_fisher=5", "--tbptt_fisher"),
    ("pos-activations-birnn", "pos", "--use_bidirectional_net --store_activations", "--store_activations"),
    ("pos-num-tasks", "pos", "--num_tasks=21", "--num_tasks"),
    ("smnist-classes", "split_smnist", "--num_tasks=6", "--num_classes_per_task"),
    ("seq-smnist-num-tasks", "seq_smnist", "--num_tasks=46", "--num_tasks"),
    ("seq-smnist-seq-len", "seq_smnist", "--ssmnist_seq_len=0", "--ssmnist_seq_len"),
    ("audioset-classes", "split_audioset", "--num_classes_per_task=11", "--num_classes_per_task"),
    ("audioset-ts-weighting", "split_audioset", "--ts_weighting=none", "--ts_weighting"),
    (
        "audioset-ts-weighting-fisher",
        "split_audioset",
        "--ts_weighting_fisher=unpadded",
        "--ts_weighting_fisher",
    ),
    ("separate-head-needs-hnet-all", "seq_smnist", "--nh_separate_out_head", "--hnet_all"),
    ("deconv-hnet", "copy", "--use_new_hnet --nh_hnet_type=hdeconv", "--nh_hnet_type"),
    ("self-attention-hnet", "copy", "--hyper_chunks=10,20", "--hyper_chunks"),
    ("int-list", "copy", "--rnn_arch=256,x", "--rnn_arch"),
    ("structured-int-list", "copy", "--nh_hmlp_arch=10,10;5,a", "--nh_hmlp_arch"),
    ("during-acc-criterion", "pos", "--during_acc_criterion=high", "--during_acc_criterion"),
    ("batch-size", "student_teacher", "--batch_size=0", "--batch_size"),
    ("n-iter", "copy", "--n_iter=-5", "--n_iter"),
    ("mask-fraction", "copy", "--mask_fraction=1.5", "--mask_fraction"),
    ("argparse-choices", "copy", "--net_act=gelu", "--net_act"),
    ("flag-absent-in-script", "copy", "--val_set_size=10", "--val_set_size"),
]


@pytest.mark.parametrize(("mode", "argv", "flag"), [pytest.param(*case[1:], id=case[0]) for case in INVALID])
def test_invalid_combination_exits_with_one_line(capsys, mode, argv, flag):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(mode, shlex.split(argv))
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1
    assert flag in lines[0]


def test_masks_force_context_mod_flags():
    config = parse_args("split_audioset", ["--use_masks"])
    assert config.no_context_mod_outputs is True
    assert config.dont_softplus_gains is True
    assert parse_args("split_audioset", []).no_context_mod_outputs is False


@pytest.mark.parametrize("variant", ["--permute_time", "--permute_width", "--scatter_pattern --pat_len=5"])
def test_copy_permutations_force_equal_lengths(caplog, variant):
    with caplog.at_level(logging.WARNING, logger="sequential.args"):
        config = parse_args("copy", shlex.split(variant))
    assert (config.input_len_step, config.input_len_variability) == (0, 0)
    assert len(caplog.records) == 2
    assert parse_args("copy", []).input_len_step == 7


@pytest.mark.parametrize(
    ("argv", "n_warnings"),
    [("--use_ewc", 1), ("--use_si", 1), ("--use_ewc --multi_head", 0), ("--use_si --use_masks", 0)],
)
def test_single_head_regularizer_warns(caplog, argv, n_warnings):
    with caplog.at_level(logging.WARNING, logger="sequential.args"):
        parse_args("seq_smnist", shlex.split(argv))
    assert len(caplog.records) == n_warnings


@pytest.mark.parametrize(
    ("mode", "argv"),
    [
        ("split_smnist", "--use_replay --hnet_all"),  # HNET+R
        ("pos", "--use_replay --coreset_size=500"),
        ("copy", "--use_masks --use_si --multi_head"),
        ("copy", "--permute_width --permute_xor --permute_xor_iter=5 --permute_xor_separate"),
        ("split_smnist", "--use_replay --all_task_softmax"),
        ("split_audioset", "--hnet_all --use_new_hnet --nh_hnet_type=chunked_hmlp --nh_separate_out_head"),
    ],
)
def test_valid_combinations_parse(mode, argv):
    assert parse_args(mode, shlex.split(argv)).parser_mode == mode
