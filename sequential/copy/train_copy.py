#!/usr/bin/env python3
"""Continual learning on the Copy Task and its variants (permuted, padded, pattern manipulation).

README (``sequential/copy``), e.g. HNET on the Permuted Copy Task::

    python3 train_copy.py --nh_chmlp_chunk_size=2500 --beta=10.0 --multi_head --num_tasks=5 --batch_size=128 \\
        --n_iter=20000 --lr=0.0005 --clip_grad_norm=1 --rnn_arch="256" --net_act=tanh --use_vanilla_rnn \\
        --nh_hnet_type=chunked_hmlp --nh_hmlp_arch="50,50" --nh_cond_emb_size=32 --nh_chunk_emb_size="32" \\
        --use_new_hnet --std_normal_temb=1.0 --std_normal_emb=0.1 --use_cuda --hnet_all \\
        --hnet_reg_batch_size=-1 --orthogonal_hh_reg=10.0 --first_task_input_len=5 --input_len_step=0 \\
        --input_len_variability=0 --permute_time

Outputs ``performance_overview.txt`` with during/final bitwise accuracies in the target window (see
``docs/experiments/copy_task.rst`` for measured numbers and budgets).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``copy`` defaults and run."""
    return launch("copy", __file__, argv)


if __name__ == "__main__":
    main()
