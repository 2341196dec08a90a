"""Our training speed beside the original code's, in one interleaved series: the table of issue 16.

Run (one intra-op thread per process; a quiet machine makes the absolute numbers meaningful, the ratios are
measured in one series either way)::

    python benchmarks/speed_table.py --original /path/to/originals [--repeats 2] [--ratios_only] [--out table.md]

``--original`` is a folder with the two original repositories, ``posterior_replay_cl`` and ``cl_in_rnns``, and a
``venv`` in which they run (``../shared/ORIGINALS.md``). Without it only our columns are measured.

Per configuration (a README command, ``--n_iter`` reduced, no validation during training):

* ``s/iter``: training seconds per iteration, from two runs with different ``--n_iter`` values (whole processes,
  ``(T(n2) - T(n1)) / ((n2 - n1) * tasks)``, so that start-up, test phases and plots cancel), ours and the
  original's run alternately (ours n1, original n1, ours n2, original n2, next configuration, next repeat); the
  median over repeats;
* ``floor``: time per iteration spent in the kernels no implementation can avoid: matrix products (forward and
  backward) and random numbers, profiled in our run (``torch.profiler`` self time of ``mm``, ``addmm``, ``bmm``,
  ``baddbmm``, ``normal_``, the fused LSTM layer and its backward, ...) over the iterations of every task after its
  first two, then averaged over tasks;
  ``ours/floor`` is how far the iteration is from it;
* ``speed-up``: the original's s/iter over ours;
* ``peak RSS``: the largest resident set of the runs (GB);
* the Copy Task full-set Fisher (``--n_fisher=-1``) row gives seconds per Fisher (one task's 100,000 sequences):
  ``T(n_fisher=-1) - T(n_fisher=200)`` at ``--n_iter=2``, two tasks; measured in the first repeat only (the
  original needs minutes per run).

Start-up rows: ``--help`` wall time (whole process, both implementations) and our start-up to the end of the first
training step (launcher call to the first optimizer step; ``import torch`` and our modules excluded and reported
separately).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: Kernels counted in the floor: matrix products and random numbers (profiler names).
#: The fused oneDNN LSTM kernels count whole: their time is the per-step GEMMs (Stroke-MNIST: [128, 256] x [256, 1024]
#: per step) plus the gate arithmetic fused into them.
FLOOR_KERNELS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::addbmm", "aten::normal_",
                 "aten::uniform_", "aten::bernoulli_", "aten::mkldnn_convolution", "aten::convolution_backward",
                 "aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward")


@dataclass(frozen=True)
class Config:
    """A README command at reduced budget."""

    name: str
    script: str  #: relative to either repository's root
    args: str  #: the README flags, without --use_cuda
    n_iter: tuple[int, int]
    tasks: int
    ours_extra: str = ""  #: flags only ours needs (data location)
    both_extra: str = ""
    fisher: bool = False  #: the full-set Fisher row


SPLIT_MNIST = "probabilistic/prob_mnist/train_split_bbb.py"
COPY = "sequential/copy/train_copy.py"
MNIST_DATA = f"--data_dir={ROOT.parent / 'shared' / 'data'}"

CONFIGS = [
    Config("Split MNIST PR-Dirac (MLP 100-100)", SPLIT_MNIST,
           "--kl_scale=0 --kl_schedule=0 --regularizer=mse --train_sample_size=1 --val_sample_size=1 --momentum=-1 "
           "--chmlp_chunk_size=8000 --beta=10.0 --cl_scenario=3 --split_head_cl3 --num_tasks=5 "
           "--num_classes_per_task=2 --batch_size=32 --n_iter=5000 --lr=0.0005 --use_adam --clip_grad_norm=-1 "
           "--net_type=mlp --mlp_arch=100,100 --net_act=relu --dropout_rate=-1 --hnet_type=chunked_hmlp "
           "--hmlp_arch=10,10,10,10 --cond_emb_size=32 --chunk_emb_size=32 --std_normal_temb=1.0 "
           "--std_normal_emb=0.1 --mean_only",
           (50, 1050), 5, MNIST_DATA, "--no_cuda --val_iter=100000"),
    Config("Split MNIST PR-BbB (K = 10)", SPLIT_MNIST,
           "--momentum=-1 --chmlp_chunk_size=2500 --beta=100.0 --cl_scenario=3 --split_head_cl3 --num_tasks=5 "
           "--num_classes_per_task=2 --regularizer=w2 --batch_size=128 --n_iter=5000 --lr=0.0001 --use_adam "
           "--clip_grad_norm=-1 --train_sample_size=10 --prior_variance=1.0 --kl_scale=0.0001 --net_type=mlp "
           "--mlp_arch=100,100 --net_act=relu --dropout_rate=-1 --hnet_type=chunked_hmlp --hmlp_arch= "
           "--cond_emb_size=32 --chunk_emb_size=32 --use_cond_chunk_embs --std_normal_temb=0.1 "
           "--std_normal_emb=0.1",
           (20, 320), 5, MNIST_DATA, "--no_cuda --val_iter=100000"),
    Config("1D regression PR-BbB, task set 3 (README l. 179)", "probabilistic/regression/train_bbb.py",
           "--beta=10.0 --regularizer=fkl --n_iter=5001 --lr=0.0005 --clip_grad_norm=-1 --train_sample_size=10 "
           "--prior_variance=1.0 --ll_dist_std=0.05 --local_reparam_trick --mlp_arch=10,10 --net_act=relu "
           "--hnet_type=hmlp --hmlp_arch=10,10 --cond_emb_size=8 --hnet_net_act=relu --std_normal_temb=1.0 "
           "--keep_orig_init --used_task_set=3 --disable_lrt_test",
           (100, 1100), 3, "", "--val_iter=100000"),
    Config("Copy Task HNET, Elman 256 (command 4)", COPY,
           "--nh_chmlp_chunk_size=2500 --beta=10.0 --multi_head --num_tasks=5 --batch_size=128 --n_iter=20000 "
           "--lr=0.0005 --clip_grad_norm=1 --rnn_arch=256 --net_act=tanh --use_vanilla_rnn "
           "--nh_hnet_type=chunked_hmlp --nh_hmlp_arch=50,50 --nh_cond_emb_size=32 --nh_chunk_emb_size=32 "
           "--use_new_hnet --std_normal_temb=1.0 --std_normal_emb=0.1 --hnet_all --hnet_reg_batch_size=-1 "
           "--orthogonal_hh_reg=10.0 --first_task_input_len=5 --input_len_step=0 --input_len_variability=0 "
           "--permute_time",
           (10, 410), 5, "", "--val_iter=100000"),
    Config("Seq. Stroke-MNIST HNET, LSTM 256 (seq. len 1)", "sequential/seq_smnist/train_seq_smnist.py",
           "--nh_chmlp_chunk_size=10000 --beta=0.01 --multi_head --num_tasks=5 --batch_size=128 --n_iter=2000 "
           "--lr=0.001 --clip_grad_norm=-1 --rnn_arch=256 --nh_hnet_type=chunked_hmlp --nh_hmlp_arch=25,25 "
           "--nh_cond_emb_size=32 --nh_chunk_emb_size=16 --use_new_hnet --std_normal_temb=1.0 --std_normal_emb=0.1 "
           "--hnet_all --ssmnist_seq_len=1 --ssmnist_two_classes",
           (5, 45), 5, MNIST_DATA, "--val_iter=100000"),
    Config("Copy Task online EWC, --n_fisher=200 (command 7)", COPY,
           "--multi_head --num_tasks=5 --batch_size=128 --n_iter=20000 --lr=0.01 --clip_grad_norm=1 --rnn_arch=256 "
           "--net_act=tanh --use_vanilla_rnn --input_task_identity --orthogonal_hh_init --orthogonal_hh_reg=1 "
           "--use_ewc --ewc_lambda=10000000.0 --n_fisher=200 --first_task_input_len=5 --input_len_step=0 "
           "--input_len_variability=0 --permute_time",
           (10, 410), 5, "", "--val_iter=100000"),
    Config("Copy Task online EWC, --n_fisher=-1: s per Fisher (command 6)", COPY,
           "--multi_head --num_tasks=2 --batch_size=128 --n_iter=2 --lr=0.001 --clip_grad_norm=1.0 "
           "--use_vanilla_rnn --use_ewc --ewc_gamma=1.0 --ewc_lambda=100.0 --orthogonal_hh_reg=0.01 "
           "--permute_time",
           (200, -1), 1, "", "--val_iter=100000", fisher=True),
]


# ---------------------------------------------------------------------------------------------------------------
# Whole-process runs
# ---------------------------------------------------------------------------------------------------------------
def _env(ours: bool = True) -> dict:
    """One intra-op thread; ours imports the tree this file lives in (also from a worktree), the original its own."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    if ours:
        env["PYTHONPATH"] = str(ROOT)
    return env


