"""Classification runner of the implicit methods: PR-AVB, PR-SSGE (hyper-hypernetwork), PF-AVB, PF-SSGE, separate
implicit distributions (``--train_from_scratch --no_hhnet``) — ``prob_cifar/train_avb.run`` of the original
(spec §2.7–2.9). The method is the parser mode's: ``avb``/``ssge`` (PR) or ``avb_pf``/``ssge_pf`` (PF).

Loss per iteration (q = implicit posterior of the current task, w_k ~ q reparametrised):

.. math::
    L = \\lambda_\\text{KL}(i)\\, \\widehat{\\mathrm{PM}} + N_\\text{train} \\frac{1}{S} \\sum_{s=1}^{S}
        \\mathrm{CE}(f(x; w_s)_{\\mathcal{A}_t}, y) + \\beta\\, \\frac{1}{|S|} \\sum_{j \\in S}
        \\lVert h_{hh}(e_j) - h_{hh}^*(e_j) \\rVert^2

* AVB: PM = mean_k T(w_k) [+ mean_k log r(w_k) − mean_k log p(w_k) with adaptive contrast r], the discriminator T
  is updated ``num_dis_steps`` times per iteration against the prior / AC Gaussian / (PF, t > 0) the previous
  posterior, and re-initialised after every task unless ``--no_dis_reinit``.
* SSGE: PM = −mean_k log p(w_k) for the explicit prior (PR; PF task 0); the entropy gradient (and in PF the previous
  posterior's score, with the original's sign unless ``--pf_ssge_sign_fix``) is estimated by the spectral Stein
  gradient estimator and added to the gradients *after* clipping, scaled by λ_KL (as the original).
"""

from __future__ import annotations

import argparse
import math
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from data.dataset import Dataset, derive_seed
from probabilistic.avb import adaptive_contrast_moments, avb_prior_matching, build_discriminator, discriminator_loss
from probabilistic.classification.batchnorm_stats import checkpoint_task_stats, with_task_stats
from probabilistic.classification.coresets import (
    Coresets,
    ReplayBatch,
    build_up_front,
    coreset_regularizer_batch,
)
from probabilistic.classification.evaluate import EVAL_SEED, validate
from probabilistic.classification.families import build_main_net
from probabilistic.classification.phases import Run, end_of_run, end_of_task, setup_run
from probabilistic.classification.schedulers import EpochSchedulers
from probabilistic.classification.training import (
    check_finite,
    clip_gradients,
    iterations_per_epoch,
    make_optimizer,
    num_iterations,
    task_loss,
)
from probabilistic.heads import Heads
from probabilistic.implicit import (
    ImplicitPosterior,
    build_implicit_posterior,
    explicit_prior_cross_entropy,
    hh_net_kwargs,
    imp_hnet_kwargs,
    predict_with_samples,
    ssge_kl_surrogate,
)
from utils.cli import ConfigError, parse_int_list
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer, tasks_to_regularize
from utils.progress import itstime, progress
from utils.task_state import latest_task, load_task_state
from utils.training import kl_factor


# ---------------------------------------------------------------------------------------------------------------
# Supported options and networks
# ---------------------------------------------------------------------------------------------------------------
def check_supported(config: argparse.Namespace) -> None:
    """Reject options this runner does not implement yet (none is used by a GMM README command)."""
    c = vars(config)
    unsupported = {
        "distill_iter": c.get("distill_iter", -1) != -1,
        "use_prev_post_as_prior": c.get("use_prev_post_as_prior", False),
        "calibrate_temp": c.get("calibrate_temp", False), "training_set_size": c.get("training_set_size", -1) != -1,
        "batchnorm": c.get("batchnorm", False),
        "dis_net_type": c.get("dis_net_type", "mlp") != "mlp", "dis_batchnorm": c.get("dis_batchnorm", False),
        "dis_specnorm": c.get("dis_specnorm", False),
    }
    for flag, used in unsupported.items():
        if used:
            raise ConfigError(f"--{flag} is not supported by the implicit classification runner yet "
                              "(no GMM README command uses it)")


