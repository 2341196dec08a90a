#!/usr/bin/env python3
"""Continual learning on Sequential Stroke-MNIST (sequences of m stroke digits, binary labels per task).

README (``sequential/seq_smnist``), e.g. HNET with m = 1::

    python3 train_seq_smnist.py --nh_chmlp_chunk_size=10000 --beta=0.01 --multi_head --num_tasks=5 \\
        --batch_size=128 --n_iter=2000 --lr=0.001 --clip_grad_norm=-1 --rnn_arch="256" \\
        --nh_hnet_type=chunked_hmlp --nh_hmlp_arch="25,25" --nh_cond_emb_size=32 --nh_chunk_emb_size="16" \\
        --use_new_hnet --std_normal_temb=1.0 --std_normal_emb=0.1 --use_cuda --hnet_all --ssmnist_seq_len=1 \\
        --ssmnist_two_classes

Needs de Jong's ``sequences.tar.gz`` in ``$HYPERCL_DATA_DIR/stroke_mnist/``. Measured numbers:
``docs/experiments/smnist.rst``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``seq_smnist`` defaults and run."""
    return launch("seq_smnist", __file__, argv)


if __name__ == "__main__":
    main()
