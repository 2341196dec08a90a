#!/usr/bin/env python3
"""Random-seed gathering: the Copy Task.

Port of the original ``sequential/copy/gather_seeds_copy.py``. Re-runs one finished run, or the best
run of a search folder, with other random seeds and summarises the during and final accuracies
as mean +- SEM::

    python3 gather_seeds_copy.py --run_dir=<run or search folder> [--num_seeds=10] [--start_gathering]

The shared settings are :data:`hpsearch.seed_settings.RNN_WITHOUT_EARLY_STOP`; ``--help`` lists every option.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from hpsearch import gather_seeds  # noqa: E402
from hpsearch.seed_settings import RNN_WITHOUT_EARLY_STOP  # noqa: E402

GRID_MODULE = "sequential.copy.hpsearch_config_copy"


def main(argv: list[str] | None = None) -> Path:
    """Gather seeds for ``GRID_MODULE`` (options from ``argv``, default: the command line)."""
    return gather_seeds.run(GRID_MODULE, **RNN_WITHOUT_EARLY_STOP, argv=argv)


if __name__ == "__main__":
    main()
