"""Hyperparameter search: the student-teacher regression (``train_student.py``).

Port of the original ``sequential/student_teacher/hpconfig_st.py``: the grid it last used, the shared base
conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3 train_student.py
--help`` can be added to ``grid``; string values carry their own quotes (``'"256"'``).
"""

from functools import partial

from hpsearch.base_conditions import OUT_ARG, SUMMARY_FILENAME, keep_if_below
from hpsearch.base_conditions_rnn import BASE_CONDITIONS
from sequential.args import parse_args
from sequential.summary_keys import summary_keys

grid = {
    "num_tasks": [5],
    "use_new_hnet": [False],
    "use_cuda": [True],
    "use_ewc": [False],
    "use_si": [False],
    "use_context_mod": [False],
}

conditions = [
    # your own (if, then) pairs first; the shared ones follow
    *BASE_CONDITIONS,
]

_SCRIPT_NAME = "train_student.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("student_teacher")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "mean_final_loss"
_PERFORMANCE_SORT_ASC = True
_performance_criteria = keep_if_below(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "student_teacher")
