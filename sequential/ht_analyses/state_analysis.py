"""Hidden-state analysis of EWC / SI runs: one run folder, or a sweep folder of runs (spec §5.2).

For every task t the run's checkpoint after task t (``--store_during_models``) is loaded and gives: the mean
importance (Fisher or SI Omega) of the hidden-to-hidden and Elman hidden-to-output weights; the test loss and
accuracy on tasks ``<= t``; the PCA of the hidden states of tasks ``<= t`` pooled over samples and the chosen
timesteps (copy task: relative to the stop flag), its dimensionality at ``--p_var``, and the dimensionality per
timestep; optionally the supervised dimensionality. The final checkpoint (``--store_final_models``) gives the PCA
over all tasks, each task's own dimensionality (their sum against the pooled one), the overlap of later tasks with
task 1's top principal components, the output-head similarity (multi-head) and, for the time-permuted copy task,
the accuracy of each output step against its BPTT distance.

Results go to ``<run>/pca_analyses/results.json`` with the figures of :mod:`sequential.ht_analyses.plots`; a
sweep folder (``sim_*`` / ``20*`` subfolders holding runs) also gets ``pca_analyses/seed_groups.json`` and the
``complexity_effects`` and ``dimension_per_ts_by_complexity`` figures across runs. The family scripts
(``sequential/copy/copy_state_analysis.py``, ...) call :func:`main` with their family.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sequential.ht_analyses import bptt, pca, plots
from sequential.ht_analyses.head_similarity import head_similarity
from sequential.ht_analyses.importance import mean_importance
from sequential.ht_analyses.supervised_dimred import SdrOptions, loss_vs_dims
from sequential.stored_models import FINAL_NAME, StoredRun, during_name, hidden_states, load_config, load_run
from utils.atomic import atomic_write_text
from utils.cli import ConfigError

logger = logging.getLogger(__name__)

#: Parser mode -> (flag measuring task complexity across runs, its name in figures).
COMPLEXITY = {
    "copy": ("first_task_input_len", "pattern length"),
    "split_audioset": ("num_classes_per_task", "classes per task"),
    "seq_smnist": ("ssmnist_seq_len", "digits per sequence"),
    "student_teacher": ("input_feature_dim", "input features"),
    "split_smnist": ("num_classes_per_task", "classes per task"),
}
RESULTS_DIR = "pca_analyses"


# ----------------------------------------------------------------------------------------------------------
# Command line
# ----------------------------------------------------------------------------------------------------------
def build_parser(family: str) -> argparse.ArgumentParser:
    """The analysis scripts' flags (the original's, with ``--p_var`` a float)."""
    p = argparse.ArgumentParser(description=f"Dimensionality of the hidden states of {family} runs (EWC / SI).")
    p.add_argument("out_dir", help="A run folder, or a sweep folder whose sim_* subfolders hold runs.")
    p.add_argument("--redo_analyses", action="store_true", help="Recompute results stored by an earlier call.")
    p.add_argument("--do_kernel_pca", action="store_true",
                   help="Also compute the dimensionality with cosine-kernel PCA (at most 2000 rows).")
    p.add_argument("--do_supervised_dimred", action="store_true",
                   help="Also learn the task-relevant dimensions with supervised dimensionality reduction.")
    p.add_argument("--p_var", type=float, default=0.75,
                   help="Fraction of variance the dimensions must explain. Default: %(default)s.")
    p.add_argument("--n_pcs", type=int, default=10,
                   help="Number of task-1 PCs at which the overlap enters the complexity figure. Default: %(default)s.")
    p.add_argument("--n_samples", type=int, default=1000,
                   help="Rows (sample x timestep) drawn for each pooled PCA, -1 = all. Default: %(default)s.")
    p.add_argument("--timesteps_for_analysis", default="output", choices=pca.TIMESTEP_CHOICES,
                   help="Timesteps pooled for the PCA (copy task: relative to the stop flag; the other families "
                   "use all, or last for AudioSet). Default: %(default)s.")
    p.add_argument("--num_tasks", type=int, default=-1, help="Tasks to analyse (-1 = all). Default: %(default)s.")
    p.add_argument("--overlap_step", type=int, default=10,
                   help="Step in the number of task-1 PCs for the overlap curves. Default: %(default)s.")
    p.add_argument("--sup_dimred_criterion", type=float, default=-1,
                   help="Stop adding supervised dimensions at this accuracy (-1 = explore all). Default: %(default)s.")
    p.add_argument("--sdr_orth_strength", type=float, default=1e3, help="Orthogonality penalty. Default: %(default)s.")
    p.add_argument("--sdr_lr", type=float, default=1e-2, help="Learning rate. Default: %(default)s.")
    p.add_argument("--sdr_batch_size", type=int, default=64, help="Batch size. Default: %(default)s.")
    p.add_argument("--sdr_n_iter", type=int, default=100, help="Iterations per basis column. Default: %(default)s.")
    p.add_argument("--sdr_max_dims", type=int, default=-1,
                   help="Most supervised dimensions to learn (-1 = all hidden units). Default: %(default)s.")
    return p


def parse_options(family: str, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse and check the analysis flags; a bad value exits with one line naming the flag (code 2)."""
    parser = build_parser(family)
    opts = parser.parse_args(argv)
    if not 0 < opts.p_var <= 1:
        parser.error(f"--p_var must be a fraction in (0, 1] (got {opts.p_var})")
    for flag in ("n_pcs", "overlap_step", "sdr_batch_size", "sdr_n_iter"):
        if getattr(opts, flag) <= 0:
            parser.error(f"--{flag} must be positive (got {getattr(opts, flag)})")
    if opts.n_samples != -1 and opts.n_samples < 2:
        parser.error(f"--n_samples must be -1 or >= 2 (got {opts.n_samples})")
    return opts


