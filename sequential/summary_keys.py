"""Keys of the RNN scripts' ``performance_overview.txt``, in the original order (spec_cl_in_rnns §5.1).

The runner builds its summary from these lists and the hpsearch configurations import them, so the file a run
writes and the keys a sweep parses come from one place.
"""

from __future__ import annotations

#: Keys of an accuracy-scored CL run (Copy Task, SMNIST families, AudioSet, PoS after its F-score keys).
ACCURACY_KEYS = [
    "mean_final_accuracy", "std_final_accuracy", "mean_during_accuracy", "std_during_accuracy",
    "min_final_accuracy", "min_during_accuracy", "final_accuracy", "during_accuracy", "compression_ratio",
    "rnn_arch", "hnet_arch", "num_train_iter", "finished",
]
#: PoS tagging prepends its weighted F-scores.
FSCORE_KEYS = ["mean_final_fscore", "mean_during_fscore", "final_fscore", "during_fscore"]
#: Keys holding one value per task (comma lists in the file).
LIST_KEYS = ("final_accuracy", "during_accuracy", "final_fscore", "during_fscore", "final_loss", "during_loss")


def summary_keys(family: str, multitask: bool = False) -> list[str]:
    """Summary keys of a family (``copy``, ``split_smnist``, ``seq_smnist``, ``split_audioset``, ``pos``,
    ``student_teacher``); multitask runs drop every ``during`` key, as the original does."""
    keys = list(ACCURACY_KEYS)
    if family == "pos":
        keys = FSCORE_KEYS + keys
    elif family == "student_teacher":  # regression: losses in place of accuracies
        keys = [k.replace("accuracy", "loss") for k in keys]
    if multitask:
        keys = [k for k in keys if "during" not in k]
    return keys
