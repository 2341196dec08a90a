"""Keys of the regression scripts' ``performance_overview.txt``, in the original order (spec §4.1).

The runners build their summaries from these lists and the hpsearch grid modules import them, so the file a run
writes and the keys a sweep parses come from one place. The ``aa_`` prefix sorts the keys first in a spreadsheet.
"""

from __future__ import annotations

#: The MSE and task-inference keys every regression runner writes first.
MSE_KEYS = [
    "aa_mse_during", "aa_mse_final", "aa_mse_during_mean", "aa_mse_final_mean", "aa_task_inference",
    "aa_task_inference_mean", "aa_mse_during_inferred", "aa_mse_final_inferred", "aa_mse_during_inferred_mean",
    "aa_mse_final_inferred_mean",
]
#: Keys holding one value per task.
LIST_KEYS = ("aa_mse_during", "aa_mse_final", "aa_task_inference", "aa_mse_during_inferred",
             "aa_mse_final_inferred")

SUMMARY_KEYS = MSE_KEYS + ["aa_num_weights_main", "aa_num_weights_hyper", "aa_num_weights_ratio", "finished"]
SUMMARY_KEYS_AVB = MSE_KEYS + ["aa_acc_avg_dis", "aa_acc_dis", "aa_num_weights_main", "aa_num_weights_hyper",
                               "aa_num_weights_hyper_hyper", "aa_num_weights_dis", "aa_num_weights_hm_ratio",
                               "aa_num_weights_hhm_ratio", "aa_num_weights_dm_ratio", "finished"]
SUMMARY_KEYS_SSGE = MSE_KEYS + ["aa_num_weights_main", "aa_num_weights_hyper", "aa_num_weights_hyper_hyper",
                                "aa_num_weights_hm_ratio", "aa_num_weights_hhm_ratio", "finished"]
SUMMARY_KEYS_EWC = MSE_KEYS + ["aa_num_weights_main", "finished"]


def summary_keys(method: str) -> list[str]:
    """Key list of a regression parser-mode method (``bbb``, ``avb``, ``ssge``, ``ewc``, ``mt``)."""
    table = {"bbb": SUMMARY_KEYS, "avb": SUMMARY_KEYS_AVB, "ssge": SUMMARY_KEYS_SSGE, "ewc": SUMMARY_KEYS_EWC,
             "mt": SUMMARY_KEYS_EWC}
    if method not in table:
        raise KeyError(f"unknown regression method {method!r}; valid: {', '.join(table)}")
    return list(table[method])
