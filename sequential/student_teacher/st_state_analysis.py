#!/usr/bin/env python3
"""Dimensionality of the hidden states of student-teacher runs trained with EWC or SI (spec §5.2).

Run on a run folder, or a sweep folder of runs that differ in
the input features (``--input_feature_dim``); every run needs ``--use_ewc`` or ``--use_si``
and ``--store_during_models --store_final_models``::

    python3 st_state_analysis.py path/to/run_or_sweep_folder --p_var=0.75

Writes ``pca_analyses/results.json`` and the figures into every run folder, and ``complexity_effects.png`` into
a sweep folder (see :mod:`sequential.ht_analyses.state_analysis`).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.ht_analyses.state_analysis import main  # noqa: E402

if __name__ == "__main__":
    main("student_teacher")
