"""Seconds per training iteration of the 1D-regression PR-BbB step: batched K samples vs a Python K-loop.

Run: ``python benchmarks/bench_regression.py [--iters 300] [--samples 10]``. Both paths compute the same loss
(KL + N·mean_s MSE_s / (2σ²)) on the same hypernetwork and data; only the way the K weight samples go through the
main network differs.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import torch  # noqa: E402

from data.special.regression1d import InfiniteBatches, make_task_set  # noqa: E402
from mnets.base import unflatten_weights  # noqa: E402
from mnets.mlp import MLP  # noqa: E402
from probabilistic.args import parse_args  # noqa: E402
from probabilistic.methods.explicit import build_posterior  # noqa: E402
from probabilistic.posterior import prior_matching  # noqa: E402


def step(post, config, task, batches, opt, samples: int, batched: bool) -> None:
    opt.zero_grad()
    idx = batches.next()
    x, y = task.train_x[idx], task.train_y[idx]
    raw = post.raw([0])
    kl = prior_matching(post, raw, config.prior_variance, config.num_kl_samples, None)
    if batched:
        pred = post.predict(x, raw, samples)[0, ..., 0]  # [K, B]
    else:
        w = post.sample(raw, samples)[0]  # [K, P]
        pred = torch.stack([post.mnet(x, unflatten_weights(w[k], post.mnet.param_shapes))[:, 0]
                            for k in range(samples)])
    loss = kl + task.num_train * (0.5 * ((pred - y[:, 0]) ** 2).mean(1) / 0.05**2).mean()
    loss.backward()
    opt.step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=300)
    parser.add_argument("--samples", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = parse_args("regression_bbb", ["--net_act=relu", "--used_task_set=3"])
    task = make_task_set(3)[0]
    print(f"PR-BbB regression step, K={args.samples}, {args.iters} iterations, 1 thread")
    times = {}
    for batched in (True, False):
        torch.manual_seed(0)
        hidden = [int(h) for h in config.mlp_arch.split(",")]
        mnet = MLP(n_in=1, n_out=1, hidden_layers=hidden, activation_fn=config.net_act, no_weights=True)
        post = build_posterior(config, mnet, 3, torch.device("cpu"))
        opt = torch.optim.Adam(post.parameters(), lr=1e-3, fused=True)
        batches = InfiniteBatches(task.num_train, 32, torch.Generator().manual_seed(0))
        for _ in range(20):  # warm-up
            step(post, config, task, batches, opt, args.samples, batched)
        start = time.perf_counter()
        for _ in range(args.iters):
            step(post, config, task, batches, opt, args.samples, batched)
        times[batched] = (time.perf_counter() - start) / args.iters
        print(f"  {'batched' if batched else 'K-loop ':8s} {1000 * times[batched]:.2f} ms/iter")
    print(f"  speed-up of the batched path: {times[False] / times[True]:.2f}x")


if __name__ == "__main__":
    main()
