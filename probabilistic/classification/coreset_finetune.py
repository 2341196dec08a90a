"""Final coreset fine-tuning of the BbB runner (``--final_coresets_finetune``, spec §2.11).

The coresets of all tasks were built before training and removed from the training sets. After the last task the
per-task Gaussian posteriors q_t are frozen as priors p_t and fine-tuned on the coresets with a new optimizer. Each
iteration, for every task t, a batch of ``coreset_batch_size`` coreset samples is drawn — from the whole coreset
(default), a share ``ceil(p·B)`` from task t and the rest from the other tasks (``--final_coresets_balance=p``), or
only from task t (``--final_coresets_single_task``) — and task t's posterior minimises

.. math::
    \\lambda_\\text{KL}\\, \\mathrm{KL}(q_t \\Vert p_t) + N_\\text{cs} \\frac{1}{S} \\sum_{s} \\mathrm{CE}_\\text{soft}

where other tasks' samples have uniform targets on t's allowed outputs (random one-hot targets with
``--final_coresets_use_random_labels``) and N_cs is the total number of coreset samples. The gradients of all tasks
are accumulated into one optimizer step, as the original.
"""

from __future__ import annotations

import argparse
import math

import torch
from torch import Tensor

from probabilistic.classification.coresets import Coresets, final_batch_owner_mix, soft_cross_entropy
from probabilistic.heads import Heads
from probabilistic.posterior import WeightPosterior, prior_matching
from utils.progress import itstime, progress
from utils.run_env import RunEnv
from utils.training import check_finite, clip_gradients, kl_factor, make_optimizer


def finetune_iterations(config: argparse.Namespace, num_coreset: int) -> int:
    """``final_coresets_n_iter``, else epochs over the whole coreset (``final_coresets_epochs``, else ``epochs``)
    in batches of ``coreset_batch_size``, else ``n_iter``."""
    if config.final_coresets_n_iter != -1:
        return config.final_coresets_n_iter
    epochs = config.final_coresets_epochs if config.final_coresets_epochs != -1 else config.epochs
    if epochs != -1:
        return epochs * math.ceil(num_coreset / config.coreset_batch_size)
    return config.n_iter


def finetune_batch(config: argparse.Namespace, coresets: Coresets, task_id: int) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs, local labels and task of origin of one fine-tuning batch for task ``task_id``."""
    B, T = config.coreset_batch_size, coresets.num_tasks
    if config.final_coresets_single_task or T == 1:
        return coresets.sample([task_id], B)
    if config.final_coresets_balance == -1:
        return coresets.sample(list(range(T)), B)
    own = min(B, final_batch_owner_mix(B, config.final_coresets_balance))
    parts = [coresets.sample([task_id], own)] if own > 0 else []
    if B - own > 0:
        parts.append(coresets.sample([j for j in range(T) if j != task_id], B - own))
    return tuple(torch.cat(p) for p in zip(*parts))


def finetune_targets(config: argparse.Namespace, heads: Heads, labels: Tensor, owner: Tensor, task_id: int,
                     width: int, generator: torch.Generator) -> Tensor:
    """Soft targets ``[B, width]`` on task ``task_id``'s allowed outputs: one-hot for its own samples, uniform (or
    random one-hot) for the other tasks' samples."""
    own = owner == task_id
    idx = heads.targets(labels, task_id)
    target = torch.full((labels.shape[0], width), 1.0 / width, device=labels.device)
    if config.final_coresets_use_random_labels:
        random = torch.randint(heads.num_classes, labels.shape, generator=generator).to(labels.device)
        idx = torch.where(own, idx, heads.targets(random, task_id))
        own = torch.ones_like(own)
    one_hot = torch.nn.functional.one_hot(idx, width).float()
    return torch.where(own[:, None], one_hot, target)


def finetune_on_coresets(config: argparse.Namespace, env: RunEnv, posterior: WeightPosterior, coresets: Coresets,
                         heads: Heads) -> None:
    """Fine-tune the posteriors of all tasks on the coresets (see the module docstring)."""
    T = coresets.num_tasks
    with torch.no_grad():
        mean, std = posterior.mean_std(posterior.raw(list(range(T))))
        priors = [(mean[t:t + 1].clone(), std[t:t + 1].clone()) for t in range(T)]
    optimizer = make_optimizer(config, posterior.parameters())
    num_cs = coresets.total()
    n_iter = finetune_iterations(config, num_cs)
    kl_scale = config.kl_scale if config.final_coresets_kl_scale == -1 else config.final_coresets_kl_scale
    label_gen = torch.Generator().manual_seed(config.random_seed)
    env.logger.info(f"Final fine-tuning on {num_cs} coreset samples for {n_iter} iterations.")
    posterior.train()
    for it in progress(range(n_iter), desc="coreset fine-tuning"):
        optimizer.zero_grad()
        raw = posterior.raw(list(range(T)))  # one hypernetwork call for all tasks
        kl_weight = kl_factor(it, n_iter, kl_scale, config.kl_schedule)
        losses = []
        for t in range(T):
            x, labels, owner = finetune_batch(config, coresets, t)
            logits = heads.logits(posterior.predict(x, raw[t:t + 1], config.train_sample_size,
                                                    lrt=config.local_reparam_trick)[0], t, t + 1)  # [S, B, W]
            target = finetune_targets(config, heads, labels, owner, t, logits.shape[-1], label_gen)
            loss_kl = prior_matching(posterior, raw[t:t + 1], config.prior_variance, config.num_kl_samples, priors[t])
            losses.append(kl_weight * loss_kl + num_cs * soft_cross_entropy(logits, target.expand_as(logits)))
        loss = torch.stack(losses).sum()  # = the original's per-task backward() calls (gradient accumulation)
        check_finite(loss, T - 1, it, {"finetune_loss": loss})
        loss.backward()
        clip_gradients(config, posterior.parameters())
        optimizer.step()
        if itstime(it, 50):
            env.writer.add_scalar("finetune/loss", loss.item(), it)
