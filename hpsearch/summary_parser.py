"""Read a run's summary file (``performance_overview.txt``) the way the sweep tools need it.

The file has one ``key value`` line per summary key, in the order of the grid module's ``_SUMMARY_KEYWORDS``; a
value is one number or a list of numbers (space- or comma-separated). The original parser's number pattern dropped
the minus sign of integers (``-1`` became ``1``) and split scientific notation (``1e-05`` became ``1`` and ``-05``);
:data:`NUMBER` reads signed integers, decimals, exponents, ``nan`` and ``inf`` whole.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

#: One number: optional sign, digits with optional decimals (or leading-dot decimals), optional exponent; nan/inf.
NUMBER = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|nan|inf)", re.IGNORECASE)

Value = float | list[float]


class SummaryError(ValueError):
    """A summary file is missing, or a key is not where the grid module says it is."""


def parse_value(text: str) -> Value:
    """The number(s) on one summary line after its key: a float, or a list for several numbers."""
    numbers = [float(m) for m in NUMBER.findall(text)]
    if not numbers:
        return math.nan  # e.g. a string value such as an architecture "nan" or "none"
    return numbers[0] if len(numbers) == 1 else numbers


def parse_summary(path: str | Path, keys: list[str]) -> dict[str, Value]:
    """Parse ``path`` checking that line ``k`` starts with ``keys[k]``; lines beyond ``keys`` are ignored.

    Raises:
        SummaryError: the file is missing, or a key is out of place (the grid module's key list does not match
            the script's summary).
    """
    path = Path(path)
    if not path.is_file():
        raise SummaryError(f"{path}: no summary file (the run did not get to its first test)")
    lines = path.read_text().splitlines()
    result = {}
    for k, key in enumerate(keys):
        if k >= len(lines):
            raise SummaryError(f"{path}: key {key!r} is missing (the file has {len(lines)} lines)")
        name, _, rest = lines[k].partition(" ")
        if name != key:
            raise SummaryError(f"{path}: line {k + 1} holds {name!r} where the grid module expects {key!r}")
        result[key] = parse_value(rest)
    return result


def normalize_summary(summary: dict) -> dict[str, Value]:
    """Values of a custom ``_SUMMARY_PARSER_HANDLE`` as numbers: the originals' parsers return one-element lists of
    strings (``{"acc": ["97.5"], "accs": ['"97.5,96.1"']}``)."""
    result = {}
    for key, value in summary.items():
        if isinstance(value, (list, tuple)) and len(value) == 1:
            value = value[0]
        if isinstance(value, str):
            value = parse_value(value)
        elif isinstance(value, (list, tuple)):
            value = [float(v) for v in value]
        result[key] = value if isinstance(value, list) else float(value)
    return result


def is_finished(summary: dict[str, Value]) -> bool:
    """Whether the summary says the run finished (``finished 1``)."""
    value = summary.get("finished", 0)
    return not isinstance(value, list) and not math.isnan(value) and int(value) == 1


def csv_cell(value: Value) -> str:
    """One CSV cell: a number (integers without decimals), a list as one comma-separated cell."""
    if isinstance(value, list):
        return ",".join(_number(v) for v in value)
    return _number(value)


def _number(v: float) -> str:
    if math.isnan(v) or math.isinf(v):
        return str(v)
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))
