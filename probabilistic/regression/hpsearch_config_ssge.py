"""Hyperparameter search: 1D regression, PR-SSGE (``train_ssge.py``).

Port of the original ``probabilistic/regression/hpsearch_config_ssge.py``: the grid it last used, the SSGE kernel
conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_ssge.py
--help`` can be added to ``grid``; string values carry their own quotes (``'"10,10"'``).

Like the original, its only condition is the SSGE kernel one.
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SSGE_KERNEL_CONDITION, SUMMARY_FILENAME, keep_if_below
from probabilistic.args import parse_args
from probabilistic.regression.summary_keys import summary_keys

grid = {
    "beta": [0.005],
    "use_adam": [True],
    "imp_hnet_type": ["hmlp"],
    "hh_hnet_type": ["hmlp"],
    "used_task_set": [1],
    "use_cuda": [True],
    "prior_focused": [False],
    "full_support_perturbation": [-1],
}

conditions = [
    # your own (if, then) pairs first; the shared ones follow
    SSGE_KERNEL_CONDITION,
]

_SCRIPT_NAME = "train_ssge.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("ssge")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "aa_mse_final_inferred_mean"
_PERFORMANCE_SORT_ASC = True
_performance_criteria = keep_if_below(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "regression_ssge")
