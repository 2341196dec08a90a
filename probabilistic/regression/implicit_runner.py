"""1D regression runner for implicit posteriors: PR-AVB, PR-SSGE (hyper-hypernetwork), PF-AVB, PF-SSGE
(``--prior_focused``), separate implicit networks (``--train_from_scratch --no_hhnet``).

``run(config, method) -> summary`` reads top-down like :mod:`probabilistic.regression.runner` (whose evaluation,
figures and summary code it shares). Loss per iteration (spec §2.7):

.. math::
    L = \\lambda_\\text{KL}\\, \\widehat{\\mathrm{KL}}(q_t \\Vert p) + N_\\text{train} \\frac{1}{S} \\sum_{s=1}^{S}
        \\frac{\\mathrm{MSE}(f(x; w_s), y)}{2\\,\\sigma_\\text{ll}^2} + \\beta\\, L_\\text{reg}(\\psi)

with λ_KL = ``kl_scale``, w_s = h(z_s; θ_t), θ_t = h_hh(e_t; ψ) (PR) or the own θ (PF / ``--no_hhnet``), and the mse
regulariser on the hyper-hypernetwork outputs θ_j of old tasks. The KL estimate is

* AVB: the discriminator estimate (:func:`~probabilistic.avb.avb_prior_matching`), with adaptive contrast for the
  explicit prior N(0, ``prior_variance``) and the previous posterior as "real" samples in PF (t > 0);
* SSGE: the explicit-prior cross-entropy by autograd (PR; PF t = 0) plus the SSGE gradient of E_q[log q]
  (and, PF t > 0, of the previous posterior's log-density), added to the gradients **after clipping** as the
  original does (quirk §6.2 #6, reproduced; the previous-posterior term keeps the original's sign unless
  ``--pf_ssge_sign_fix``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from data.special.regression1d import InfiniteBatches, RegressionTask
from mnets.mlp import MLP
from probabilistic.avb import (
    adaptive_contrast_moments,
    avb_prior_matching,
    build_discriminator,
    discriminator_logits,
    discriminator_loss,
)
from probabilistic.implicit import (
    ImplicitPosterior,
    build_implicit_posterior,
    explicit_prior_cross_entropy,
    hh_net_kwargs,
    imp_hnet_kwargs,
    predict_with_samples,
    ssge_kl_surrogate,
)
from probabilistic.regression.runner import (
    _LIST_KEYS,
    NonFiniteLossError,
    log_final,
    setup_run,
    test_tasks,
)
from probabilistic.regression.summary_keys import SUMMARY_KEYS_AVB, SUMMARY_KEYS_SSGE
from utils.checkpoints import checkpoint_exists, load_checkpoint, save_checkpoint
from utils.cli import ConfigError, parse_int_list
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer, tasks_to_regularize
from utils.progress import itstime, progress
from utils.run_env import RunEnv
from utils.summary import init_summary, write_summary
from utils.training import clip_gradients, kl_factor, make_optimizer


# ---------------------------------------------------------------------------------------------------------------
# Supported options
# ---------------------------------------------------------------------------------------------------------------
def check_supported(config: argparse.Namespace, method: str) -> None:
    """Reject options this runner does not implement, instead of silently ignoring them."""
    unsupported = {
        "specnorm": config.specnorm, "batchnorm": config.batchnorm, "mnet_only": config.mnet_only,
        "use_prev_post_as_prior": config.use_prev_post_as_prior, "coreset_size": config.coreset_size != -1,
        "final_coresets_finetune": config.final_coresets_finetune,
        "past_and_future_coresets": config.past_and_future_coresets,
        "plateau_lr_scheduler": config.plateau_lr_scheduler, "lambda_lr_scheduler": config.lambda_lr_scheduler,
    }
    if method == "avb":
        unsupported.update({"dis_net_type": config.dis_net_type != "mlp", "dis_specnorm": config.dis_specnorm,
                            "dis_batchnorm": config.dis_batchnorm})
    for flag, used in unsupported.items():
        if used:
            raise ConfigError(f"--{flag} is not supported by the implicit regression runner")
    if config.prior_focused and config.train_from_scratch:
        raise ConfigError("--prior_focused cannot be combined with --train_from_scratch")
    parse_int_list(config.mlp_arch, "mlp_arch")
    if method == "avb":
        parse_int_list(config.dis_mlp_arch, "dis_mlp_arch")


# ---------------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------------
def uses_hhnet(config: argparse.Namespace) -> bool:
    return not (config.no_hhnet or config.prior_focused)


def build_networks(config: argparse.Namespace, method: str, num_tasks: int, device: torch.device
                   ) -> tuple[ImplicitPosterior, MLP | None]:
    """Implicit posterior (+ hyper-hypernetwork) and, for AVB, the discriminator."""
    mnet = MLP(n_in=1, n_out=num_tasks if config.multi_head else 1,
               hidden_layers=parse_int_list(config.mlp_arch, "mlp_arch"), activation_fn=config.net_act,
               use_bias=not config.no_bias, no_weights=True, dropout_rate=config.dropout_rate)
    posterior = build_implicit_posterior(
        mnet, num_tasks, imp_hnet_kwargs(config), hh_net_kwargs(config) if uses_hhnet(config) else None,
        latent_std=config.latent_std, hyper_fan_init=config.hyper_fan_init, std_normal_temb=config.std_normal_temb,
        std_normal_emb=config.std_normal_emb, normal_init=config.normal_init, std_normal_init=config.std_normal_init)
    dis = None
    if method == "avb" and not config.no_dis:
        dis = build_discriminator(mnet.num_params, parse_int_list(config.dis_mlp_arch, "dis_mlp_arch"),
                                  config.dis_net_act, not config.dis_no_bias, config.use_batchstats,
                                  config.dis_dropout_rate)
    return posterior.to(device), (dis.to(device) if dis is not None else None)


def weight_counts(posterior: ImplicitPosterior, dis: MLP | None) -> dict:
    """Network sizes and ratios to the main network (-1 for absent networks)."""
    main = posterior.mnet.num_params
    hyper = posterior.imp_hnet.num_params
    hh = posterior.hh_net.num_params if posterior.hh_net is not None else -1
    d = dis.num_params if dis is not None else -1
    return {"aa_num_weights_main": main, "aa_num_weights_hyper": hyper, "aa_num_weights_hyper_hyper": hh,
            "aa_num_weights_dis": d, "aa_num_weights_hm_ratio": hyper / main,
            "aa_num_weights_hhm_ratio": hh / main if hh > 0 else -1,
            "aa_num_weights_dm_ratio": d / main if d > 0 else -1}


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def contrast_samples(config, posterior: ImplicitPosterior, num: int, ac: tuple | None, prior_raw: torch.Tensor | None,
                     device: torch.device) -> torch.Tensor:
    """"Real" samples ``[num, P]`` for the discriminator: the AC Gaussian, the previous posterior (PF, t > 0) or
    the explicit prior."""
    if ac is not None:
        return ac[0] + ac[1] * torch.randn(num, ac[0].shape[0], device=device)
    if prior_raw is not None:
        return posterior.sample(prior_raw, num)[0]
    return math.sqrt(config.prior_variance) * torch.randn(num, posterior.num_weights, device=device)


def train_task(config, env: RunEnv, method: str, posterior: ImplicitPosterior, dis: MLP | None,
               task: RegressionTask, task_id: int, targets: torch.Tensor | None, prior_raw: torch.Tensor | None,
               generator: torch.Generator) -> float:
    """Optimise the posterior of one task (new optimizers per task); returns the last discriminator accuracy."""
    params = posterior.optimized_parameters()
    optimizer = make_optimizer(config, params)
    dis_opt = None
    if dis is not None:
        dis_opt = make_optimizer(config, dis.parameters(), lr=config.dis_lr if config.dis_lr != -1 else None)
    n_iter = config.n_iter if config.epochs == -1 else config.epochs * math.ceil(task.num_train / config.batch_size)
    batches = InfiniteBatches(task.num_train, config.batch_size, generator)
    head = task_id if config.multi_head else 0
    device = task.train_x.device
    pm_on = not (config.kl_scale == 0 and config.kl_schedule == 0) and not (method == "avb" and dis is None)
    use_ac = method == "avb" and pm_on and not config.no_adaptive_contrast and prior_raw is None
    prior_std = math.sqrt(config.prior_variance)
    width = None  # SSGE kernel width; None = median heuristic
    if method == "ssge" and not config.heuristic_kernel:
        width = config.rbf_kernel_width
    dis_acc = -1.0
    posterior.train()
    for it in progress(range(n_iter), desc=f"task {task_id + 1}"):
        if itstime(it, config.val_iter):
            dis_acc = _log_validation(config, env, posterior, dis, task, task_id, it)
        kl_scale = kl_factor(it, n_iter, config.kl_scale, config.kl_schedule)

        # --- adaptive contrast and discriminator updates (AVB) ---
        ac = None
        if use_ac:
            with torch.no_grad():
                ac = adaptive_contrast_moments(posterior.sample(posterior.raw([task_id]), config.num_ac_samples)[0])
        if method == "avb" and pm_on:
            for _ in range(config.num_dis_steps):
                with torch.no_grad():
                    fake = posterior.sample(posterior.raw([task_id]), config.dis_batch_size)[0]  # [B, P]
                    real = contrast_samples(config, posterior, config.dis_batch_size, ac, prior_raw, device)
                loss_dis, _ = discriminator_loss(dis, real, fake, config.use_batchstats)
                dis_opt.zero_grad()
                loss_dis.backward()
                dis_opt.step()

        # --- posterior update ---
        optimizer.zero_grad()
        raw = posterior.raw([task_id])  # [1, Q]: θ_t, one hyper-hypernetwork call per iteration
        loss_pm, surrogate, w_kl = torch.zeros((), device=device), None, None
        if pm_on and method == "avb":
            w_kl = posterior.sample(raw, config.num_kl_samples)[0]  # [K, P]
            loss_pm = avb_prior_matching(dis, w_kl, config.use_batchstats, ac, prior_std)
        elif pm_on:
            if prior_raw is None:
                loss_pm = explicit_prior_cross_entropy(posterior.sample(raw, config.num_kl_samples)[0],
                                                       config.prior_variance)
            surrogate = ssge_kl_surrogate(posterior, raw, config.train_sample_size, config.ssge_sample_size, width,
                                          config.num_ssge_eigenvals, config.thr_ssge_eigenvals, prior_raw,
                                          config.pf_ssge_sign_fix)
        reuse = w_kl is not None and config.num_kl_samples == config.train_sample_size
        w = w_kl if reuse else posterior.sample(raw, config.train_sample_size)[0]  # [S, P]
        idx = batches.next()
        x, y = task.train_x[idx], task.train_y[idx]
        pred = predict_with_samples(posterior.mnet, x, w.unsqueeze(0))[0, ..., head]  # [S, B]
        mse = ((pred - y[:, 0]) ** 2).mean(dim=1)  # [S]
        loss_nll = task.num_train * (0.5 * mse / config.ll_dist_std**2).mean()
        loss_reg = torch.zeros((), device=device)
        if targets is not None:
            prev = tasks_to_regularize(task_id, config.hnet_reg_batch_size)
            loss_reg = hnet_output_regularizer(posterior.raw(prev), targets[prev])  # all old tasks in one call
        loss = kl_scale * loss_pm + loss_nll + config.beta * loss_reg
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite loss in task {task_id + 1} at iteration {it} "
                                     f"(pm={loss_pm.item():.3g}, nll={loss_nll.item():.3g}, reg={loss_reg.item():.3g})")
        ssge_grads = None
        if surrogate is not None:  # SSGE: ∇_ψ of the implicit KL parts, added after clipping (original order)
            ssge_grads = torch.autograd.grad(kl_scale * surrogate, params, retain_graph=True, allow_unused=True)
        loss.backward()
        clip_gradients(config, params)
        if ssge_grads is not None:
            for p, g in zip(params, ssge_grads):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        optimizer.step()
        if itstime(it, 50):
            for name, value in (("loss_kl", loss_pm), ("loss_nll", loss_nll), ("regularizer", loss_reg),
                                ("loss", loss)):
                env.writer.add_scalar(f"train/task_{task_id}/{name}", value.item(), it)
    return dis_acc


@torch.no_grad()
def _log_validation(config, env: RunEnv, posterior: ImplicitPosterior, dis: MLP | None, task: RegressionTask,
                    task_id: int, it: int) -> float:
    """Validation/test MSE of the current task with random sampling; the discriminator's accuracy (AVB)."""
    posterior.eval()
    head = task_id if config.multi_head else 0
    raw = posterior.raw([task_id])
    w = posterior.sample(raw, config.val_sample_size)  # [1, V, P]
    msg = []
    for split, x, y in (("val", task.val_x, task.val_y), ("test", task.test_x, task.test_y)):
        pred = predict_with_samples(posterior.mnet, x, w)[0, ..., head]  # [V, B]
        mse = ((pred - y[:, 0]) ** 2).mean().item()
        env.writer.add_scalar(f"eval/task_{task_id}/{split}_mse", mse, it)
        msg.append(f"{split} MSE {mse:.5f}")
    acc = -1.0
    if dis is not None:
        acc = (discriminator_logits(dis, w[0], config.use_batchstats) > 0).float().mean().item()
        env.writer.add_scalar(f"eval/task_{task_id}/dis_acc", acc, it)
        msg.append(f"discriminator accuracy {acc:.2f}")
    env.logger.debug(f"Task {task_id + 1}, iteration {it}: " + ", ".join(msg))
    posterior.train()
    return acc


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------
def _checkpoint_path(out_dir: Path, task_id: int) -> Path:
    return out_dir / "checkpoints" / f"task_{task_id}"


