"""1D regression runner for online EWC: one deterministic main network trained task after task, single head or
``--multi_head`` (then a per-head Laplace posterior N(φ*, F⁻¹) gives uncertainty-based task inference).

``run(config) -> summary`` reads top-down like :mod:`probabilistic.regression.runner` (whose evaluation, figures
and summary code it shares). Loss per iteration (spec §2.10):

.. math::
    L = N_\\text{train} \\frac{\\mathrm{MSE}(f(x; \\phi), y)}{2\\,\\sigma_\\text{ll}^2}
        + \\frac{1}{2\\sigma_p^2} \\Big[ \\lVert \\phi_\\text{shared} \\rVert^2_{(t = 0)}
        + \\lVert \\phi_\\text{head}_t \\rVert^2 \\Big]
        + \\lambda_\\text{EWC}\\, \\frac{1}{2} \\sum_i F_i (\\phi_i - \\phi^*_i)^2_{(t > 0)}

The Fisher F is estimated after every task (:mod:`probabilistic.ewc`); the original's in-place γ decay on every
iteration and the N/n scaling of the prior offset are reproduced unless ``--fix_online_ewc``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor, nn

from data.special.regression1d import InfiniteBatches, RegressionTask
from mnets.base import flatten_weights, unflatten_weights
from mnets.mlp import MLP
from probabilistic.ewc import (
    LaplacePosterior,
    ewc_prior_offset,
    fisher_diagonal,
    gaussian_prior_penalty,
    per_sample_grads,
)
from probabilistic.heads import output_unit_entries
from probabilistic.regression.runner import (
    _LIST_KEYS,
    NonFiniteLossError,
    log_final,
    setup_run,
    test_tasks,
)
from probabilistic.regression.summary_keys import SUMMARY_KEYS_EWC
from utils.checkpoints import save_checkpoint
from utils.cli import ConfigError, parse_int_list
from utils.ewc import decay_fisher_, ewc_penalty, online_fisher
from utils.progress import itstime, progress
from utils.run_env import RunEnv
from utils.summary import init_summary, write_summary
from utils.task_state import latest_task, load_task_state, save_task_state
from utils.training import clip_gradients, make_optimizer


# ---------------------------------------------------------------------------------------------------------------
# Shared with the multitask runner
# ---------------------------------------------------------------------------------------------------------------
def check_supported(config: argparse.Namespace) -> None:
    """Reject options the deterministic regression runners do not implement."""
    for flag in ("batchnorm", "plateau_lr_scheduler", "lambda_lr_scheduler"):
        if vars(config).get(flag):
            raise ConfigError(f"--{flag} is not supported by the regression runner (not used by any README run)")
    parse_int_list(config.mlp_arch, "mlp_arch")


def build_mnet(config: argparse.Namespace, num_tasks: int) -> tuple[MLP, nn.Parameter]:
    """Main network (architecture) and its flat, trainable weights φ ``[P]`` (the network's default init)."""
    kwargs = dict(n_in=1, n_out=num_tasks if config.multi_head else 1,
                  hidden_layers=parse_int_list(config.mlp_arch, "mlp_arch"), activation_fn=config.net_act,
                  use_bias=not config.no_bias, dropout_rate=config.dropout_rate)
    init = MLP(**kwargs)
    phi = nn.Parameter(flatten_weights([p.data for p in init.internal_params]))
    return MLP(**kwargs, no_weights=True), phi


def regression_nll(config: argparse.Namespace, head: int):
    """Per-batch negative log-likelihood ``sum_b (f_head(x_b) - y_b)² / (2σ_ll²)`` as ``nll(out [B, O], y [B, 1])``."""
    def nll(out: Tensor, y: Tensor) -> Tensor:
        return 0.5 * ((out[:, head] - y[:, 0]) ** 2).sum() / config.ll_dist_std**2
    return nll


@torch.no_grad()
def log_validation(config, env: RunEnv, mnet: MLP, phi: Tensor, tasks: list[RegressionTask], task_ids: list[int],
                   it: int, tag: str) -> None:
    """Deterministic validation/test MSE of the given tasks (their own heads) at iteration ``it``."""
    weights = unflatten_weights(phi, mnet.param_shapes)
    msg = []
    for j in task_ids:
        head = j if config.multi_head else 0
        for split, x, y in (("val", tasks[j].val_x, tasks[j].val_y), ("test", tasks[j].test_x, tasks[j].test_y)):
            mse = ((mnet(x, weights)[:, head] - y[:, 0]) ** 2).mean().item()
            env.writer.add_scalar(f"eval/task_{j}/{split}_mse" if tag == "" else f"eval/{tag}/task_{j}/{split}_mse",
                                  mse, it)
            if split == "val":
                msg.append(f"task {j + 1} val MSE {mse:.5f}")
    env.logger.debug(f"Iteration {it}: " + ", ".join(msg))


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def head_masks(config, mnet: MLP, task_id: int) -> tuple[Tensor, Tensor | None]:
    """Boolean ``[P]`` masks of the shared weights and of the current head's weights (None for one head)."""
    if not config.multi_head:
        return torch.ones(mnet.num_params, dtype=torch.bool), None
    all_heads = output_unit_entries(mnet, list(range(mnet.n_out)))
    return ~all_heads, output_unit_entries(mnet, [task_id])


def train_task(config, env: RunEnv, mnet: MLP, phi: nn.Parameter, tasks: list[RegressionTask], task_id: int,
               ewc_state: dict | None, generator: torch.Generator) -> None:
    """Optimise φ on one task (a new optimizer per task) with the prior term and the EWC penalty."""
    task = tasks[task_id]
    optimizer = make_optimizer(config, [phi])
    batches = InfiniteBatches(task.num_train, config.batch_size, generator)
    nll = regression_nll(config, task_id if config.multi_head else 0)
    shared, head = head_masks(config, mnet, task_id)
    prior_mask = (shared if task_id == 0 or config.train_from_scratch else torch.zeros_like(shared))
    if head is not None:
        prior_mask = prior_mask | head
    prior_mask = prior_mask.to(phi.device)
    for it in progress(range(config.n_iter), desc=f"task {task_id + 1}"):
        if itstime(it, config.val_iter):
            log_validation(config, env, mnet, phi.detach(), tasks, [task_id], it, "")
        optimizer.zero_grad()
        idx = batches.next()
        out = mnet(task.train_x[idx], unflatten_weights(phi, mnet.param_shapes))  # [B, O]
        loss_nll = task.num_train / len(idx) * nll(out, task.train_y[idx])  # N_train * mean NLL
        loss_prior = gaussian_prior_penalty(phi, prior_mask, config.prior_variance)
        loss_ewc = torch.zeros((), device=phi.device)
        if ewc_state is not None:
            if not config.fix_online_ewc:
                decay_fisher_([ewc_state["fisher"]], config.ewc_gamma)  # the original's per-call in-place decay
            loss_ewc = ewc_penalty([phi], [ewc_state["phi_star"]], [ewc_state["fisher"]])
        loss = loss_nll + loss_prior + config.ewc_lambda * loss_ewc
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss in task {task_id + 1} at iteration {it}")
        loss.backward()
        clip_gradients(config, [phi])
        optimizer.step()
        if itstime(it, 50):
            for name, value in (("loss_nll", loss_nll), ("loss_prior", loss_prior), ("ewc_reg", loss_ewc),
                                ("loss", loss)):
                env.writer.add_scalar(f"train/task_{task_id}/{name}", value.item(), it)


def update_fisher(config, env: RunEnv, mnet: MLP, phi: Tensor, task: RegressionTask, task_id: int,
                  old: Tensor | None, generator: torch.Generator) -> Tensor:
    """Empirical Fisher of task ``task_id`` at φ* (``n_fisher`` random training samples, or all), accumulated
    online with the previous one."""
    n = task.num_train if config.n_fisher == -1 else min(config.n_fisher, task.num_train)
    idx = torch.randperm(task.num_train, generator=generator)[:n].to(phi.device)
    grads = per_sample_grads(mnet, phi, task.train_x[idx], task.train_y[idx],
                             regression_nll(config, task_id if config.multi_head else 0))  # [n, P]
    shared, head = head_masks(config, mnet, task_id)
    offset = ewc_prior_offset(shared.to(phi.device), None if head is None else head.to(phi.device),
                              0 if config.train_from_scratch else task_id, config.prior_variance)
    new = fisher_diagonal(grads, task.num_train, offset, scale_offset=not config.fix_online_ewc)
    fisher = online_fisher([new], None if old is None else [old], config.ewc_gamma)[0]
    for name, value in (("min_fisher", fisher.min()), ("max_fisher", fisher.max()), ("fisher", fisher.mean())):
        env.writer.add_scalar(f"ewc/{name}", value.item(), task_id)
    return fisher


def save_ewc_state(env: RunEnv, task_id: int, phi: Tensor, fisher: Tensor, ewc_state: dict | None,
                   posteriors: nn.ModuleList, summary: dict, during: dict, generator: torch.Generator) -> None:
    """Everything the run continues from after task ``task_id``: φ, the Fisher, the EWC anchor, each test-time
    posterior as its (φ*, Fisher, number of trained heads), the summary and the random states."""
    tensors = {"phi": phi, "fisher": fisher, "rng_batches": generator.get_state()}
    if ewc_state is not None:
        tensors["phi_star"] = ewc_state["phi_star"]
    for j, post in enumerate(posteriors):
        tensors[f"post_phi_{j}"], tensors[f"post_fisher_{j}"] = post.source  # (φ*, Fisher or None)
    # clones: φ*, the Fisher and the posteriors' sources are often one tensor (safetensors refuses shared memory)
    tensors = {k: v.detach().clone() for k, v in tensors.items() if v is not None}
    save_task_state(env.out_dir, task_id, nn.ModuleList(), tensors,
                    {"num_trained": [post.num_trained for post in posteriors], "summary": summary, "during": during})


def laplace_posterior(config, mnet: MLP, phi: Tensor, fisher: Tensor, num_trained: int) -> LaplacePosterior:
    """Test-time posterior: per head N(φ*, F⁻¹) (multi-head; untrained heads at the prior) or φ* itself."""
    if not config.multi_head:
        post = LaplacePosterior(mnet, phi)
    else:
        heads = [output_unit_entries(mnet, [j]).to(phi.device) for j in range(mnet.n_out)]
        post = LaplacePosterior(mnet, phi, fisher.rsqrt(), heads, num_trained, config.prior_variance**0.5)
    post.source, post.num_trained = (phi, fisher), num_trained  # what a checkpoint rebuilds it from
    return post


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train and test all tasks with online EWC; returns the summary dict (also written to out_dir)."""
    # --- setup ---
    check_supported(config)
    env, tasks, generator = setup_run(config, script_dir, argv)
    device, T = env.device, len(tasks)

    # --- networks ---
    mnet, phi = build_mnet(config, T)
    mnet, phi = mnet.to(device), nn.Parameter(phi.data.to(device))
    summary = init_summary(SUMMARY_KEYS_EWC, _LIST_KEYS, T)
    summary.update(aa_num_weights_main=mnet.num_params, finished=0)
    during = {"mse": [-1.0] * T, "inferred_mse": [-1.0] * T}
    env.logger.info(f"Main network: {mnet.num_params} weights; {'multi' if config.multi_head else 'single'} head.")

    # --- resume after the last finished task, if any ---
    ewc_state, fisher, posteriors, start = None, None, nn.ModuleList(), 0
    last = latest_task(env.out_dir, T)
    if last >= 0:
        tensors, meta = load_task_state(env.out_dir, last, nn.ModuleList(), device)
        generator.set_state(tensors["rng_batches"].cpu())
        phi = nn.Parameter(tensors["phi"])
        fisher = tensors.get("fisher")
        if "phi_star" in tensors:
            ewc_state = {"phi_star": tensors["phi_star"], "fisher": fisher}
        posteriors = nn.ModuleList([
            laplace_posterior(config, mnet, tensors[f"post_phi_{j}"], tensors.get(f"post_fisher_{j}"), n)
            for j, n in enumerate(meta["num_trained"])])
        summary, during, start = meta["summary"], meta["during"], last + 1
        env.logger.info(f"Resuming after task {start} from {env.out_dir / 'checkpoints'}.")

    # --- tasks ---
    for task_id in range(start, T):
        if config.train_from_scratch and task_id > 0:
            mnet, phi = build_mnet(config, T)
            mnet, phi, fisher = mnet.to(device), nn.Parameter(phi.data.to(device)), None
        env.logger.info(f"Training task {task_id + 1}/{T} ({tasks[task_id].spec.name}) for {config.n_iter} iterations.")
        train_task(config, env, mnet, phi, tasks, task_id, ewc_state, generator)
        fisher = update_fisher(config, env, mnet, phi.detach(), tasks[task_id], task_id,
                               ewc_state["fisher"] if ewc_state is not None else None, generator)
        if not config.train_from_scratch:
            ewc_state = {"phi_star": phi.detach().clone(), "fisher": fisher}
        post = laplace_posterior(config, mnet, phi.detach(), fisher, task_id + 1)
        posteriors = nn.ModuleList([post]) if not config.train_from_scratch else nn.ModuleList([*posteriors, post])
        summary = test_tasks(config, env, posteriors, tasks, task_id + 1, summary, during, lrt=False)
        write_summary(env.out_dir, summary)
        save_ewc_state(env, task_id, phi, fisher, ewc_state, posteriors, summary, during, generator)

    # --- final report ---
    summary["finished"] = 1
    write_summary(env.out_dir, summary)
    if config.store_final_model:
        save_checkpoint(env.out_dir / "checkpoints" / "final", {"phi": phi.detach(), "fisher": fisher}, {})
    log_final(env, summary, T)
    env.close()
    return summary