# ----------------------------------------------------------------------------------------------------------
# One run
# ----------------------------------------------------------------------------------------------------------
def stop_step(config: argparse.Namespace) -> int | None:
    """Step of the copy task's stop flag (all inputs of equal length); None for the other families."""
    if config.parser_mode != "copy":
        return None
    if config.input_len_step != 0 or config.input_len_variability != 0:
        raise ConfigError("the copy-task state analysis needs equal input lengths: the run must use "
                          "--input_len_step=0 --input_len_variability=0")
    return config.pat_len if config.pad_after_stop else config.first_task_input_len


def timestep_choice(config: argparse.Namespace, requested: str) -> str:
    """The timestep selection a family supports (only the copy task has a stop flag to align on)."""
    mode = config.parser_mode
    allowed = {"copy": pca.TIMESTEP_CHOICES, "split_audioset": ("all", "last")}.get(mode, ("all",))
    if requested not in allowed:
        logger.warning(f"--timesteps_for_analysis={requested} is not available for {mode}; using all timesteps")
        return "all"
    return requested


def _pooled_pca(states: list[torch.Tensor], which: str, stop: int | None, p_var: float, n_samples: int,
                rng: np.random.RandomState) -> tuple[list[float], int]:
    x = pca.subsample(np.concatenate([pca.select_timesteps(s, which, stop) for s in states]), n_samples, rng)
    ratio = pca.explained_variance_ratio(x)
    return np.cumsum(ratio).tolist(), pca.num_dimensions(ratio, p_var)


def _kernel_pca(states: list[torch.Tensor], which: str, stop: int | None, p_var: float, n_samples: int,
                rng: np.random.RandomState) -> tuple[list[float], int]:
    x = pca.subsample(np.concatenate([pca.select_timesteps(s, which, stop) for s in states]), n_samples, rng)
    ratio = pca.kernel_explained_variance(x, rng=rng)
    return np.cumsum(ratio).tolist(), pca.num_dimensions(ratio, p_var)


def _per_timestep_dims(states: list[torch.Tensor], p_var: float) -> list[int]:
    T = min(s.shape[0] for s in states)
    return pca.dims_per_timestep(np.concatenate([s[:T].double().numpy() for s in states], axis=1), p_var)[0]


