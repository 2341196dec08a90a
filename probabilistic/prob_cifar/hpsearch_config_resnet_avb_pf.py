"""Hyperparameter search: SplitCIFAR with ResNet-32, PF-AVB (``train_resnet_avb_pf.py``).

Port of the original ``probabilistic/prob_cifar/hpsearch_config_resnet_avb_pf.py``: the grid it last used, the base
and AVB conditions, the script's summary keys and the keep-a-run criterion. Any flag listed by ``python3
train_resnet_avb_pf.py --help`` can be added to ``grid``; string values carry their own quotes (``'"10,10"'``).
"""

from functools import partial

from hpsearch.base_conditions import AVB_CONDITIONS, BASE_CONDITIONS, OUT_ARG, SUMMARY_FILENAME, keep_if_above
from probabilistic.args import parse_args
from probabilistic.classification.summary_keys import summary_keys

grid = {
    "cl_scenario": [1],
    "use_adam": [True],
    "imp_hnet_type": ["hmlp"],
    "disable_data_augmentation": [True],
    "full_support_perturbation": [-1],
}

conditions = [
    # your own (if, then) pairs first; the shared ones follow
    *BASE_CONDITIONS,
    *AVB_CONDITIONS,
]

_SCRIPT_NAME = "train_resnet_avb_pf.py"
_SUMMARY_FILENAME = SUMMARY_FILENAME
_SUMMARY_KEYWORDS = summary_keys("avb_pf")
_OUT_ARG = OUT_ARG
_SUMMARY_PARSER_HANDLE = None  # the driver's default parser
_PERFORMANCE_KEY = "acc_avg_final"
_PERFORMANCE_SORT_ASC = False
_performance_criteria = keep_if_above(_PERFORMANCE_KEY)
_PERFORMANCE_EVAL_HANDLE = _performance_criteria
_ARGPARSE_HANDLE = partial(parse_args, "cifar_resnet_avb_pf")
