"""Milliseconds per sequence of the RNN online-EWC Fisher (README command 6): batched vs one at a time.

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_rnn_fisher.py [--repeats 15] [--chunk 64]``. Copy Task online EWC
(``--n_fisher=-1``: the Fisher over all 100,000 training sequences of a task): Elman 256, multi-head 5x7, 142,883
weights, permuted copy (T = 11). Three ways to get the summed squared per-sequence gradients of one chunk of
sequences, each timed on the same chunk, interleaved (structured, copies, loop, structured, ...):

* structured: :func:`sequential.ewc.grad_square_sums` (the runner's path: one batched backward, per-sequence
  gradients from the linear maps' inputs and output gradients);
* copies: :func:`sequential.ewc.per_sample_grads` (one weight copy per sequence; the runner's path before, still
  used for BiRNNs and masks);
* loop: one forward (:func:`sequential.networks.rnn_forward`) and backward per sequence, as the original.

Printed: the median CPU ms per sequence of each (run it with one thread) and the median of the per-repeat
ratios, robust to load changes on a shared machine. Measured (``OMP_NUM_THREADS=1``, 2 shared cores, load
average about 5): structured 0.21 ms, copies 2.7 ms, loop 1.4 ms per sequence (12.5x and 6.6x).
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import torch  # noqa: E402
from interleaved import print_comparison, time_interleaved  # noqa: E402

import sequential.families as families  # noqa: E402
from data.timeseries.sequence_task import to_batch  # noqa: E402
from sequential import ewc, runner  # noqa: E402
from sequential.args import parse_args  # noqa: E402
from sequential.networks import rnn_forward  # noqa: E402

ARGS = ("--multi_head --num_tasks=5 --batch_size=128 --n_iter=20000 --lr=0.001 --clip_grad_norm=1.0 "
        "--use_vanilla_rnn --use_ewc --ewc_gamma=1.0 --ewc_lambda=100.0 --n_fisher=-1 --orthogonal_hh_reg=0.01 "
        "--permute_time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--chunk", type=int, default=runner.FISHER_MICRO_BATCH, help="sequences per pass")
    args = parser.parse_args()
    config = parse_args("copy", shlex.split(ARGS))
    families.COPY_SIZES = (args.chunk, 16, 16)
    torch.manual_seed(0)
    fam = families.build_family(config, torch.device("cpu"))
    model = runner.build_model(config, fam, torch.device("cpu"))
    net, weights = model.mnet, model.main_weights()
    batch = to_batch(fam.tasks[0].splits["train"], 0)  # [T, S, F]

    def nll(logits, b):
        return fam.fisher_loss(runner.select_head(config, logits, b.task_ids, fam.head_dim), b)

    def structured():
        return ewc.grad_square_sums(net, weights, batch, nll)

    def copies():
        return [(g**2).sum(0) for g in ewc.per_sample_grads(net, weights, batch, nll, forward=rnn_forward)]

    def loop():
        sums = [torch.zeros_like(w) for w in weights]
        for s in range(batch.size):
            one = to_batch(fam.tasks[0].splits["train"].select(torch.tensor([s])), 0)
            loss = nll(rnn_forward(net, one.inputs), one).sum()
            for f, g in zip(sums, torch.autograd.grad(loss, weights)):
                f += g**2
        return sums

    ways = {"structured": structured, "copies": copies, "loop": loop}
    reference = loop()
    for way in ways.values():  # the same sums (and a warm-up)
        for a, b in zip(way(), reference):
            torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-6)
    times = time_interleaved({name: (way, batch.size) for name, way in ways.items()}, args.repeats)
    print(f"Copy Task online-EWC Fisher (README command 6), chunk {batch.size}, T = {batch.inputs.shape[0]}, "
          f"{args.repeats} repeats, {torch.get_num_threads()} threads")
    print_comparison(times, "sequence", "structured")

if __name__ == "__main__":
    main()
