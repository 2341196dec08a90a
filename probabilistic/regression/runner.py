"""1D regression runner for the BbB family: PR-BbB (opt. LRT), PR-Radial, PR-Dirac, VCL, separate networks.

``run(config) -> summary`` reads top-down: setup -> data -> networks -> for each task: train, evaluate, write
summary and checkpoint -> final report. Loss per iteration (spec §2.3, regression variant):

.. math::
    L = \\mathrm{KL}(q_t \\Vert p) + N_\\text{train} \\frac{1}{S} \\sum_{s=1}^{S}
        \\frac{\\mathrm{MSE}(f(x; w_s), y)}{2\\,\\sigma_\\text{ll}^2} + \\beta\\, L_\\text{reg}

with S = ``train_sample_size``, σ_ll = ``ll_dist_std``, and the hypernetwork output regulariser L_reg over all
previous tasks (mse on raw outputs, or fkl/rkl/w2 between Gaussians, divided once by t).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from data.special.regression1d import InfiniteBatches, RegressionTask, make_task_set
from hnets.hmlp import HMLP
from mnets.mlp import MLP
from probabilistic.gauss_hnet_init import custom_hnet_init_, gauss_hyperfan_init_
from probabilistic.gaussian import gaussian_regularizer
from probabilistic.heads import output_unit_entries
from probabilistic.posterior import WeightPosterior
from probabilistic.posterior import prior_matching as posterior_prior_matching
from probabilistic.regression.evaluate import evaluate_regression, predict_tasks
from probabilistic.regression.plots import plot_mse, plot_predictive_distributions, plot_val_predictions
from probabilistic.regression.summary_keys import LIST_KEYS as _LIST_KEYS
from probabilistic.regression.summary_keys import SUMMARY_KEYS
from utils.checkpoints import checkpoint_exists, load_checkpoint, save_checkpoint
from utils.cli import ConfigError, parse_int_list
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer
from utils.progress import itstime, progress
from utils.run_env import RunEnv, setup_environment
from utils.summary import init_summary, write_summary
from utils.training import NonFiniteLossError


# ---------------------------------------------------------------------------------------------------------------
# Supported options
# ---------------------------------------------------------------------------------------------------------------
def check_supported(config: argparse.Namespace) -> None:
    """Reject options this runner does not implement (yet), instead of silently ignoring them.

    ``--kl_schedule`` is accepted: the regression parser has no ``--kl_scale`` (i.e. 1), and a schedule from
    ``kl_scale`` to 1 then has no effect — as in the original.
    """
    unsupported = {
        "specnorm": config.specnorm, "batchnorm": config.batchnorm,
        "hnet_out_masking": config.hnet_out_masking != 0, "hnet_specnorm": config.hnet_specnorm,
    }
    for flag, used in unsupported.items():
        if used:
            raise ConfigError(f"--{flag} is not supported by the regression runner (not used by any README run)")
    parse_int_list(config.mlp_arch, "mlp_arch")
    parse_int_list(config.hmlp_arch, "hmlp_arch")
    if config.hnet_type != "hmlp" and not config.mnet_only:
        raise ConfigError(f"--hnet_type={config.hnet_type} is not supported for regression yet; use --hnet_type=hmlp")


# ---------------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------------
def posterior_kind(config: argparse.Namespace) -> str:
    return "dirac" if config.mean_only else ("radial" if config.radial_bnn else "gaussian")


def build_posterior(config: argparse.Namespace, num_tasks: int, device: torch.device) -> WeightPosterior:
    """Main network + (hypernetwork or own posterior parameters), initialised as the original runner does."""
    mnet = MLP(n_in=1, n_out=num_tasks if config.multi_head else 1,
               hidden_layers=parse_int_list(config.mlp_arch, "mlp_arch"), activation_fn=config.net_act,
               use_bias=not config.no_bias, no_weights=True, dropout_rate=config.dropout_rate)
    kind = posterior_kind(config)
    hnet = None
    if not config.mnet_only:
        shapes = mnet.param_shapes if kind == "dirac" else mnet.param_shapes + mnet.param_shapes
        hnet = HMLP(shapes, cond_in_size=config.cond_emb_size, layers=parse_int_list(config.hmlp_arch, "hmlp_arch"),
                    activation_fn=config.hnet_net_act, use_bias=not config.hnet_no_bias, num_cond_embs=num_tasks,
                    dropout_rate=config.hnet_dropout_rate)
        if config.hyper_gauss_init:
            gauss_hyperfan_init_(hnet, mnet.param_shapes_meta, config.std_normal_temb, config.keep_orig_init,
                                 mean_only=kind == "dirac")
        else:
            custom_hnet_init_(hnet, config.std_normal_temb, config.normal_init, config.std_normal_init)
    return WeightPosterior(mnet, kind, hnet, config.use_logvar_enc, config.keep_orig_init).to(device)


def head_mask(posterior: WeightPosterior, task_ids: list[int]) -> torch.Tensor:
    """0/1 mask ``[S, outputs]`` hiding other tasks' output heads from the regulariser (multi-head only)."""
    mnet = posterior.mnet
    all_heads = output_unit_entries(mnet, list(range(mnet.n_out)))
    masks = []
    for j in task_ids:
        keep = ~all_heads | output_unit_entries(mnet, [j])  # [P]
        masks.append(keep if posterior.kind == "dirac" else torch.cat([keep, keep]))
    return torch.stack(masks).float().to(next(posterior.parameters()).device)


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def prior_matching(config, posterior: WeightPosterior, raw: torch.Tensor, prior: tuple | None) -> torch.Tensor:
    """The KL-like term of the current task: analytic Gaussian KL, radial MC estimate, or 0 for Dirac."""
    return posterior_prior_matching(posterior, raw, config.prior_variance, config.num_kl_samples, prior)


