"""Hyperparameter search: Split Stroke-MNIST, the older short HNET grid (``train_split_smnist.py``).

Port of the original ``sequential/smnist/hp_search_smnist.py``: the grid it last used, no shared conditions, the
script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_split_smnist.py --help`` can
be added to ``grid``; string values carry their own quotes (``'"256"'``).

The older of the two SMNIST grid modules of the original (a short HNET run, no base conditions). Its key list
predates the ``compression_ratio``, ``rnn_arch`` and ``hnet_arch`` lines of the summary file that the runner writes,
so the original's default parser rejected every finished run; here the keys come from the runner as in every other
module.
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SUMMARY_FILENAME, keep_if_above
from sequential.args import parse_args
from sequential.summary_keys import summary_keys

grid = {
    "n_iter": [10],
    "train_from_scratch": [False],
    "use_cuda": [True],
    "hnet_all": [True],
    "use_ewc": [False],
    "use_si": [False],
    "use_context_mod": [False],
}

conditions = [
    # your own (if, then) pairs
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