def timed_process(cmd: list[str], cwd: Path, ours: bool) -> tuple[float, float]:
    """Run ``cmd``; returns (wall seconds, peak RSS GB). A failing run stops the benchmark with its output."""
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, env=_env(ours), stdout=log, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            log.seek(0)
            tail = log.read().decode(errors="replace")[-3000:]
            raise SystemExit(f"benchmark run failed ({' '.join(cmd)}):\n{tail}")
    return wall, usage.ru_maxrss / 1024**2


def command(cfg: Config, root: Path, python: str, value: int, ours: bool, out_dir: Path) -> list[str]:
    flag = "--n_fisher" if cfg.fisher else "--n_iter"
    args = shlex.split(cfg.args) + shlex.split(cfg.both_extra) + (shlex.split(cfg.ours_extra) if ours else [])
    return [python, str(root / cfg.script), *args, f"{flag}={value}", f"--out_dir={out_dir}"]


def run_once(cfg: Config, root: Path, python: str, value: int, ours: bool) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"  # must not exist: the originals wait 30 s and abort if it does
        return timed_process(command(cfg, root, python, value, ours, out), (root / cfg.script).parent, ours)


# ---------------------------------------------------------------------------------------------------------------
# In-process children (ours): kernel floor and start-up
# ---------------------------------------------------------------------------------------------------------------
def _launcher(cfg: Config):
    import importlib

    return importlib.import_module(cfg.script[:-3].replace("/", "."))


