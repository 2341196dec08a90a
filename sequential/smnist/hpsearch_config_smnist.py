"""Hyperparameter search: Split Stroke-MNIST (``train_split_smnist.py``).

Port of the original ``sequential/smnist/hpconfig_smnist.py``: the grid it last used, the shared base conditions,
the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_split_smnist.py --help``
can be added to ``grid``; string values carry their own quotes (``'"256"'``).
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SUMMARY_FILENAME, keep_if_above
from hpsearch.base_conditions_rnn import BASE_CONDITIONS
from sequential.args import parse_args
from sequential.summary_keys import summary_keys

grid = {
    "use_new_hnet": [False],
    "use_cuda": [True],
}

conditions = [
    # your own (if, then) pairs first; the shared ones follow
    *BASE_CONDITIONS,
]

_SCRIPT_NAME = "train_split_smnist.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("split_smnist")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "mean_final_accuracy"
_PERFORMANCE_SORT_ASC = False
_performance_criteria = keep_if_above(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "split_smnist")
