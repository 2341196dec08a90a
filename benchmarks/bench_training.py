"""Training seconds per iteration of the Split MNIST README commands PR-Dirac and PR-BbB (small MLP, K = 10):
our vectorised path vs. the same code with per-sample loops, start-up time and peak memory, in one run.

Run: ``python benchmarks/bench_training.py [--data_dir ../shared/data] [--n_iter 300] [--repeats 3] [--device cpu]``.

Each measurement runs the real launcher ``probabilistic/prob_mnist/train_split_bbb.py`` with the README command
(``--n_iter`` shortened, no validation during training) in a fresh child process, so start-up and peak memory are
those of a user's run. The loop variant patches the two places the original loops over: the K weight samples go
through the main network one at a time, and the hypernetwork is called once for the current task and once per
regularised previous task (our path: one call for all of them). Reported per configuration:

* ``s/iter``: mean wall time of the training iterations of all 5 tasks (test phases excluded), without the run's
  first iteration, whose one-off costs belong to start-up;
* ``start-up``: launcher call to the end of the first training step (parsing, out_dir, data loading from the
  cache, network construction); ``imports``: ``import torch`` and our modules, before that;
* ``peak RSS``: the child's maximum resident memory (GB).
"""

from __future__ import annotations

import argparse
import json
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: README commands (spec §5, SplitMNIST small MLP rows), verbatim.
COMMANDS = {
    "PR-Dirac": "--kl_scale=0 --kl_schedule=0 --regularizer=mse --train_sample_size=1 --val_sample_size=1 "
                "--momentum=-1 --chmlp_chunk_size=8000 --beta=10.0 --cl_scenario=3 --split_head_cl3 --num_tasks=5 "
                "--num_classes_per_task=2 --batch_size=32 --n_iter=5000 --lr=0.0005 --use_adam --clip_grad_norm=-1 "
                "--net_type=mlp --mlp_arch=\"100,100\" --net_act=relu --dropout_rate=-1 --hnet_type=chunked_hmlp "
                "--hmlp_arch=\"10,10,10,10\" --cond_emb_size=32 --chunk_emb_size=\"32\" --std_normal_temb=1.0 "
                "--std_normal_emb=0.1 --mean_only",
    "PR-BbB": "--momentum=-1 --chmlp_chunk_size=2500 --beta=100.0 --cl_scenario=3 --split_head_cl3 --num_tasks=5 "
              "--num_classes_per_task=2 --regularizer=w2 --batch_size=128 --n_iter=5000 --lr=0.0001 --use_adam "
              "--clip_grad_norm=-1 --train_sample_size=10 --prior_variance=1.0 --kl_scale=0.0001 --net_type=mlp "
              "--mlp_arch=\"100,100\" --net_act=relu --dropout_rate=-1 --hnet_type=chunked_hmlp --hmlp_arch=\"\" "
              "--cond_emb_size=32 --chunk_emb_size=\"32\" --use_cond_chunk_embs --std_normal_temb=0.1 "
              "--std_normal_emb=0.1",
}


# ---------------------------------------------------------------------------------------------------------------
# The per-sample-loop variant
# ---------------------------------------------------------------------------------------------------------------
def patch_loops() -> None:
    """Make the method loop over weight samples and over previous tasks, as the original does."""
    import torch

    from probabilistic.posterior import WeightPosterior

    batched_predict, batched_raw = WeightPosterior.predict, WeightPosterior.raw

    def predict_loop(self, x, raw, num_samples, generator=None, lrt=False, condition=None):
        outs = [batched_predict(self, x, raw, 1, generator, lrt, condition) for _ in range(num_samples)]
        return torch.cat(outs, dim=1)  # [N, K, B, O]

    def raw_loop(self, task_ids):  # one hypernetwork call per task
        return torch.cat([batched_raw(self, [t]) for t in task_ids])

    WeightPosterior.predict, WeightPosterior.raw = predict_loop, raw_loop


