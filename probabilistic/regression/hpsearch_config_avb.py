"""Hyperparameter search: 1D regression, PR-AVB (``train_avb.py``).

Port of the original ``probabilistic/regression/hpsearch_config_avb.py``: the grid it last used, no shared
conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_avb.py
--help`` can be added to ``grid``; string values carry their own quotes (``'"10,10"'``).

Like the original, it adds no conditions.
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SUMMARY_FILENAME, keep_if_below
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
    # your own (if, then) pairs
]

_SCRIPT_NAME = "train_avb.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("avb")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "aa_mse_final_inferred_mean"
_PERFORMANCE_SORT_ASC = True
_performance_criteria = keep_if_below(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "regression_avb")