def is_avb(method: str) -> bool:
    return method.startswith("avb")


def is_prior_focused(method: str) -> bool:
    return method.endswith("_pf")


def build_posterior(config: argparse.Namespace, method: str, family: str, in_dim: int, heads: Heads,
                    device: torch.device) -> ImplicitPosterior:
    """Implicit hypernetwork (+ hyper-hypernetwork for PR unless ``--no_hhnet``), initialised as the original."""
    mnet = build_main_net(family, config, in_dim, heads.num_outputs)
    use_hh = not is_prior_focused(method) and not config.no_hhnet
    return build_implicit_posterior(
        mnet, heads.num_tasks, imp_hnet_kwargs(config), hh_net_kwargs(config) if use_hh else None,
        latent_std=config.latent_std, hyper_fan_init=config.hyper_fan_init, std_normal_temb=config.std_normal_temb,
        std_normal_emb=config.std_normal_emb, normal_init=config.normal_init,
        std_normal_init=config.std_normal_init).to(device)


def build_dis(config: argparse.Namespace, method: str, num_weights: int, device: torch.device) -> nn.Module | None:
    """AVB discriminator (a fresh, custom-initialised one: Xavier-uniform weights, zero biases), or None."""
    if not is_avb(method) or config.no_dis:
        return None
    dis = build_discriminator(num_weights, parse_int_list(config.dis_mlp_arch, "dis_mlp_arch"), config.dis_net_act,
                              not config.dis_no_bias, config.use_batchstats, config.dis_dropout_rate)
    for p in dis.internal_params:
        nn.init.xavier_uniform_(p) if p.dim() > 1 else nn.init.zeros_(p)
    return dis.to(device)


def count(module: nn.Module | None) -> int:
    return sum(p.numel() for p in module.parameters()) if module is not None else -1


def weight_counts(post: ImplicitPosterior, dis: nn.Module | None) -> dict:
    """``num_weights_*`` summary entries (−1 for absent networks; ratios relative to the main network)."""
    main, hyper, hh, d = post.mnet.num_params, post.imp_hnet.num_params, count(post.hh_net), count(dis)
    return {"num_weights_main": main, "num_weights_hyper": hyper, "num_weights_hyper_hyper": hh,
            "num_weights_dis": d, "num_weights_hm_ratio": hyper / main,
            "num_weights_hhm_ratio": hh / main if hh > 0 else -1, "num_weights_dm_ratio": d / main if d > 0 else -1}


def predict_fn(config: argparse.Namespace):
    """Test-phase prediction ``[N, V, B, O]`` (deterministic noise from the generator)."""

    def predict(post: ImplicitPosterior, x: Tensor, task_ids: list[int], num_samples: int,
                gen: torch.Generator) -> Tensor:
        if post.hh_net is None:  # one distribution for all tasks: the same samples serve every head
            out = post.predict(x, post.raw(task_ids[:1]), num_samples, gen)
            return out.expand(len(task_ids), *out.shape[1:])
        return post.predict(x, post.raw(task_ids), num_samples, gen)

    return predict


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def contrast_samples(config, post: ImplicitPosterior, num: int, contrast: tuple | None, prev_raw: Tensor | None,
                     device: torch.device) -> Tensor:
    """"Real" samples ``[num, P]`` for the discriminator: AC Gaussian, previous posterior (PF) or the prior."""
    P = post.mnet.num_params
    if contrast is not None:
        return contrast[0] + contrast[1] * torch.randn(num, P, device=device)
    if prev_raw is not None:
        return post.sample(prev_raw, num)[0]
    return math.sqrt(config.prior_variance) * torch.randn(num, P, device=device)


