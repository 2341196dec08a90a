"""Explicit posteriors: PR-BbB (± local reparametrisation), PR-Radial, PR-Dirac from a hypernetwork, their
separate-network and main-network-only variants, VCL and fine-tuning (``train_bbb`` of the original, spec §2.3).

Loss per iteration of task t:

.. math::
    L = \\lambda_\\text{KL}(i)\\, \\mathrm{KL}(q_t \\Vert p) + L_\\text{nll} + \\beta\\, L_\\text{reg}
        \\;[+\\, \\lambda_\\text{cs} L_\\text{coreset}]

with the family's likelihood L_nll over S = ``train_sample_size`` weight samples, λ_KL from
:func:`utils.training.kl_factor`, p = N(0, σ_p² I) or (VCL, ``--use_prev_post_as_prior``) the previous posterior,
and the hypernetwork output regulariser over the previous tasks S ⊆ {0..t−1}: head-masked mse on the raw outputs,
or fkl/rkl/w2 between diagonal Gaussians averaged over S and (classification quirk, spec §6.2.3) divided once more
by t unless ``--fix_dist_reg_normalization``.
"""

from __future__ import annotations

import argparse
from functools import partial

import numpy as np
import torch
from torch import Tensor, nn

from data.dataset import derive_seed
from hnets.chunked_hmlp import ChunkedHMLP
from hnets.hmlp import HMLP
from hnets.init import custom_hnet_init_ as generic_hnet_init_
from mnets.base import MainNet
from probabilistic.args import mode_of
from probabilistic.classification.batchnorm_stats import has_batchnorm
from probabilistic.classification.coreset_finetune import finetune_on_coresets
from probabilistic.classification.evaluate import EVAL_SEED
from probabilistic.classification.supsup import check_supsup, infer_tasks, supsup_summary
from probabilistic.families.base import Family, RunContext
from probabilistic.gauss_hnet_init import custom_hnet_init_, gauss_chunked_hyperfan_init_, gauss_hyperfan_init_
from probabilistic.gaussian import gaussian_regularizer
from probabilistic.methods.base import PosteriorPerTask
from probabilistic.methods.replay import CoresetReplay
from probabilistic.posterior import WeightPosterior, prior_matching
from utils.cli import ConfigError, parse_int_list
from utils.hnet_regularizer import (
    compute_targets,
    hnet_output_regularizer,
    regularized_rows,
    select_tasks,
    tasks_to_regularize,
)
from utils.training import adam, kl_factor, make_optimizer


def posterior_kind(config: argparse.Namespace) -> str:
    return "dirac" if config.mean_only else ("radial" if config.radial_bnn else "gaussian")


def make_hnet(config: argparse.Namespace, target_shapes: list, num_tasks: int) -> nn.Module:
    """``--hnet_type`` hypernetwork with ``num_tasks`` task embeddings (``hmlp`` or ``chunked_hmlp``)."""
    common = dict(cond_in_size=config.cond_emb_size, layers=parse_int_list(config.hmlp_arch, "hmlp_arch"),
                  activation_fn=config.hnet_net_act, use_bias=not config.hnet_no_bias, num_cond_embs=num_tasks,
                  dropout_rate=config.hnet_dropout_rate)
    if vars(config).get("hnet_type", "hmlp") == "chunked_hmlp":
        return ChunkedHMLP(target_shapes, config.chmlp_chunk_size, int(config.chunk_emb_size),
                           cond_chunk_embs=config.use_cond_chunk_embs, **common)
    return HMLP(target_shapes, **common)


def build_posterior(config: argparse.Namespace, mnet: MainNet, num_tasks: int, device: torch.device
                    ) -> WeightPosterior:
    """Main network ``mnet`` + (hypernetwork with ``num_tasks`` embeddings or own posterior parameters),
    initialised as the original runners do."""
    kind = posterior_kind(config)
    hnet = None
    if not config.mnet_only:
        shapes = mnet.param_shapes if kind == "dirac" else mnet.param_shapes + mnet.param_shapes
        hnet = make_hnet(config, shapes, num_tasks)
        if config.hyper_gauss_init and isinstance(hnet, ChunkedHMLP):
            gauss_chunked_hyperfan_init_(hnet, mnet.param_shapes_meta, config.std_normal_temb,
                                         mean_only=kind == "dirac")
        elif config.hyper_gauss_init:
            gauss_hyperfan_init_(hnet, mnet.param_shapes_meta, config.std_normal_temb, config.keep_orig_init,
                                 mean_only=kind == "dirac")
        elif isinstance(hnet, HMLP):
            custom_hnet_init_(hnet, config.std_normal_temb, config.normal_init, config.std_normal_init)
        else:
            generic_hnet_init_(hnet, config.std_normal_temb, config.std_normal_emb, config.normal_init,
                               config.std_normal_init)
    return WeightPosterior(mnet, kind, hnet, config.use_logvar_enc, config.keep_orig_init,
                           vars(config).get("normal_init", False), vars(config).get("std_normal_init", 0.02)
                           ).to(device)


