#!/usr/bin/env python3
"""Hidden-state dimensionality and Fisher values of the ideal multi-task student as teachers are added.

The ideal student (:func:`data.timeseries.rnd_rec_teacher.ideal_student_weights`) solves K teachers exactly: every
teacher gets its own block of hidden units, all driven by the same input. For K = 1, 2, ... the script builds that
student, checks its test error (zero up to float precision), computes the empirical Fisher of the newest task (MSE
on its head, as EWC does) and reports the mean Fisher of the hidden-to-hidden and hidden-to-output weights, and the
PCA dimensionality of the hidden states ``h_t`` and ``y_t`` of tasks 1..K, pooled over samples and timesteps and per
timestep. At ``--p_var=1`` the pooled dimensionality is the sum of the teachers' hidden sizes.

Run (about 10 s on one CPU thread)::

    python3 hidden_dim_ideal_student.py --num_tasks=3 --out_dir=./out/ideal_student

Writes ``ideal_student.json`` and ``ideal_student.png``/``.pdf`` into ``--out_dir``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from data.timeseries.rnd_rec_teacher import (  # noqa: E402
    Teacher,
    ideal_student_weights,
    task_seeds,
    teacher_task,
)
from data.timeseries.sequence_task import SeqSplit, SequenceTask, to_batch  # noqa: E402
from mnets.simple_rnn import SimpleRNN  # noqa: E402
from sequential import ewc  # noqa: E402
from sequential.ht_analyses import pca  # noqa: E402
from sequential.ht_analyses.importance import mean_importance  # noqa: E402
from sequential.student_teacher.family import st_loss  # noqa: E402
from utils.atomic import atomic_write_text  # noqa: E402

SCENARIOS = ("flags", "identical", "different")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Hidden dimensionality of the ideal multi-task student.")
    p.add_argument("--scenario", choices=SCENARIOS, default="flags",
                   help="Teachers from the student-teacher flags, K identical ones (seed 1), or K different ones "
                   "(seeds 1..K). Default: %(default)s.")
    p.add_argument("--num_tasks", type=int, default=5, help="Number of teachers K. Default: %(default)s.")
    p.add_argument("--input_feature_dim", type=int, default=7, help="Input features. Default: %(default)s.")
    p.add_argument("--output_feature_dim", type=int, default=7, help="Output features. Default: %(default)s.")
    p.add_argument("--num_timesteps_in", type=int, default=10, help="Input steps. Default: %(default)s.")
    p.add_argument("--num_timesteps_out", type=int, default=-1, help="Output steps (-1 = in). Default: %(default)s.")
    p.add_argument("--orth_teacher_hid_mat", action="store_true", help="Orthogonal teacher A.")
    p.add_argument("--rank_teacher_hid_mat", type=int, default=-1, help="Rank of A (-1 = full). Default: %(default)s.")
    p.add_argument("--max_sv_teacher_hid_mat", type=float, default=-1,
                   help="Largest singular value of A (-1 = free). Default: %(default)s.")
    p.add_argument("--data_random_seed", type=int, default=42, help="Seed of the teachers. Default: %(default)s.")
    p.add_argument("--rnn_arch", type=int, default=256, help="Hidden units of the student. Default: %(default)s.")
    p.add_argument("--n_samples", type=int, default=1000, help="Test sequences per task. Default: %(default)s.")
    p.add_argument("--n_fisher", type=int, default=1000, help="Sequences for the Fisher. Default: %(default)s.")
    p.add_argument("--p_var", type=float, default=0.75, help="Variance fraction. Default: %(default)s.")
    p.add_argument("--fisher_targets", choices=("empirical", "sampled"), default="empirical",
                   help="Targets of the Fisher: the data's (the original; the gradients vanish at the exact solution, "
                   "so the Fisher is 0 up to rounding) or drawn from the student's Gaussian predictive N(y, 1) (the "
                   "true Fisher of a unit-variance Gaussian likelihood). Default: %(default)s.")
    p.add_argument("--out_dir", default="./out/ideal_student", help="Output folder. Default: %(default)s.")
    return p


def make_teachers(opts: argparse.Namespace) -> tuple[list[SequenceTask], list[Teacher]]:
    """The teachers of the chosen scenario and a test set of ``n_samples`` sequences each."""
    n_in, n_out = opts.input_feature_dim, opts.output_feature_dim
    kwargs = dict(n_in=n_in, n_out=n_out, steps_in=opts.num_timesteps_in, steps_out=opts.num_timesteps_out,
                  orth_A=opts.orth_teacher_hid_mat, rank_A=opts.rank_teacher_hid_mat,
                  max_sv_A=opts.max_sv_teacher_hid_mat)
    if opts.scenario == "flags":
        seeds = task_seeds(opts.data_random_seed, opts.num_tasks)
    else:
        seeds = [1] * opts.num_tasks if opts.scenario == "identical" else list(range(1, opts.num_tasks + 1))
    n = max(opts.n_samples, opts.n_fisher)
    pairs = [teacher_task(s, t, n, n, 0, **kwargs) for t, s in enumerate(seeds)]
    return [p[0] for p in pairs], [p[1] for p in pairs]


def ideal_student(teachers: list[Teacher], hidden: int, n_out: int) -> SimpleRNN:
    """An Elman student (``hidden`` units, one output head of ``n_out`` per teacher) with the ideal weights."""
    net = SimpleRNN(n_in=teachers[0].hidden_size, rnn_layers=[hidden], fc_layers=[n_out * len(teachers)],
                    use_lstm=False, activation_fn="tanh")
    with torch.no_grad():
        for p, w in zip(net.internal_params, ideal_student_weights(teachers, hidden, n_out * len(teachers))):
            p.copy_(w)
    return net


def head_loss(task: int, n_out: int):
    """Per-sample MSE on head ``task`` (the EWC NLL of this family)."""
    def loss(outputs, batch):
        return st_loss(outputs[..., task * n_out:(task + 1) * n_out], batch)
    return loss


@torch.no_grad()
def sampled_targets(net: SimpleRNN, data: SeqSplit, task: int, n_out: int, seed: int = 0) -> SeqSplit:
    """``data`` with its targets replaced by draws from the student's predictive ``N(y, 1)`` on head ``task``."""
    out = net(data.inputs.transpose(0, 1))[..., task * n_out:(task + 1) * n_out].transpose(0, 1)  # [N, T, O]
    noise = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed))
    return SeqSplit(data.inputs, out + noise, data.lengths, data.window)