def regularizer(config, posterior: WeightPosterior, task_id: int, targets: torch.Tensor | None) -> torch.Tensor:
    """β-weighted CL regulariser over all previous tasks (zero for the first task or without a hypernetwork)."""
    if targets is None or task_id == 0:
        return torch.zeros(())
    prev = list(range(task_id))
    current = posterior.raw(prev)  # [t, outputs], one batched call
    if config.regularizer == "mse":
        mask = head_mask(posterior, prev) if config.multi_head else None
        return hnet_output_regularizer(current, targets, mask)
    mean, std = posterior.mean_std(current)
    t_mean, t_std = posterior.mean_std(targets)
    return gaussian_regularizer(config.regularizer, mean, std, t_mean, t_std).sum() / task_id


def train_task(config, env: RunEnv, posterior: WeightPosterior, task: RegressionTask, task_id: int,
               targets: torch.Tensor | None, prior: tuple | None, generator: torch.Generator) -> None:
    """Optimise the posterior of one task (a new Adam optimizer per task, as the original)."""
    # fused: one kernel for all parameter tensors (7x faster than the per-tensor loop for these tiny nets)
    optimizer = torch.optim.Adam(posterior.parameters(), lr=config.lr, betas=(config.adam_beta1, 0.999),
                                 weight_decay=config.weight_decay, fused=True)
    batches = InfiniteBatches(task.num_train, config.batch_size, generator)
    head = task_id if config.multi_head else 0
    use_reg = targets is not None and config.beta > 0
    posterior.train()
    for it in progress(range(config.n_iter), desc=f"task {task_id + 1}"):
        if itstime(it, config.val_iter):
            _log_validation(config, env, posterior, task, task_id, it)
        optimizer.zero_grad()
        idx = batches.next()
        x, y = task.train_x[idx], task.train_y[idx]
        raw = posterior.raw([task_id])  # [1, outputs]: one hypernetwork call per iteration
        loss_kl = prior_matching(config, posterior, raw, prior)
        pred = posterior.predict(x, raw, config.train_sample_size, lrt=config.local_reparam_trick)[0, ..., head]
        mse = ((pred - y[:, 0]) ** 2).mean(dim=1)  # [S]: per-sample-set batch MSE
        loss_nll = task.num_train * (0.5 * mse / config.ll_dist_std**2).mean()
        loss_reg = regularizer(config, posterior, task_id, targets) if use_reg else torch.zeros(())
        loss = loss_kl + loss_nll + config.beta * loss_reg
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss in task {task_id + 1} at iteration {it} "
                                     f"(kl={loss_kl.item():.3g}, nll={loss_nll.item():.3g}, reg={loss_reg.item():.3g})")
        loss.backward()
        if config.clip_grad_value != -1:
            nn.utils.clip_grad_value_(posterior.parameters(), config.clip_grad_value)
        elif config.clip_grad_norm != -1:
            nn.utils.clip_grad_norm_(posterior.parameters(), config.clip_grad_norm)
        optimizer.step()
        if itstime(it, 50):
            for name, value in (("loss_kl", loss_kl), ("loss_nll", loss_nll), ("regularizer", loss_reg),
                                ("loss", loss)):
                env.writer.add_scalar(f"train/task_{task_id}/{name}", value.item(), it)