# ---------------------------------------------------------------------------------------------------------------
# One measurement (child process)
# ---------------------------------------------------------------------------------------------------------------
def measure(name: str, loop: bool, data_dir: str, n_iter: int, device: str) -> dict:
    """Run the launcher once; returns s/iter, start-up (imports excluded; they are reported separately) and peak
    RSS."""
    t_import = time.perf_counter()
    import torch

    import utils.optim
    import utils.training
    from probabilistic import trainer
    from probabilistic.prob_mnist import train_split_bbb

    import_s = time.perf_counter() - t_import

    if loop:
        patch_loops()
    timings = {"train": 0.0, "iters": 0, "first_step": None, "first_task_start": None, "one_off": 0.0}
    train_task, eager = trainer.train_task, utils.optim.eager

    def timed_train_task(ctx, family, method, task_id):
        t0 = time.perf_counter()
        if timings["first_task_start"] is None:
            timings["first_task_start"] = t0
        train_task(ctx, family, method, task_id)
        if device == "cuda":
            torch.cuda.synchronize()
        timings["train"] += time.perf_counter() - t0
        timings["iters"] += family.num_iterations(task_id)

    def first_step(cls):
        class FirstStep(eager(cls)):
            def step(self, *args, **kwargs):
                out = super().step(*args, **kwargs)
                if timings["first_step"] is None:
                    now = time.perf_counter()
                    timings["first_step"] = now - start
                    timings["one_off"] = now - timings["first_task_start"]
                return out
        return FirstStep

    trainer.train_task = timed_train_task
    utils.optim.eager = utils.training.eager = first_step  # where the runners look it up
    argv = shlex.split(COMMANDS[name]) + [f"--n_iter={n_iter}", f"--val_iter={10 * n_iter}",
                                         "--during_acc_criterion=-1", f"--data_dir={data_dir}",
                                         f"--out_dir={tempfile.mkdtemp()}"]
    argv += ["--use_cuda"] if device == "cuda" else ["--no_cuda"]
    start = time.perf_counter()
    summary = train_split_bbb.main(argv)
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    s_per_iter = (timings["train"] - timings["one_off"]) / (timings["iters"] - 1)
    return {"s_per_iter": s_per_iter, "startup_s": timings["first_step"],
            "import_s": import_s, "peak_rss_gb": rss_gb, "cl1": summary["acc_avg_task_given"]}


def run_child(name: str, loop: bool, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--child", name, "--data_dir", args.data_dir, "--n_iter", str(args.n_iter),
           "--device", args.device] + (["--loop"] if loop else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def median_run(name: str, loop: bool, runs: list[dict]) -> dict:
    """The run with the median s/iter (its start-up, imports and memory come with it)."""
    return sorted(runs, key=lambda r: r["s_per_iter"])[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data_dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--n_iter", type=int, default=300, help="iterations per task (5 tasks)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs per variant, interleaved; the median is reported (shared machines are noisy)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--loop", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child, args.loop, args.data_dir, args.n_iter, args.device)))
        return
    print(f"Split MNIST, small MLP, {args.n_iter} iterations x 5 tasks, device {args.device}, "
          f"median of {args.repeats} runs")
    print(f"{'command':10s} {'variant':11s} {'s/iter':>9s} {'(range)':>17s} {'start-up s':>11s} {'imports s':>10s} "
          f"{'peak RSS GB':>12s} {'CL1 %':>7s}")
    for name in COMMANDS:
        runs = {False: [], True: []}
        for _ in range(args.repeats):
            for loop in (False, True):
                runs[loop].append(run_child(name, loop, args))
        res = {}
        for loop in (False, True):
            r = res[loop] = median_run(name, loop, runs[loop])
            lo, hi = min(x["s_per_iter"] for x in runs[loop]), max(x["s_per_iter"] for x in runs[loop])
            print(f"{name:10s} {'loop' if loop else 'vectorised':11s} {r['s_per_iter']:9.4f} "
                  f"{f'({lo:.4f}-{hi:.4f})':>17s} {r['startup_s']:11.2f} {r['import_s']:10.2f} "
                  f"{r['peak_rss_gb']:12.2f} {r['cl1']:7.2f}")
        print(f"{name:10s} speed-up of the vectorised path: {res[True]['s_per_iter'] / res[False]['s_per_iter']:.2f}x")


if __name__ == "__main__":
    main()
