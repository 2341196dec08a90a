"""Conditions that every RNN-paper grid module shares (spec_cl_in_rnns §5.3; the original's ``_BASE_CONDITIONS``).

They set the options of CL methods a configuration does not use to their "off" value, so that a search over
several methods does not multiply runs by irrelevant hyperparameters, and keep mutually exclusive methods apart
(multitask or from-scratch training versus EWC/SI, masks versus context modulation, the hypernetwork versus the
regularisers). A condition whose ``if`` flags are not in the grid is dropped by :func:`hpsearch.grid.expand_grid`
with a warning.
"""

from __future__ import annotations

BASE_CONDITIONS = [
    ({"train_from_scratch": [True]}, {"multitask": [False], "use_ewc": [False], "use_si": [False],
                                      "checkpoint_context_mod": [False], "reinit_tnet": [False]}),
    ({"multitask": [True]}, {"use_ewc": [False], "use_si": [False], "reinit_tnet": [False]}),
    ({"ewc_lambda": [0.0]}, {"use_ewc": [False]}),
    ({"use_ewc": [False]}, {"ewc_lambda": [0.0], "ewc_gamma": [0.0], "n_fisher": [0], "tbptt_fisher": [-1]}),
    ({"si_lambda": [0.0]}, {"use_si": [False]}),
    ({"use_si": [False]}, {"si_lambda": [0.0], "si_task_loss_only": [False]}),
    ({"use_masks": [True]}, {"use_context_mod": [False]}),
    # the hypernetwork output regulariser (beta) only acts on a hypernetwork or on context-modulation weights
    ({"use_context_mod": [False], "hnet_all": [False]}, {"beta": [0.0]}),
    ({"train_tnet_once": [True]}, {"multitask": [False], "use_ewc": [False], "use_si": [False],
                                   "reinit_tnet": [False]}),
    ({"use_masks": [True]}, {"context_mod_inputs": [False], "no_context_mod_outputs": [True],
                             "dont_softplus_gains": [True]}),
    ({"offset_gains": [True]}, {"dont_softplus_gains": [True]}),
    ({"hnet_all": [True]}, {"use_masks": [False], "train_tnet_once": [False], "reinit_tnet": [False],
                            "use_ewc": [False], "use_si": [False], "checkpoint_context_mod": [False]}),
]
