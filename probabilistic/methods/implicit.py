"""Implicit posteriors: PR-AVB and PR-SSGE (hyper-hypernetwork), PF-AVB and PF-SSGE (prior-focused), separate
implicit networks (``--train_from_scratch --no_hhnet``) — ``train_avb`` of the original (spec §2.7–2.9).

Loss per iteration (q = implicit posterior of the current task, w_k ~ q reparametrised):

.. math::
    L = \\lambda_\\text{KL}(i)\\, \\widehat{\\mathrm{PM}} + L_\\text{nll} + \\beta\\, \\frac{1}{|S|} \\sum_{j \\in S}
        \\lVert h_{hh}(e_j) - h_{hh}^*(e_j) \\rVert^2 \\;[+\\, \\lambda_\\text{cs} L_\\text{coreset}]

* AVB: PM = mean_k T(w_k) [+ mean_k log r(w_k) − mean_k log p(w_k) with adaptive contrast r]; the discriminator T
  is updated ``num_dis_steps`` times per iteration against the prior / AC Gaussian / (PF, t > 0) the previous
  posterior. Classification runs re-initialise it after every task unless ``--no_dis_reinit``; regression runs
  never do (as the original).
* SSGE: PM = −mean_k log p(w_k) for the explicit prior (PR; PF task 0); the entropy gradient (and in PF the previous
  posterior's score, with the original's sign unless ``--pf_ssge_sign_fix``) is estimated by the spectral Stein
  gradient estimator and added to the gradients *after* clipping, scaled by λ_KL (quirk §6.2 #6, reproduced).
"""

from __future__ import annotations

import argparse
import math
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn

from data.dataset import derive_seed
from probabilistic.avb import (
    adaptive_contrast_moments,
    avb_prior_matching,
    build_discriminator,
    discriminator_logits,
    discriminator_loss,
)
from probabilistic.classification.evaluate import EVAL_SEED
from probabilistic.families.base import Family, RunContext
from probabilistic.implicit import (
    ImplicitPosterior,
    build_implicit_posterior,
    explicit_prior_cross_entropy,
    hh_net_kwargs,
    imp_hnet_kwargs,
    predict_with_samples,
    ssge_kl_surrogate,
)
from probabilistic.methods.base import PosteriorPerTask
from probabilistic.methods.replay import CoresetReplay
from utils.cli import ConfigError, parse_int_list
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer, select_tasks, tasks_to_regularize
from utils.training import kl_factor, make_optimizer