def _argv(cfg: Config, value: int) -> list[str]:
    return command(cfg, ROOT, sys.executable, value, True, Path(tempfile.mkdtemp()) / "run")[2:]


class FloorWindows:
    """Profiles optimizer steps 3 to ``last_step`` of every task (a new optimizer marks a new task) and keeps, per
    task, the floor-kernel seconds per profiled step.

    The window closes at the task's last step, so that test phases, Fisher estimates and plots after the task's
    training are not counted.
    """

    def __init__(self, last_step: int, new_profiler, kernel_seconds):
        self.last_step, self.new_profiler, self.kernel_seconds = last_step, new_profiler, kernel_seconds
        self.per_task: list[float] = []
        self.steps, self.prof, self.opt = 0, None, None

    def after_step(self, opt) -> None:
        if opt is not self.opt:
            self.close()
            self.opt, self.steps = opt, 0
        self.steps += 1
        if self.steps == 2:
            self.prof = self.new_profiler()
            self.prof.__enter__()
        elif self.steps == self.last_step:
            self.close()

    def close(self) -> None:
        if self.prof is not None:
            self.prof.__exit__(None, None, None)
            self.per_task.append(self.kernel_seconds(self.prof) / (self.steps - 2))
            self.prof = None


def child_floor(cfg: Config) -> dict:
    """Profile our run: floor kernels per iteration (:class:`FloorWindows`), averaged over tasks."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    import utils.optim
    import utils.training

    torch.set_num_threads(1)
    windows = FloorWindows(
        cfg.n_iter[1], lambda: profile(activities=[ProfilerActivity.CPU]),
        lambda prof: sum(e.self_cpu_time_total for e in prof.key_averages() if e.key in FLOOR_KERNELS) / 1e6)
    eager = utils.optim.eager

    def profiled(cls):
        class Profiled(eager(cls)):
            def step(self, *args, **kwargs):
                out = super().step(*args, **kwargs)
                windows.after_step(self)
                return out
        return Profiled

    utils.optim.eager = utils.training.eager = profiled  # where the runners look it up
    _launcher(cfg).main(_argv(cfg, cfg.n_iter[1]))
    windows.close()
    return {"floor_s": statistics.mean(windows.per_task)}


def child_startup(cfg: Config) -> dict:
    """Launcher call to the end of the first optimizer step, imports excluded."""
    t0 = time.perf_counter()
    import torch

    import utils.optim
    import utils.training

    torch.set_num_threads(1)
    launcher = _launcher(cfg)
    imports = time.perf_counter() - t0
    eager, marks = utils.optim.eager, {}

    class FirstStep(Exception):
        pass

    def timed(cls):
        class Timed(eager(cls)):
            def step(self, *args, **kwargs):
                super().step(*args, **kwargs)
                marks["first_step"] = time.perf_counter() - start
                raise FirstStep
        return Timed

    utils.optim.eager = utils.training.eager = timed
    start = time.perf_counter()
    try:
        launcher.main(_argv(cfg, cfg.n_iter[0]))
    except FirstStep:
        pass
    return {"startup_s": marks["first_step"], "imports_s": imports, "dynamo": "torch._dynamo" in sys.modules}


def run_child(kind: str, index: int) -> dict:
    out = subprocess.run([sys.executable, __file__, f"--{kind}", str(index)], env=_env(), capture_output=True,
                         text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"{kind} child for {CONFIGS[index].name} failed:\n{out.stdout[-2000:]}{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------------
# The series and the table
# ---------------------------------------------------------------------------------------------------------------
def per_iteration(cfg: Config, t: dict[int, float]) -> float:
    a, b = cfg.n_iter
    if cfg.fisher:  # seconds per Fisher: full set minus n_fisher=200
        return t[b] - t[a]
    return (t[b] - t[a]) / ((b - a) * cfg.tasks)


def measure(configs: list[int], original: Path | None, repeats: int, children: bool = True) -> list[dict]:
    """The interleaved series; ``children=False`` skips the floor and start-up children (s/iter and ratios only)."""
    impls = {"ours": (ROOT, sys.executable)}
    if original is not None:
        impls["original"] = (original, str(original / "venv" / "bin" / "python"))
    results = [{"config": CONFIGS[i].name, **{k: [] for k in impls}, "rss": {k: 0.0 for k in impls},
                "floor": [], "startup": []} for i in configs]
    for rep in range(repeats):
        for res, i in zip(results, configs):
            cfg, times = CONFIGS[i], {k: {} for k in impls}
            if cfg.fisher and rep > 0:  # minutes per run for the original, and a ratio far from 1: once is enough
                continue
            for value in cfg.n_iter:
                for name, (root, python) in impls.items():
                    repo = root if name == "ours" else root / (
                        "cl_in_rnns" if cfg.script.startswith("sequential") else "posterior_replay_cl")
                    wall, rss = run_once(cfg, repo, python, value, name == "ours")
                    times[name][value] = wall
                    res["rss"][name] = max(res["rss"][name], rss)
            for name in impls:
                res[name].append(per_iteration(cfg, times[name]))
            if children and not cfg.fisher:
                res["floor"].append(run_child("floor", i)["floor_s"])
                res["startup"].append(run_child("startup", i))
            print(f"[repeat {rep + 1}/{repeats}] {cfg.name}: "
                  + ", ".join(f"{k} {res[k][-1]:.4f}" for k in impls), file=sys.stderr, flush=True)
    return results


def help_times(original: Path | None, repeats: int) -> dict[str, float]:
    """Median wall time of ``--help`` of the Split MNIST and Copy Task launchers."""
    out = {}
    for script in (SPLIT_MNIST, COPY):
        impls = {"ours": (ROOT, sys.executable)}
        if original is not None:
            repo = original / ("cl_in_rnns" if script.startswith("sequential") else "posterior_replay_cl")
            impls["original"] = (repo, str(original / "venv" / "bin" / "python"))
        walls = {k: [] for k in impls}
        for _ in range(repeats):
            for name, (repo, python) in impls.items():
                walls[name].append(timed_process([python, str(repo / script), "--help"], (repo / script).parent,
                                                 name == "ours")[0])
        for name, w in walls.items():
            out[f"{script} --help ({name})"] = statistics.median(w)
    return out


def table(results: list[dict], helps: dict[str, float], repeats: int) -> str:
    has_orig = any(r.get("original") for r in results)
    lines = ["| config | ours | original | speed-up | floor | ours/floor | start-up | peak RSS ours / orig. |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        ours = statistics.median(r["ours"])
        fisher = "Fisher" in r["config"]
        unit = (lambda s: f"{s:.1f} s") if fisher else (lambda s: f"{1000 * s:.1f} ms")
        orig = statistics.median(r["original"]) if has_orig else None
        floor = statistics.median(r["floor"]) if r["floor"] else None
        start = statistics.median(s["startup_s"] for s in r["startup"]) if r["startup"] else None
        rss = f"{r['rss']['ours']:.2f}" + (f" / {r['rss']['original']:.2f}" if has_orig else "") + " GB"
        lines.append(" | ".join([
            f"| {r['config']}", unit(ours), unit(orig) if orig else "—", f"{orig / ours:.1f}x" if orig else "—",
            unit(floor) if floor else "—", f"{ours / floor:.2f}" if floor else "—",
            f"{start:.2f} s" if start else "—", rss]) + " |")
    lines.append("")
    lines += [f"* `{k}`: {v:.2f} s" for k, v in helps.items()]
    dyn = any(s["dynamo"] for r in results for s in r["startup"])
    imports = [s["imports_s"] for r in results for s in r["startup"]]
    if imports:
        lines.append(f"* imports before the launcher call (torch and ours), median: "
                     f"{statistics.median(imports):.2f} s; torch._dynamo imported by the first step: {dyn}")
    lines.append(f"* median of {repeats} interleaved repeats; one intra-op thread per process; s/iter from two "
                 "--n_iter values")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--original", type=Path, help="folder with posterior_replay_cl, cl_in_rnns and venv")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--configs", default="all", help="comma-separated row numbers (0-based) or 'all'")
    parser.add_argument("--out", type=Path, help="also write the table (Markdown) and the raw numbers (.json)")
    parser.add_argument("--ratios_only", action="store_true",
                        help="skip the floor and start-up children: s/iter and speed-ups only (several times faster)")
    parser.add_argument("--floor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--startup", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.floor is not None:
        print(json.dumps(child_floor(CONFIGS[args.floor])))
        return
    if args.startup is not None:
        print(json.dumps(child_startup(CONFIGS[args.startup])))
        return
    if args.original is not None and not (args.original / "venv" / "bin" / "python").exists():
        parser.error(f"--original={args.original}: no venv/bin/python there (see ../shared/ORIGINALS.md)")
    configs = list(range(len(CONFIGS))) if args.configs == "all" else [int(c) for c in args.configs.split(",")]
    results = measure(configs, args.original, args.repeats, children=not args.ratios_only)
    text = table(results, help_times(args.original, args.repeats), args.repeats)
    print(text)
    if args.out is not None:
        args.out.write_text(f"{time.strftime('%Y-%m-%d')}, {os.uname().nodename}\n\n{text}\n")
        args.out.with_suffix(".json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
