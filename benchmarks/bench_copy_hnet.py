"""Seconds per training iteration of the Copy Task HNET step (README command 4): fused RNN kernel vs time loop.

Run: ``python benchmarks/bench_copy_hnet.py [--iters 30]``. Elman 256, multi-head 5x7, chunked hypernetwork
(chunk 2500, 50,50), batch 128, permuted copy (T = 11), on the second task (so the hypernetwork regulariser
over the first task and the orthogonal penalty are included). Both paths compute the same loss; only the
recurrence differs: PyTorch's fused ``nn.RNN`` kernel (:func:`sequential.networks.rnn_forward`, the runner's
path) vs the main network's Python loop over timesteps. Both ratios are measured in one run.

Measured (``OMP_NUM_THREADS=1``, 2 shared CPU cores, load average about 4; ``docs/experiments/copy_task.rst``):
fused 0.035 s/iter, time loop 0.030 s/iter. Use one intra-op thread on a shared CPU: with two threads on an
oversubscribed machine the same step took 2.65 s/iter.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import time

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import sequential.networks as networks  # noqa: E402
from data.timeseries.sequence_task import to_batch  # noqa: E402
from sequential import runner  # noqa: E402
from sequential.args import parse_args  # noqa: E402
from sequential.families import build_family  # noqa: E402

ARGS = ("--nh_chmlp_chunk_size=2500 --beta=10.0 --multi_head --num_tasks=5 --batch_size=128 --lr=0.0005 "
        "--clip_grad_norm=1 --rnn_arch=256 --net_act=tanh --use_vanilla_rnn --nh_hnet_type=chunked_hmlp "
        "--nh_hmlp_arch=50,50 --nh_cond_emb_size=32 --nh_chunk_emb_size=32 --use_new_hnet --std_normal_temb=1.0 "
        "--std_normal_emb=0.1 --hnet_all --hnet_reg_batch_size=-1 --orthogonal_hh_reg=10.0 "
        "--first_task_input_len=5 --input_len_step=0 --input_len_variability=0 --permute_time")


def time_steps(config, fam, iters: int, fused: bool) -> float:
    """Mean seconds of one ``train_step`` on task 1."""
    torch.manual_seed(0)
    model = runner.build_model(config, fam, torch.device("cpu"))
    state = runner.MethodState()
    runner.before_task(config, model, fam, state, 1)
    params = model.parameters()
    opt = torch.optim.Adam(params, lr=config.lr)
    rng = np.random.RandomState(0)
    original = networks.can_fuse
    if not fused:
        networks.can_fuse = lambda net, weights: False  # rnn_forward falls back to the network's time loop
    try:
        for i in range(iters + 3):  # 3 warm-up steps
            if i == 3:
                start = time.perf_counter()
            batch = to_batch(fam.tasks[1].take("train", config.batch_size), 1)
            runner.train_step(config, model, fam, state, 1, batch, opt, params, rng, False)
        return (time.perf_counter() - start) / iters
    finally:
        networks.can_fuse = original


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iters", type=int, default=30)
    args = parser.parse_args()
    config = parse_args("copy", shlex.split(ARGS))
    import sequential.families as families

    families.COPY_SIZES = (2_000, 100, 100)
    fam = build_family(config, torch.device("cpu"))
    print(f"Copy Task HNET step (README command 4), batch 128, {args.iters} iterations, "
          f"{torch.get_num_threads()} threads")
    fused = time_steps(config, fam, args.iters, fused=True)
    loop = time_steps(config, fam, args.iters, fused=False)
    print(f"fused RNN kernel: {fused:.4f} s/iter")
    print(f"Python time loop: {loop:.4f} s/iter  (fused is {loop / fused:.2f}x faster)")


if __name__ == "__main__":
    main()
