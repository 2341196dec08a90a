"""Classification (2D GMM, Split/PermutedMNIST, SplitCIFAR-10/100): output heads and CL scenarios, the softmax
likelihood, the test phase with task inference (entropy, confidence, agreement), the GMM maps and the original
summary keys (spec §2.5, §2.13, §4.1). Data and main networks per experiment come from
:mod:`probabilistic.classification.families`.

Likelihood of a batch under S weight samples, on task t's allowed outputs 𝒜_t (:mod:`probabilistic.heads`):

.. math::
    L_\\text{nll} = N_\\text{train} \\frac{1}{S} \\sum_{s=1}^{S} \\mathrm{CE}(f(x; w_s)_{\\mathcal{A}_t}, y)
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from data.dataset import derive_seed
from mnets.base import MainNet
from probabilistic.args import mode_of
from probabilistic.classification.batchnorm_stats import checkpoint_task_stats, with_task_stats
from probabilistic.classification.evaluate import (
    check_during_criterion,
    log_test,
    test_models,
    tests_all_tasks,
    update_summary,
    validate,
)
from probabilistic.classification.families import build_main_net, load_tasks
from probabilistic.classification.plots import gmm_maps, plot_gmm_maps
from probabilistic.classification.schedulers import EpochSchedulers
from probabilistic.classification.summary_keys import LIST_KEYS, summary_keys
from probabilistic.families.base import Family, LogitsFn, RunContext
from probabilistic.heads import Heads, output_unit_entries, regularizer_mask
from probabilistic.posterior import deterministic_init
from utils.cli import ConfigError
from utils.run_env import setup_environment
from utils.summary import init_summary, write_summary
from utils.training import iterations_per_epoch, num_iterations

#: Weight samples for the GMM maps (62,500 grid points per model; the test phase uses ``val_sample_size``).
MAP_SAMPLES = 10


def cross_entropy_over_samples(logits: Tensor, targets: Tensor) -> tuple[Tensor, Tensor]:
    """Mean cross-entropy over K weight samples and the batch, and the accuracy of the averaged softmax.

    Args:
        logits: ``[K, B, W]`` on the allowed outputs.
        targets: ``[B]`` class indices into the allowed outputs.

    Returns:
        ``(1/K) Σ_k CE_mean(batch, w_k)`` and the accuracy in %.
    """
    K, B, W = logits.shape
    ce = nn.functional.cross_entropy(logits.reshape(K * B, W), targets.repeat(K))  # [K*B] -> mean
    acc = (logits.softmax(-1).mean(0).argmax(-1) == targets).float().mean() * 100
    return ce, acc


def xavier_weights(mnet: MainNet) -> Tensor:
    """Flat weights ``[P]`` as the original's deterministic EWC and multitask networks start: Xavier-uniform
    weights, zero biases, batch-norm scales 1 and shifts 0.

    Drawn as :func:`~probabilistic.posterior.deterministic_init` does: the original builds these networks with
    their own weights (the layers' default init consumes random draws) and only then overwrites them with its
    custom init, so the Xavier draws come after those of the default init; skipping them gives another network
    for the same seed (EWC and multitask runs would start from other weights than the original's).
    """
    return deterministic_init(mnet)


@dataclass
class JointBatch:
    """A multitask batch: ``counts[t]`` samples of each task t, as (task, batch) pairs."""

    parts: list[tuple[int, object]]
    size: int


class ClassificationFamily(Family):
    name = "classification"
    reinitializes_discriminator = True

    def check(self, config: argparse.Namespace, method_name: str) -> None:
        c = vars(config)
        unsupported = {
            "distill_iter": c.get("distill_iter", -1) != -1, "calibrate_temp": c.get("calibrate_temp", False),
            "training_set_size": c.get("training_set_size", -1) != -1,
            "batchnorm": c.get("batchnorm", False),  # the MLP's --batchnorm (the CIFAR parsers lack it)
        }
        for flag, used in unsupported.items():
            if used:
                raise ConfigError(f"--{flag} is not supported by the classification scripts yet "
                                  "(no README command needs it)")

    def setup(self, config, method, script_dir, argv) -> RunContext:
        self.experiment = mode_of(config.parser_mode)[1]  # gmm, split, perm, resnet, zenke
        env = setup_environment(config, script_dir, argv)
        tasks = load_tasks(self.experiment, config, env.device)
        summary = init_summary(summary_keys(method.summary_name), LIST_KEYS, len(tasks))
        summary["finished"] = 0
        self.heads: Heads | None = None
        self.ctx = RunContext(config, env, tasks, summary)
        return self.ctx

    # --- networks and heads ------------------------------------------------------------------------------------
    def make_heads(self, shared_model: bool, non_growing: bool = False, joint: bool = False) -> None:
        """``joint``: all heads are trained from the start, so a growing softmax becomes a non-growing one."""
        c, T, C = self.config, self.ctx.num_tasks, self.ctx.tasks[0].num_classes
        self.heads = Heads(c.cl_scenario, T, C, c.split_head_cl3, non_growing=non_growing, shared_model=shared_model)
        if joint and self.heads.growing:
            self.heads = Heads(c.cl_scenario, T, C, non_growing=True, shared_model=True)

    def main_net(self, no_weights: bool = True) -> MainNet:
        return build_main_net(self.experiment, self.config, self.ctx.tasks[0].in_dim, self.heads.num_outputs,
                              no_weights)

    def initial_weights(self, mnet: MainNet) -> Tensor:
        return xavier_weights(mnet)

    @property
    def multi_head(self) -> bool:
        return self.heads.multi_head

    def head_entries(self, mnet: MainNet) -> list[Tensor] | None:
        if not self.heads.multi_head:
            return None
        C = self.heads.num_classes
        return [output_unit_entries(mnet, list(range(t * C, (t + 1) * C))) for t in range(self.heads.num_tasks)]

    def regularizer_mask(self, mnet: MainNet, gaussian: bool) -> Tensor:
        return regularizer_mask(mnet, self.heads, list(range(self.heads.num_tasks)), gaussian)

    def untrained_heads(self, mnet: MainNet, task_id: int) -> Tensor | None:
        """``--vcl_reset_new_heads`` (multi-head): heads ``task_id..`` get the prior back; else the VCL prior
        keeps the previous posterior for them too (as the original classification trainer; spec §6.2.15)."""
        if not (vars(self.config).get("vcl_reset_new_heads", False) and self.heads.multi_head):
            return None
        C = self.heads.num_classes
        return output_unit_entries(mnet, list(range(task_id * C, self.heads.num_tasks * C)))

    # --- training ----------------------------------------------------------------------------------------------
    def num_iterations(self, task_id: int | None) -> int:
        if task_id is None:
            return num_iterations(self.config, sum(t.num_train for t in self.ctx.tasks))
        return num_iterations(self.config, self.ctx.tasks[task_id].num_train)

    def next_batch(self, task_id: int | None):
        if task_id is None:
            return self._joint_batch()
        return self.ctx.tasks[task_id].next_train_batch(self.config.batch_size, one_hot=False)

    def _joint_batch(self) -> JointBatch:
        """The task composition of B samples drawn multinomially (∝ training-set sizes), then that many samples of
        each task."""
        tasks = self.ctx.tasks
        if "joint_rng" not in self.ctx.extra:
            self.ctx.extra["joint_rng"] = np.random.RandomState(derive_seed(self.config.random_seed, 2000))
        sizes = np.array([t.num_train for t in tasks])
        counts = self.ctx.extra["joint_rng"].multinomial(self.config.batch_size, sizes / sizes.sum())
        parts = [(t, tasks[t].next_train_batch(int(k), one_hot=False)) for t, k in enumerate(counts) if k > 0]
        return JointBatch(parts, self.config.batch_size)

    def task_terms(self, outputs: Tensor, batch, task_id: int) -> dict[str, Tensor]:
        allowed = self.heads.logits(outputs, task_id, num_trained=task_id + 1)  # [S, B, W]
        ce, acc = cross_entropy_over_samples(allowed, self.heads.targets(batch.targets, task_id))
        return {"loss_nll": self.ctx.tasks[task_id].num_train * ce, "accuracy": acc}

    def joint_terms(self, forward: Callable[[Tensor], Tensor], batch: JointBatch) -> dict[str, Tensor]:
        """N_total / B × the summed cross-entropy of the batch, each sample on its task's allowed outputs."""
        loss = correct = torch.zeros((), device=self.ctx.device)
        for t, part in batch.parts:  # T is small; the samples of one task are one forward pass
            logits = self.heads.logits(forward(part.inputs), t, num_trained=self.heads.num_tasks)  # [k, W]
            target = self.heads.targets(part.targets, t)
            loss = loss + nn.functional.cross_entropy(logits, target, reduction="sum")
            correct = correct + (logits.argmax(-1) == target).sum()
        total = sum(t.num_train for t in self.ctx.tasks)
        return {"loss": total / batch.size * loss, "accuracy": correct / batch.size * 100}

    def sample_nll(self, task_id: int) -> Callable[[Tensor, Tensor], Tensor]:
        heads = self.heads

        def nll(out: Tensor, target: Tensor) -> Tensor:
            return nn.functional.cross_entropy(heads.logits(out, task_id, task_id + 1), target)

        return nll

    def fisher_data(self, task_id: int, n_fisher: int) -> tuple[Tensor, Tensor]:
        task = self.ctx.tasks[task_id]
        x, y = task.inputs("train"), self.heads.targets(task.targets("train", one_hot=False), task_id)
        if n_fisher != -1 and n_fisher < x.shape[0]:
            idx = torch.randperm(x.shape[0], device=x.device)[:n_fisher]
            x, y = x[idx], y[idx]
        return x, y

    def schedulers(self, optimizer, task_id, val_accuracy) -> EpochSchedulers:
        num_train = (sum(t.num_train for t in self.ctx.tasks) if task_id is None
                     else self.ctx.tasks[task_id].num_train)
        return EpochSchedulers(self.config, optimizer, iterations_per_epoch(self.config, num_train), val_accuracy)

    def validate(self, logits: LogitsFn, task_id: int, it: int, log: bool = True) -> float:
        """Accuracy (%) of the task on its validation split (test split if there is none)."""
        return validate(self.ctx.env, logits, self.ctx.tasks[task_id], task_id, self.heads, it, log)

    def after_training_task(self, mnet: MainNet, task_id: int) -> None:
        checkpoint_task_stats(self.config, mnet, task_id)

    def wrap_predict(self, predict: Callable, mnet: MainNet) -> Callable:
        return with_task_stats(predict, self.config, mnet)  # model j: task j's batch-norm statistics

    # --- testing and outputs -----------------------------------------------------------------------------------
    def test(self, ctx: RunContext, method, task_id: int) -> None:
        """Test the models of tasks ``0..task_id`` on all test sets seen (or only the current one, see
        ``--full_test_interval``), update and write the summary, enforce ``--during_acc_criterion``."""
        config, T = ctx.config, ctx.num_tasks
        models = method.models(task_id + 1)
        for m in models:
            m.eval()
        interval = vars(config).get("full_test_interval", -1)  # the multitask parsers lack this flag
        test_ids = list(range(task_id + 1)) if tests_all_tasks(task_id, T, interval) else [task_id]
        res = test_models(models, method.predict, ctx.tasks, self.heads, test_ids, num_test_samples(config),
                          config.val_batch_size, config.fix_entropy_normalization)
        log_test(ctx.env, res)
        update_summary(ctx.summary, res, config.cl_scenario, T)
        write_summary(ctx.env.out_dir, ctx.summary)
        if "during_acc_criterion" in vars(config):
            check_during_criterion(config.during_acc_criterion, ctx.summary, task_id, T)

    def test_jointly(self, ctx: RunContext, method) -> None:
        """Tested as if task i had just been trained, for every i (fills the "during" entries)."""
        for task_id in range(ctx.num_tasks):
            self.test(ctx, method, task_id)

    def end_of_run(self, ctx: RunContext, method) -> dict:
        """GMM maps, ``finished 1`` and the closing log line."""
        env, summary, config = ctx.env, ctx.summary, ctx.config
        summary.update(method.final_summary())
        models = method.models(ctx.num_tasks)
        for m in models:
            m.eval()
        if self.experiment == "gmm":
            num_samples = min(num_test_samples(config), MAP_SAMPLES)
            maps = gmm_maps(models, method.predict, self.heads, num_samples, config.val_batch_size, env.device)
            plot_gmm_maps(maps, ctx.tasks, self.heads, env.out_dir, env.writer, ctx.num_tasks)
        summary["finished"] = 1
        write_summary(env.out_dir, summary)
        figures = f"; figures: {env.out_dir / 'gmm_maps.png'}" if self.experiment == "gmm" else ""
        env.logger.info(f"Finished. CL1 (task given) {summary['acc_avg_task_given']:.2f} %, entropy-inferred "
                        f"{summary['acc_avg_task_inferred_ent']:.2f} %, final scenario accuracy "
                        f"{summary['acc_avg_final']:.2f} %. Summary: {env.out_dir / 'performance_overview.txt'}"
                        f"{figures}")
        return summary


def num_test_samples(config: argparse.Namespace) -> int:
    """V = ``val_sample_size`` (1 for the multitask scripts, whose parser lacks the flag: a deterministic net)."""
    return vars(config).get("val_sample_size", 1)