def _save_state(env: RunEnv, task_id: int, posteriors: nn.ModuleList, dis: nn.ModuleList, summary: dict,
                during: dict, generator: torch.Generator) -> None:
    tensors = {f"model.{k}": v for k, v in posteriors.state_dict().items()}
    tensors.update({f"dis.{k}": v for k, v in dis.state_dict().items()})
    tensors["rng_torch"] = torch.get_rng_state()
    tensors["rng_batches"] = generator.get_state()
    save_checkpoint(_checkpoint_path(env.out_dir, task_id), tensors,
                    {"task_id": task_id, "num_models": len(posteriors), "summary": summary, "during": during})


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def run(config: argparse.Namespace, method: str, script_dir: str | Path | None = None,
        argv: list[str] | None = None) -> dict:
    """Train and test all tasks with implicit posteriors (``method`` = ``avb`` or ``ssge``); returns the summary."""
    # --- setup ---
    check_supported(config, method)
    env, tasks, generator = setup_run(config, script_dir, argv)
    device, T = env.device, len(tasks)

    # --- networks ---
    posterior, dis = build_networks(config, method, T, device)
    posteriors, discriminators = nn.ModuleList([posterior]), nn.ModuleList([dis] if dis is not None else [])
    keys = SUMMARY_KEYS_AVB if method == "avb" else SUMMARY_KEYS_SSGE
    summary = init_summary(keys, (*_LIST_KEYS, "aa_acc_dis"), T)
    summary.update({k: v for k, v in weight_counts(posterior, dis).items() if k in summary}, finished=0)
    during = {"mse": [-1.0] * T, "inferred_mse": [-1.0] * T}
    env.logger.info(f"Main network: {summary['aa_num_weights_main']} weights; implicit hypernetwork: "
                    f"{summary['aa_num_weights_hyper']}; hyper-hypernetwork: "
                    f"{summary['aa_num_weights_hyper_hyper']}"
                    + (f"; discriminator: {dis.num_params}." if dis is not None else "."))

    # --- resume from the last complete task checkpoint, if any ---
    start = 0
    done = [t for t in range(T) if checkpoint_exists(_checkpoint_path(env.out_dir, t))]
    if done:
        tensors, meta = load_checkpoint(_checkpoint_path(env.out_dir, max(done)), device)
        while len(posteriors) < meta["num_models"]:
            p, d = build_networks(config, method, T, device)
            posteriors.append(p)
            if d is not None:
                discriminators.append(d)
        posteriors.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        discriminators.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("dis.")})
        summary, during = meta["summary"], meta["during"]
        torch.set_rng_state(tensors["rng_torch"].cpu())
        generator.set_state(tensors["rng_batches"].cpu())
        start = max(done) + 1
        env.logger.info(f"Resuming after task {start} from {env.out_dir / 'checkpoints'}.")

    # --- tasks ---
    for task_id in range(start, T):
        if config.train_from_scratch and task_id > 0:
            p, d = build_networks(config, method, T, device)
            posteriors.append(p)
            if d is not None:
                discriminators.append(d)
        current = posteriors[-1]
        dis = discriminators[-1] if len(discriminators) else None
        targets, prior_raw = None, None
        if current.hh_net is not None and task_id > 0 and not config.train_from_scratch:
            if config.init_with_prev_emb:
                with torch.no_grad():
                    current.hh_net.conditional_params[task_id].copy_(current.hh_net.conditional_params[task_id - 1])
            if config.beta > 0:
                targets = compute_targets(current.hh_net, task_id)
        if config.prior_focused and task_id > 0:
            prior_raw = current.raw([task_id - 1]).detach().clone()  # frozen θ* of the previous posterior
        env.logger.info(f"Training task {task_id + 1}/{T} ({tasks[task_id].spec.name}) for {config.n_iter} iterations.")
        acc = train_task(config, env, method, current, dis, tasks[task_id], task_id, targets, prior_raw, generator)
        summary = test_tasks(config, env, posteriors, tasks, task_id + 1, summary, during, lrt=False)
        if method == "avb":
            summary["aa_acc_dis"][task_id] = acc
            summary["aa_acc_avg_dis"] = float(np.mean(summary["aa_acc_dis"][:task_id + 1]))
        write_summary(env.out_dir, summary)
        _save_state(env, task_id, posteriors, discriminators, summary, during, generator)

    # --- final report ---
    summary["finished"] = 1
    write_summary(env.out_dir, summary)
    if config.store_final_model:
        save_checkpoint(env.out_dir / "checkpoints" / "final",
                        {f"model.{k}": v for k, v in posteriors.state_dict().items()}, {"num_models": len(posteriors)})
    log_final(env, summary, T)
    env.close()
    return summary
