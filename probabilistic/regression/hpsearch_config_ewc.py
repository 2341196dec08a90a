"""Hyperparameter search: 1D regression, online EWC (``train_ewc.py``).

Port of the original ``probabilistic/regression/hpsearch_config_ewc.py``: the grid it last used, no shared
conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_ewc.py
--help`` can be added to ``grid``; string values carry their own quotes (``'"10,10"'``).

Like the original, it adds no conditions.
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SUMMARY_FILENAME, keep_if_below
from probabilistic.args import parse_args
from probabilistic.regression.summary_keys import summary_keys

grid = {
    "multi_head": [False],
    "use_adam": [True],
    "used_task_set": [1],
    "no_cuda": [False],
    "ewc_gamma": [1.0],
    "ewc_lambda": [1.0],
    "n_fisher": [-1],
}

conditions = [
    # your own (if, then) pairs
]

_SCRIPT_NAME = "train_ewc.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("ewc")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "aa_mse_final_inferred_mean"
_PERFORMANCE_SORT_ASC = True
_performance_criteria = keep_if_below(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "regression_ewc")
