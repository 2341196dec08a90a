#!/usr/bin/env python3
"""Random-seed gathering: the student-teacher regression.

Port of the original ``sequential/student_teacher/gather_seeds_st.py``. Re-runs one finished run, or the best
run of a search folder, with other random seeds and summarises the during and final losses
as mean +- SEM::

    python3 gather_seeds_st.py --run_dir=<run or search folder> [--num_seeds=10] [--start_gathering]

The shared settings are :data:`hpsearch.seed_settings.RNN_LOSS`; ``--help`` lists every option.

The original summarised accuracies only and could not gather this loss-scored setting; here the loss keys
are summarised.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

from hpsearch import gather_seeds  # noqa: E402
from hpsearch.seed_settings import RNN_LOSS  # noqa: E402

GRID_MODULE = "sequential.student_teacher.hpsearch_config_st"


def main(argv: list[str] | None = None) -> Path:
    """Gather seeds for ``GRID_MODULE`` (options from ``argv``, default: the command line)."""
    return gather_seeds.run(GRID_MODULE, **RNN_LOSS, argv=argv)


if __name__ == "__main__":
    main()
