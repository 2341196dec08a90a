"""Argument parsing for every RNN continual-learning script: ``parse_args(mode, argv)``.

A parser mode names one ``sequential/*/train_*.py`` script (``copy``, ``pos``, ``split_smnist``,
``seq_smnist``, ``split_audioset``, ``student_teacher``). All flags live in :mod:`utils.cli_sequential`; this
module maps mode names to ``(method, family)``, builds the parser and applies the validity rules and
post-parse adjustments of the original (spec_cl_in_rnns.md §4.12 and the family notes of §1).

The deprecated hypernetwork flags (``--hyper_chunks``, ``--hnet_arch``, ``--temb_size``, ``--emb_size``,
``--hnet_act``) are kept here exactly as parsed. They are translated to the new chunked MLP hypernetwork where
the hypernetwork is built from the config (the network factory in ``hnets/``, spec §3.1), not in this module.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from utils.cli import ConfigError, Mode, build_parser, parse_flags, parse_int_list, script_name
from utils.cli_sequential import FLAGS

logger = logging.getLogger(__name__)

#: Parser mode of each script -> ``(method, family)``.
MODES: dict[str, Mode] = {
    "copy": ("rnn", "copy"),
    "pos": ("rnn", "pos"),
    "split_smnist": ("rnn", "smnist"),
    "seq_smnist": ("rnn", "seq_smnist"),
    "split_audioset": ("rnn", "audioset"),
    "student_teacher": ("rnn", "student_teacher"),
}

#: Launcher of each parser mode, relative to the repository root.
SCRIPTS: dict[str, str] = {
    "copy": "sequential/copy/train_copy.py",
    "pos": "sequential/pos_tagging/train_pos.py",
    "split_smnist": "sequential/smnist/train_split_smnist.py",
    "seq_smnist": "sequential/seq_smnist/train_seq_smnist.py",
    "split_audioset": "sequential/audioset/train_split_audioset.py",
    "student_teacher": "sequential/student_teacher/train_student.py",
}

_DESCRIPTIONS = {
    "copy": "Continual learning on the Copy Task.",
    "pos": "Continual learning on part-of-speech tagging (Universal Dependencies, one language per task).",
    "split_smnist": "Continual learning on Split Stroke-MNIST.",
    "seq_smnist": "Continual learning on Sequential Stroke-MNIST.",
    "split_audioset": "Continual learning on Split AudioSet.",
    "student_teacher": "Continual learning on a student-teacher regression problem with random RNN teachers.",
}

# Flags holding comma-separated lists of integers (checked so that a typo fails at parse time).
_INT_LIST_FLAGS = (
    "rnn_arch",
    "srnn_pre_fc_layers",
    "srnn_post_fc_layers",
    "hnet_arch",
    "nh_chunk_emb_size",
    "nh_shmlp_chunk_sizes",
    "dec_srnn_rec_layers",
    "dec_srnn_pre_fc_layers",
    "dec_srnn_post_fc_layers",
)


def mode_of(name: str) -> Mode:
    """``(method, family)`` of a parser mode name; unknown names fail with the list of valid ones."""
    if name not in MODES:
        raise KeyError(f"unknown parser mode {name!r}; valid: {', '.join(sorted(MODES))}")
    return MODES[name]


def build_mode_parser(mode: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of one script (used by launchers, the hpsearch driver and the docs)."""
    return build_parser(FLAGS, mode_of(mode), prog=prog or script_name(), description=_DESCRIPTIONS[mode])