class ImplicitMethod(PosteriorPerTask):
    """AVB or SSGE (``summary_name`` ``avb``, ``avb_pf``, ``ssge``, ``ssge_pf``; regression: ``--prior_focused``)."""

    def __init__(self, config: argparse.Namespace, summary_name: str) -> None:
        super().__init__(config, summary_name)
        self.avb = summary_name.startswith("avb")
        self.prior_focused = summary_name.endswith("_pf") or vars(config).get("prior_focused", False)
        self.name = ("PF-" if self.prior_focused else "PR-") + ("AVB" if self.avb else "SSGE")

    def check(self, config: argparse.Namespace, family: Family) -> None:
        super().check(config, family)
        c = vars(config)
        unsupported = {
            "mnet_only": c.get("mnet_only", False), "use_prev_post_as_prior": c.get("use_prev_post_as_prior", False),
            "final_coresets_finetune": c.get("final_coresets_finetune", False),
            "coresets_for_experience_replay": c.get("coresets_for_experience_replay", False),
            "dis_net_type": c.get("dis_net_type", "mlp") != "mlp", "dis_batchnorm": c.get("dis_batchnorm", False),
            "dis_specnorm": c.get("dis_specnorm", False),
        }
        for flag, used in unsupported.items():
            if used:
                raise ConfigError(f"--{flag} is not supported by the implicit methods (no README command uses it)")
        if self.prior_focused and config.train_from_scratch and family.name == "regression":
            raise ConfigError("--prior_focused cannot be combined with --train_from_scratch")
        if self.avb:
            parse_int_list(config.dis_mlp_arch, "dis_mlp_arch")

    # --- setup -------------------------------------------------------------------------------------------------
    def build(self, ctx: RunContext, family: Family) -> None:
        super().build(ctx, family)
        config = self.config
        self.use_hh = not self.prior_focused and not config.no_hhnet
        if self.use_hh and config.train_from_scratch:
            ctx.env.logger.warning("--train_from_scratch with a hyper-hypernetwork: one hh-net per task.")
        family.make_heads(shared_model=not self.use_hh)
        # The original builds the discriminator before the (hyper-)hypernetworks: the same order of random draws
        # gives the original's initial networks for the same seed.
        self.dis_holder = nn.ModuleList([])
        dis = self._new_dis()
        if dis is not None:
            self.dis_holder.append(dis)
        self.posteriors = nn.ModuleList([self.new_posterior()])
        post = self.posteriors[0]
        main, hyper = post.mnet.num_params, post.imp_hnet.num_params
        hh = post.hh_net.num_params if post.hh_net is not None else -1
        d = sum(p.numel() for p in dis.parameters()) if dis is not None else -1
        self.set_weight_counts({
            "num_weights_main": main, "num_weights_hyper": hyper, "num_weights_hyper_hyper": hh,
            "num_weights_dis": d, "num_weights_hm_ratio": hyper / main,
            "num_weights_hhm_ratio": hh / main if hh > 0 else -1, "num_weights_dm_ratio": d / main if d > 0 else -1})
        ctx.env.logger.info(f"{self.name}: main network {main} weights; implicit hypernetwork {hyper}; "
                            f"hyper-hypernetwork {hh}; discriminator {d}.")
        self.predict = family.wrap_predict(self._predict, post.mnet)
        self.replay = CoresetReplay.create(config, ctx.tasks, family)
        self.val_dis_acc = -1.0

    def new_posterior(self) -> ImplicitPosterior:
        c = self.config
        return build_implicit_posterior(
            self.family.main_net(), self.ctx.num_tasks, imp_hnet_kwargs(c), hh_net_kwargs(c) if self.use_hh else None,
            latent_std=c.latent_std, hyper_fan_init=c.hyper_fan_init, std_normal_temb=c.std_normal_temb,
            std_normal_emb=c.std_normal_emb, normal_init=c.normal_init,
            std_normal_init=c.std_normal_init).to(self.ctx.device)

    def _new_dis(self) -> nn.Module | None:
        """The AVB discriminator with the original's custom init (every family): Xavier-uniform weights, or
        N(0, ``std_normal_init``²) with ``--normal_init``, and zero biases, after the layers' default init."""
        c = self.config
        if not self.avb or c.no_dis:
            return None
        dis = build_discriminator(self.family.main_net().num_params, parse_int_list(c.dis_mlp_arch, "dis_mlp_arch"),
                                  c.dis_net_act, not c.dis_no_bias, c.use_batchstats, c.dis_dropout_rate)
        for p in dis.internal_params:
            if p.dim() == 1:
                nn.init.zeros_(p)
            elif c.normal_init:
                nn.init.normal_(p, 0.0, c.std_normal_init)
            else:
                nn.init.xavier_uniform_(p)
        return dis.to(self.ctx.device)

    @property
    def dis(self) -> nn.Module | None:
        return self.dis_holder[0] if len(self.dis_holder) else None

    # --- one task ----------------------------------------------------------------------------------------------
    def before_task(self, task_id: int) -> None:
        c = self.config
        if self.dis is not None and task_id > 0 and (
                c.train_from_scratch or (self.family.reinitializes_discriminator and not c.no_dis_reinit)):
            self.dis_holder[0] = self._new_dis()  # before a new task's networks, as the original draws them
        self.add_posterior_for(task_id)
        post = self.current
        self.targets = None
        if post.hh_net is not None and task_id > 0 and not c.train_from_scratch:
            if vars(c).get("init_with_prev_emb", False):
                with torch.no_grad():
                    post.hh_net.conditional_params[task_id].copy_(post.hh_net.conditional_params[task_id - 1])
            self.targets = compute_targets(post.hh_net, task_id)
        self.prev_raw = None
        if self.prior_focused and task_id > 0:  # the previous posterior θ* is the prior
            self.prev_raw = post.raw([task_id - 1]).detach().clone()
        self.use_reg = self.targets is not None and c.beta > 0
        self.reg_rng = np.random.RandomState(derive_seed(c.random_seed, 1000 + task_id))
        self.pm_on = not (c.kl_scale == 0 and c.kl_schedule == 0) and not (self.avb and self.dis is None)
        self.use_ac = (self.avb and self.pm_on and not c.no_adaptive_contrast
                       and (not self.prior_focused or task_id == 0))
        self.dis_opt = None
        if self.dis is not None:
            self.dis_opt = make_optimizer(c, self.dis.parameters(), lr=c.dis_lr if c.dis_lr != -1 else c.lr)
        self.train_dis_acc = torch.zeros(())

    def parameters(self, task_id):
        return self.current.optimized_parameters()

    def validate(self, task_id: int, it: int) -> None:
        """The family's validation score with V weight samples, and the discriminator's accuracy on them."""
        post = self.current
        post.eval()
        with torch.no_grad():
            w = post.sample(post.raw([task_id]), self.config.val_sample_size)  # [1, V, P]
        self.family.validate(lambda x: predict_with_samples(post.mnet, x, w)[0], task_id, it)
        if self.dis is not None:
            with torch.no_grad():
                logits = discriminator_logits(self.dis, w[0], self.config.use_batchstats)
            self.val_dis_acc = (logits > 0).float().mean().item()
            self.ctx.env.writer.add_scalar(f"eval/task_{task_id}/dis_acc", self.val_dis_acc, it)
        post.train()

    def val_accuracy(self, task_id: int) -> float:
        gen = torch.Generator().manual_seed(EVAL_SEED)
        post = self.current
        return self.family.validate(lambda x: post.predict(x, post.raw([task_id]), self.config.val_sample_size,
                                                           gen)[0], task_id, -1, log=False)

    def _contrast_samples(self, num: int, contrast: tuple | None, device: torch.device) -> Tensor:
        """"Real" samples ``[num, P]`` for the discriminator: AC Gaussian, previous posterior (PF) or the prior."""
        P = self.current.mnet.num_params
        if contrast is not None:
            return contrast[0] + contrast[1] * torch.randn(num, P, device=device)
        if self.prev_raw is not None:
            return self.current.sample(self.prev_raw, num)[0]
        return math.sqrt(self.config.prior_variance) * torch.randn(num, P, device=device)

    def before_step(self, task_id: int, it: int, n_iter: int) -> None:
        """Adaptive contrast (a Gaussian with the moments of q), then ``num_dis_steps`` discriminator updates
        (real = contrast samples, label 0; fake = the current posterior, label 1)."""
        c, post = self.config, self.current
        self.contrast = None
        if self.use_ac:
            with torch.no_grad():
                self.contrast = adaptive_contrast_moments(post.sample(post.raw([task_id]), c.num_ac_samples)[0])
        if self.dis is None or not self.pm_on:
            return
        for _ in range(c.num_dis_steps):
            with torch.no_grad():
                fake = post.sample(post.raw([task_id]), c.dis_batch_size)[0]  # [B_d, P]
                real = self._contrast_samples(c.dis_batch_size, self.contrast, fake.device)
            self.dis_opt.zero_grad()
            loss, self.train_dis_acc = discriminator_loss(self.dis, real, fake, c.use_batchstats)
            loss.backward()
            self.dis_opt.step()

    def train_step(self, batch, task_id: int, it: int, n_iter: int) -> dict[str, Tensor]:
        c, post = self.config, self.current
        x = batch.inputs
        reg = torch.zeros((), device=x.device)
        if self.use_reg:
            prev = list(tasks_to_regularize(task_id, c.hnet_reg_batch_size, self.reg_rng))
            reg = hnet_output_regularizer(post.raw(prev), select_tasks(self.targets, prev))  # all old tasks in one call
        self.kl_weight = kl_factor(it, n_iter, c.kl_scale, c.kl_schedule)
        replay = self.replay.batch(task_id, post, None) if self.replay is not None else None
        raw = post.raw([task_id])  # [1, Q]: θ_t, one hyper-hypernetwork call per iteration
        loss_pm, w_pm, self.surrogate = torch.zeros((), device=x.device), None, None
        if self.pm_on and self.avb:
            w_pm = post.sample(raw, c.num_kl_samples)[0]  # [K, P]
            loss_pm = avb_prior_matching(self.dis, w_pm, c.use_batchstats, self.contrast,
                                         math.sqrt(c.prior_variance))
        elif self.pm_on:  # SSGE
            if self.prev_raw is None:  # explicit prior: cross-entropy by Monte Carlo
                loss_pm = explicit_prior_cross_entropy(post.sample(raw, c.num_kl_samples)[0], c.prior_variance)
            width = None if c.heuristic_kernel else c.rbf_kernel_width  # None: the median heuristic
            self.surrogate = ssge_kl_surrogate(post, raw, c.train_sample_size, c.ssge_sample_size, width,
                                               c.num_ssge_eigenvals, c.thr_ssge_eigenvals, prior_raw=self.prev_raw,
                                               pf_sign_fix=vars(c).get("pf_ssge_sign_fix", False))
        reuse = w_pm is not None and c.num_kl_samples == c.train_sample_size
        w = (w_pm if reuse else post.sample(raw, c.train_sample_size)[0]).unsqueeze(0)  # [1, S, P]
        replay_logits = None
        if replay is not None and not vars(c).get("batchnorm", False):
            both = predict_with_samples(post.mnet, torch.cat([x, replay.inputs]), w)[0]
            logits, replay_logits = both[:, :x.shape[0]], both[:, x.shape[0]:]
        else:
            logits = predict_with_samples(post.mnet, x, w)[0]  # [S, B, O]
            if replay is not None:  # batch norm: the training batch's statistics alone
                replay_logits = predict_with_samples(post.mnet, replay.inputs, w)[0]
        terms = self.family.task_terms(logits, batch, task_id)
        loss = self.kl_weight * loss_pm + terms["loss_nll"] + c.beta * reg
        terms = {"loss_kl": loss_pm, "loss_nll": terms["loss_nll"], "regularizer": reg,
                 **{k: v for k, v in terms.items() if k != "loss_nll"}}
        if replay is not None:
            terms[replay.name] = replay.loss(replay_logits)
            loss = loss + c.coreset_reg * terms[replay.name]
        return {"loss": loss, **terms}

    def extra_gradients(self, terms, params):
        """SSGE: ∇ of the estimated KL parts, added after clipping (the original's order)."""
        if self.surrogate is None:
            return None
        return torch.autograd.grad(self.kl_weight * self.surrogate, params, retain_graph=True, allow_unused=True)

    def step_log(self) -> dict[str, float]:
        return {"dis_acc": float(self.train_dis_acc)} if self.dis is not None else {}

    def after_task(self, task_id: int) -> None:
        post, summary, key = self.current, self.ctx.summary, self.ctx.key
        self.family.after_training_task(post.mnet, task_id)
        if key("acc_dis") in summary:  # the last evaluation's value (spec §4.1); −1 without a discriminator
            acc = self.val_dis_acc * self.family.accuracy_scale if self.dis is not None else -1.0
            summary[key("acc_dis")][task_id] = acc
            summary[key("acc_avg_dis")] = float(np.mean(summary[key("acc_dis")][:task_id + 1]))
        if self.replay is not None:
            self.replay.after_task(task_id, partial(self._predictive_entropy, task_id))
        if self.config.train_from_scratch and task_id > 0:
            self.new_posterior()  # the original's spare test networks (no discriminator), see ExplicitMethod

    @torch.no_grad()
    def _predictive_entropy(self, task_id: int, x: Tensor) -> Tensor:
        """Entropy ``[K]`` of task ``task_id``'s predictive distribution on ``x`` (shared-coreset update)."""
        gen = torch.Generator().manual_seed(EVAL_SEED)
        post, heads = self.current, self.family.heads
        out = post.predict(x, post.raw([task_id]), self.config.val_sample_size, gen)[0]
        p = heads.logits(out, task_id, task_id + 1).softmax(-1).mean(0)
        return -(p * p.clamp_min(1e-5).log()).sum(-1)

    # --- test phase --------------------------------------------------------------------------------------------
    def _predict(self, post: ImplicitPosterior, x: Tensor, task_ids: list[int], num_samples: int,
                 gen: torch.Generator) -> Tensor:
        if post.hh_net is None:  # one distribution for all tasks: the same samples serve every head
            out = post.predict(x, post.raw(task_ids[:1]), num_samples, gen)
            return out.expand(len(task_ids), *out.shape[1:])
        return post.predict(x, post.raw(task_ids), num_samples, gen)

    # --- checkpoints -------------------------------------------------------------------------------------------
    def state(self) -> nn.Module:
        return nn.ModuleList([self.posteriors, self.dis_holder])

    def tensors(self) -> dict[str, Tensor]:
        return {} if self.replay is None else self.replay.coresets.state()

    def meta(self) -> dict:
        return {"val_dis_acc": self.val_dis_acc}

    def load(self, tensors: dict[str, Tensor], meta: dict) -> None:
        if self.replay is not None:
            self.replay.coresets.load_state(tensors)
        self.val_dis_acc = meta.get("val_dis_acc", -1.0)
