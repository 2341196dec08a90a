"""Hyperparameter search: SplitMNIST, online EWC (``train_split_ewc.py``).

Port of the original ``probabilistic/prob_mnist/hpsearch_config_split_ewc.py``: the grid it last used, the base
conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_split_ewc.py
--help`` can be added to ``grid``; string values carry their own quotes (``'"10,10"'``).
"""

from functools import partial

from hpsearch.base_conditions import BASE_CONDITIONS, OUT_ARG, SUMMARY_FILENAME, keep_if_above
from probabilistic.args import parse_args
from probabilistic.classification.summary_keys import summary_keys

grid = {
    "use_adam": [True],
    "ewc_gamma": [1.0],
    "ewc_lambda": [1.0],
    "n_fisher": [-1],
}

conditions = [
    # your own (if, then) pairs first; the shared ones follow
    *BASE_CONDITIONS,
]

_SCRIPT_NAME = "train_split_ewc.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("ewc")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "acc_avg_final"
_PERFORMANCE_SORT_ASC = False
_performance_criteria = keep_if_above(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "split_mnist_ewc")
