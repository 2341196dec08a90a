"""Classification runner of online EWC (``probabilistic/ewc_utils.run`` of the original, spec §2.10).

One deterministic main network with its own flat weights φ. Heads (:mod:`probabilistic.heads`): multi-head for
CL1 and CL3 + ``--split_head_cl3``, otherwise one growing softmax (CL3) or ``--non_growing_sf_cl3`` or the single
CL2 head. Loss while training task t:

.. math::
    L = N_\\text{train}\\, \\mathrm{CE}(f(x; \\phi)_{\\mathcal{A}_t}, y)
        + \\frac{1}{2\\sigma_p^2} \\Big[ [t = 0]\\, \\lVert \\phi_\\text{shared} \\rVert^2
        + \\lVert \\phi_{\\text{head } t} \\rVert^2 \\Big]
        + \\lambda_\\text{EWC}\\, \\frac{1}{2} \\sum_i F_i (\\phi_i - \\phi^*_i)^2 \\quad (t > 0)

with the online Fisher F of :mod:`probabilistic.ewc` (γ decay applied in place per call, as the original). At test
time a multi-head run is a Laplace posterior per head, N(φ*, F⁻¹) (untrained heads at the prior), sampled
``val_sample_size`` times; ``--det_multi_head`` and single-head runs are deterministic.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import Tensor, nn

from data.dataset import Dataset
from mnets.base import MainNet, flatten_weights, unflatten_weights
from probabilistic.classification.batchnorm_stats import checkpoint_task_stats, with_task_stats
from probabilistic.classification.evaluate import validate
from probabilistic.classification.families import build_main_net
from probabilistic.classification.phases import end_of_run, end_of_task, setup_run
from probabilistic.classification.schedulers import EpochSchedulers
from probabilistic.classification.training import (
    cross_entropy_over_samples,
    iterations_per_epoch,
    make_optimizer,
    num_iterations,
    optimizer_step,
)
from probabilistic.ewc import (
    LaplacePosterior,
    ewc_prior_offset,
    fisher_diagonal,
    gaussian_prior_penalty,
    per_sample_grads,
)
from probabilistic.heads import Heads, output_unit_entries
from utils.cli import ConfigError
from utils.ewc import decay_fisher_, ewc_penalty, online_fisher
from utils.progress import progress
from utils.run_env import RunEnv
from utils.task_state import latest_task, load_task_state


class EWCNet(nn.Module):
    """A weightless main network plus its flat weight vector φ ``[P]`` (what EWC regularises), initialised as the
    original's main networks: Xavier-uniform weights, zero biases, batch-norm scales 1 and shifts 0."""

    def __init__(self, mnet: MainNet) -> None:
        super().__init__()
        self.mnet = mnet
        weights = []
        for shape, meta in zip(mnet.param_shapes, mnet.param_shapes_meta):
            w = torch.empty(shape)
            if meta["name"] == "weight" and w.dim() > 1:
                nn.init.xavier_uniform_(w)
            elif meta["name"] == "bn_scale":
                nn.init.ones_(w)
            else:
                nn.init.zeros_(w)
            weights.append(w)
        self.phi = nn.Parameter(flatten_weights(weights))

    def forward(self, x: Tensor) -> Tensor:
        return self.mnet(x, unflatten_weights(self.phi, self.mnet.param_shapes))  # [B, O]


def head_entries(mnet: MainNet, heads: Heads) -> list[Tensor] | None:
    """Boolean ``[P]`` per task head (multi-head runs), else None."""
    if not heads.multi_head:
        return None
    C = heads.num_classes
    return [output_unit_entries(mnet, list(range(t * C, (t + 1) * C))) for t in range(heads.num_tasks)]


