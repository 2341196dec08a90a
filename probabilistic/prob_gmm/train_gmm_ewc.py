#!/usr/bin/env python3
"""2D GMM mode classification with online EWC (growing / non-growing CL3 softmax, split heads).

README (``probabilistic/prob_gmm``), EWC with a growing CL3 softmax::

    python3 train_gmm_ewc.py --momentum=-1 --cl_scenario=3 --batch_size=32 --n_iter=10001 --lr=0.0005 \\
        --use_adam --clip_grad_value=1.0 --prior_variance=1.0 --mlp_arch=10,10 --net_act=relu \\
        --ewc_gamma=1.0 --ewc_lambda=1.0

Expected: CL3 well below the PR methods (EWC cannot keep old classes alive in a growing softmax).
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from probabilistic.launch import launch  # noqa: E402


def main(argv: list[str] | None = None) -> dict:
    """Parse ``argv`` (default: the command line) with the ``gmm_ewc`` defaults and run the trainer with
    ``probabilistic/methods/laplace.py`` on ``probabilistic/families/classification.py``."""
    return launch("gmm_ewc", __file__, argv)


if __name__ == "__main__":
    main()