def discriminator_steps(config, post: ImplicitPosterior, dis: nn.Module, dis_opt: torch.optim.Optimizer,
                        task_id: int, contrast: tuple | None, prev_raw: Tensor | None) -> Tensor:
    """``num_dis_steps`` updates of T (real = contrast samples, label 0; fake = current posterior, label 1);
    returns the last accuracy on the fake samples."""
    acc = torch.zeros(())
    for _ in range(config.num_dis_steps):
        with torch.no_grad():
            fake = post.sample(post.raw([task_id]), config.dis_batch_size)[0]  # [B_d, P]
            real = contrast_samples(config, post, config.dis_batch_size, contrast, prev_raw, fake.device)
        dis_opt.zero_grad()
        loss, acc = discriminator_loss(dis, real, fake, config.use_batchstats)
        loss.backward()
        dis_opt.step()
    return acc


def train_step(config, method: str, post: ImplicitPosterior, dis: nn.Module | None, x: Tensor, labels: Tensor,
               task_id: int, heads: Heads, num_train: int, kl_weight: float, pm_on: bool, contrast: tuple | None,
               prev_raw: Tensor | None, reg: Tensor, replay: ReplayBatch | None = None
               ) -> tuple[dict[str, Tensor], Tensor | None]:
    """Loss terms of one iteration and, for SSGE, the scalar whose gradient is the estimated entropy part; the
    coreset inputs of ``replay`` share the training batch's weight samples."""
    raw = post.raw([task_id])  # [1, Q]: θ_t, one hyper-hypernetwork call per iteration
    loss_pm, w_pm, surrogate = torch.zeros((), device=x.device), None, None
    if pm_on and is_avb(method):
        w_pm = post.sample(raw, config.num_kl_samples)[0]  # [K, P]
        loss_pm = avb_prior_matching(dis, w_pm, config.use_batchstats, contrast, math.sqrt(config.prior_variance))
    elif pm_on:  # SSGE
        if prev_raw is None:  # explicit prior: cross-entropy by Monte Carlo
            loss_pm = explicit_prior_cross_entropy(post.sample(raw, config.num_kl_samples)[0], config.prior_variance)
        surrogate = ssge_kl_surrogate(
            post, raw, config.train_sample_size, config.ssge_sample_size,
            None if config.heuristic_kernel else config.rbf_kernel_width, config.num_ssge_eigenvals,
            config.thr_ssge_eigenvals, prior_raw=prev_raw, pf_sign_fix=vars(config).get("pf_ssge_sign_fix", False))
    reuse = w_pm is not None and config.num_kl_samples == config.train_sample_size
    w = w_pm if reuse else post.sample(raw, config.train_sample_size)[0]  # [S, P]
    replay_logits = None
    if replay is not None and not vars(config).get("batchnorm", False):
        both = predict_with_samples(post.mnet, torch.cat([x, replay.inputs]), w.unsqueeze(0))[0]
        logits, replay_logits = both[:, :x.shape[0]], both[:, x.shape[0]:]
    else:
        logits = predict_with_samples(post.mnet, x, w.unsqueeze(0))[0]  # [S, B, O]
        if replay is not None:  # batch norm: the training batch's statistics alone
            replay_logits = predict_with_samples(post.mnet, replay.inputs, w.unsqueeze(0))[0]
    allowed = heads.logits(logits, task_id, num_trained=task_id + 1)  # [S, B, W]
    return task_loss(allowed, heads.targets(labels, task_id), num_train, loss_pm, kl_weight, config.beta, reg,
                     replay, replay_logits, config.coreset_reg), surrogate