def train_step(config, net: EWCNet, x: Tensor, labels: Tensor, task_id: int, heads: Heads, num_train: int,
               prior_mask: Tensor, fisher: Tensor | None, phi_star: Tensor | None) -> dict[str, Tensor]:
    """Loss terms of one iteration (see the module docstring)."""
    logits = heads.logits(net(x), task_id, num_trained=task_id + 1).unsqueeze(0)  # [1, B, W]
    ce, acc = cross_entropy_over_samples(logits, heads.targets(labels, task_id))
    loss_nll = num_train * ce
    loss_prior = gaussian_prior_penalty(net.phi, prior_mask, config.prior_variance)
    loss_ewc = torch.zeros((), device=x.device)
    if fisher is not None:
        # the original decays the stored Fisher in place at every call (no-op for γ = 1; --fix_online_ewc: off)
        weights = fisher if config.fix_online_ewc else decay_fisher_([fisher], config.ewc_gamma)[0]
        loss_ewc = ewc_penalty([net.phi], [phi_star], [weights])
    loss = loss_nll + loss_prior + config.ewc_lambda * loss_ewc
    return {"loss": loss, "loss_nll": loss_nll, "loss_prior": loss_prior, "regularizer": loss_ewc, "accuracy": acc}


def train_task(config, env: RunEnv, net: EWCNet, task: Dataset, task_id: int, heads: Heads, prior_mask: Tensor,
               fisher: Tensor | None, phi_star: Tensor | None) -> None:
    """Optimise φ on task ``task_id`` (a new optimizer per task)."""
    optimizer = make_optimizer(config, net.parameters())
    n_iter = num_iterations(config, task.num_train)
    schedulers = EpochSchedulers(config, optimizer, iterations_per_epoch(config, task.num_train),
                                 lambda: validate(env, lambda x: net(x)[None], task, task_id, heads, -1, log=False))
    net.train()
    for it in progress(range(n_iter), desc=f"task {task_id + 1}"):
        optimizer.zero_grad()
        batch = task.next_train_batch(config.batch_size, one_hot=False)
        m = train_step(config, net, batch.inputs, batch.targets, task_id, heads, task.num_train, prior_mask,
                       fisher, phi_star)
        optimizer_step(config, m, list(net.parameters()), optimizer, schedulers, env.writer, task_id, it)


def task_fisher(config, net: EWCNet, task: Dataset, task_id: int, heads: Heads, prior_offset: Tensor) -> Tensor:
    """Empirical Fisher diagonal ``[P]`` of task ``task_id`` from ``n_fisher`` (or all) training samples."""
    net.eval()
    x, y = task.inputs("train"), heads.targets(task.targets("train", one_hot=False), task_id)
    if config.n_fisher != -1 and config.n_fisher < x.shape[0]:
        idx = torch.randperm(x.shape[0], device=x.device)[:config.n_fisher]
        x, y = x[idx], y[idx]

    def nll(out: Tensor, target: Tensor) -> Tensor:
        return nn.functional.cross_entropy(heads.logits(out, task_id, task_id + 1), target)

    grads = per_sample_grads(net.mnet, net.phi, x, y, nll)  # [n, P]
    return fisher_diagonal(grads, task.num_train, prior_offset, scale_offset=not config.fix_online_ewc)


def laplace_posterior(config, net: EWCNet, fisher: Tensor | None, heads: Heads, num_trained: int
                      ) -> LaplacePosterior:
    """Test-time posterior: N(φ*, F⁻¹) per head (multi-head, not ``--det_multi_head``), else deterministic."""
    stochastic = heads.multi_head and not config.det_multi_head and fisher is not None
    std = fisher.clamp_min(1e-12).rsqrt() if stochastic else None
    return LaplacePosterior(net.mnet, net.phi.detach(), std, head_entries(net.mnet, heads), num_trained,
                            config.prior_variance ** 0.5)


def predict_fn(config):
    """Test-phase prediction with V = ``val_sample_size`` samples (1 for deterministic posteriors)."""

    def predict(posterior: LaplacePosterior, x: Tensor, task_ids: list[int], num_samples: int,
                gen: torch.Generator) -> Tensor:
        return posterior.predict(x, posterior.raw(task_ids), num_samples, gen)

    return predict


