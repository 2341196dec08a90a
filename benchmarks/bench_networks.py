"""K weight samples in one pass vs. a Python loop over the samples: forward + backward time.

Networks: the SplitMNIST small MLP 784-100-100-10 and the copy-task Elman RNN (8 inputs, 256 units,
5 heads x 7 outputs, 142,883 weights; sequences of T = 15 steps, the first task's padded length). With K = 10
weight samples (leaf tensors ``[K, *shape]``, as a posterior's samples), one measurement is: forward all K
samples on the same mini-batch, the mean squared output as loss, backward. "batched" passes the stacked
weights to one ``forward``; "loop" calls ``forward`` once per sample with that sample's weights. Both run in
the same process, interleaved (batched, loop, batched, ...); the table gives the median times and the median
of the per-repeat ratios loop / batched, which is robust to load changes on a shared machine.

Usage::

    python benchmarks/bench_networks.py [--repeats 50] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mnets.mlp import MLP  # noqa: E402
from mnets.simple_rnn import SimpleRNN  # noqa: E402

K = 10
T_COPY = 15


def make_case(name: str, batch: int):
    """(network, input, stacked weights) of one benchmark case."""
    torch.manual_seed(0)
    if name == "mlp":
        net = MLP(n_in=784, n_out=10, hidden_layers=(100, 100), no_weights=True)
        x = torch.rand(batch, 784)
    else:
        net = SimpleRNN(n_in=8, rnn_layers=(256,), fc_layers=(35,), no_weights=True, kaiming_rnn_init=True)
        x = torch.randint(0, 2, (T_COPY, batch, 8)).float()
    weights = [(0.05 * torch.randn(K, *s)).requires_grad_() for s in net.param_shapes]
    return net, x, weights


def step_batched(net, x, weights) -> None:
    loss = net(x, weights).pow(2).mean()
    loss.backward()


def step_loop(net, x, weights) -> None:
    loss = sum(net(x, [w[k] for w in weights]).pow(2).mean() for k in range(K)) / K
    loss.backward()


def measure(net, x, weights, repeats: int) -> tuple[float, float, float]:
    """Median seconds of the batched and the loop step, and the median of the per-repeat ratios."""
    for _ in range(3):  # warm-up
        step_batched(net, x, weights)
        step_loop(net, x, weights)
    times = {"batched": [], "loop": []}
    for _ in range(repeats):
        for kind, fn in (("batched", step_batched), ("loop", step_loop)):
            for w in weights:
                w.grad = None
            t = time.perf_counter()
            fn(net, x, weights)
            times[kind].append(time.perf_counter() - t)
    ratios = [lo / ba for ba, lo in zip(times["batched"], times["loop"])]
    return statistics.median(times["batched"]), statistics.median(times["loop"]), statistics.median(ratios)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=50, help="Timed repeats per case. Default: %(default)s")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch.set_num_threads (0 = PyTorch's default). Default: %(default)s")
    args = parser.parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    print(f"K = {K} weight samples, forward + backward, median of {args.repeats}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'network':<28}{'batch':>6}{'batched [ms]':>14}{'loop [ms]':>12}{'loop/batched':>14}")
    rows = []
    for name, label in (("mlp", "MLP 784-100-100-10"), ("rnn", f"Elman RNN 256 (copy, T={T_COPY})")):
        for batch in (32, 128):
            batched, loop, ratio = measure(*make_case(name, batch), args.repeats)
            rows.append(dict(network=name, batch=batch, batched=batched, loop=loop, ratio=ratio))
            print(f"{label:<28}{batch:>6}{1e3 * batched:>14.2f}{1e3 * loop:>12.2f}{ratio:>13.2f}x")
    return rows


if __name__ == "__main__":
    main()
