#!/usr/bin/env python3
"""2D GMM mode classification with per-task weight posteriors (PR-Dirac, PR-BbB, PR-Radial, VCL, separate
networks, fine-tuning).

README (``probabilistic/prob_gmm``), e.g. PR-BbB (about a minute on 2 CPU cores)::

    python3 train_gmm_bbb.py --kl_schedule=0 --momentum=-1 --beta=0.1 --cl_scenario=3 --split_head_cl3 \\
        --regularizer=w2 --batch_size=32 --n_iter=5001 --lr=0.0005 --use_adam --clip_grad_norm=1.0 \\
        --train_sample_size=10 --prior_variance=1.0 --local_reparam_trick --kl_scale=1.0 --mlp_arch="10,10" \\
        --net_act=relu --hnet_type=hmlp --hmlp_arch="50,50" --cond_emb_size=32 --hnet_net_act=sigmoid \\
        --std_normal_temb=1.0 --hyper_gauss_init --disable_lrt_test

Expected: CL1 ≈ 100 %, CL3 (entropy / agreement task inference) close to 100 %; see docs/experiments/gmm.rst.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``gmm_bbb`` defaults and run the trainer with
    ``probabilistic/methods/explicit.py`` on ``probabilistic/families/classification.py``."""
    return launch("gmm_bbb", __file__, argv)


if __name__ == "__main__":
    main()