def _nan_to_none(obj):
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_nan_to_none(v) for v in obj]
    if isinstance(obj, np.generic):
        return _nan_to_none(obj.item())
    if isinstance(obj, np.ndarray):
        return _nan_to_none(obj.tolist())
    return obj


def _states(run: StoredRun, task: int) -> dict[str, torch.Tensor]:
    return {k: v.cpu() for k, v in hidden_states(run.config, run.model, run.fam, task).items()}


def analyse_run(out_dir: str | Path, opts: argparse.Namespace) -> dict:
    """All analyses of one run folder (see the module docstring); returns the results dict (also written)."""
    from sequential.runner import evaluate

    out_dir = Path(out_dir)
    results_path = out_dir / RESULTS_DIR / "results.json"
    if results_path.exists() and not opts.redo_analyses:
        return json.loads(results_path.read_text())
    config = load_config(out_dir)
    if not (config.use_ewc or config.use_si):
        raise ConfigError(f"{out_dir}: the state analysis needs a run trained with --use_ewc or --use_si")
    stop = stop_step(config)
    which = timestep_choice(config, opts.timesteps_for_analysis)
    num_tasks = config.num_tasks if opts.num_tasks == -1 else min(opts.num_tasks, config.num_tasks)
    measure, measure_name = COMPLEXITY.get(config.parser_mode, ("num_tasks", "tasks"))
    rng = np.random.RandomState(0)
    run = load_run(out_dir, during_name(0))
    meta = run.model.mnet.param_shapes_meta
    regression = run.fam.kind == "regression"
    res: dict = {
        "run": str(out_dir), "family": config.parser_mode, "complexity_measure": measure,
        "complexity_measure_name": measure_name, "complexity": vars(config)[measure],
        "method": "ewc" if config.use_ewc else "si", "importance_name": "Fisher" if config.use_ewc else "Omega",
        "num_tasks": num_tasks, "p_var": opts.p_var, "timesteps": which, "stop_step": stop,
        "final_acc": [], "final_loss": [], "mean_importance": [], "mean_importance_ho": [],
        "cum_expl_var_h": [], "dim_h": [], "cum_expl_var_y": [], "dim_y": [], "dim_per_ts_h": [], "dim_per_ts_y": [],
    }
    if opts.do_kernel_pca:
        res.update({"kcum_expl_var_h": [], "kdim_h": []})
    if opts.do_supervised_dimred:
        res.update({"loss_n_dim_supervised": [], "accu_n_dim_supervised": []})
        if stop is not None:
            res.update({"loss_n_dim_sup_at_stop": [], "accu_n_dim_sup_at_stop": []})
    sdr = SdrOptions(opts.sdr_orth_strength, opts.sdr_lr, opts.sdr_batch_size, opts.sdr_n_iter, opts.sdr_max_dims,
                     opts.sup_dimred_criterion)

    # --- during models: tasks learnt so far -----------------------------------------------------------------
    for t in range(num_tasks):
        run.load(during_name(t))
        importance = run.method.importance()
        res["mean_importance"].append(mean_importance(meta, importance, "hh"))
        res["mean_importance_ho"].append(mean_importance(meta, importance, "ho"))
        scores = [evaluate(config, run.model, run.fam, j) for j in range(t + 1)]
        res["final_acc"].append(None if regression else float(np.mean([s[0] for s in scores])))
        res["final_loss"].append(float(np.mean([s[1] for s in scores])))
        states = [_states(run, j) for j in range(t + 1)]
        for key, name in (("h", "h_int"), ("y", "y")):
            cum, dim = _pooled_pca([s[name] for s in states], which, stop, opts.p_var, opts.n_samples, rng)
            res[f"cum_expl_var_{key}"].append(cum)
            res[f"dim_{key}"].append(dim)
            res[f"dim_per_ts_{key}"].append(_per_timestep_dims([s[name] for s in states], opts.p_var))
        if opts.do_kernel_pca:
            cum, dim = _kernel_pca([s["h_int"] for s in states], which, stop, opts.p_var, opts.n_samples, rng)
            res["kcum_expl_var_h"].append(cum)
            res["kdim_h"].append(dim)
        if opts.do_supervised_dimred:
            losses, accs = loss_vs_dims(config, run.model, run.fam, t, sdr)
            res["loss_n_dim_supervised"].append(losses)
            res["accu_n_dim_supervised"].append(accs)
            if stop is not None:
                losses, accs = loss_vs_dims(config, run.model, run.fam, t, sdr, at_step=stop)
                res["loss_n_dim_sup_at_stop"].append(losses)
                res["accu_n_dim_sup_at_stop"].append(accs)

    # --- final model: all tasks -------------------------------------------------------------------------------
    run.load(FINAL_NAME)
    final = [_states(run, j) for j in range(num_tasks)]
    for key, name in (("h", "h_int"), ("y", "y")):
        cum, dim = _pooled_pca([s[name] for s in final], which, stop, opts.p_var, opts.n_samples, rng)
        res[f"cum_expl_var_all_tasks_{key}"], res[f"dim_all_tasks_{key}"] = cum, dim
        singles = [_pooled_pca([s[name]], which, stop, opts.p_var, opts.n_samples, rng)[1] for s in final]
        res[f"dim_single_task_{key}"] = singles
        res[f"sum_of_task_dims_{key}"] = int(sum(singles))
    if opts.do_kernel_pca:
        res["kcum_expl_var_all_tasks_h"], res["kdim_all_tasks_h"] = _kernel_pca(
            [s["h_int"] for s in final], which, stop, opts.p_var, opts.n_samples, rng)
    rows = [pca.subsample(pca.select_timesteps(s["h_int"], which, stop), opts.n_samples, rng) for s in final]
    res["overlap_k"], res["overlap_with_task1"] = pca.overlap_curve(rows[0], rows[1:], opts.overlap_step)
    if config.multi_head and not config.hnet_all:
        out_weight = run.model.mnet.resolve_weights(run.model.task_weights(num_tasks - 1))[0][-2]
        res["head_similarity"] = head_similarity(out_weight, config.num_tasks, run.fam.head_dim).tolist()
    if config.parser_mode == "copy" and config.permute_time and not (config.permute_width or config.permute_xor):
        add_bptt_results(res, run, final, stop, num_tasks)
    logger.info(f"{out_dir}: sum of single-task dims {res['sum_of_task_dims_h']} vs pooled dims "
                f"{res['dim_all_tasks_h']} (h_t)")
    write_results(out_dir, res)
    return res