@torch.no_grad()
def _log_validation(config, env: RunEnv, posterior: WeightPosterior, task: RegressionTask, task_id: int,
                    it: int) -> None:
    """Validation (in-range) and test (wider range) MSE of the current task, with random sampling."""
    posterior.eval()
    head = task_id if config.multi_head else 0
    raw = posterior.raw([task_id])
    lrt = config.local_reparam_trick and not config.disable_lrt_test
    scores = {}
    for split, x, y in (("val", task.val_x, task.val_y), ("test", task.test_x, task.test_y)):
        pred = posterior.predict(x, raw, config.val_sample_size, lrt=lrt)[0, ..., head]  # [V, B]
        scores[split] = ((pred - y[:, 0]) ** 2).mean().item()
        env.writer.add_scalar(f"eval/task_{task_id}/{split}_mse", scores[split], it)
    env.logger.debug(f"Task {task_id + 1}, iteration {it}: val MSE {scores['val']:.5f}, "
                     f"test MSE {scores['test']:.5f}")
    posterior.train()


# ---------------------------------------------------------------------------------------------------------------
# Evaluation, summary, checkpoints
# ---------------------------------------------------------------------------------------------------------------
def model_list(posteriors: nn.ModuleList, n: int) -> list[tuple[WeightPosterior, int]]:
    """(posterior, task id) for the first n tasks: one shared posterior, or one network per task."""
    if len(posteriors) == 1:
        return [(posteriors[0], j) for j in range(n)]
    return [(posteriors[j], j) for j in range(n)]


