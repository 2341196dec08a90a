"""Interleaved CPU timing of several ways to compute the same thing (shared by the Fisher benchmarks)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable


def time_interleaved(ways: dict[str, tuple[Callable[[], object], int]], repeats: int) -> dict[str, list[float]]:
    """CPU ms per item of each way, ``repeats`` times, the ways taking turns within every repeat.

    Args:
        ways: ``name -> (function, items it processes)``.
    """
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, (way, items) in ways.items():
            start = time.process_time()  # this process's CPU time: other processes' load inflates it less
            way()
            times[name].append(1e3 * (time.process_time() - start) / items)
    return times


def print_comparison(times: dict[str, list[float]], unit: str, reference: str, digits: int = 3) -> None:
    """Median ms per item of each way and the median per-repeat ratio of every other way to ``reference``."""
    for name, values in times.items():
        print(f"{name:>10}: {statistics.median(values):.{digits}f} ms/{unit}")
    for other in times:
        if other != reference:
            ratio = statistics.median(o / s for o, s in zip(times[other], times[reference]))
            print(f"{reference} is {ratio:.1f}x faster than {other}")
