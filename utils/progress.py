"""Progress bars for long loops: tqdm on a terminal, silent otherwise (CI logs, batch jobs)."""

from __future__ import annotations

import sys
from collections.abc import Iterable

from tqdm import tqdm


def progress(iterable: Iterable, desc: str = "", total: int | None = None) -> Iterable:
    """Wrap ``iterable`` in a tqdm bar if stderr is a TTY."""
    return tqdm(iterable, desc=desc, total=total, leave=False, disable=not sys.stderr.isatty())


def itstime(step: int, every: int, total: int | None = None) -> bool:
    """True every ``every`` steps (from step 0) and at the last step; ``every <= 0`` means never."""
    if total is not None and step == total - 1:
        return True
    return every > 0 and step % every == 0
