"""Summary keys of ``performance_overview.txt`` per classification method, in the original order (spec §4.1)."""

from __future__ import annotations

#: The accuracy keys every classification runner writes first.
ACCURACY_KEYS = [
    "acc_avg_final", "acc_avg_during", "acc_task_given", "acc_task_given_during", "acc_avg_task_given",
    "acc_avg_task_given_during", "acc_task_inferred_ent", "acc_task_inferred_ent_during", "acc_avg_task_inferred_ent",
    "acc_avg_task_inferred_ent_during", "avg_task_inference_acc_ent", "acc_avg_task_inferred_conf",
    "avg_task_inference_acc_conf", "acc_avg_task_inferred_agree", "avg_task_inference_acc_agree",
]
#: Keys holding one value per task.
LIST_KEYS = ("acc_task_given", "acc_task_given_during", "acc_task_inferred_ent", "acc_task_inferred_ent_during",
             "acc_dis")

BBB_KEYS = ACCURACY_KEYS + ["num_weights_main", "num_weights_hyper", "num_weights_hm_ratio", "finished"]
AVB_KEYS = ACCURACY_KEYS + ["acc_avg_dis", "acc_dis", "num_weights_main", "num_weights_hyper",
                            "num_weights_hyper_hyper", "num_weights_dis", "num_weights_hm_ratio",
                            "num_weights_hhm_ratio", "num_weights_dm_ratio", "finished"]
AVB_PF_KEYS = [k for k in AVB_KEYS if k not in ("num_weights_hyper_hyper", "num_weights_hhm_ratio")]
SSGE_KEYS = ACCURACY_KEYS + ["num_weights_main", "num_weights_hyper", "num_weights_hyper_hyper",
                             "num_weights_hm_ratio", "num_weights_hhm_ratio", "finished"]
EWC_KEYS = ACCURACY_KEYS + ["num_weights_main", "finished"]
MT_KEYS = EWC_KEYS
#: Appended after ``finished`` when ``--supsup_task_inference`` is set.
SUPSUP_KEYS = ["avg_task_inference_acc_ent_grad", "task_inference_acc_ent_grad"]


def summary_keys(method: str, supsup: bool = False) -> list[str]:
    """Key list of a parser-mode method (``bbb``, ``avb``, ``avb_pf``, ``ssge``, ``ssge_pf``, ``ewc``, ``mt``).

    ``supsup`` appends the SupSup task-inference keys written after ``finished``.
    """
    table = {"bbb": BBB_KEYS, "avb": AVB_KEYS, "avb_pf": AVB_PF_KEYS, "ssge": SSGE_KEYS, "ssge_pf": SSGE_KEYS,
             "ewc": EWC_KEYS, "mt": MT_KEYS}
    if method not in table:
        raise KeyError(f"unknown classification method {method!r}; valid: {', '.join(table)}")
    return table[method] + (SUPSUP_KEYS if supsup else [])