def add_bptt_results(res: dict, run: StoredRun, final: list[dict], stop: int, num_tasks: int) -> None:
    """Per task: the time permutation, accuracy per output step and accuracy per BPTT distance (final model)."""
    config = run.config
    p = config.first_task_input_len if config.pat_len == -1 else config.pat_len
    res.update({"permutation": [], "acc_per_output_step": [], "bptt_distance": [], "acc_vs_bptt": []})
    for j in range(num_tasks):
        perm = bptt.time_permutation(config.data_random_seed, j, p)
        test = run.fam.tasks[j].splits["test"]
        accs = bptt.accuracy_per_output_step(final[j]["outputs"], test.targets.transpose(0, 1).cpu(),
                                             test.window.transpose(0, 1).cpu(), stop, p)
        ds, acc_d = bptt.accuracy_vs_distance(accs, bptt.bptt_distances(perm, stop))
        res["permutation"].append(perm.tolist())
        res["acc_per_output_step"].append(accs.tolist())
        res["bptt_distance"].append(ds)
        res["acc_vs_bptt"].append(acc_d)


def write_results(out_dir: Path, res: dict) -> list[Path]:
    """``pca_analyses/results.json`` and the run's figures."""
    folder = out_dir / RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / "results.json", json.dumps(_nan_to_none(res), indent=1))
    figures = plots.importance_vs_task(res, folder / "importance_vs_task")
    figures += plots.dimension_per_task(res, folder / "dimension_per_task")
    figures += plots.dims_per_timestep(res, folder / "dimension_per_ts")
    if res["overlap_with_task1"]:
        figures += plots.dimension_onto_task1(res, folder / "dimension_onto_task1")
    if "acc_vs_bptt" in res:
        figures += plots.accuracy_vs_bptt(res, folder / "acc_vs_bptt_steps")
    if "accu_n_dim_supervised" in res:
        figures += plots.supervised_dims(res, folder / "supervised_dims")
    if "head_similarity" in res:
        figures += plots.head_similarity(np.array(res["head_similarity"]), folder / "out_head_similarity")
    return figures