def test_tasks(config, env: RunEnv, posteriors: nn.ModuleList, tasks: list[RegressionTask], n: int,
               summary: dict, during: dict, lrt: bool | None = None, num_samples: int | None = None) -> dict:
    """Evaluate the first n tasks, update the summary and write the figures.

    Args:
        posteriors: Objects with the interface of :class:`~probabilistic.posterior.WeightPosterior` (``raw``,
            ``predict``): one shared by all tasks, or one per task.
        lrt: Use the local reparametrisation trick (default: from the BbB flags).
        num_samples: Weight samples V (default: ``--val_sample_size``).
    """
    for p in posteriors:
        p.eval()
    if lrt is None:
        lrt = config.local_reparam_trick and not config.disable_lrt_test
    V = config.val_sample_size if num_samples is None else num_samples
    models = model_list(posteriors, n)
    res = evaluate_regression(models, tasks, V, lrt, config.multi_head)
    during["mse"][n - 1] = res.mse[n - 1]
    during["inferred_mse"][n - 1] = res.inferred_mse[n - 1]
    for i in range(n):
        env.writer.add_scalar(f"test/task_{i}/val_mse", res.mse[i], n)
        env.writer.add_scalar(f"test/task_{i}/inferred_val_mse", res.inferred_mse[i], n)
        env.writer.add_scalar(f"test/task_{i}/accuracy", res.task_inference[i], n)
    env.logger.info(f"After {n} task(s): MSE {np.round(res.mse, 5).tolist()}, inferred MSE "
                    f"{np.round(res.inferred_mse, 5).tolist()}, "
                    f"task inference {np.round(res.task_inference, 1).tolist()} %")

    summary["aa_mse_during"][n - 1] = during["mse"][n - 1]
    summary["aa_mse_during_inferred"][n - 1] = during["inferred_mse"][n - 1]
    summary["aa_mse_during_mean"] = float(np.mean(during["mse"][:n]))
    summary["aa_mse_during_inferred_mean"] = float(np.mean(during["inferred_mse"][:n]))
    summary["aa_mse_final"][:n] = res.mse
    summary["aa_mse_final_inferred"][:n] = res.inferred_mse
    summary["aa_task_inference"][:n] = res.task_inference
    summary["aa_mse_final_mean"] = float(np.mean(res.mse))
    summary["aa_mse_final_inferred_mean"] = float(np.mean(res.inferred_mse))
    summary["aa_task_inference_mean"] = float(np.mean(res.task_inference))

    test_x = torch.cat([t.test_x for t in tasks[:n]])
    heads = list(range(n)) if config.multi_head else None
    test_pred = predict_tasks(models, test_x, V, lrt, heads)  # [j, V, n * points]
    idx = torch.arange(n)
    own = test_pred.reshape(n, V, n, -1)[idx, :, idx]  # [n, V, points]
    out = env.out_dir
    plot_predictive_distributions(tasks, own, out, env.writer, n, config.publication_style)
    plot_val_predictions(tasks, res.predictions, out, env.writer, n)
    plot_mse(during["mse"], res.mse, out, env.writer, n)
    return summary


def setup_run(config: argparse.Namespace, script_dir: str | Path | None, argv: list[str] | None
              ) -> tuple[RunEnv, list[RegressionTask], torch.Generator]:
    """Setup phase of every regression runner: out_dir/logger/writer, one CPU thread, the tasks of
    ``--used_task_set`` and the mini-batch generator (seeded with ``--random_seed``)."""
    env = setup_environment(config, script_dir, argv)  # one CPU thread (tiny networks), see limit_cpu_threads
    tasks = make_task_set(config.used_task_set, config.data_random_seed, env.device)
    return env, tasks, torch.Generator(device="cpu").manual_seed(config.random_seed)


def log_final(env: RunEnv, summary: dict, T: int) -> None:
    """The closing log lines of a regression run (results and where the outputs are)."""
    env.logger.info(f"Finished. MSE (final, mean) {summary['aa_mse_final_mean']:.5f}; inferred MSE "
                    f"{summary['aa_mse_final_inferred_mean']:.5f}; task inference "
                    f"{summary['aa_task_inference_mean']:.1f} %.")
    env.logger.info(f"Summary: {env.out_dir / 'performance_overview.txt'}; figures: "
                    f"{env.out_dir / f'pred_dists_{T}.png'} (and val_predictions_*, mse_*); "
                    f"TensorBoard: {env.out_dir / 'summary'}")


def _checkpoint_path(out_dir: Path, task_id: int) -> Path:
    return out_dir / "checkpoints" / f"task_{task_id}"


def _save_state(env: RunEnv, task_id: int, posteriors, targets, prior, summary, during, generator) -> None:
    tensors = {f"model.{k}": v for k, v in posteriors.state_dict().items()}
    if targets is not None:
        tensors["reg_targets"] = targets
    if prior is not None:
        tensors["prior_mean"], tensors["prior_std"] = prior
    tensors["rng_torch"] = torch.get_rng_state()
    tensors["rng_batches"] = generator.get_state()
    save_checkpoint(_checkpoint_path(env.out_dir, task_id), tensors,
                    {"task_id": task_id, "num_models": len(posteriors), "summary": summary, "during": during})


