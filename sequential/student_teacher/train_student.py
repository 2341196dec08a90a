#!/usr/bin/env python3
"""Continual learning of random recurrent teachers by one student RNN (regression; no README command).

Example, a hypernetwork protecting 3 teachers::

    python3 train_student.py --num_tasks=3 --multi_head --use_vanilla_rnn --rnn_arch=64 --hnet_all \\
        --use_new_hnet --nh_hnet_type=chunked_hmlp --nh_chmlp_chunk_size=500 --beta=0.01 --n_iter=2000

Writes ``performance_overview.txt`` with test MSE losses (``mean_final_loss``, ``mean_during_loss``, ...);
measured numbers in ``docs/experiments/student_teacher.rst``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``student_teacher`` defaults and run."""
    return launch("student_teacher", __file__, argv)


if __name__ == "__main__":
    main()