def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train and test all tasks with online EWC; returns the summary dict."""
    # --- setup, data ---
    if vars(config).get("batchnorm", False):  # the MLP's --batchnorm (the CIFAR parsers lack it)
        raise ConfigError("--batchnorm is not supported by the EWC runner yet")
    run_ = setup_run(config, script_dir, argv)
    env, tasks, T, device, family = run_.env, run_.tasks, run_.num_tasks, run_.device, run_.family
    heads = Heads(config.cl_scenario, T, tasks[0].num_classes, config.split_head_cl3,
                  non_growing=config.non_growing_sf_cl3, shared_model=True)

    # --- networks ---
    def new_net() -> EWCNet:
        return EWCNet(build_main_net(family, config, tasks[0].in_dim, heads.num_outputs)).to(device)

    nets = nn.ModuleList([new_net()])
    run_.summary["num_weights_main"] = nets[0].mnet.num_params
    predict = with_task_stats(predict_fn(config), config, nets[0].mnet)  # model j: task j's BN statistics
    heads_p = head_entries(nets[0].mnet, heads)
    shared = ~torch.stack(heads_p).any(0) if heads_p is not None else torch.ones(nets[0].mnet.num_params, dtype=bool)
    shared = shared.to(device)

    # --- resume ---
    start = 0
    fishers: list[Tensor | None] = [None]  # online Fisher of each network
    last = latest_task(env.out_dir, T)
    if last >= 0:
        while len(nets) < (last + 1 if config.train_from_scratch else 1):
            nets.append(new_net())
        tensors, meta = load_task_state(env.out_dir, last, nets, device)
        run_.summary = meta["summary"]
        fishers = [tensors.get(f"fisher_{j}") for j in range(len(nets))]
        start = last + 1

    def models(n: int) -> list[LaplacePosterior]:  # model j = posterior of task j
        if config.train_from_scratch:
            return [laplace_posterior(config, nets[j], fishers[j], heads, j + 1) for j in range(n)]
        return [laplace_posterior(config, nets[0], fishers[0], heads, n)] * n

    # --- tasks ---
    for task_id in range(start, T):
        if config.train_from_scratch and task_id > 0:
            nets.append(new_net())
            fishers.append(None)
        net, fisher = nets[-1], fishers[-1]
        phi_star = net.phi.detach().clone() if fisher is not None else None
        first = task_id == 0 or config.train_from_scratch
        current_head = heads_p[task_id].to(device) if heads_p is not None else None
        prior_mask = ewc_prior_offset(shared, current_head, 0 if first else task_id, 1.0).bool()
        env.logger.info(f"Training task {task_id + 1}/{T} with EWC for "
                        f"{num_iterations(config, tasks[task_id].num_train)} iterations.")
        train_task(config, env, net, tasks[task_id], task_id, heads, prior_mask, fisher, phi_star)
        if task_id < T - 1 or heads.multi_head:  # the last Fisher only serves the Laplace posterior
            offset = ewc_prior_offset(shared, current_head, 0 if first else task_id, config.prior_variance)
            new = task_fisher(config, net, tasks[task_id], task_id, heads, offset)
            fishers[-1] = online_fisher([new], None if fisher is None else [fisher], config.ewc_gamma)[0]
            env.writer.add_scalar("ewc/min_fisher", fishers[-1].min().item(), task_id)
            env.writer.add_scalar("ewc/max_fisher", fishers[-1].max().item(), task_id)
        checkpoint_task_stats(config, net.mnet, task_id)  # after the Fisher, which uses this task's statistics
        tensors = {f"fisher_{j}": f for j, f in enumerate(fishers) if f is not None}
        end_of_task(config, run_, models(task_id + 1), predict, heads, task_id, nets, tensors)

    # --- final report ---
    return end_of_run(config, run_, models(T), predict, heads, nets)
