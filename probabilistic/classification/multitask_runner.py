"""Multitask upper bound (``multitask_utils.run`` of the original, which crashes for GMM: spec §6.2.1; fixed).

One deterministic main network (own weights, Xavier-uniform init) is trained on all tasks jointly. Every
iteration draws the task composition of a batch of B samples multinomially (probabilities ∝ training-set
sizes), takes that many samples of each task, and minimises

.. math::
    L = \\frac{N_\\text{total}}{B} \\sum_{t} \\sum_{b \\in \\text{batch}_t} \\mathrm{CE}(f(x_b)_{\\mathcal{A}_t}, y_b)

with each task's allowed outputs 𝒜_t (all T heads are trained from the start). The model is tested once, after
training, as every other classification runner (the "during" values equal the final ones).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from data.dataset import Dataset, derive_seed
from probabilistic.classification.evaluate import validate
from probabilistic.classification.ewc_runner import EWCNet
from probabilistic.classification.families import build_main_net
from probabilistic.classification.phases import end_of_run, end_of_task, setup_run
from probabilistic.classification.schedulers import EpochSchedulers
from probabilistic.classification.training import make_optimizer, optimizer_step
from probabilistic.ewc import LaplacePosterior
from probabilistic.heads import Heads
from utils.progress import progress
from utils.run_env import RunEnv


def train_step(net: EWCNet, tasks: list[Dataset], counts: np.ndarray, heads: Heads, num_total: int,
               batch_size: int) -> dict[str, Tensor]:
    """Summed cross-entropy of a batch composed of ``counts[t]`` samples of each task t."""
    loss = torch.zeros((), device=net.phi.device)
    correct = torch.zeros((), device=net.phi.device)
    for t, k in enumerate(counts):  # T is small; the samples of one task are one batch
        if k == 0:
            continue
        batch = tasks[t].next_train_batch(int(k), one_hot=False)
        logits = heads.logits(net(batch.inputs), t, num_trained=heads.num_tasks)  # [k, W]
        target = heads.targets(batch.targets, t)
        loss = loss + nn.functional.cross_entropy(logits, target, reduction="sum")
        correct = correct + (logits.argmax(-1) == target).sum()
    loss = num_total / batch_size * loss
    return {"loss": loss, "accuracy": correct / batch_size * 100}


def train_all(config, env: RunEnv, net: EWCNet, tasks: list[Dataset], heads: Heads) -> None:
    """Joint training for ``n_iter`` iterations (or ``epochs`` over the union of the training sets)."""
    optimizer = make_optimizer(config, net.parameters())
    sizes = np.array([t.num_train for t in tasks])
    num_total = int(sizes.sum())
    n_iter = config.n_iter if config.epochs == -1 else config.epochs * int(np.ceil(num_total / config.batch_size))
    rng = np.random.RandomState(derive_seed(config.random_seed, 2000))

    def val_accuracy() -> float:  # plateau scheduler: mean validation accuracy over the tasks
        return float(np.mean([validate(env, lambda x: net(x)[None], task, t, heads, -1, log=False)
                              for t, task in enumerate(tasks)]))

    schedulers = EpochSchedulers(config, optimizer, int(np.ceil(num_total / config.batch_size)), val_accuracy)
    net.train()
    for it in progress(range(n_iter), desc="multitask"):
        optimizer.zero_grad()
        counts = rng.multinomial(config.batch_size, sizes / num_total)
        m = train_step(net, tasks, counts, heads, num_total, config.batch_size)
        optimizer_step(config, m, list(net.parameters()), optimizer, schedulers, env.writer, 0, it, prefix="train")


def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train one network on all tasks jointly, then test; returns the summary dict."""
    # --- setup, data ---
    run_ = setup_run(config, script_dir, argv)
    env, tasks, T, family = run_.env, run_.tasks, run_.num_tasks, run_.family
    heads = Heads(config.cl_scenario, T, tasks[0].num_classes, config.split_head_cl3, shared_model=True)
    if heads.growing:  # jointly trained: every head exists from the start, as a non-growing softmax
        heads = Heads(config.cl_scenario, T, tasks[0].num_classes, non_growing=True, shared_model=True)

    # --- network, joint training ---
    net = EWCNet(build_main_net(family, config, tasks[0].in_dim, heads.num_outputs)).to(run_.device)
    run_.summary["num_weights_main"] = net.mnet.num_params
    env.logger.info(f"Multitask training on {T} tasks for {config.n_iter} iterations.")
    train_all(config, env, net, tasks, heads)

    # --- test (all tasks at once: the during values are the final ones) ---
    model = LaplacePosterior(net.mnet, net.phi.detach())

    def predict(posterior: LaplacePosterior, x: Tensor, task_ids: list[int], num_samples: int,
                gen: torch.Generator) -> Tensor:
        return posterior.predict(x, posterior.raw(task_ids), num_samples, gen)

    for task_id in range(T):  # fills the per-task "during" entries, as if task i had just been trained
        end_of_task(config, run_, [model] * (task_id + 1), predict, heads, task_id, nn.ModuleList([net]))
    return end_of_run(config, run_, [model] * T, predict, heads, nn.ModuleList([net]))
