"""Does ``torch.compile`` pay off for the element-wise part of a PR-BbB step?

The part: the std transform of the current and the S regularised tasks' hypernetwork rows, the W2 regulariser
against fixed targets and the KL to the prior, forward and backward, at the Split MNIST size (P = 89,610 weights
per posterior; S = 1..4 as in tasks 2..5). Eager and compiled run on the same tensors; the first compiled call
includes the compile (and, at the second S, the recompile for dynamic shapes). Compare the compile seconds with
the time saved over a README run (``--n_iter`` iterations per task).

Usage::

    python benchmarks/bench_compile.py [--iters 100] [--threads 1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probabilistic.gaussian import gaussian_regularizer, kl_std_normal, split_mean_rho, std_from_rho  # noqa: E402

P = 89_610


def elementwise_part(prev_rows, raw, target_mean, target_std):
    """β·W2(current, targets) averaged over the S tasks + λ·KL(current task ‖ N(0, I)) (Split MNIST PR-BbB)."""
    mean, rho = split_mean_rho(prev_rows)
    reg = gaussian_regularizer("w2", mean, std_from_rho(rho), target_mean, target_std).mean()
    mean, rho = split_mean_rho(raw)
    return 100 * reg + 1e-4 * kl_std_normal(mean, std_from_rho(rho)).sum()


def measure(fn, S: int, iters: int) -> tuple[float, float]:
    """Seconds of the first call and per later call (forward and backward)."""
    gen = torch.Generator().manual_seed(S)
    rows = torch.randn(S, 2 * P, generator=gen, requires_grad=True)
    raw = torch.randn(1, 2 * P, generator=gen, requires_grad=True)
    target_mean, target_std = torch.randn(S, P, generator=gen), torch.rand(S, P, generator=gen)
    t0 = time.perf_counter()
    fn(rows, raw, target_mean, target_std).backward()
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(iters):
        fn(rows, raw, target_mean, target_std).backward()
    return first, (time.perf_counter() - t0) / iters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--max_tasks", type=int, default=4, help="S = 1..max_tasks regularised tasks")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    compiled = torch.compile(elementwise_part)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    print("| S | eager | compiled | first compiled call |\n|---|---|---|---|")
    for S in range(1, args.max_tasks + 1):
        _, eager = measure(elementwise_part, S, args.iters)
        first, fast = measure(compiled, S, args.iters)
        print(f"| {S} | {eager * 1e3:.2f} ms | {fast * 1e3:.2f} ms | {first:.1f} s |")


if __name__ == "__main__":
    main()
