#!/usr/bin/env python3
"""The original's path of :mod:`hpsearch.postprocessing`: ``python hpsearch/hpsearch_postprocessing.py <search>``."""

import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hpsearch.postprocessing import main  # noqa: E402

if __name__ == "__main__":
    main()
