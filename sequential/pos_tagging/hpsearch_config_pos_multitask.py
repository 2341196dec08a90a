"""Hyperparameter search: part-of-speech tagging, multitask training (``train_pos.py``).

Port of the original ``sequential/pos_tagging/hpconfig_pos_multitask.py``: the grid it last used, the shared base
conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_pos.py
--help`` can be added to ``grid``; string values carry their own quotes (``'"256"'``).
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SUMMARY_FILENAME, keep_if_above
from hpsearch.base_conditions_rnn import BASE_CONDITIONS
from sequential.args import parse_args
from sequential.summary_keys import summary_keys

grid = {
    "num_tasks": [20],
    "use_bidirectional_net": [True],
    "use_new_hnet": [False],
    "use_cuda": [True],
    "multitask": [True],
    "checkpoint_context_mod": [False],
}

conditions = [
    # your own (if, then) pairs first; the shared ones follow
    *BASE_CONDITIONS,
]

_SCRIPT_NAME = "train_pos.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("pos", multitask=True)
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "mean_final_fscore"
_PERFORMANCE_SORT_ASC = False
_performance_criteria = keep_if_above(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "pos")