def train_task(config, run_: Run, method: str, post: ImplicitPosterior, dis: nn.Module | None, task: Dataset,
               task_id: int, heads: Heads, targets: Tensor | None, prev_raw: Tensor | None,
               coresets: Coresets | None = None) -> float:
    """Optimise the current posterior (and the discriminator); returns the last discriminator accuracy (%)."""
    env = run_.env
    params = post.optimized_parameters()
    optimizer = make_optimizer(config, params)
    dis_opt = None
    if dis is not None:
        dis_opt = make_optimizer(config, dis.parameters(), lr=config.dis_lr if config.dis_lr != -1 else config.lr)
    n_iter = num_iterations(config, task.num_train)
    pm_on = not (config.kl_scale == 0 and config.kl_schedule == 0) and not (is_avb(method) and dis is None)
    use_ac = (is_avb(method) and pm_on and not config.no_adaptive_contrast
              and (not is_prior_focused(method) or task_id == 0))
    use_reg = targets is not None and config.beta > 0
    rng = np.random.RandomState(derive_seed(config.random_seed, 1000 + task_id))
    dis_acc = torch.zeros(())

    def val_accuracy() -> float:  # plateau scheduler: deterministic z draws
        gen = torch.Generator().manual_seed(EVAL_SEED)
        return validate(env, lambda x: post.predict(x, post.raw([task_id]), config.val_sample_size, gen)[0], task,
                        task_id, heads, -1, log=False)

    schedulers = EpochSchedulers(config, optimizer, iterations_per_epoch(config, task.num_train), val_accuracy)
    post.train()
    for it in progress(range(n_iter), desc=f"task {task_id + 1}"):
        if itstime(it, config.val_iter):
            post.eval()
            validate(env, lambda x: post.predict(x, post.raw([task_id]), config.val_sample_size)[0], task, task_id,
                     heads, it)
            post.train()
        contrast = None
        if use_ac:  # adaptive contrast: a Gaussian with the moments of q
            with torch.no_grad():
                contrast = adaptive_contrast_moments(post.sample(post.raw([task_id]), config.num_ac_samples)[0])
        if dis is not None and pm_on:
            dis_acc = discriminator_steps(config, post, dis, dis_opt, task_id, contrast, prev_raw)
        optimizer.zero_grad()
        batch = task.next_train_batch(config.batch_size, one_hot=False)
        reg = torch.zeros((), device=batch.inputs.device)
        if use_reg:
            prev = list(tasks_to_regularize(task_id, config.hnet_reg_batch_size, rng))
            reg = hnet_output_regularizer(post.raw(prev), targets[prev])
        kl_weight = kl_factor(it, n_iter, config.kl_scale, config.kl_schedule)
        replay = None
        if coresets is not None and (task_id > 0 or config.past_and_future_coresets):
            replay = coreset_regularizer_batch(coresets, task_id, heads, config.coreset_batch_size,
                                               config.past_and_future_coresets)
        m, surrogate = train_step(config, method, post, dis, batch.inputs, batch.targets, task_id, heads,
                                  task.num_train, kl_weight, pm_on, contrast, prev_raw, reg, replay)
        check_finite(m["loss"], task_id, it, m)
        ssge_grads = None
        if surrogate is not None:
            ssge_grads = torch.autograd.grad(kl_weight * surrogate, params, retain_graph=True, allow_unused=True)
        m["loss"].backward()
        clip_gradients(config, params)
        if ssge_grads is not None:  # added after clipping, as the original
            for p, g in zip(params, ssge_grads):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        optimizer.step()
        schedulers.after_step(it)
        if itstime(it, 50):
            m["dis_acc"] = dis_acc
            for name, value in m.items():
                env.writer.add_scalar(f"train/task_{task_id}/{name}", value.item(), it)
    return float(dis_acc) * 100


