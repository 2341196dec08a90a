"""What the ``gather_seeds_*.py`` scripts of both papers pass to :func:`hpsearch.gather_seeds.run`.

Each script names its grid module and one of the keyword sets below (spec_posterior_replay §4.5,
spec_cl_in_rnns §5.3), e.g. ``gather_seeds.run(GRID_MODULE, **CLASSIFICATION, argv=argv)``.

Posterior Meta-Replay: the seed statistics of the paper use 100 weight samples at test time, keep the final
model, and never stop a run early on a low during-accuracy. Prior-focused (PF) parsers have neither ``--beta``
nor ``--distill_iter``, so these keys are dropped from the reference config.

RNN paper: every run keeps its during- and final-task checkpoints; the Copy Task, PoS tagging, Sequential SMNIST
and AudioSet scripts never stop early. The original could only summarise accuracies; the student-teacher
setting reports losses, so its wrapper summarises the loss keys instead. The original SMNIST, Sequential SMNIST and
AudioSet wrappers also dropped the config attribute ``mode``; the gathering here starts from the command as typed,
which never holds it.
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------------------------
# Posterior Meta-Replay
# ---------------------------------------------------------------------------------------------------------------
CLASSIFICATION_FORCED_PARAMS = {"val_sample_size": "100", "store_final_model": True, "during_acc_criterion": "-1"}
CLASSIFICATION_SUMMARY_KEYS = [
    "acc_avg_task_given_during", "acc_avg_task_given", "acc_avg_task_inferred_ent_during",
    "acc_avg_task_inferred_ent", "acc_avg_task_inferred_conf", "acc_avg_task_inferred_agree",
]
#: Config keys that the prior-focused (``*_pf``) parsers do not have.
PF_IGNORED_KWDS = ("distill_iter", "beta")

REGRESSION_FORCED_PARAMS = {"val_sample_size": "100", "store_final_model": True}
REGRESSION_SUMMARY_KEYS = [
    "aa_mse_during_mean", "aa_mse_final_mean", "aa_mse_during_inferred_mean", "aa_mse_final_inferred_mean",
    "aa_task_inference_mean",
]
#: Decimal places of each regression summary key in ``seeds_summary_text.txt``.
REGRESSION_SUMMARY_PRECS = [5, 5, 5, 5, 2]

CLASSIFICATION = {"forced_params": CLASSIFICATION_FORCED_PARAMS, "summary_keys": CLASSIFICATION_SUMMARY_KEYS,
                  "summary_sem": True}
CLASSIFICATION_PF = {**CLASSIFICATION, "ignore_kwds": PF_IGNORED_KWDS}
REGRESSION = {"forced_params": REGRESSION_FORCED_PARAMS, "summary_keys": REGRESSION_SUMMARY_KEYS,
              "summary_sem": True, "summary_precs": REGRESSION_SUMMARY_PRECS}

# ---------------------------------------------------------------------------------------------------------------
# Continual learning in RNNs
# ---------------------------------------------------------------------------------------------------------------
RNN_FORCED_PARAMS = {"store_during_models": True, "store_final_models": True}
#: Added by the Copy Task, PoS, Sequential SMNIST and AudioSet wrappers.
RNN_NO_EARLY_STOP = {"during_acc_criterion": "-1"}
RNN_SUMMARY_KEYS = ["mean_during_accuracy", "mean_final_accuracy"]
RNN_LOSS_SUMMARY_KEYS = ["mean_during_loss", "mean_final_loss"]
#: The original wrote the seed statistics with two decimals.
RNN_SUMMARY_PRECS = 2

RNN = {"forced_params": RNN_FORCED_PARAMS, "summary_keys": RNN_SUMMARY_KEYS, "summary_sem": True,
       "summary_precs": RNN_SUMMARY_PRECS}
RNN_WITHOUT_EARLY_STOP = {**RNN, "forced_params": {**RNN_FORCED_PARAMS, **RNN_NO_EARLY_STOP}}
RNN_LOSS = {**RNN, "summary_keys": RNN_LOSS_SUMMARY_KEYS}
