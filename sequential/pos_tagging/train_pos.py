#!/usr/bin/env python3
"""Continual learning of part-of-speech tagging: one Universal Dependencies language per task (20 tasks).

README (``sequential/pos_tagging``), e.g. HNET::

    python3 train_pos.py --nh_chmlp_chunk_size=190 --beta=0.5 --multi_head --num_tasks=20 --batch_size=64 \\
        --n_iter=2500 --lr=0.005 --clip_grad_norm=-1 --rnn_arch="32" --use_bidirectional_net \\
        --nh_hnet_type=chunked_hmlp --nh_hmlp_arch="75,125" --nh_cond_emb_size=32 --nh_chunk_emb_size="8" \\
        --nh_hnet_net_act=sigmoid --use_new_hnet --use_cuda --hnet_all --orthogonal_hh_reg=-1 --dont_learn_wembs

Needs the original's ``mud_data_2_6.pickle`` + ``embeddings.pickle``, or the UD v2.6 ``.conllu`` treebanks (plus
polyglot embeddings, or ``--wemb_init=random``). Outputs ``performance_overview.txt`` with during/final token
accuracies and weighted F-scores; see ``docs/experiments/pos_tagging.rst`` for the data layout, the BiLSTM
masking quirk (``--fix_bilstm_masking``) and measured numbers.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from sequential.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``pos`` defaults and run."""
    return launch("pos", __file__, argv)


if __name__ == "__main__":
    main()
