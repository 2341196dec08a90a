#!/usr/bin/env python3
"""2D GMM mode classification, prior-focused SSGE (PF-SSGE); ``--pf_ssge_sign_fix`` (new) corrects the
sign of the previous-posterior score term.

README (``probabilistic/prob_gmm``), e.g.::

    python3 train_gmm_ssge_pf.py --kl_schedule=0 --momentum=-1 --cl_scenario=3 --split_head_cl3 \\
        --batch_size=32 --n_iter=20001 --lr=0.0001 --use_adam --clip_grad_norm=-1 --train_sample_size=1 \\
        --prior_variance=1.0 --kl_scale=1.0 --num_kl_samples=1 --mlp_arch="10,10" --net_act=relu \\
        --imp_hnet_type=hmlp --imp_hmlp_arch="10,10" --imp_hnet_net_act=sigmoid --latent_dim=32 \\
        --full_support_perturbation=0.02 --rbf_kernel_width=1.0 --num_ssge_eigenvals=-1 \\
        --thr_ssge_eigenvals=1.0 --ssge_sample_size=10

Expected: CL1 high, CL3 lower than PR-SSGE. See docs/experiments/gmm.rst.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``gmm_ssge_pf`` defaults and run the trainer with
    ``probabilistic/methods/implicit.py`` on ``probabilistic/families/classification.py``."""
    return launch("gmm_ssge_pf", __file__, argv)


if __name__ == "__main__":
    main()
