"""Data-layer start-up and memory: SplitMNIST cold/warm start-up, PermutedMNIST-10 vs -100 memory.

Every measurement runs in a fresh Python process, so nothing is shared through the interpreter. Start-up is
the time to build the handlers after ``import torch`` (the process time including the imports is shown in
brackets); "cold" starts with an empty cache (the idx files are checked and parsed), "warm" reads the cache.
Memory is the tensor storage the handlers hold and the growth of the peak resident set size (VmHWM).

Usage::

    python benchmarks/bench_data_startup.py --data_dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

_STARTUP = """
import json, time, torch
t = time.perf_counter()
from data.special.split_mnist import get_split_mnist_handlers
tasks = get_split_mnist_handlers({data_dir!r})
print(json.dumps({{"seconds": time.perf_counter() - t, "tasks": len(tasks)}}))
"""

_MEMORY = """
import json, torch

def peak_kib():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))

from data.dataset import held_bytes
from data.special.permuted_mnist import get_permuted_mnist_handlers
before = peak_kib()  # after the imports; the cache is warm, so this measures holding the tasks
tasks = get_permuted_mnist_handlers({data_dir!r}, num_tasks={num_tasks})
batch = tasks[-1].next_train_batch(128)
print(json.dumps({{"held_bytes": held_bytes(tasks), "peak_growth_kib": peak_kib() - before}}))
"""


def run(code: str, cache_dir: str) -> tuple[dict, float]:
    """Run ``code`` in a fresh interpreter; return its JSON output and the process wall time."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "HYPERCL_CACHE_DIR": cache_dir}
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1]), time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default="", help="Dataset root (default: $HYPERCL_DATA_DIR or <repo>/datasets).")
    parser.add_argument("--repeats", type=int, default=3, help="Warm start-ups to time (the best is shown).")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from data.paths import data_root

    data_dir = str(data_root(args.data_dir or None))
    with tempfile.TemporaryDirectory() as cache_dir:
        cold, cold_wall = run(_STARTUP.format(data_dir=data_dir), cache_dir)
        warm = [run(_STARTUP.format(data_dir=data_dir), cache_dir) for _ in range(args.repeats)]
        best, best_wall = min(warm, key=lambda r: r[0]["seconds"])
        print(
            f"SplitMNIST ({cold['tasks']} tasks) start-up, cold cache: {cold['seconds']:.2f} s "
            f"[process incl. imports: {cold_wall:.2f} s]"
        )
        print(
            f"SplitMNIST ({best['tasks']} tasks) start-up, warm cache: {best['seconds']:.2f} s "
            f"[process incl. imports: {best_wall:.2f} s] (best of {args.repeats})"
        )
        mem = {n: run(_MEMORY.format(data_dir=data_dir, num_tasks=n), cache_dir)[0] for n in (10, 100)}
    for n, m in mem.items():
        print(
            f"PermutedMNIST-{n}: tensors held {m['held_bytes'] / 2**20:.1f} MiB, "
            f"peak RSS growth {m['peak_growth_kib'] / 2**10:.1f} MiB"
        )
    held = mem[100]["held_bytes"] / mem[10]["held_bytes"]
    rss = mem[100]["peak_growth_kib"] / max(mem[10]["peak_growth_kib"], 1)
    print(f"PermutedMNIST-100 / -10 memory: tensors {held:.3f}x, peak RSS growth {rss:.2f}x")


if __name__ == "__main__":
    main()
