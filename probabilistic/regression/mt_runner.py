"""1D regression multitask baseline: one deterministic main network trained on the union of all tasks at once
(the upper bound that needs no continual learning). The original ``train_mt.py`` crashes while setting up its
summary (an undefined ``hpmt``, spec §6.2 #1); this runner works and writes the EWC summary keys.

Each iteration draws the task composition of the mini-batch multinomially (proportional to the tasks' training
set sizes), then uniform samples within each task:

.. math::
    L = \\frac{N_\\text{total}}{B} \\sum_{b=1}^{B} \\frac{(f_{h(b)}(x_b; \\phi) - y_b)^2}{2\\,\\sigma_\\text{ll}^2}

with h(b) the head of sample b's task (``--multi_head``) or the single output.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from torch import nn

from mnets.base import unflatten_weights
from probabilistic.ewc import LaplacePosterior
from probabilistic.regression.ewc_runner import SUMMARY_KEYS_EWC, build_mnet, check_supported, log_validation
from probabilistic.regression.runner import _LIST_KEYS, NonFiniteLossError, log_final, setup_run, test_tasks
from utils.checkpoints import save_checkpoint
from utils.progress import itstime, progress
from utils.summary import init_summary, write_summary
from utils.training import clip_gradients, make_optimizer


def run(config: argparse.Namespace, script_dir: str | Path | None = None, argv: list[str] | None = None) -> dict:
    """Train one network on all tasks jointly, then test every task; returns the summary dict."""
    # --- setup ---
    check_supported(config)
    env, tasks, generator = setup_run(config, script_dir, argv)
    device, T = env.device, len(tasks)

    # --- data (the union of all tasks) and network ---
    x_all = torch.cat([t.train_x for t in tasks])  # [N_total, 1]
    y_all = torch.cat([t.train_y for t in tasks])  # [N_total, 1]
    task_of = torch.cat([torch.full((t.num_train,), j, dtype=torch.long) for j, t in enumerate(tasks)])  # [N_total]
    sizes = torch.tensor([t.num_train for t in tasks], dtype=torch.float)
    offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.long().cumsum(0)[:-1]])  # [T]
    mnet, phi = build_mnet(config, T)
    mnet, phi = mnet.to(device), nn.Parameter(phi.data.to(device))
    summary = init_summary(SUMMARY_KEYS_EWC, _LIST_KEYS, T)
    summary.update(aa_num_weights_main=mnet.num_params, finished=0)
    during = {"mse": [-1.0] * T, "inferred_mse": [-1.0] * T}

    # --- joint training ---
    optimizer = make_optimizer(config, [phi])
    n_iter = config.n_iter if config.epochs == -1 else config.epochs * -(-len(x_all) // config.batch_size)
    env.logger.info(f"Training one network on all {T} tasks jointly for {n_iter} iterations.")
    for it in progress(range(n_iter), desc="multitask"):
        if itstime(it, config.val_iter):
            log_validation(config, env, mnet, phi.detach(), tasks, list(range(T)), it, "multitask")
        optimizer.zero_grad()
        batch_tasks = torch.multinomial(sizes, config.batch_size, replacement=True, generator=generator)  # [B]
        within = (torch.rand(config.batch_size, generator=generator) * sizes[batch_tasks]).long()  # [B]
        idx = (offsets[batch_tasks] + within).to(device)  # [B] indices into the union
        out = mnet(x_all[idx], unflatten_weights(phi, mnet.param_shapes))  # [B, O]
        heads = task_of[idx.cpu()].to(device) if config.multi_head else torch.zeros_like(idx)
        pred = out.gather(1, heads.unsqueeze(1))[:, 0]  # [B]
        loss = len(x_all) / config.batch_size * (0.5 * (pred - y_all[idx, 0]) ** 2 / config.ll_dist_std**2).sum()
        if not torch.isfinite(loss):
            raise NonFiniteLossError(f"non-finite multitask loss at iteration {it}")
        loss.backward()
        clip_gradients(config, [phi])
        optimizer.step()
        if itstime(it, 50):
            env.writer.add_scalar("train/multitask/loss", loss.item(), it)

    # --- test (during = final: all tasks are learnt at once) ---
    summary = test_tasks(config, env, nn.ModuleList([LaplacePosterior(mnet, phi.detach())]), tasks, T, summary,
                         during, lrt=False, num_samples=1)
    summary["aa_mse_during"] = list(summary["aa_mse_final"])
    summary["aa_mse_during_inferred"] = list(summary["aa_mse_final_inferred"])
    summary["aa_mse_during_mean"] = summary["aa_mse_final_mean"]
    summary["aa_mse_during_inferred_mean"] = summary["aa_mse_final_inferred_mean"]

    # --- final report ---
    summary["finished"] = 1
    write_summary(env.out_dir, summary)
    if config.store_final_model:
        save_checkpoint(env.out_dir / "checkpoints" / "final", {"phi": phi.detach()}, {})
    log_final(env, summary, T)
    env.close()
    return summary
