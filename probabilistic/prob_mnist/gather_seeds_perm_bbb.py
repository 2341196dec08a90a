#!/usr/bin/env python3
"""Random-seed gathering: PermutedMNIST, PR-BbB.

Port of the original ``probabilistic/prob_mnist/gather_seeds_perm_bbb.py``. Re-runs one finished run, or the best
run of a search folder, with other random seeds and summarises the task-given and task-inferred accuracies
as mean +- SEM::

    python3 gather_seeds_perm_bbb.py --run_dir=<run or search folder> [--num_seeds=10] [--start_gathering]

The shared settings are :data:`hpsearch.seed_settings.CLASSIFICATION`; ``--help`` lists every option.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from hpsearch import gather_seeds  # noqa: E402
from hpsearch.seed_settings import CLASSIFICATION  # noqa: E402

GRID_MODULE = "probabilistic.prob_mnist.hpsearch_config_perm_bbb"


def main(argv: list[str] | None = None) -> Path:
    """Gather seeds for ``GRID_MODULE`` (options from ``argv``, default: the command line)."""
    return gather_seeds.run(GRID_MODULE, **CLASSIFICATION, argv=argv)


if __name__ == "__main__":
    main()
