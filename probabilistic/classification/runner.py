"""Classification runner of the BbB family: PR-Dirac, PR-BbB (± LRT), PR-Radial, VCL, separate networks,
fine-tuning (``prob_mnist/train_bbb.run`` of the original; GMM now, Split/PermutedMNIST and SplitCIFAR later).

``run(config) -> summary`` reads top-down: setup -> data -> networks -> for each task: train, test all models on
all test sets, write the summary, checkpoint -> final figures and report. Loss per iteration (spec §2.3):

.. math::
    L = \\lambda_\\text{KL}(i)\\, \\mathrm{KL}(q_t \\Vert p) + N_\\text{train} \\frac{1}{S} \\sum_{s=1}^{S}
        \\mathrm{CE}(f(x; w_s)_{\\mathcal{A}_t}, y) + \\beta\\, L_\\text{reg}

with S = ``train_sample_size``, the softmax over task t's allowed outputs 𝒜_t (:mod:`probabilistic.heads`),
λ_KL from :func:`utils.training.kl_factor`, p = N(0, σ_p² I) or (VCL) the previous posterior, and
the hypernetwork output regulariser over the previous tasks S ⊆ {0..t−1}: head-masked mse on the raw outputs, or
fkl/rkl/w2 between diagonal Gaussians averaged over S and (original quirk, spec §6.2.3) divided once more by t
unless ``--fix_dist_reg_normalization``.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from data.dataset import Dataset, derive_seed
from hnets.chunked_hmlp import ChunkedHMLP
from hnets.hmlp import HMLP
from hnets.init import custom_hnet_init_ as generic_hnet_init_
from probabilistic.args import mode_of
from probabilistic.classification.batchnorm_stats import checkpoint_task_stats, has_batchnorm, with_task_stats
from probabilistic.classification.coreset_finetune import finetune_on_coresets
from probabilistic.classification.coresets import (
    Coresets,
    ReplayBatch,
    build_up_front,
    coreset_regularizer_batch,
    experience_replay_batch,
)
from probabilistic.classification.evaluate import EVAL_SEED, test_inputs, validate
from probabilistic.classification.families import build_main_net
from probabilistic.classification.phases import end_of_run, end_of_task, setup_run
from probabilistic.classification.schedulers import EpochSchedulers
from probabilistic.classification.supsup import check_supsup, infer_tasks, supsup_summary
from probabilistic.classification.training import (
    iterations_per_epoch,
    make_optimizer,
    num_iterations,
    optimizer_step,
    task_loss,
)
from probabilistic.gauss_hnet_init import custom_hnet_init_, gauss_chunked_hyperfan_init_, gauss_hyperfan_init_
from probabilistic.gaussian import gaussian_regularizer
from probabilistic.heads import Heads, output_unit_entries, regularizer_mask
from probabilistic.posterior import WeightPosterior, prior_matching
from utils.cli import ConfigError, parse_int_list
from utils.hnet_regularizer import compute_targets, hnet_output_regularizer, tasks_to_regularize
from utils.progress import itstime, progress
from utils.run_env import RunEnv
from utils.task_state import latest_task, load_task_state
from utils.training import kl_factor


# ---------------------------------------------------------------------------------------------------------------
# Supported options
# ---------------------------------------------------------------------------------------------------------------
def check_supported(config: argparse.Namespace) -> None:
    """Reject options this runner does not implement yet (none is used by a GMM README command)."""
    unsupported = {
        "distill_iter": config.distill_iter != -1,
        "calibrate_temp": config.calibrate_temp, "training_set_size": config.training_set_size != -1,
        "hnet_out_masking": config.hnet_out_masking != 0, "hnet_specnorm": config.hnet_specnorm,
        "batchnorm": vars(config).get("batchnorm", False),  # the MLP's --batchnorm (the CIFAR parsers lack it)
    }
    for flag, used in unsupported.items():
        if used:
            raise ConfigError(f"--{flag} is not supported by the classification BbB runner yet "
                              "(no README command needs it)")
    if not config.mnet_only and config.hnet_type not in ("hmlp", "chunked_hmlp"):
        raise ConfigError(f"--hnet_type={config.hnet_type} is not supported; use hmlp or chunked_hmlp")
    if config.final_coresets_finetune:
        if config.coreset_size == -1:
            raise ConfigError("--final_coresets_finetune needs coresets: set --coreset_size")
        if posterior_kind(config) != "gaussian" or config.train_from_scratch:
            raise ConfigError("--final_coresets_finetune is only implemented for Gaussian (BbB) posteriors without "
                              "--radial_bnn, --mean_only or --train_from_scratch (as the original)")
        if mode_of(config.parser_mode)[1] == "perm":
            raise ConfigError("--final_coresets_finetune cannot remove coreset samples from PermutedMNIST training "
                              "sets (not supported by the original either)")
    if config.vcl_reset_new_heads and not config.use_prev_post_as_prior:
        raise ConfigError("--vcl_reset_new_heads only applies to VCL: add --use_prev_post_as_prior")
    parse_int_list(vars(config).get("mlp_arch", ""), "mlp_arch")  # (the ZenkeNet scripts have no --mlp_arch)
    parse_int_list(config.hmlp_arch, "hmlp_arch")


# ---------------------------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------------------------
def posterior_kind(config: argparse.Namespace) -> str:
    return "dirac" if config.mean_only else ("radial" if config.radial_bnn else "gaussian")


def make_hnet(config: argparse.Namespace, target_shapes: list, num_tasks: int) -> nn.Module:
    """``--hnet_type`` hypernetwork with ``num_tasks`` task embeddings (``hmlp`` or ``chunked_hmlp``)."""
    common = dict(cond_in_size=config.cond_emb_size, layers=parse_int_list(config.hmlp_arch, "hmlp_arch"),
                  activation_fn=config.hnet_net_act, use_bias=not config.hnet_no_bias, num_cond_embs=num_tasks,
                  dropout_rate=config.hnet_dropout_rate)
    if config.hnet_type == "chunked_hmlp":
        return ChunkedHMLP(target_shapes, config.chmlp_chunk_size, int(config.chunk_emb_size),
                           cond_chunk_embs=config.use_cond_chunk_embs, **common)
    return HMLP(target_shapes, **common)


def build_posterior(config: argparse.Namespace, family: str, in_dim: int, heads: Heads,
                    device: torch.device) -> WeightPosterior:
    """Main network + (hypernetwork or own posterior parameters), initialised as the original runner does."""
    mnet = build_main_net(family, config, in_dim, heads.num_outputs)
    kind = posterior_kind(config)
    hnet = None
    if not config.mnet_only:
        shapes = mnet.param_shapes if kind == "dirac" else mnet.param_shapes + mnet.param_shapes
        hnet = make_hnet(config, shapes, heads.num_tasks)
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
    return WeightPosterior(mnet, kind, hnet, config.use_logvar_enc, config.keep_orig_init).to(device)


def num_weights(posterior: WeightPosterior) -> tuple[int, int]:
    """(#main-network posterior parameters incl. ρ, #hypernetwork weights or −1)."""
    main = posterior.num_outputs
    hyper = sum(p.numel() for p in posterior.hnet.parameters()) if posterior.hnet is not None else -1
    return main, hyper


def predict_fn(config: argparse.Namespace):
    """``predict(posterior, x, task_ids, V, generator) -> [N, V, B, O]`` for the test phase (deterministic noise)."""
    lrt = config.local_reparam_trick and not config.disable_lrt_test

    def predict(posterior: WeightPosterior, x: Tensor, task_ids: list[int], num_samples: int,
                gen: torch.Generator) -> Tensor:
        if posterior.hnet is None:  # one shared posterior: the same samples serve every task's head
            out = posterior.predict(x, posterior.raw(task_ids[:1]), num_samples, gen, lrt)
            return out.expand(len(task_ids), *out.shape[1:])
        return posterior.predict(x, posterior.raw(task_ids), num_samples, gen, lrt)

    return predict


# ---------------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------------
def posterior_rows(posterior: WeightPosterior, task_id: int, prev: list[int]) -> tuple[Tensor, Tensor]:
    """Raw posterior parameters of the current task ``[1, outputs]`` and of the regularised tasks ``prev``
    ``[S, outputs]``, from one batched hypernetwork call."""
    rows = posterior.raw(prev + [task_id])
    return rows[-1:], rows[:-1]


def regularizer(config, posterior: WeightPosterior, current: Tensor, prev: list[int], targets: Tensor,
                masks: Tensor, task_id: int) -> Tensor:
    """CL regulariser of the previous tasks ``prev`` whose raw outputs are now ``current [S, outputs]`` (see the
    module docstring)."""
    target = targets[prev]  # [S, outputs]
    if config.regularizer == "mse":
        return hnet_output_regularizer(current, target, masks[prev])
    mean, std = posterior.mean_std(current)
    t_mean, t_std = posterior.mean_std(target)
    reg = gaussian_regularizer(config.regularizer, mean, std, t_mean, t_std).mean()  # mean over regularised tasks
    return reg if config.fix_dist_reg_normalization else reg / task_id


def train_step(config, posterior: WeightPosterior, raw: Tensor, x: Tensor, labels: Tensor, task_id: int,
               heads: Heads, num_train: int, kl_weight: float, prior: tuple | None, reg: Tensor,
               replay: ReplayBatch | None = None) -> dict[str, Tensor]:
    """Loss terms of one iteration of task ``task_id`` (raw posterior parameters ``raw [1, outputs]``) on batch
    ``x [B, I]``, ``labels [B]`` (local class ids); coreset inputs of ``replay`` go through the same weight samples
    in the same pass (separately with batch norm)."""
    loss_kl = prior_matching(posterior, raw, config.prior_variance, config.num_kl_samples, prior)
    S, lrt = config.train_sample_size, config.local_reparam_trick
    replay_logits = None
    if replay is None:
        logits = posterior.predict(x, raw, S, lrt=lrt)[0]  # [S, B, O]
    elif has_batchnorm(posterior.mnet):  # batch statistics of the training batch alone
        logits = posterior.predict(x, raw, S, lrt=lrt)[0]
        replay_logits = posterior.predict(replay.inputs, raw, S, lrt=lrt)[0]
    else:
        both = posterior.predict(torch.cat([x, replay.inputs]), raw, S, lrt=lrt)[0]
        logits, replay_logits = both[:, :x.shape[0]], both[:, x.shape[0]:]
    allowed = heads.logits(logits, task_id, num_trained=task_id + 1)  # [S, B, W]
    return task_loss(allowed, heads.targets(labels, task_id), num_train, loss_kl, kl_weight, config.beta, reg,
                     replay, replay_logits, config.coreset_reg)


def replay_batch(config, posterior: WeightPosterior, coresets: Coresets | None, task_id: int, heads: Heads,
                 teacher_raw: Tensor | None) -> ReplayBatch | None:
    """This iteration's coreset inputs: experience replay (distillation from ``teacher_raw``), the coreset
    regulariser (old tasks, t > 0; not with final fine-tuning), or None."""
    if coresets is None or config.final_coresets_finetune:
        return None
    if config.coresets_for_experience_replay:
        if task_id == 0:
            return None
        teacher = lambda x: posterior.predict(x, teacher_raw, 1)[0, 0]  # noqa: E731
        return experience_replay_batch(coresets, task_id, heads, teacher, config.coreset_batch_size,
                                       config.fix_coreset_size)
    if task_id == 0 and not config.past_and_future_coresets:
        return None
    return coreset_regularizer_batch(coresets, task_id, heads, config.coreset_batch_size,
                                     config.past_and_future_coresets)


def train_task(config, env: RunEnv, posterior: WeightPosterior, task: Dataset, task_id: int, heads: Heads,
               targets: Tensor | None, prior: tuple | None, coresets: Coresets | None = None) -> None:
    """Optimise the posterior of task ``task_id`` (a new optimizer per task, as the original)."""
    optimizer = make_optimizer(config, posterior.parameters())
    n_iter = num_iterations(config, task.num_train)
    use_reg = targets is not None and config.beta > 0
    masks = None
    if use_reg:
        gaussian = posterior.kind != "dirac"
        masks = regularizer_mask(posterior.mnet, heads, list(range(heads.num_tasks)), gaussian).to(targets.device)
    rng = np.random.RandomState(derive_seed(config.random_seed, 1000 + task_id))  # regularised-task subsets
    lrt_test = config.local_reparam_trick and not config.disable_lrt_test
    teacher_raw = posterior.raw([task_id]).detach().clone() if coresets is not None else None  # ER snapshot

    def val_accuracy() -> float:  # plateau scheduler: deterministic weight samples
        gen = torch.Generator(device=env.device).manual_seed(EVAL_SEED)
        return validate(env, lambda x: posterior.predict(x, posterior.raw([task_id]), config.val_sample_size, gen,
                                                         lrt=lrt_test)[0], task, task_id, heads, -1, log=False)

    schedulers = EpochSchedulers(config, optimizer, iterations_per_epoch(config, task.num_train), val_accuracy)
    posterior.train()
    for it in progress(range(n_iter), desc=f"task {task_id + 1}"):
        if itstime(it, config.val_iter):
            posterior.eval()
            validate(env, lambda x: posterior.predict(x, posterior.raw([task_id]), config.val_sample_size,
                                                      lrt=lrt_test)[0], task, task_id, heads, it)
            posterior.train()
        optimizer.zero_grad()
        batch = task.next_train_batch(config.batch_size, one_hot=False)
        prev = list(tasks_to_regularize(task_id, config.hnet_reg_batch_size, rng)) if use_reg else []
        raw, prev_raw = posterior_rows(posterior, task_id, prev)  # one hypernetwork call per iteration
        reg = (regularizer(config, posterior, prev_raw, prev, targets, masks, task_id) if prev
               else torch.zeros((), device=batch.inputs.device))
        m = train_step(config, posterior, raw, batch.inputs, batch.targets, task_id, heads, task.num_train,
                       kl_factor(it, n_iter, config.kl_scale, config.kl_schedule), prior, reg,
                       replay_batch(config, posterior, coresets, task_id, heads, teacher_raw))
        optimizer_step(config, m, list(posterior.parameters()), optimizer, schedulers, env.writer, task_id, it)


@torch.no_grad()
def predictive_entropy(config, posterior: WeightPosterior, task_id: int, heads: Heads, x: Tensor) -> Tensor:
    """Normalised entropy ``[K]`` of task ``task_id``'s predictive distribution on ``x`` (shared-coreset update)."""
    gen = torch.Generator(device=x.device).manual_seed(EVAL_SEED)
    lrt = config.local_reparam_trick and not config.disable_lrt_test
    out = posterior.predict(x, posterior.raw([task_id]), config.val_sample_size, gen, lrt=lrt)[0]
    p = heads.logits(out, task_id, task_id + 1).softmax(-1).mean(0)
    return -(p * p.clamp_min(1e-5).log()).sum(-1)


@torch.no_grad()
def previous_posterior(posterior: WeightPosterior, task_id: int, heads: Heads | None = None,
                       prior_variance: float = 1.0) -> tuple[Tensor, Tensor]:
    """VCL prior: the detached posterior after the previous task, also for the heads not trained yet (as the
    original classification trainer; spec §6.2.15). With ``heads`` (``--vcl_reset_new_heads``, multi-head runs)
    the weights of heads ``task_id..`` get the N(0, ``prior_variance``) prior instead."""
    mean, std = posterior.mean_std(posterior.raw([task_id - 1]))
    mean, std = mean.detach().clone(), std.detach().clone()
    if heads is not None and heads.multi_head:
        C = heads.num_classes
        new = output_unit_entries(posterior.mnet, list(range(task_id * C, heads.num_tasks * C))).to(mean.device)
        mean[:, new] = 0.0
        std[:, new] = prior_variance ** 0.5
    return mean, std


def supsup_task_inference(config: argparse.Namespace, posterior: WeightPosterior, tasks: list[Dataset],
                          heads: Heads) -> dict:
    """``--supsup_task_inference`` on the test sets of all tasks (summary keys appended after ``finished``)."""
    posterior.eval()
    x, _, true_task = test_inputs(tasks, list(range(len(tasks))), heads)
    lrt = config.local_reparam_trick and not config.disable_lrt_test
    inferred = infer_tasks(posterior, x, len(tasks), heads, config.supsup_grad_steps, config.supsup_lr,
                           config.val_sample_size, config.val_batch_size, lrt)
    return supsup_summary(inferred, true_task, len(tasks))


def built_up_front(config: argparse.Namespace) -> bool:
    """Coresets of all tasks exist before training (final fine-tuning, experience replay, past+future)."""
    return config.final_coresets_finetune or config.coresets_for_experience_replay or config.past_and_future_coresets


def make_coresets(config: argparse.Namespace, tasks: list[Dataset]) -> Coresets | None:
    """``--coreset_size`` coresets (None if -1); built now if :func:`built_up_front` (removing the samples from the
    training sets for final fine-tuning)."""
    if config.coreset_size == -1:
        return None
    coresets = Coresets(len(tasks), config.coreset_size, config.per_task_coreset, config.random_seed)
    if built_up_front(config):
        build_up_front(coresets, tasks, remove=config.final_coresets_finetune)
    return coresets


def checkpoint_tensors(prior: tuple | None, coresets: Coresets | None) -> dict[str, Tensor]:
    """Tensors besides the networks that a resumed run needs: the VCL prior and the coresets."""
    extra = {} if prior is None else {"prior_mean": prior[0], "prior_std": prior[1]}
    return extra if coresets is None else {**extra, **coresets.state()}


# ---------------------------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------------------------
def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train and test all tasks of the family; returns the summary dict (also written to out_dir)."""
    # --- setup, data ---
    check_supported(config)
    run_ = setup_run(config, script_dir, argv)
    env, tasks, T, device, family = run_.env, run_.tasks, run_.num_tasks, run_.device, run_.family
    heads = Heads(config.cl_scenario, T, tasks[0].num_classes, config.split_head_cl3,
                  shared_model=config.mnet_only)

    # --- networks ---
    def new_posterior() -> WeightPosterior:
        return build_posterior(config, family, tasks[0].in_dim, heads, device)

    posteriors = nn.ModuleList([new_posterior()])
    if config.supsup_task_inference:
        check_supsup(posteriors[0], config.train_from_scratch)
    main, hyper = num_weights(posteriors[0])
    run_.summary.update(num_weights_main=main, num_weights_hyper=hyper,
                        num_weights_hm_ratio=hyper / main if hyper > 0 else -1)
    env.logger.info(f"Main network: {main} posterior parameters; hypernetwork: {hyper} weights.")
    predict = with_task_stats(predict_fn(config), config, posteriors[0].mnet)  # model j: task j's BN statistics
    coresets = make_coresets(config, tasks)

    def models(n: int) -> list[WeightPosterior]:  # model j = posterior of task j
        return [posteriors[j] if config.train_from_scratch else posteriors[0] for j in range(n)]

    # --- resume from the last complete task checkpoint, if any ---
    start, prior, finetuned = 0, None, False
    last = latest_task(env.out_dir, T)
    if last >= 0:
        while len(posteriors) < (last + 1 if config.train_from_scratch else 1):
            posteriors.append(new_posterior())
        tensors, meta = load_task_state(env.out_dir, last, posteriors, device)
        run_.summary = meta["summary"]
        prior = (tensors["prior_mean"], tensors["prior_std"]) if "prior_mean" in tensors else None
        if coresets is not None:
            coresets.load_state(tensors)
        finetuned = meta.get("finetuned", False)
        start = last + 1
        env.logger.info(f"Resuming after task {start} from {env.out_dir / 'checkpoints'}.")

    # --- tasks ---
    for task_id in range(start, T):
        if config.train_from_scratch and task_id > 0:
            posteriors.append(new_posterior())
        current = posteriors[-1]
        shared_hnet = current.hnet is not None and not config.train_from_scratch
        targets = compute_targets(current.hnet, task_id) if shared_hnet and task_id > 0 else None
        if shared_hnet and config.init_with_prev_emb and task_id > 0:
            with torch.no_grad():
                current.hnet.conditional_params[task_id].copy_(current.hnet.conditional_params[task_id - 1])
        if config.use_prev_post_as_prior and task_id > 0:
            prior = previous_posterior(current, task_id, heads if config.vcl_reset_new_heads else None,
                                       config.prior_variance)
        env.logger.info(f"Training task {task_id + 1}/{T} for "
                        f"{num_iterations(config, tasks[task_id].num_train)} iterations.")
        train_task(config, env, current, tasks[task_id], task_id, heads, targets, prior, coresets)
        if coresets is not None and not built_up_front(config):
            coresets.update_after_task(tasks[task_id], task_id,
                                       partial(predictive_entropy, config, current, task_id, heads))
        checkpoint_task_stats(config, current.mnet, task_id)
        end_of_task(config, run_, models(task_id + 1), predict, heads, task_id, posteriors,
                    checkpoint_tensors(prior, coresets))

    # --- final coreset fine-tuning and a second full test ---
    if config.final_coresets_finetune and not finetuned:
        finetune_on_coresets(config, env, posteriors[-1], coresets, heads)
        end_of_task(config, run_, models(T), predict, heads, T - 1, posteriors, checkpoint_tensors(prior, coresets),
                    {"finetuned": True})

    # --- SupSup task inference on all test sets, then the final report ---
    if config.supsup_task_inference:
        run_.summary.update(supsup_task_inference(config, posteriors[-1], tasks, heads))
    return end_of_run(config, run_, models(T), predict, heads, posteriors)
