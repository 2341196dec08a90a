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

from sequential.args import parse_args  # noqa: E402
from sequential.runner import run  # noqa: E402
from utils.cli import run_or_exit  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``student_teacher`` defaults and run."""
    config = parse_args("student_teacher", argv)
    return run_or_exit(run, config, script_dir=os.path.dirname(os.path.abspath(__file__)), argv=argv)


if __name__ == "__main__":
    main()