@torch.no_grad()
def predictive_entropy(config, post: ImplicitPosterior, task_id: int, heads: Heads, x: Tensor) -> Tensor:
    """Entropy ``[K]`` of task ``task_id``'s predictive distribution on ``x`` (shared-coreset update)."""
    gen = torch.Generator().manual_seed(EVAL_SEED)
    p = heads.logits(post.predict(x, post.raw([task_id]), config.val_sample_size, gen)[0], task_id,
                     task_id + 1).softmax(-1).mean(0)
    return -(p * p.clamp_min(1e-5).log()).sum(-1)


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train and test all tasks with an implicit posterior method; returns the summary dict."""
    # --- setup, data ---
    check_supported(config)
    run_ = setup_run(config, script_dir, argv)
    env, tasks, T, device, family, method = run_.env, run_.tasks, run_.num_tasks, run_.device, run_.family, run_.method
    if not is_prior_focused(method) and not config.no_hhnet and config.train_from_scratch:
        env.logger.warning("--train_from_scratch with a hyper-hypernetwork: one hh-net per task.")
    shared = is_prior_focused(method) or config.no_hhnet
    heads = Heads(config.cl_scenario, T, tasks[0].num_classes, config.split_head_cl3, shared_model=shared)

    # --- networks ---
    def new_posterior() -> ImplicitPosterior:
        return build_posterior(config, method, family, tasks[0].in_dim, heads, device)

    posteriors = nn.ModuleList([new_posterior()])
    dis = build_dis(config, method, posteriors[0].mnet.num_params, device)
    dis_holder = nn.ModuleList([dis] if dis is not None else [])
    state = nn.ModuleList([posteriors, dis_holder])
    run_.summary.update({k: v for k, v in weight_counts(posteriors[0], dis).items() if k in run_.summary})
    env.logger.info(f"Implicit posterior ({method}): {weight_counts(posteriors[0], dis)}")
    predict = with_task_stats(predict_fn(config), config, posteriors[0].mnet)  # model j: task j's BN statistics

    def models(n: int) -> list[ImplicitPosterior]:  # model j = posterior of task j
        return [posteriors[j] if config.train_from_scratch else posteriors[0] for j in range(n)]

    coresets = None
    if config.coreset_size != -1:
        coresets = Coresets(T, config.coreset_size, config.per_task_coreset, config.random_seed)
        if config.past_and_future_coresets:
            build_up_front(coresets, tasks, remove=False)

    # --- resume ---
    start = 0
    last = latest_task(env.out_dir, T)
    if last >= 0:
        while len(posteriors) < (last + 1 if config.train_from_scratch else 1):
            posteriors.append(new_posterior())
        tensors, meta = load_task_state(env.out_dir, last, state, device)
        run_.summary = meta["summary"]
        if coresets is not None:
            coresets.load_state(tensors)
        start = last + 1

    # --- tasks ---
    for task_id in range(start, T):
        if config.train_from_scratch and task_id > 0:
            posteriors.append(new_posterior())
        if dis is not None and task_id > 0 and (config.train_from_scratch or not config.no_dis_reinit):
            dis = build_dis(config, method, posteriors[0].mnet.num_params, device)
            dis_holder[0] = dis
        post = posteriors[-1]
        targets = None
        if post.hh_net is not None and task_id > 0 and not config.train_from_scratch:
            targets = compute_targets(post.hh_net, task_id)
        prev_raw = None
        if is_prior_focused(method) and task_id > 0:  # the previous posterior θ* is the prior
            prev_raw = post.raw([0]).detach().clone()
        env.logger.info(f"Training task {task_id + 1}/{T} ({method}) for "
                        f"{num_iterations(config, tasks[task_id].num_train)} iterations.")
        acc_dis = train_task(config, run_, method, post, dis, tasks[task_id], task_id, heads, targets, prev_raw,
                             coresets)
        checkpoint_task_stats(config, post.mnet, task_id)
        if "acc_dis" in run_.summary:
            run_.summary["acc_dis"][task_id] = acc_dis
            run_.summary["acc_avg_dis"] = float(np.mean(run_.summary["acc_dis"][:task_id + 1]))
        if coresets is not None and not config.past_and_future_coresets:
            coresets.update_after_task(tasks[task_id], task_id,
                                       partial(predictive_entropy, config, post, task_id, heads))
        end_of_task(config, run_, models(task_id + 1), predict, heads, task_id, state,
                    None if coresets is None else coresets.state())

    # --- final report ---
    return end_of_run(config, run_, models(T), predict, heads, state)