# ----------------------------------------------------------------------------------------------------------
# A sweep of runs
# ----------------------------------------------------------------------------------------------------------
def run_folders(folder: str | Path) -> list[Path]:
    """The run itself, or the finished runs (``config.json`` + final checkpoint) in ``sim_*``/``20*`` subfolders."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no such folder")
    if (folder / "config.json").exists():
        return [folder]
    runs = sorted(p for p in folder.iterdir() if p.is_dir() and (p.name.startswith("sim_") or p.name.startswith("20"))
                  and (p / "config.json").exists())
    if not runs:
        raise ConfigError(f"{folder}: neither a run folder (config.json) nor a sweep folder with sim_* runs")
    return runs


def group_by_complexity(results: list[dict]) -> list[dict]:
    """Per complexity value: the runs and the per-run numbers of the complexity figure."""
    groups: dict = {}
    for r in results:
        g = groups.setdefault(r["complexity"], {"complexity": r["complexity"], "runs": [], "final_perf": [],
                                                "dim": [], "overlap": [], "importance": []})
        g["runs"].append(r["run"])
        g["final_perf"].append(r["final_loss"][-1] if r["final_acc"][-1] is None else r["final_acc"][-1])
        g["dim"].append(r["dim_all_tasks_h"])
        curves, ks = r["overlap_with_task1"], r["overlap_k"]
        g["overlap"].append(curves[-1][min(range(len(ks)), key=lambda i: abs(ks[i] - r["n_pcs"]))] if curves
                            else float("nan"))
        g["importance"].append(float(np.nanmean([v if v is not None else np.nan for v in r["mean_importance"]])))
    return [groups[k] for k in sorted(groups)]


def analyse(folder: str | Path, opts: argparse.Namespace) -> list[dict]:
    """Analyse every run of ``folder``; a sweep also gets ``seed_groups.json`` and ``complexity_effects``."""
    folder = Path(folder)
    runs = run_folders(folder)
    results = []
    for r in runs:
        res = analyse_run(r, opts)
        res["n_pcs"] = opts.n_pcs
        results.append(res)
    if len(runs) > 1 or runs[0] != folder:
        groups = group_by_complexity(results)
        out = folder / RESULTS_DIR
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "seed_groups.json", json.dumps(_nan_to_none(groups), indent=1))
        name = results[0]["complexity_measure_name"]
        plots.complexity_effects(groups, name, out / "complexity_effects")
        plots.dims_per_timestep_by_complexity(results, name, out / "dimension_per_ts_by_complexity")
    return results


def main(family: str, argv: Sequence[str] | None = None) -> list[dict]:
    """Entry point of the ``*_state_analysis.py`` scripts (``family``: the parser mode of the analysed runs)."""
    opts = parse_options(family, argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_grad_enabled(True)
    try:
        for run in run_folders(opts.out_dir):
            mode = load_config(run).parser_mode
            if mode != family:
                raise ConfigError(f"{run} is a {mode} run; this script analyses {family} runs")
        results = analyse(opts.out_dir, opts)
    except (ConfigError, FileNotFoundError) as err:
        sys.stderr.write(f"{family}_state_analysis: error: {err}\n")
        raise SystemExit(2) from None
    for r in results:
        print(f"{r['run']}: dims (h_t, p_var={opts.p_var}) per task {r['dim_h']}, all tasks {r['dim_all_tasks_h']}, "
              f"sum of single-task dims {r['sum_of_task_dims_h']}")
    return results