def parse_args(mode: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line of the script with parser mode ``mode``; invalid input exits with code 2."""
    parser = build_mode_parser(mode)
    config = parse_flags(parser, argv, check=lambda c: check_config(c, mode))
    config.parser_mode = mode
    return config


# Zero-argument parser builders for the ``.. argparse::`` directive of the docs.
def copy_parser() -> argparse.ArgumentParser:
    """Parser of ``sequential/copy/train_copy.py``."""
    return build_mode_parser("copy", prog="train_copy.py")


def pos_parser() -> argparse.ArgumentParser:
    """Parser of ``sequential/pos_tagging/train_pos.py``."""
    return build_mode_parser("pos", prog="train_pos.py")


def split_smnist_parser() -> argparse.ArgumentParser:
    """Parser of ``sequential/smnist/train_split_smnist.py``."""
    return build_mode_parser("split_smnist", prog="train_split_smnist.py")


def seq_smnist_parser() -> argparse.ArgumentParser:
    """Parser of ``sequential/seq_smnist/train_seq_smnist.py``."""
    return build_mode_parser("seq_smnist", prog="train_seq_smnist.py")


def split_audioset_parser() -> argparse.ArgumentParser:
    """Parser of ``sequential/audioset/train_split_audioset.py``."""
    return build_mode_parser("split_audioset", prog="train_split_audioset.py")


def student_teacher_parser() -> argparse.ArgumentParser:
    """Parser of ``sequential/student_teacher/train_student.py``."""
    return build_mode_parser("student_teacher", prog="train_student.py")


def check_config(config: argparse.Namespace, mode: str) -> None:
    """Validity rules and post-parse adjustments of the original parsers (spec §4.12, §1.x).

    Adjusts ``config`` in place where the original overrides values (masking forces
    ``no_context_mod_outputs``/``dont_softplus_gains``; copy permutations force equal input lengths) and logs
    the original's warnings.

    Raises:
        ConfigError: naming the offending flag(s).
    """
    _, family = mode_of(mode)
    c = vars(config)
    _check_values(c)
    _check_cl_methods(c)
    _check_replay(c, family)
    _check_hnet(c)
    if family == "copy":
        _check_copy(c)
    else:
        _check_dataset(c, family)


def _exclusive(c: dict, flag: str, others: Sequence[str], why: str = "") -> None:
    """Raise if ``--flag`` is set together with any of ``others`` (bool flags)."""
    for other in others:
        if c.get(flag) and c.get(other):
            raise ConfigError(f"--{flag} cannot be combined with --{other}{why}; drop one of them")


def _check_values(c: dict) -> None:
    """Ranges and list formats of single flags."""
    for flag in ("batch_size", "n_iter", "num_tasks"):
        if c[flag] <= 0:
            raise ConfigError(f"--{flag} must be positive (got {c[flag]})")
    if not 0 <= c["mask_fraction"] <= 1:
        raise ConfigError(f"--mask_fraction must be in [0, 1] (got {c['mask_fraction']})")
    for flag in _INT_LIST_FLAGS:
        parse_int_list(c[flag], flag)
    try:
        for arch in str(c["nh_hmlp_arch"]).split(";"):  # ';' separates the lists of a structured hnet
            parse_int_list(arch, "nh_hmlp_arch")
    except ConfigError:
        raise ConfigError(
            f"--nh_hmlp_arch={c['nh_hmlp_arch']!r} must be a comma-separated list of integers "
            "(';'-separated lists for structured_hmlp), e.g. '50,50'"
        ) from None
    if len(parse_int_list(c["hyper_chunks"], "hyper_chunks")) != 1:
        raise ConfigError(
            f"--hyper_chunks={c['hyper_chunks']!r}: 2 or 3 values select the self-attention hypernetwork, "
            "which is not available; give one chunk size (or -1)"
        )
    if "during_acc_criterion" in c:
        try:
            for value in str(c["during_acc_criterion"]).split(","):
                float(value)
        except ValueError:
            raise ConfigError(
                f"--during_acc_criterion={c['during_acc_criterion']!r} must be a number or a comma-separated "
                "list of numbers (-1 = off)"
            ) from None


def _check_cl_methods(c: dict) -> None:
    """EWC, SI, masks, context modulation and HNET exclude each other as in the original checker."""
    _exclusive(c, "use_ewc", ["use_si"])
    for method in ("use_ewc", "use_si"):
        _exclusive(
            c, method, ["multitask", "train_from_scratch", "hnet_all", "train_tnet_once", "use_replay"]
        )
    _exclusive(c, "hnet_all", ["use_masks", "checkpoint_context_mod", "reinit_tnet"])
    _exclusive(
        c, "use_masks", ["use_context_mod", "context_mod_inputs"], " (masks are the context modulation)"
    )
    if c["use_masks"]:
        # Masks act through context-mod layers on the recurrent units only, with raw (binary) gains.
        c["no_context_mod_outputs"] = True
        c["dont_softplus_gains"] = True
    if (c["use_ewc"] or c["use_si"]) and not c["multi_head"] and not c["use_masks"]:
        method = "--use_ewc" if c["use_ewc"] else "--use_si"
        logger.warning(
            f"{method} with a single head and no masks: the shared output layer is not task-specific"
        )
    if c["use_best_models"] and c.get("early_stopping_thld", -1) != -1:
        raise ConfigError("--use_best_models cannot be combined with early stopping (--early_stopping_thld)")
    if c["context_mod_last_step"]:
        logger.warning("--context_mod_last_step has no effect (as in the original)")


def _check_replay(c: dict, family: str) -> None:
    """Replay (generative or coresets) excludes the other CL methods; coresets need --use_replay."""
    if c["use_replay"]:
        _exclusive(
            c,
            "use_replay",
            ["use_context_mod", "use_masks", "multitask", "train_from_scratch", "input_task_identity"],
        )
    for flag, used in (
        ("coreset_size", c["coreset_size"] != -1),
        ("replay_true_data", c["replay_true_data"]),
    ):
        if used and not c["use_replay"]:
            raise ConfigError(f"--{flag} requires --use_replay")
        if used and c["hnet_all"]:
            raise ConfigError(f"--{flag} cannot be combined with --hnet_all (only generative replay can)")
    if c.get("all_task_softmax") and c["multi_head"]:
        raise ConfigError("--all_task_softmax (one growing softmax) cannot be combined with --multi_head")
    generative = c["use_replay"] and c["coreset_size"] == -1 and not c["replay_true_data"]
    if family == "pos" and generative:
        raise ConfigError(
            "--use_replay without --coreset_size (generative replay) is not implemented for PoS tagging; "
            "set --coreset_size"
        )
    if family == "copy" and c["use_replay"] and c["pat_len"] != -1:
        raise ConfigError("--use_replay is only implemented without --pat_len in the copy task")


def _check_hnet(c: dict) -> None:
    """Options of the (new) hypernetwork."""
    if c["nh_separate_out_head"] and not c["hnet_all"]:
        raise ConfigError("--nh_separate_out_head requires --hnet_all")
    if c["use_new_hnet"] and c["nh_hnet_type"] in ("hdeconv", "chunked_hdeconv"):
        raise ConfigError(f"--nh_hnet_type={c['nh_hnet_type']} is not implemented; use hmlp or chunked_hmlp")


def _check_copy(c: dict) -> None:
    """Copy-task variants (spec §1.1)."""
    permuted = c["permute_time"] or c["permute_width"]
    if c["permute_xor"] and not permuted:
        raise ConfigError("--permute_xor requires a permutation: add --permute_time and/or --permute_width")
    if c["scatter_pattern"] and c["pat_len"] == -1:
        raise ConfigError("--scatter_pattern requires --pat_len")
    if c["permute_xor_iter"] < 1:
        raise ConfigError(f"--permute_xor_iter must be >= 1 (got {c['permute_xor_iter']})")
    if permuted or c["scatter_pattern"]:
        # Task-specific permutations / scatter positions need all inputs of the same length.
        for flag in ("input_len_step", "input_len_variability"):
            if c[flag] != 0:
                logger.warning(
                    f"--{flag}={c[flag]} set to 0: permutations and scatter need equal input lengths"
                )
                c[flag] = 0


def _check_dataset(c: dict, family: str) -> None:
    """Limits of the real datasets and of the network options they allow (spec §1.2-1.6)."""
    if family == "pos":
        if c["num_tasks"] > 20:
            raise ConfigError(f"--num_tasks={c['num_tasks']}: PoS tagging has 20 languages (tasks)")
        if c["use_bidirectional_net"] and c["tbptt_fisher"] != -1:
            raise ConfigError("--tbptt_fisher is not supported with --use_bidirectional_net; leave it at -1")
        if c["use_bidirectional_net"] and c["store_activations"]:
            raise ConfigError("--store_activations is not supported with --use_bidirectional_net")
        if (c["wemb_init"] == "text") != bool(c["wemb_file"]):
            raise ConfigError("--wemb_file (a 'word v1 v2 ...' vector file) goes with --wemb_init=text; give both "
                              "or neither")
        if c["wemb_init"] == "random" and c["dont_learn_wembs"]:
            logger.warning("--wemb_init=random with --dont_learn_wembs: the random word vectors stay fixed; leave "
                           "out --dont_learn_wembs to learn them")
    if family == "smnist" and c["num_tasks"] * c["num_classes_per_task"] > 10:
        raise ConfigError(
            f"--num_tasks={c['num_tasks']} x --num_classes_per_task={c['num_classes_per_task']} exceeds the "
            "10 digits of Split SMNIST"
        )
    if family == "seq_smnist":
        if c["num_tasks"] > 45:
            raise ConfigError(f"--num_tasks={c['num_tasks']}: Sequential SMNIST has 45 digit pairs (tasks)")
        if c["ssmnist_seq_len"] < 1:
            raise ConfigError(f"--ssmnist_seq_len must be >= 1 (got {c['ssmnist_seq_len']})")
    if family == "audioset":
        if c["num_tasks"] > 10 or c["num_classes_per_task"] > 10:
            raise ConfigError(
                f"--num_tasks={c['num_tasks']} / --num_classes_per_task={c['num_classes_per_task']}: Split "
                "AudioSet has at most 10 tasks of at most 10 classes"
            )
        for flag in ("ts_weighting", "ts_weighting_fisher"):
            if c[flag] in ("none", "unpadded"):
                raise ConfigError(
                    f"--{flag}={c[flag]} is not supported for AudioSet; use last, "
                    "last_ten_percent or discount"
                )