def analyse(tasks: list[SequenceTask], teachers: list[Teacher], hidden: int, p_var: float, n_samples: int,
            n_fisher: int, fisher_targets: str = "empirical") -> dict:
    """For K = 1..len(teachers): test MSE per task, mean Fisher (hh, ho) of task K, and the dimensionality of the
    states of tasks 1..K (pooled, and per timestep)."""
    n_out = teachers[0].C.shape[0]
    res = {"hidden_sizes": [t.hidden_size for t in teachers], "p_var": p_var, "fisher_targets": fisher_targets,
           "test_mse": [], "fisher_hh": [],
           "fisher_ho": [], "dim_h": [], "dim_y": [], "dim_per_ts_h": [], "dim_per_ts_y": []}
    for K in range(1, len(teachers) + 1):
        net = ideal_student(teachers[:K], hidden, n_out)
        net.eval()
        fisher_data = tasks[K - 1].splits["train"]
        fisher_data = fisher_data.select(torch.arange(min(n_fisher, len(fisher_data))))
        if fisher_targets == "sampled":
            fisher_data = sampled_targets(net, fisher_data, K - 1, n_out)
        fisher = ewc.fisher_diagonal(net, list(net.internal_params), fisher_data, K - 1, head_loss(K - 1, n_out))
        res["fisher_hh"].append(mean_importance(net.param_shapes_meta, fisher, "hh"))
        res["fisher_ho"].append(mean_importance(net.param_shapes_meta, fisher, "ho"))
        hs, ys, mse = [], [], []
        with torch.no_grad():
            for j in range(K):
                test = tasks[j].splits["test"]
                batch = to_batch(test.select(torch.arange(min(n_samples, len(test)))), j)
                out, hidden_y, hidden_h = net(batch.inputs, return_hidden=True, return_hidden_int=True)
                mse.append(float(st_loss(out[..., j * n_out:(j + 1) * n_out], batch).mean()))
                hs.append(hidden_h[0])
                ys.append(hidden_y[0])
        res["test_mse"].append(mse)
        for key, states in (("h", hs), ("y", ys)):
            pooled = pca.pooled(states)  # [T, N*K, H]
            res[f"dim_{key}"].append(pca.num_dimensions(pca.explained_variance_ratio(
                pca.select_timesteps(pooled)), p_var))
            res[f"dim_per_ts_{key}"].append(pca.dims_per_timestep(pooled, p_var)[0])
    return res


def plot(res: dict, stem: Path) -> None:
    """Per-timestep dimensions of h_t and y_t for every K, and the mean Fisher values against K."""
    from sequential.ht_analyses.plots import plt, save_figure

    fig, axes = plt.subplots(1, 3, figsize=(10, 3))
    for K, (dh, dy) in enumerate(zip(res["dim_per_ts_h"], res["dim_per_ts_y"]), start=1):
        axes[0].plot(np.arange(len(dh)), dh, label=f"{K} task(s)")
        axes[1].plot(np.arange(len(dy)), dy, label=f"{K} task(s)")
    axes[0].set(xlabel="timestep", ylabel=f"dims of h_t ({100 * res['p_var']:.0f}% var.)")
    axes[1].set(xlabel="timestep", ylabel="dims of y_t")
    ks = np.arange(1, len(res["fisher_hh"]) + 1)
    axes[2].plot(ks, res["fisher_hh"], "o-", label="Fisher hh")
    axes[2].plot(ks, res["fisher_ho"], "s--", label="Fisher ho")
    axes[2].set(xlabel="tasks solved", ylabel=f"mean Fisher ({res['fisher_targets']} targets)", yscale="log")
    for ax in axes:
        ax.legend(fontsize=7)
    save_figure(fig, stem)


def main(argv: list[str] | None = None) -> dict:
    parser = build_parser()
    opts = parser.parse_args(argv)
    if not 0 < opts.p_var <= 1:
        parser.error(f"--p_var must be a fraction in (0, 1] (got {opts.p_var})")
    if opts.rnn_arch < opts.input_feature_dim * opts.num_tasks:
        parser.error(f"--rnn_arch={opts.rnn_arch} is too small: the ideal student of {opts.num_tasks} teachers needs "
                     f"{opts.input_feature_dim * opts.num_tasks} units")
    try:
        tasks, teachers = make_teachers(opts)
    except ValueError as err:
        parser.error(str(err))
    res = analyse(tasks, teachers, opts.rnn_arch, opts.p_var, opts.n_samples, opts.n_fisher, opts.fisher_targets)
    out = Path(opts.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "ideal_student.json", json.dumps(res, indent=1))
    plot(res, out / "ideal_student")
    for K in range(len(teachers)):
        print(f"{K + 1} task(s): dims h_t {res['dim_h'][K]}, y_t {res['dim_y'][K]}; mean Fisher hh "
              f"{res['fisher_hh'][K]:.3e}, ho {res['fisher_ho'][K]:.3e}; max test MSE {max(res['test_mse'][K]):.1e}")
    return res


if __name__ == "__main__":
    main()
