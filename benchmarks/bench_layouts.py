"""Three memory-layout choices of the posterior-replay step, each against the plain autograd version.

* **narrow**: the backward pass of a linear layer with few inputs (``mnets.batched.linear``): a hypernetwork's
  output layer after hidden layers of 10 units (``--hmlp_arch=10,10,10,10``, chunks of 8,000: Split MNIST
  PR-Dirac) at 24 and 48 rows (tasks 2 and 4), and two shapes where the plain backward is kept.
* **sampling**: K = 10 Gaussian weight samples of the 784-100-100-10 MLP and a forward and backward pass on a batch
  of 128 (Split MNIST PR-BbB), samples written per weight tensor
  (:func:`probabilistic.gaussian.sample_gaussian_per_tensor`) vs flat samples cut into tensors.
* **regulariser**: PR-Dirac's hypernetwork output layer for S regularised tasks and the current one (12 chunks of
  8,000 per task, 89,610 weights), the masked squared-error regulariser of the S rows and a loss on the current row,
  forward and backward: :func:`utils.hnet_regularizer.regularized_rows` on the uncut rows vs the padding cut, the
  row split and the regulariser as separate autograd nodes (S = 1, 3, 4: tasks 2, 4, 5).

Both ways of a row run in the same process, interleaved; the table gives median times and the median of the
per-repeat ratios plain / ours. ``--grid`` instead times the two backward products alone, plain and swapped, over a
grid of layer shapes (inputs K x rows M x outputs N): the measurement behind the shape limits of
:func:`mnets.batched.linear`.

Usage::

    python benchmarks/bench_layouts.py [--repeats 15] [--threads 1] [--grid]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnets.base import unflatten_weights  # noqa: E402
from mnets.batched import linear  # noqa: E402
from mnets.mlp import MLP  # noqa: E402
from probabilistic.gaussian import sample_gaussian, sample_gaussian_per_tensor, split_mean_rho, std_from_rho  # noqa: E402
from utils.hnet_regularizer import regularized_rows  # noqa: E402

#: (label, rows M, inputs K, outputs N) of the linear-layer rows.
LINEAR_CASES = [("hnet output, PR-Dirac task 2", 24, 10, 8000), ("hnet output, PR-Dirac task 4", 48, 10, 8000),
                ("wide input (plain kept)", 48, 64, 2500), ("few rows (plain kept)", 8, 10, 8000)]


def linear_steps(M: int, K: int, N: int):
    """(plain, ours) closures: forward and backward of one layer with gradients for input, weight and bias."""
    x = torch.randn(M, K, requires_grad=True)
    w, b = torch.randn(N, K, requires_grad=True), torch.randn(N, requires_grad=True)
    g = torch.randn(M, N)

    def run(fn):
        return lambda: torch.autograd.grad(fn(x, w, b), (x, w, b), g)

    return run(F.linear), run(linear)


def sampling_steps(batch: int = 128, samples: int = 10):
    """(plain, ours) closures: K Gaussian weight samples, MLP forward on a batch, backward to the posterior."""
    mnet = MLP(784, 10, hidden_layers=[100, 100], no_weights=True)
    P = mnet.num_params
    raw = torch.randn(1, 2 * P, requires_grad=True)
    x = torch.rand(batch, 784)

    def step(per_tensor: bool):
        mean, rho = split_mean_rho(raw)
        std = std_from_rho(rho)
        if per_tensor:
            weights = sample_gaussian_per_tensor(mean, std, samples, mnet.param_shapes)
        else:
            weights = unflatten_weights(sample_gaussian(mean, std, samples).reshape(samples, P), mnet.param_shapes)
        return torch.autograd.grad(mnet(x, weights).square().mean(), raw)

    return lambda: step(False), lambda: step(True)


#: Regularised tasks S of the regulariser rows (PR-Dirac tasks 2, 4 and 5).
REGULARIZED_TASKS = (1, 3, 4)


def regularizer_steps(S: int, chunks: int = 12, chunk: int = 8000, P: int = 89_610):
    """(plain, ours) closures: hypernetwork output layer for S + 1 tasks, masked regulariser of the first S rows
    and a loss on the last row, forward and backward."""
    h = torch.randn((S + 1) * chunks, 10, requires_grad=True)
    w, b = torch.randn(chunk, 10, requires_grad=True), torch.randn(chunk, requires_grad=True)
    targets, masks = torch.randn(S, P), (torch.rand(S, P) > 0.1).float()
    g = torch.randn(1, P)

    def step(fused: bool):
        rows = linear(h, w, b).reshape(S + 1, chunks * chunk)
        if fused:
            sums, current = regularized_rows(rows, targets, masks)
        else:
            prev, current = rows.split([P, rows.shape[1] - P], dim=1)[0].split([S, 1])
            sums = ((prev - targets).square() * masks).sum(-1)
        return torch.autograd.grad(sums.mean() + (current * g).sum(), (h, w, b))

    return lambda: step(False), lambda: step(True)


def measure(plain, ours, repeats: int, inner: int) -> tuple[float, float, float]:
    """Median seconds per call of each, and the median of the per-repeat ratios plain / ours."""
    for fn in (plain, ours, plain, ours):  # warm-up
        fn()
    times: dict[str, list[float]] = {"plain": [], "ours": []}
    for _ in range(repeats):
        for name, fn in (("plain", plain), ("ours", ours)):
            t0 = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t0) / inner)
    ratios = [p / o for p, o in zip(times["plain"], times["ours"])]
    return statistics.median(times["plain"]), statistics.median(times["ours"]), statistics.median(ratios)


#: The ``--grid`` shapes: inputs K, and (rows M, outputs N).
GRID_INPUTS = (5, 8, 10, 12, 15, 16, 25, 32, 50, 64, 100)
GRID_ROWS_OUTPUTS = ((1, 179_220), (4, 179_220), (4, 3000), (12, 8000), (48, 8000), (60, 2500), (1000, 1000))


def backward_products(M: int, K: int, N: int):
    """((plain ∂W, swapped ∂W), (plain ∂x, swapped ∂x)) closures of a layer ``[M, K] -> N``."""
    x, w, g = torch.randn(M, K), torch.randn(N, K), torch.randn(M, N)
    return ((lambda: g.t() @ x, lambda: (x.t() @ g).t().contiguous()),
            (lambda: g @ w, lambda: (w.t() @ g.t()).t()))


def grid(repeats: int) -> None:
    """Plain / swapped time of ``∂W = gᵀx`` and ``∂x = gW`` for every grid shape (above 1: swapping is faster)."""
    print("| K | M | N | ∂W plain / swapped | ∂x plain / swapped |\n|---|---|---|---|---|")
    for K in GRID_INPUTS:
        for M, N in GRID_ROWS_OUTPUTS:
            ratios = [measure(plain, swapped, repeats, 5)[2] for plain, swapped in backward_products(M, K, N)]
            print(f"| {K} | {M} | {N} | {ratios[0]:.2f}x | {ratios[1]:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--grid", action="store_true", help="time the backward products over a grid of shapes")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    if args.grid:
        grid(args.repeats)
        return
    rows = [(f"linear backward: {label} ([{M}, {K}] -> {N})", *linear_steps(M, K, N), 50)
            for label, M, K, N in LINEAR_CASES]
    rows.append(("Gaussian samples per tensor: K = 10, MLP 784-100-100-10, batch 128", *sampling_steps(), 5))
    rows += [(f"regularised rows: PR-Dirac hnet output + regulariser, S = {S}", *regularizer_steps(S), 20)
             for S in REGULARIZED_TASKS]
    print(f"torch {torch.__version__}, {args.threads} thread(s), {args.repeats} interleaved repeats")
    print("| case | plain | ours | plain / ours |\n|---|---|---|---|")
    for label, plain, ours, inner in rows:
        p, o, ratio = measure(plain, ours, args.repeats, inner)
        print(f"| {label} | {p * 1e3:.3f} ms | {o * 1e3:.3f} ms | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
