"""Phases every classification runner shares: setup, the test phase after each task, the final report.

A runner's ``run(config)`` reads: :func:`setup_run` -> build networks -> [resume] -> for each task: train, then
:func:`end_of_task` (test all models on all test sets, summary, ``--during_acc_criterion``, checkpoint) ->
:func:`end_of_run` (GMM maps, ``finished 1``, ``--store_final_model``).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from data.dataset import Dataset
from probabilistic.args import mode_of
from probabilistic.classification.evaluate import (
    PredictFn,
    check_during_criterion,
    log_test,
    test_models,
    tests_all_tasks,
    update_summary,
)
from probabilistic.classification.families import load_tasks
from probabilistic.classification.plots import gmm_maps, plot_gmm_maps
from probabilistic.classification.summary_keys import LIST_KEYS, summary_keys
from probabilistic.heads import Heads
from utils.run_env import RunEnv, setup_environment
from utils.summary import init_summary, write_summary
from utils.task_state import save_final_model, save_task_state

#: Weight samples for the GMM maps (62,500 grid points per model; the test phase uses ``val_sample_size``).
MAP_SAMPLES = 10


def num_test_samples(config: argparse.Namespace) -> int:
    """V = ``val_sample_size`` (1 for the multitask runner, whose parser lacks the flag: a deterministic net)."""
    return vars(config).get("val_sample_size", 1)


@dataclass
class Run:
    """What the setup phase hands to a runner."""

    env: RunEnv
    method: str
    family: str
    tasks: list[Dataset]
    summary: dict

    @property
    def num_tasks(self) -> int:
        return len(self.tasks)

    @property
    def device(self) -> torch.device:
        return self.env.device


def setup_run(config: argparse.Namespace, script_dir: str | Path | None, argv: list[str] | None) -> Run:
    """out_dir, config.json, logger, seeds, device, TensorBoard; the family's tasks; an empty summary."""
    method, family = mode_of(config.parser_mode)
    env = setup_environment(config, script_dir, argv)
    tasks = load_tasks(family, config, env.device)
    summary = init_summary(summary_keys(method), LIST_KEYS, len(tasks))
    summary["finished"] = 0
    return Run(env, method, family, tasks, summary)


def end_of_task(config: argparse.Namespace, run: Run, models: Sequence[object], predict: PredictFn, heads: Heads,
                task_id: int, state: nn.Module, tensors: dict[str, torch.Tensor] | None = None,
                meta: dict | None = None) -> None:
    """Test ``models`` (model j = task j) after training task ``task_id``, update and write the summary, enforce
    ``--during_acc_criterion``, then checkpoint ``state`` (+ ``tensors``, ``meta``) for resuming."""
    for m in models:
        m.eval()
    T = run.num_tasks
    interval = vars(config).get("full_test_interval", -1)  # the multitask parsers lack this flag
    test_ids = list(range(task_id + 1)) if tests_all_tasks(task_id, T, interval) else [task_id]
    res = test_models(models, predict, run.tasks, heads, test_ids, num_test_samples(config),
                      config.val_batch_size, config.fix_entropy_normalization)
    log_test(run.env, res)
    update_summary(run.summary, res, config.cl_scenario, T)
    write_summary(run.env.out_dir, run.summary)
    if "during_acc_criterion" in vars(config):
        check_during_criterion(config.during_acc_criterion, run.summary, task_id, T)
    save_task_state(run.env.out_dir, task_id, state, tensors or {}, {"summary": run.summary, **(meta or {})})


def end_of_run(config: argparse.Namespace, run: Run, models: Sequence[object], predict: PredictFn, heads: Heads,
               state: nn.Module) -> dict:
    """GMM maps, ``finished 1``, ``--store_final_model``; closes the environment and returns the summary."""
    env, summary = run.env, run.summary
    for m in models:
        m.eval()
    if run.family == "gmm":
        num_samples = min(num_test_samples(config), MAP_SAMPLES)
        maps = gmm_maps(models, predict, heads, num_samples, config.val_batch_size, env.device)
        plot_gmm_maps(maps, run.tasks, heads, env.out_dir, env.writer, run.num_tasks)
    summary["finished"] = 1
    write_summary(env.out_dir, summary)
    if config.store_final_model:
        save_final_model(env.out_dir, state)
    figures = f"; figures: {env.out_dir / 'gmm_maps.png'}" if run.family == "gmm" else ""
    env.logger.info(f"Finished. CL1 (task given) {summary['acc_avg_task_given']:.2f} %, entropy-inferred "
                    f"{summary['acc_avg_task_inferred_ent']:.2f} %, final scenario accuracy "
                    f"{summary['acc_avg_final']:.2f} %. Summary: {env.out_dir / 'performance_overview.txt'}{figures}")
    env.close()
    return summary