def _latest_checkpoint(out_dir: Path, num_tasks: int) -> int:
    """Index of the last task with a complete checkpoint, or -1."""
    done = [t for t in range(num_tasks) if checkpoint_exists(_checkpoint_path(out_dir, t))]
    return max(done, default=-1)


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train and test all tasks of ``--used_task_set``; returns the summary dict (also written to out_dir)."""
    # --- setup ---
    check_supported(config)
    env, tasks, generator = setup_run(config, script_dir, argv)
    device, T = env.device, len(tasks)

    # --- networks ---
    posteriors = nn.ModuleList([build_posterior(config, T, device)])
    num_main = posteriors[0].mnet.num_params * (1 if posteriors[0].kind == "dirac" else 2)
    num_hyper = posteriors[0].hnet.num_params if posteriors[0].hnet is not None else -1
    summary = init_summary(SUMMARY_KEYS, _LIST_KEYS, T)
    summary.update(aa_num_weights_main=num_main, aa_num_weights_hyper=num_hyper,
                   aa_num_weights_ratio=num_hyper / num_main if num_hyper > 0 else -1, finished=0)
    during = {"mse": [-1.0] * T, "inferred_mse": [-1.0] * T}
    env.logger.info(f"Main network: {num_main} posterior parameters; hypernetwork: {num_hyper} weights.")

    # --- resume from the last complete task checkpoint, if any ---
    start, targets, prior = 0, None, None
    last = _latest_checkpoint(env.out_dir, T)
    if last >= 0:
        tensors, meta = load_checkpoint(_checkpoint_path(env.out_dir, last), device)
        while len(posteriors) < meta["num_models"]:
            posteriors.append(build_posterior(config, T, device))
        posteriors.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        summary, during = meta["summary"], meta["during"]
        if "prior_mean" in tensors:
            prior = (tensors["prior_mean"], tensors["prior_std"])
        torch.set_rng_state(tensors["rng_torch"].cpu())
        generator.set_state(tensors["rng_batches"].cpu())
        start = last + 1
        env.logger.info(f"Resuming after task {start} from {env.out_dir / 'checkpoints'}.")

    # --- tasks ---
    for task_id in range(start, T):
        if config.train_from_scratch and task_id > 0:
            posteriors.append(build_posterior(config, T, device))
        current = posteriors[-1]
        shared_hnet = current.hnet is not None and not config.train_from_scratch
        targets = compute_targets(current.hnet, task_id) if shared_hnet and task_id > 0 else None
        if config.use_prev_post_as_prior and task_id > 0:
            prior = _previous_posterior(config, current, task_id)
        env.logger.info(f"Training task {task_id + 1}/{T} ({tasks[task_id].spec.name}) for {config.n_iter} iterations.")
        train_task(config, env, current, tasks[task_id], task_id, targets, prior, generator)
        summary = test_tasks(config, env, posteriors, tasks, task_id + 1, summary, during)
        write_summary(env.out_dir, summary)
        _save_state(env, task_id, posteriors, targets, prior, summary, during, generator)

    # --- final report ---
    summary["finished"] = 1
    write_summary(env.out_dir, summary)
    if config.store_final_model:
        save_checkpoint(env.out_dir / "checkpoints" / "final",
                        {f"model.{k}": v for k, v in posteriors.state_dict().items()},
                        {"num_models": len(posteriors)})
    log_final(env, summary, T)
    env.close()
    return summary


@torch.no_grad()
def _previous_posterior(config, posterior: WeightPosterior, task_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """VCL prior: the detached posterior after the previous task; multi-head: untrained heads get the N(0, σ_p²)
    prior back (as the regression trainer does)."""
    mean, std = posterior.mean_std(posterior.raw([task_id - 1]))
    mean, std = mean.clone(), std.clone()
    if config.multi_head:
        untrained = output_unit_entries(posterior.mnet, list(range(task_id, posterior.mnet.n_out)))
        mean[:, untrained] = 0.0
        std[:, untrained] = math.sqrt(config.prior_variance)
    return mean, std
