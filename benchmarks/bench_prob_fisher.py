"""Milliseconds per sample of the posterior-replay EWC / Laplace Fisher (Split MNIST, MLP 784-100-100-10).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_prob_fisher.py [--samples 2000] [--repeats 7]``. The empirical
Fisher after each task of ``train_split_ewc.py`` (README flags ``--net_type=mlp --mlp_arch=100,100``, the default
``--n_fisher=-1``: all of the task's about 12,000 training images) sums the squared per-sample gradients of the
cross-entropy of the task's head. Three ways, timed on the same samples, interleaved:

* structured: :func:`probabilistic.ewc.grad_square_sum` (the runner's path for MLPs: one batched backward,
  squared outer products of layer inputs and output gradients);
* vmap: squares of :func:`probabilistic.ewc.per_sample_grads` (``vmap(grad)`` over all samples; the runner's
  path before, still used for LeNets and ResNets);
* loop: one forward and backward per sample, as the original (on the first ``--loop_samples`` samples).

The inputs are random: the cost does not depend on the pixel values. Printed: the median CPU ms per sample of each
and the median of the per-repeat ratios (robust to load changes).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import torch  # noqa: E402
from interleaved import print_comparison, time_interleaved  # noqa: E402
from torch import nn  # noqa: E402

from mnets.base import unflatten_weights  # noqa: E402
from mnets.mlp import MLP  # noqa: E402
from probabilistic.ewc import grad_square_sum, per_sample_grads  # noqa: E402


def nll(out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the first two-class head (multi-head Split MNIST, task 1)."""
    return nn.functional.cross_entropy(out[:, :2], target)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--loop_samples", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.manual_seed(0)
    mnet = MLP(784, 10, hidden_layers=(100, 100), no_weights=True).eval()
    phi = torch.randn(mnet.num_params) * 0.05
    x, y = torch.rand(args.samples, 784), torch.randint(0, 2, (args.samples,))

    def structured():
        return grad_square_sum(mnet, phi, x, y, nll)

    def vmap():
        return per_sample_grads(mnet, phi, x, y, nll).pow(2).sum(0)

    def loop():
        total = torch.zeros_like(phi)
        for i in range(args.loop_samples):
            p = phi.clone().requires_grad_()
            (g,) = torch.autograd.grad(nll(mnet(x[i:i + 1], unflatten_weights(p, mnet.param_shapes)), y[i:i + 1]), p)
            total += g**2
        return total

    torch.testing.assert_close(structured(), vmap(), rtol=1e-4, atol=1e-7)  # the same sums (and a warm-up)
    ways = {"structured": (structured, args.samples), "vmap": (vmap, args.samples), "loop": (loop, args.loop_samples)}
    times = time_interleaved(ways, args.repeats)
    print(f"Split MNIST EWC Fisher, MLP 784-100-100-10 ({mnet.num_params} weights), {args.samples} samples, "
          f"{args.repeats} repeats, {torch.get_num_threads()} threads")
    print_comparison(times, "sample", "structured", digits=4)

if __name__ == "__main__":
    main()
