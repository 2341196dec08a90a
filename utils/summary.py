"""The hpsearch summary file (``performance_overview.txt``) with the original keys, written atomically.

Format (spec §4.1): one line per key in the fixed key order, ``key value``; floats as ``%f``, ints as ``%d``,
lists as their space-separated elements. The ``finished`` key is last and only 1 at the very end. A
``summary.json`` with the same content is written beside it for tools that prefer JSON.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

from utils.atomic import atomic_write_text

SUMMARY_FILENAME = "performance_overview.txt"


def init_summary(keys: Sequence[str], list_keys: Sequence[str] = (), list_len: int = 0) -> dict:
    """A summary dict in key order with the originals' placeholders (-1, or lists of -1)."""
    return {k: ([-1] * list_len if k in list_keys else -1) for k in keys}


def _format(value, list_sep: str = " ") -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (list, tuple)):
        return list_sep.join(_format(v) for v in value)
    if isinstance(value, bool):
        return "%d" % value
    if isinstance(value, int):
        return "%d" % value
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    return "%f" % value


def write_summary(out_dir: str | Path, summary: dict, filename: str = SUMMARY_FILENAME, list_sep: str = " "
                  ) -> None:
    """Rewrite the summary file (and ``summary.json``) atomically.

    Args:
        list_sep: Separator of list elements (the RNN scripts write comma lists, e.g. ``final_accuracy``);
            string values (e.g. ``rnn_arch``) are written as they are.
    """
    out_dir = Path(out_dir)
    text = "".join(f"{key} {_format(value, list_sep)}\n" for key, value in summary.items())
    atomic_write_text(out_dir / filename, text)
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1))


def read_summary(path: str | Path) -> dict:
    """Parse a summary file back into ``{key: float | list[float]}`` (used by tests and hpsearch)."""
    result = {}
    for line in Path(path).read_text().splitlines():
        key, *values = line.split()
        nums = [float(v) for v in values]
        result[key] = nums[0] if len(nums) == 1 else nums
    return result