@torch.no_grad()
def previous_posterior(posterior: WeightPosterior, task_id: int, untrained: Tensor | None = None,
                       prior_variance: float = 1.0) -> tuple[Tensor, Tensor]:
    """VCL prior: the detached posterior after the previous task; the weights in ``untrained`` (heads not trained
    yet, where the family resets them) get the N(0, ``prior_variance``) prior instead."""
    mean, std = posterior.mean_std(posterior.raw([task_id - 1]))
    mean, std = mean.detach().clone(), std.detach().clone()
    if untrained is not None:
        untrained = untrained.to(mean.device)
        mean[:, untrained] = 0.0
        std[:, untrained] = prior_variance ** 0.5
    return mean, std


def output_regularizer(config: argparse.Namespace, posterior: WeightPosterior, current_rows: Tensor,
                       target_rows: Tensor, masks: Tensor | None, task_id: int,
                       target_stats: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """CL regulariser of S previous tasks whose raw outputs are now ``current_rows [S, outputs]`` and were
    ``target_rows`` (see the module docstring; ``masks`` hide other tasks' heads from the mse).
    ``target_stats`` is ``posterior.mean_std(target_rows)`` if the caller has it already."""
    if config.regularizer == "mse":
        return hnet_output_regularizer(current_rows, target_rows, masks)
    mean, std = posterior.mean_std(current_rows)
    t_mean, t_std = posterior.mean_std(target_rows) if target_stats is None else target_stats
    reg = gaussian_regularizer(config.regularizer, mean, std, t_mean, t_std).mean()  # mean over the tasks
    return reg if vars(config).get("fix_dist_reg_normalization", True) else reg / task_id


class ExplicitPosterior(PosteriorPerTask):
    """PR-BbB / PR-Radial / PR-Dirac / VCL / separate networks / fine-tuning."""

    name = "explicit posterior"

    def check(self, config: argparse.Namespace, family: Family) -> None:
        super().check(config, family)
        c = vars(config)
        unsupported = {"hnet_out_masking": c.get("hnet_out_masking", 0) != 0,
                       "hnet_specnorm": c.get("hnet_specnorm", False)}
        for flag, used in unsupported.items():
            if used:
                raise ConfigError(f"--{flag} is not supported yet (no README command needs it)")
        hnet_type = c.get("hnet_type", "hmlp")
        allowed = ("hmlp",) if family.name == "regression" else ("hmlp", "chunked_hmlp")
        if not config.mnet_only and hnet_type not in allowed:
            raise ConfigError(f"--hnet_type={hnet_type} is not supported for {family.name}; use "
                              + " or ".join(allowed))
        if c.get("final_coresets_finetune", False):
            if config.coreset_size == -1:
                raise ConfigError("--final_coresets_finetune needs coresets: set --coreset_size")
            if posterior_kind(config) != "gaussian" or config.train_from_scratch:
                raise ConfigError("--final_coresets_finetune is only implemented for Gaussian (BbB) posteriors "
                                  "without --radial_bnn, --mean_only or --train_from_scratch (as the original)")
            if mode_of(config.parser_mode)[1] == "perm":
                raise ConfigError("--final_coresets_finetune cannot remove coreset samples from PermutedMNIST "
                                  "training sets (not supported by the original either)")
        if c.get("vcl_reset_new_heads", False) and not config.use_prev_post_as_prior:
            raise ConfigError("--vcl_reset_new_heads only applies to VCL: add --use_prev_post_as_prior")
        parse_int_list(c.get("mlp_arch", ""), "mlp_arch")  # (the ZenkeNet scripts have no --mlp_arch)
        parse_int_list(config.hmlp_arch, "hmlp_arch")

    # --- setup -------------------------------------------------------------------------------------------------
    def build(self, ctx: RunContext, family: Family) -> None:
        super().build(ctx, family)
        config = self.config
        family.make_heads(shared_model=config.mnet_only)
        self.posteriors = nn.ModuleList([self.new_posterior()])
        if vars(config).get("supsup_task_inference", False):
            check_supsup(self.posteriors[0], config.train_from_scratch)
        first = self.posteriors[0]
        main = first.num_outputs
        hyper = sum(p.numel() for p in first.hnet.parameters()) if first.hnet is not None else -1
        ratio = hyper / main if hyper > 0 else -1
        self.set_weight_counts({"num_weights_main": main, "num_weights_hyper": hyper, "num_weights_hm_ratio": ratio,
                                "num_weights_ratio": ratio})
        ctx.env.logger.info(f"Main network: {main} posterior parameters; hypernetwork: {hyper} weights.")
        self.test_lrt = config.local_reparam_trick and not config.disable_lrt_test
        self.predict = family.wrap_predict(self._predict, first.mnet)
        self.replay = CoresetReplay.create(config, ctx.tasks, family)
        self.prior = None
        self.finetuned = False

    def new_posterior(self) -> WeightPosterior:
        return build_posterior(self.config, self.family.main_net(), self.ctx.num_tasks, self.ctx.device)

    def optimizer(self, params):
        # the regression BbB parser has no optimizer choice: Adam, as the original
        return make_optimizer(self.config, params) if "use_adam" in vars(self.config) else adam(self.config, params)

    # --- one task ----------------------------------------------------------------------------------------------
    def before_task(self, task_id: int) -> None:
        config = self.config
        self.add_posterior_for(task_id)
        current = self.current
        shared_hnet = current.hnet is not None and not config.train_from_scratch
        self.targets = compute_targets(current.hnet, task_id) if shared_hnet and task_id > 0 else None
        if shared_hnet and vars(config).get("init_with_prev_emb", False) and task_id > 0:
            with torch.no_grad():
                current.hnet.conditional_params[task_id].copy_(current.hnet.conditional_params[task_id - 1])
        if config.use_prev_post_as_prior and task_id > 0:
            untrained = self.family.untrained_heads(current.mnet, task_id)
            self.prior = previous_posterior(current, task_id, untrained, config.prior_variance)
        self.use_reg = self.targets is not None and config.beta > 0
        self.dist_reg = self.use_reg and config.regularizer != "mse"
        self.target_stats = current.mean_std(self.targets) if self.dist_reg else None
        self.masks = None
        if self.use_reg and config.regularizer == "mse":
            mask = self.family.regularizer_mask(current.mnet, current.kind != "dirac")
            self.masks = None if mask is None else mask.to(self.targets.device)
        self.reg_rng = np.random.RandomState(derive_seed(config.random_seed, 1000 + task_id))  # task subsets
        self.teacher_raw = current.raw([task_id]).detach().clone() if self.replay is not None else None  # ER

    def parameters(self, task_id):
        return list(self.current.parameters())

    def _sampled_logits(self, task_id: int, gen: torch.Generator | None = None):
        current = self.current
        return lambda x: current.predict(x, current.raw([task_id]), self.config.val_sample_size, gen,
                                         lrt=self.test_lrt)[0]

    def validate(self, task_id: int, it: int) -> None:
        self.current.eval()
        self.family.validate(self._sampled_logits(task_id), task_id, it)
        self.current.train()

    def val_accuracy(self, task_id: int) -> float:
        gen = torch.Generator(device=self.ctx.device).manual_seed(EVAL_SEED)
        return self.family.validate(self._sampled_logits(task_id, gen), task_id, -1, log=False)

    def train_step(self, batch, task_id: int, it: int, n_iter: int) -> dict[str, Tensor]:
        config, posterior = self.config, self.current
        x = batch.inputs
        prev = list(tasks_to_regularize(task_id, vars(config).get("hnet_reg_batch_size", -1), self.reg_rng)
                    ) if self.use_reg else []
        # One hypernetwork call per iteration for the regularised tasks and the current one. When every previous
        # task is regularised (the default), the stored targets, masks and the targets' stds are used as they
        # are, without a per-step copy. (A subset's stds are computed per step from its rows as one block:
        # softplus rounds a row's last entries differently when the row starts elsewhere in memory.)
        targets = select_tasks(self.targets, prev) if prev else None
        masks = None if self.masks is None else select_tasks(self.masks, prev)
        if prev and not self.dist_reg:  # mse: the whole gradient of the hypernetwork's rows in one pass
            sums, raw = regularized_rows(posterior.raw(prev + [task_id], keep_padding=True), targets, masks)
            reg = sums.mean()
        else:
            rows = posterior.raw(prev + [task_id])
            prev_rows, raw = rows.split([len(prev), 1])  # one backward copy (slices would each zero-fill [N, P])
            target_stats = self.target_stats if self.dist_reg and len(prev) == task_id else None
            reg = (output_regularizer(config, posterior, prev_rows, targets, masks, task_id, target_stats)
                   if prev else torch.zeros((), device=x.device))
        kl_weight = kl_factor(it, n_iter, vars(config).get("kl_scale", 1.0), config.kl_schedule)
        replay = self.replay.batch(task_id, posterior, self.teacher_raw) if self.replay is not None else None
        loss_kl = prior_matching(posterior, raw, config.prior_variance, config.num_kl_samples, self.prior)
        S, lrt = config.train_sample_size, config.local_reparam_trick
        replay_logits = None
        if replay is None:
            logits = posterior.predict(x, raw, S, lrt=lrt)[0]  # [S, B, O]
        elif has_batchnorm(posterior.mnet):  # batch statistics of the training batch alone
            logits = posterior.predict(x, raw, S, lrt=lrt)[0]
            replay_logits = posterior.predict(replay.inputs, raw, S, lrt=lrt)[0]
        else:  # the coreset inputs go through the same weight samples in the same pass
            both = posterior.predict(torch.cat([x, replay.inputs]), raw, S, lrt=lrt)[0]
            logits, replay_logits = both[:, :x.shape[0]], both[:, x.shape[0]:]
        terms = self.family.task_terms(logits, batch, task_id)
        loss = kl_weight * loss_kl + terms["loss_nll"] + config.beta * reg
        terms = {"loss_kl": loss_kl, "loss_nll": terms["loss_nll"], "regularizer": reg,
                 **{k: v for k, v in terms.items() if k != "loss_nll"}}
        if replay is not None:
            terms[replay.name] = replay.loss(replay_logits)
            loss = loss + config.coreset_reg * terms[replay.name]
        return {"loss": loss, **terms}

    def after_task(self, task_id: int) -> None:
        if self.replay is not None:
            self.replay.after_task(task_id, partial(self._predictive_entropy, task_id))
        self.family.after_training_task(self.current.mnet, task_id)
        if self.config.train_from_scratch and task_id > 0:
            # The original's test phase, whenever it tests more than one separately trained network, first builds
            # one spare network (to load earlier tasks' checkpoints into), drawing from the global generator exactly
            # as building a task's network does; the next task's network therefore starts from later draws. Build
            # and discard one here, right before the test phase, so seed-matched runs start task 3.. alike.
            self.new_posterior()

    @torch.no_grad()
    def _predictive_entropy(self, task_id: int, x: Tensor) -> Tensor:
        """Normalised entropy ``[K]`` of task ``task_id``'s predictive distribution on ``x`` (coreset update)."""
        gen = torch.Generator(device=x.device).manual_seed(EVAL_SEED)
        out = self._sampled_logits(task_id, gen)(x)
        p = self.family.heads.logits(out, task_id, task_id + 1).softmax(-1).mean(0)
        return -(p * p.clamp_min(1e-5).log()).sum(-1)

    def after_training(self) -> bool:
        """``--final_coresets_finetune``: fine-tune the last posterior on all coresets, then test again."""
        if not vars(self.config).get("final_coresets_finetune", False) or self.finetuned:
            return False
        finetune_on_coresets(self.config, self.ctx.env, self.current, self.replay.coresets, self.family.heads)
        self.finetuned = True
        return True

    def final_summary(self) -> dict:
        """``--supsup_task_inference`` on the test sets of all tasks (keys appended after ``finished``)."""
        if not vars(self.config).get("supsup_task_inference", False):
            return {}
        from probabilistic.classification.evaluate import test_inputs

        posterior, tasks, heads = self.current, self.ctx.tasks, self.family.heads
        posterior.eval()
        x, _, true_task = test_inputs(tasks, list(range(len(tasks))), heads)
        inferred = infer_tasks(posterior, x, len(tasks), heads, self.config.supsup_grad_steps, self.config.supsup_lr,
                               self.config.val_sample_size, self.config.val_batch_size, self.test_lrt)
        return supsup_summary(inferred, true_task, len(tasks))

    # --- test phase --------------------------------------------------------------------------------------------
    def _predict(self, posterior: WeightPosterior, x: Tensor, task_ids: list[int], num_samples: int,
                 gen: torch.Generator) -> Tensor:
        if posterior.hnet is None:  # one shared posterior: the same samples serve every task's head
            out = posterior.predict(x, posterior.raw(task_ids[:1]), num_samples, gen, self.test_lrt)
            return out.expand(len(task_ids), *out.shape[1:])
        return posterior.predict(x, posterior.raw(task_ids), num_samples, gen, self.test_lrt)

    # --- checkpoints -------------------------------------------------------------------------------------------
    def state(self) -> nn.Module:
        return self.posteriors

    def tensors(self) -> dict[str, Tensor]:
        extra = {} if self.prior is None else {"prior_mean": self.prior[0], "prior_std": self.prior[1]}
        return extra if self.replay is None else {**extra, **self.replay.coresets.state()}

    def meta(self) -> dict:
        return {"finetuned": self.finetuned}

    def load(self, tensors: dict[str, Tensor], meta: dict) -> None:
        self.prior = (tensors["prior_mean"], tensors["prior_std"]) if "prior_mean" in tensors else None
        if self.replay is not None:
            self.replay.coresets.load_state(tensors)
        self.finetuned = meta.get("finetuned", False)
