"""The one task loop of every posterior-replay script (regression and classification, every method).

``run(config)`` reads top-down, in phases::

    setup (out_dir, logger, seeds, data)  ->  method.build  ->  resume  ->  for each task t:
        method.before_task(t) -> train_task(t) -> method.after_task(t) -> family.test(t) -> checkpoint
    ->  method.after_training  ->  family.end_of_run

The trainer knows the family (data, likelihood, evaluation, figures, summary) and the method (networks, loss terms,
what happens between tasks) only through :class:`~probabilistic.families.base.Family` and
:class:`~probabilistic.methods.base.Method`; :mod:`probabilistic.registry` picks both from ``--parser_mode``.
Methods never import the trainer. Every optimisation step is the same here: the method returns its named loss
terms, the trainer guards against non-finite values, backpropagates, clips, adds the method's extra gradients,
steps the optimizer and the epoch schedulers, and logs every term every 50 iterations.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from probabilistic.families.base import Family, RunContext
from probabilistic.methods.base import Method
from utils.progress import itstime, progress
from utils.task_state import latest_task, load_task_state, save_final_model, save_task_state
from utils.training import check_finite, clip_gradients

#: How often the loss terms go to TensorBoard.
LOG_INTERVAL = 50


def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train and test all tasks of ``--parser_mode``'s family with its method; returns the summary dict."""
    from probabilistic.registry import family_and_method  # the one module that imports concrete classes

    family, method = family_and_method(config)
    return run_with(config, family, method, script_dir, argv)


def run_with(config: argparse.Namespace, family: Family, method: Method, script_dir: str | Path | None = None,
             argv: list[str] | None = None) -> dict:
    """:func:`run` with a given family and method (how a new method is tried before it is registered)."""
    method.check(config, family)
    ctx = family.setup(config, method, script_dir, argv)
    method.build(ctx, family)
    start = resume(ctx, family, method)
    if method.trains_jointly:  # multitask: all tasks at once, then one test phase (no task checkpoints)
        train_task(ctx, family, method, None)
        family.test_jointly(ctx, method)
    else:
        for task_id in range(start, ctx.num_tasks):
            method.before_task(task_id)
            ctx.env.logger.info(f"Training task {task_id + 1}/{ctx.num_tasks}{family.task_label(task_id)} "
                                f"({method.name}) for {family.num_iterations(task_id)} iterations.")
            train_task(ctx, family, method, task_id)
            method.after_task(task_id)
            family.test(ctx, method, task_id)
            checkpoint(ctx, family, method, task_id)
    if method.after_training():  # e.g. coreset fine-tuning: test again and checkpoint the result
        family.test(ctx, method, ctx.num_tasks - 1)
        checkpoint(ctx, family, method, ctx.num_tasks - 1)
    summary = family.end_of_run(ctx, method)
    if config.store_final_model:
        save_final_model(ctx.env.out_dir, method.state())
    ctx.env.close()
    return summary


# ---------------------------------------------------------------------------------------------------------------
# One task
# ---------------------------------------------------------------------------------------------------------------
def train_task(ctx: RunContext, family: Family, method: Method, task_id: int | None) -> None:
    """Optimise the method's parameters on task ``task_id`` (None: all tasks jointly); a new optimizer per task,
    as the originals."""
    config, writer = ctx.config, ctx.env.writer
    n_iter = family.num_iterations(task_id)
    params = method.parameters(task_id)
    optimizer = method.optimizer(params)
    schedulers = family.schedulers(optimizer, task_id, lambda: method.val_accuracy(task_id))
    tag = "train" if task_id is None else f"train/task_{task_id}"
    method.train()
    for it in progress(range(n_iter), desc="multitask" if task_id is None else f"task {task_id + 1}"):
        if itstime(it, config.val_iter) and task_id is not None:
            method.validate(task_id, it)
        method.before_step(task_id, it, n_iter)
        # Zeros, not None, as in the originals' PyTorch 1.4: a parameter left out of a step's graph (an old task's
        # embedding under --hnet_reg_batch_size) keeps a zero gradient once it had one, so Adam still decays its
        # moments; one never in a graph (a later task's embedding) keeps None and is left alone.
        optimizer.zero_grad(set_to_none=False)
        batch = family.next_batch(task_id)
        terms = method.train_step(batch, task_id, it, n_iter)
        check_finite(terms["loss"], task_id, it, terms)
        extra = method.extra_gradients(terms, params)
        terms["loss"].backward()
        clip_gradients(config, params)
        if extra is not None:  # added after clipping, as the original (SSGE)
            for p, g in zip(params, extra):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad + g
        optimizer.step()
        schedulers.after_step(it)
        if itstime(it, LOG_INTERVAL):
            for name, value in {**terms, **method.step_log()}.items():
                writer.add_scalar(f"{tag}/{name}", value.item() if torch.is_tensor(value) else value, it)


# ---------------------------------------------------------------------------------------------------------------
# Checkpoints
# ---------------------------------------------------------------------------------------------------------------
def checkpoint(ctx: RunContext, family: Family, method: Method, task_id: int) -> None:
    """Everything a rerun continues from after task ``task_id`` (see :mod:`utils.task_state`)."""
    tensors = {**method.tensors(), **family.tensors()}
    tensors = {k: v.detach().clone() for k, v in tensors.items()}  # safetensors refuses shared memory
    save_task_state(ctx.env.out_dir, task_id, method.state(), tensors, {**family.meta(ctx), **method.meta()})


def resume(ctx: RunContext, family: Family, method: Method) -> int:
    """Restore the state after the last task with a complete checkpoint; returns the first task to train."""
    last = latest_task(ctx.env.out_dir, ctx.num_tasks)
    if last < 0:
        return 0
    method.prepare_resume(last)
    tensors, meta = load_task_state(ctx.env.out_dir, last, method.state(), ctx.device)
    family.load(ctx, tensors, meta)
    method.load(tensors, meta)
    ctx.env.logger.info(f"Resuming after task {last + 1} from {ctx.env.out_dir / 'checkpoints'}.")
    return last + 1
