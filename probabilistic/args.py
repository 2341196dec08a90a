"""Argument parsing for every Posterior Meta-Replay script: ``parse_args(mode, argv)``.

The parser mode is the first argument of the original ``parse_cmd_arguments`` (``regression_bbb``,
``split_mnist_ewc``, ...). All flags live in :mod:`utils.cli_posterior`; this module maps mode names to
``(method, family)``, builds the parser and applies the original post-parse adjustments and validity checks.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from utils.cli import ConfigError, Mode, build_parser, parse_flags, script_name
from utils.cli_posterior import FLAGS

FAMILIES = {"regression": "reg", "gmm": "gmm", "split_mnist": "split", "perm_mnist": "perm",
            "cifar_zenke": "zenke", "cifar_resnet": "resnet"}
METHODS = ("bbb", "avb", "avb_pf", "ssge", "ssge_pf", "ewc", "mt")

#: Parser modes that exist in the original code (spec §3.1).
MODES: dict[str, Mode] = {
    f"{fam}_{meth}": (meth, short)
    for fam, short in FAMILIES.items()
    for meth in METHODS
    if not (fam == "regression" and meth in ("avb_pf", "ssge_pf"))
    and not (fam == "cifar_zenke" and meth in ("ssge", "ssge_pf", "ewc", "mt"))
}


def mode_of(name: str) -> Mode:
    """``(method, family)`` of a parser mode name; unknown names fail with the list of valid ones."""
    if name not in MODES:
        raise KeyError(f"unknown parser mode {name!r}; valid: {', '.join(sorted(MODES))}")
    return MODES[name]


def build_mode_parser(mode: str, prog: str | None = None) -> argparse.ArgumentParser:
    """The parser of one script (used by launchers, the hpsearch driver and the docs)."""
    return build_parser(FLAGS, mode_of(mode), prog=prog or script_name())


def parse_args(mode: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line of the script with parser mode ``mode``; invalid input exits with code 2."""
    parser = build_mode_parser(mode)
    config = parse_flags(parser, argv, check=lambda c: check_config(c, mode))
    config.parser_mode = mode
    return config


def check_config(config: argparse.Namespace, mode: str) -> None:
    """Validity rules and post-parse adjustments of the original parsers (spec §3.1).

    Raises:
        ConfigError: naming the offending flag(s).
    """
    method, family = mode_of(mode)
    c = vars(config)

    optimizers = [f for f in ("use_adam", "use_rmsprop", "use_adadelta", "use_adagrad") if c.get(f)]
    if len(optimizers) > 1:
        raise ConfigError(f"choose one optimizer, not {' and '.join('--' + f for f in optimizers)}")
    if c.get("clip_grad_value", -1) != -1 and c.get("clip_grad_norm", -1) != -1:
        raise ConfigError("--clip_grad_value and --clip_grad_norm are mutually exclusive; set one to -1")
    for flag in ("n_iter", "batch_size"):
        if flag in c and c[flag] <= 0:
            raise ConfigError(f"--{flag} must be positive (got {c[flag]})")
    if c.get("train_sample_size", 1) < 1 or c.get("val_sample_size", 1) < 1:
        raise ConfigError("--train_sample_size and --val_sample_size must be >= 1")
    if c.get("ll_dist_std", 1.0) <= 0:
        raise ConfigError(f"--ll_dist_std must be positive (got {c['ll_dist_std']})")
    if c.get("prior_variance", 1.0) <= 0:
        raise ConfigError(f"--prior_variance must be positive (got {c['prior_variance']})")
    if "used_task_set" in c and c["used_task_set"] not in (0, 1, 2, 3):
        raise ConfigError(f"--used_task_set must be 0, 1, 2 or 3 (got {c['used_task_set']})")

    if method == "bbb":
        _check_bbb(c)
    if c.get("coreset_batch_size") == -1:
        c["coreset_batch_size"] = c["batch_size"]

    if family != "reg":
        if c.get("train_from_scratch") and c.get("beta", 0) != 0:
            c["beta"] = 0  # the classification parsers force this (with a warning)
        if c.get("coresets_for_experience_replay") or c.get("final_coresets_finetune"):
            c["per_task_coreset"] = True
        if c.get("coresets_for_experience_replay") and not (c.get("mnet_only") and c.get("mean_only")):
            raise ConfigError("--coresets_for_experience_replay requires --mnet_only --mean_only")
        for sched in ("plateau_lr_scheduler", "lambda_lr_scheduler"):
            if c.get(sched) and c.get("epochs", -1) == -1:
                raise ConfigError(f"--{sched} requires --epochs (it steps once per epoch)")
        if "num_classes_per_task" in c and c["num_classes_per_task"] < 2:
            raise ConfigError("--num_classes_per_task must be at least 2")
        if c.get("non_growing_sf_cl3") and c.get("cl_scenario") != 3:
            raise ConfigError("--non_growing_sf_cl3 only applies to --cl_scenario=3")
        if family == "zenke":  # attributes the shared runners read; absent from the ZenkeNet parsers
            for flag in ("batchnorm", "coresets_for_experience_replay", "fix_coreset_size"):
                c.setdefault(flag, False)
        if method.endswith("_pf"):  # attributes the shared runner reads; absent from the PF parsers
            c.setdefault("beta", 0)
            c.setdefault("distill_iter", -1)
    if method == "ewc":
        multi_head = c["multi_head"] if family == "reg" else (c["cl_scenario"] == 1 or c["split_head_cl3"])
        if not multi_head or c.get("det_multi_head"):
            c["val_sample_size"] = 1  # a deterministic (MAP) posterior needs one sample
    if c.get("thr_ssge_eigenvals", 1.0) != 1.0 and c.get("num_ssge_eigenvals", -1) != -1:
        raise ConfigError("--thr_ssge_eigenvals and --num_ssge_eigenvals are exclusive; leave one at its default")


def _check_bbb(c: dict) -> None:
    """``check_invalid_bbb_args`` of the original."""
    if c["mean_only"]:
        if c.get("kl_scale", 0) != 0 or c["kl_schedule"] != 0:
            raise ConfigError("--mean_only (deterministic net) requires --kl_scale=0 and --kl_schedule=0")
        if c["regularizer"] != "mse":
            raise ConfigError(f"--mean_only requires --regularizer=mse (got {c['regularizer']})")
        for flag in ("local_reparam_trick", "hyper_gauss_init", "use_prev_post_as_prior", "radial_bnn"):
            if c[flag]:
                raise ConfigError(f"--mean_only cannot be combined with --{flag}")
    if c["local_reparam_trick"]:
        if c.get("dropout_rate", -1) != -1 or c.get("specnorm") or c.get("batchnorm"):
            raise ConfigError("--local_reparam_trick cannot be combined with dropout, specnorm or batchnorm")
        if c["radial_bnn"]:
            raise ConfigError("--local_reparam_trick cannot be combined with --radial_bnn")
    if c["radial_bnn"]:
        if c["regularizer"] != "mse":
            raise ConfigError(f"--radial_bnn requires --regularizer=mse (got {c['regularizer']})")
        if c["use_prev_post_as_prior"]:
            raise ConfigError("--radial_bnn cannot be combined with --use_prev_post_as_prior")
    if c["use_prev_post_as_prior"] and c["train_from_scratch"]:
        raise ConfigError("--use_prev_post_as_prior cannot be combined with --train_from_scratch")


def regression_bbb_parser() -> argparse.ArgumentParser:
    """Parser of ``probabilistic/regression/train_bbb.py`` (for the docs)."""
    return build_mode_parser("regression_bbb", prog="train_bbb.py")
