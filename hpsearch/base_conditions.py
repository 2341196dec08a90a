"""Conditions and contract values that the Posterior Meta-Replay grid modules share (spec_posterior_replay §4.2).

Every ``probabilistic/*/hpsearch_config_*.py`` appends the conditions of its method to its own: the base
conditions (optimizer exclusivity, schedulers only with epochs, unused options set to their "off" value) for all
classification searches, plus :data:`BBB_CONDITIONS`, :data:`AVB_CONDITIONS` or :data:`SSGE_CONDITIONS`. The
regression searches use the short lists of their own originals. A condition whose ``if`` flags are not in the grid
is dropped by :func:`hpsearch.grid.expand_grid` with a warning, so most of these only act once a flag is searched.

The contract values shared with the RNN paper's grid modules (summary file name, output flag, the keep-a-run
criteria) live here too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

#: The summary file every run of both papers writes into its output folder.
SUMMARY_FILENAME = "performance_overview.txt"
#: The flag naming a run's output folder (set by the sweep driver, never part of a grid).
OUT_ARG = "out_dir"

Criterion = Callable[[Mapping[str, object], float], bool]


def _summary_number(summary_dict: Mapping[str, object], key: str) -> float:
    """The value of ``key``; the original parser wrapped every value into a one-element list."""
    value = summary_dict[key]
    if isinstance(value, (list, tuple)):
        value = value[0]
    return float(value)


def keep_if_above(key: str) -> Criterion:
    """``_PERFORMANCE_EVAL_HANDLE`` for a score: keep a run whose ``key`` exceeds ``performance_criteria``."""

    def criterion(summary_dict: Mapping[str, object], performance_criteria: float) -> bool:
        return _summary_number(summary_dict, key) > performance_criteria

    criterion.__doc__ = f"Keep the run if {key} > performance_criteria."
    return criterion


def keep_if_below(key: str) -> Criterion:
    """``_PERFORMANCE_EVAL_HANDLE`` for a loss or an MSE: keep a run whose ``key`` is below
    ``performance_criteria``."""

    def criterion(summary_dict: Mapping[str, object], performance_criteria: float) -> bool:
        return _summary_number(summary_dict, key) < performance_criteria

    criterion.__doc__ = f"Keep the run if {key} < performance_criteria."
    return criterion


# ---------------------------------------------------------------------------------------------------------------
# Conditions, as data: (if values, then values)
# ---------------------------------------------------------------------------------------------------------------
_NORMAL_INIT = ({"normal_init": [False]}, {"std_normal_init": [-1]})
_MNET_ONLY = ({"mnet_only": [True]}, {"hyper_gauss_init": [False]})
_NO_LRT = ({"local_reparam_trick": [False]}, {"disable_lrt_test": [False]})

#: Every classification search (BbB, AVB, SSGE, EWC, multitask; the original's ``_BASE_CONDITIONS``).
BASE_CONDITIONS = [
    _NORMAL_INIT,
    # one optimizer at a time; momentum only means something for SGD and RMSprop
    ({"use_adam": [True]}, {"use_rmsprop": [False], "use_adadelta": [False], "use_adagrad": [False],
                            "momentum": [-1]}),
    ({"use_rmsprop": [True]}, {"use_adam": [False], "use_adadelta": [False], "use_adagrad": [False]}),
    ({"use_adadelta": [True]}, {"use_rmsprop": [False], "use_adam": [False], "use_adagrad": [False],
                                "momentum": [-1]}),
    ({"use_adagrad": [True]}, {"use_rmsprop": [False], "use_adadelta": [False], "use_adam": [False],
                               "momentum": [-1]}),
    ({"use_adam": [False]}, {"adam_beta1": [-1]}),
    # the schedulers step once per epoch
    ({"epochs": [-1]}, {"plateau_lr_scheduler": [False]}),
    ({"epochs": [-1]}, {"lambda_lr_scheduler": [False]}),
    _MNET_ONLY,
    _NO_LRT,
    ({"kl_scale": [1.0]}, {"kl_schedule": [0]}),
    ({"coreset_size": [-1]}, {"per_task_coreset": [False], "coreset_reg": [1.0], "past_and_future_coresets": [False]}),
    ({"calibrate_temp": [False]}, {"cal_temp_iter": [-1], "cal_sample_size": [-1]}),
]

#: Gaussian / radial / deterministic main networks (the original's ``_BBB_CONDITIONS``).
BBB_CONDITIONS = [
    _NO_LRT,
    ({"local_reparam_trick": [True]}, {"disable_lrt_test": [True]}),
    # a deterministic (Dirac) posterior: no KL, one sample, mse regulariser, no Gaussian-only options
    ({"mean_only": [True]}, {"kl_scale": [0], "kl_schedule": [0], "regularizer": ["mse"],
                             "local_reparam_trick": [False], "use_prev_post_as_prior": [False],
                             "hyper_gauss_init": [False], "keep_orig_init": [False], "train_sample_size": [1],
                             "val_sample_size": [1], "disable_lrt_test": [False], "use_logvar_enc": [False]}),
    ({"radial_bnn": [True]}, {"regularizer": ["mse"], "local_reparam_trick": [False]}),
]

#: Implicit posteriors trained with AVB (the original's ``_AVB_CONDITIONS``).
AVB_CONDITIONS = [
    ({"no_adaptive_contrast": [True]}, {"num_ac_samples": [-1]}),
    ({"dis_batch_size": [1]}, {"use_batchstats": [False]}),
]

#: The RBF bandwidth is ignored under the median heuristic.
SSGE_KERNEL_CONDITION = ({"heuristic_kernel": [True]}, {"rbf_kernel_width": [1.0]})
#: Implicit posteriors trained with SSGE (the original's ``_SSGE_CONDITIONS``): a fixed number of eigenvalues
#: makes the eigenvalue threshold irrelevant.
SSGE_CONDITIONS = [
    SSGE_KERNEL_CONDITION,
    ({"num_ssge_eigenvals": [1]}, {"thr_ssge_eigenvals": [1.0]}),
    ({"num_ssge_eigenvals": [5]}, {"thr_ssge_eigenvals": [1.0]}),
]

#: The regression BbB search's own short list.
REGRESSION_BBB_CONDITIONS = [_NORMAL_INIT, _MNET_ONLY, _NO_LRT]
