#!/usr/bin/env python3
"""Continual learning on Split AudioSet (10 tasks of 10 AudioSet classes, LSTM 32, multi-head).

README (``sequential/audioset``), e.g. HNET::

    python3 train_split_audioset.py --nh_chmlp_chunk_size=2000 --beta=1.0 --multi_head --num_tasks=10 \\
        --num_classes_per_task=10 --batch_size=128 --n_iter=15000 --lr=0.0001 --weight_decay=0.01 \\
        --clip_grad_norm=-1 --rnn_arch="32" --srnn_pre_fc_layers="" --net_act=tanh --nh_hnet_type=chunked_hmlp \\
        --nh_hmlp_arch="10,10" --nh_cond_emb_size=32 --nh_chunk_emb_size=32 --nh_hnet_dropout_rate=-1 \\
        --use_new_hnet --std_normal_temb=1.0 --std_normal_emb=0.1 --use_cuda --hnet_all --during_acc_criterion=60

Needs ``$HYPERCL_DATA_DIR/audioset/audioset_data_balanced.pickle`` (the original's preprocessed data) or the
``.npz`` that ``python -m data.timeseries.preprocess_audioset`` builds from the official TFRecord features.
Expected accuracies (README: final 72.65%) and what was measured: ``docs/experiments/audioset.rst``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``split_audioset`` defaults and run."""
    return launch("split_audioset", __file__, argv)


if __name__ == "__main__":
    main()
