"""1D regression (``probabilistic/regression``): polynomial task sets, Gaussian likelihood, task inference by the
predictive std, and the original's figures and ``aa_`` summary keys (spec §2.13, §4.1).

Likelihood of a batch of B points under S weight samples:

.. math::
    L_\\text{nll} = N_\\text{train} \\frac{1}{S} \\sum_{s=1}^{S}
        \\frac{\\mathrm{MSE}(f(x; w_s), y)}{2\\,\\sigma_\\text{ll}^2}

with σ_ll = ``ll_dist_std`` and f's output head of the task (``--multi_head``) or the single output.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from data.special.regression1d import InfiniteBatches, make_task_set
from mnets.base import MainNet, flatten_weights
from mnets.mlp import MLP
from probabilistic.classification.schedulers import EpochSchedulers
from probabilistic.families.base import Family, LogitsFn, RunContext
from probabilistic.heads import output_unit_entries
from probabilistic.regression.evaluate import evaluate_regression, predict_tasks
from probabilistic.regression.plots import plot_mse, plot_predictive_distributions, plot_val_predictions
from probabilistic.regression.summary_keys import LIST_KEYS, summary_keys
from utils.cli import ConfigError, parse_int_list
from utils.run_env import setup_environment
from utils.summary import init_summary, write_summary
from utils.training import num_iterations


@dataclass
class Batch:
    """Inputs ``[B, 1]`` and targets ``[B, 1]``; ``task_of [B]`` for batches mixing tasks (multitask)."""

    inputs: Tensor
    targets: Tensor
    task_of: Tensor | None = None


class RegressionFamily(Family):
    name = "regression"
    accuracy_scale = 1.0  # the regression original writes the discriminator accuracy as a fraction

    def check(self, config: argparse.Namespace, method_name: str) -> None:
        c = vars(config)
        unsupported = {
            "specnorm": c.get("specnorm", False), "batchnorm": c.get("batchnorm", False),
            "coreset_size": c.get("coreset_size", -1) != -1,
            "final_coresets_finetune": c.get("final_coresets_finetune", False),
            "past_and_future_coresets": c.get("past_and_future_coresets", False),
            "plateau_lr_scheduler": c.get("plateau_lr_scheduler", False),
            "lambda_lr_scheduler": c.get("lambda_lr_scheduler", False),
        }
        for flag, used in unsupported.items():
            if used:
                raise ConfigError(f"--{flag} is not supported by the regression scripts (no README run uses it)")
        parse_int_list(config.mlp_arch, "mlp_arch")

    def setup(self, config, method, script_dir, argv) -> RunContext:
        env = setup_environment(config, script_dir, argv)  # one CPU thread (tiny networks), see limit_cpu_threads
        tasks = make_task_set(config.used_task_set, config.data_random_seed, env.device)
        self.generator = torch.Generator(device="cpu").manual_seed(config.random_seed)  # mini-batches, Fisher
        self._batches: tuple[int | None, object] | None = None
        summary = init_summary(summary_keys(method.summary_name), (*LIST_KEYS, "aa_acc_dis"), len(tasks))
        summary["finished"] = 0
        self.during = {"mse": [-1.0] * len(tasks), "inferred_mse": [-1.0] * len(tasks)}
        self.ctx = RunContext(config, env, tasks, summary, prefix="aa_")
        return self.ctx

    # --- networks ----------------------------------------------------------------------------------------------
    def _mlp_kwargs(self) -> dict:
        c = self.config
        return dict(n_in=1, n_out=self.ctx.num_tasks if c.multi_head else 1,
                    hidden_layers=parse_int_list(c.mlp_arch, "mlp_arch"), activation_fn=c.net_act,
                    use_bias=not c.no_bias, dropout_rate=c.dropout_rate)

    def main_net(self, no_weights: bool = True) -> MainNet:
        return MLP(**self._mlp_kwargs(), no_weights=no_weights)

    def initial_weights(self, mnet: MainNet) -> Tensor:
        """The main network's own default initialisation, flattened (as the original's EWC runs)."""
        return flatten_weights([p.data for p in MLP(**self._mlp_kwargs()).internal_params])

    @property
    def multi_head(self) -> bool:
        return bool(self.config.multi_head)

    def head_entries(self, mnet: MainNet) -> list[Tensor] | None:
        if not self.multi_head:
            return None
        return [output_unit_entries(mnet, [j]) for j in range(mnet.n_out)]

    def regularizer_mask(self, mnet: MainNet, gaussian: bool) -> Tensor | None:
        if not self.multi_head:
            return None
        all_heads = output_unit_entries(mnet, list(range(mnet.n_out)))
        masks = []
        for j in range(mnet.n_out):
            keep = ~all_heads | output_unit_entries(mnet, [j])  # [P]
            masks.append(torch.cat([keep, keep]) if gaussian else keep)
        return torch.stack(masks).float()

    def untrained_heads(self, mnet: MainNet, task_id: int) -> Tensor | None:
        """Multi-head VCL: heads ``task_id..`` get the N(0, σ_p²) prior back (as the regression trainer does)."""
        if not self.multi_head:
            return None
        return output_unit_entries(mnet, list(range(task_id, mnet.n_out)))

    # --- training ----------------------------------------------------------------------------------------------
    def task_label(self, task_id: int) -> str:
        return f" ({self.ctx.tasks[task_id].spec.name})"

    def num_iterations(self, task_id: int | None) -> int:
        if task_id is None:
            return num_iterations(self.config, sum(t.num_train for t in self.ctx.tasks))
        return num_iterations(self.config, self.ctx.tasks[task_id].num_train)

    def next_batch(self, task_id: int | None) -> Batch:
        if task_id is None:
            return self._joint_batch()
        task = self.ctx.tasks[task_id]
        if self._batches is None or self._batches[0] != task_id:  # a new epoch order per task, as the original
            self._batches = (task_id, InfiniteBatches(task.num_train, self.config.batch_size, self.generator))
        idx = self._batches[1].next()
        return Batch(task.train_x[idx], task.train_y[idx])

    def _joint_batch(self) -> Batch:
        """B points of the union of all tasks: the task of each drawn ∝ training-set sizes, then a point of it."""
        tasks, B = self.ctx.tasks, self.config.batch_size
        if "union" not in self.ctx.extra:
            sizes = torch.tensor([t.num_train for t in tasks], dtype=torch.float)
            offsets = torch.cat([torch.zeros(1, dtype=torch.long), sizes.long().cumsum(0)[:-1]])  # [T]
            self.ctx.extra["union"] = (torch.cat([t.train_x for t in tasks]), torch.cat([t.train_y for t in tasks]),
                                       sizes, offsets)
        x_all, y_all, sizes, offsets = self.ctx.extra["union"]
        batch_tasks = torch.multinomial(sizes, B, replacement=True, generator=self.generator)  # [B]
        within = (torch.rand(B, generator=self.generator) * sizes[batch_tasks]).long()  # [B]
        idx = (offsets[batch_tasks] + within).to(x_all.device)  # [B] indices into the union
        return Batch(x_all[idx], y_all[idx], batch_tasks.to(x_all.device))

    def _head(self, task_id: int) -> int:
        return task_id if self.multi_head else 0

    def task_terms(self, outputs: Tensor, batch: Batch, task_id: int) -> dict[str, Tensor]:
        pred = outputs[..., self._head(task_id)]  # [S, B]
        mse = ((pred - batch.targets[:, 0]) ** 2).mean(dim=1)  # [S]: per-sample-set batch MSE
        num_train = self.ctx.tasks[task_id].num_train
        return {"loss_nll": num_train * (0.5 * mse / self.config.ll_dist_std**2).mean()}

    def joint_terms(self, forward: Callable[[Tensor], Tensor], batch: Batch) -> dict[str, Tensor]:
        out = forward(batch.inputs)  # [B, O]
        heads = batch.task_of if self.multi_head else torch.zeros_like(batch.task_of)
        pred = out.gather(1, heads.unsqueeze(1))[:, 0]  # [B]
        total, B = sum(t.num_train for t in self.ctx.tasks), batch.inputs.shape[0]
        return {"loss": total / B * (0.5 * (pred - batch.targets[:, 0]) ** 2 / self.config.ll_dist_std**2).sum()}

    def sample_nll(self, task_id: int) -> Callable[[Tensor, Tensor], Tensor]:
        head, std = self._head(task_id), self.config.ll_dist_std

        def nll(out: Tensor, y: Tensor) -> Tensor:  # sum_b (f_head(x_b) - y_b)² / (2σ_ll²)
            return 0.5 * ((out[:, head] - y[:, 0]) ** 2).sum() / std**2

        return nll

    def fisher_data(self, task_id: int, n_fisher: int) -> tuple[Tensor, Tensor]:
        task = self.ctx.tasks[task_id]
        n = task.num_train if n_fisher == -1 else min(n_fisher, task.num_train)
        idx = torch.randperm(task.num_train, generator=self.generator)[:n].to(task.train_x.device)
        return task.train_x[idx], task.train_y[idx]

    def schedulers(self, optimizer, task_id, val_accuracy) -> EpochSchedulers:
        return EpochSchedulers(self.config, optimizer, 1, val_accuracy)  # the flags are rejected: no scheduler

    @torch.no_grad()
    def validate(self, logits: LogitsFn, task_id: int, it: int, log: bool = True) -> float:
        """In-range (val) and wider-range (test) MSE of the task; returns the val MSE."""
        task, env = self.ctx.tasks[task_id], self.ctx.env
        scores = {}
        for split, x, y in (("val", task.val_x, task.val_y), ("test", task.test_x, task.test_y)):
            pred = logits(x)[..., self._head(task_id)]  # [V, B]
            scores[split] = ((pred - y[:, 0]) ** 2).mean().item()
            if log:
                env.writer.add_scalar(f"eval/task_{task_id}/{split}_mse", scores[split], it)
        if log:
            env.logger.debug(f"Task {task_id + 1}, iteration {it}: val MSE {scores['val']:.5f}, "
                             f"test MSE {scores['test']:.5f}")
        return scores["val"]

    # --- testing and outputs -----------------------------------------------------------------------------------
    def test(self, ctx: RunContext, method, task_id: int) -> None:
        evaluate(ctx, self.during, method.models(task_id + 1), method.test_lrt,
                 vars(ctx.config).get("val_sample_size", 1))
        write_summary(ctx.env.out_dir, ctx.summary)

    def test_jointly(self, ctx: RunContext, method) -> None:
        """One test of all tasks; the "during" values are the final ones (all tasks are learnt at once)."""
        T, s = ctx.num_tasks, ctx.summary
        evaluate(ctx, self.during, method.models(T), False, 1)
        s["aa_mse_during"], s["aa_mse_during_inferred"] = list(s["aa_mse_final"]), list(s["aa_mse_final_inferred"])
        s["aa_mse_during_mean"] = s["aa_mse_final_mean"]
        s["aa_mse_during_inferred_mean"] = s["aa_mse_final_inferred_mean"]

    def end_of_run(self, ctx: RunContext, method) -> dict:
        summary, env, T = ctx.summary, ctx.env, ctx.num_tasks
        summary.update(method.final_summary())
        summary["finished"] = 1
        write_summary(env.out_dir, summary)
        env.logger.info(f"Finished. MSE (final, mean) {summary['aa_mse_final_mean']:.5f}; inferred MSE "
                        f"{summary['aa_mse_final_inferred_mean']:.5f}; task inference "
                        f"{summary['aa_task_inference_mean']:.1f} %.")
        env.logger.info(f"Summary: {env.out_dir / 'performance_overview.txt'}; figures: "
                        f"{env.out_dir / f'pred_dists_{T}.png'} (and val_predictions_*, mse_*); "
                        f"TensorBoard: {env.out_dir / 'summary'}")
        return summary

    # --- checkpoints -------------------------------------------------------------------------------------------
    def tensors(self) -> dict[str, Tensor]:
        return {"rng_batches": self.generator.get_state()}

    def meta(self, ctx: RunContext) -> dict:
        return {"summary": ctx.summary, "during": self.during}

    def load(self, ctx: RunContext, tensors: dict[str, Tensor], meta: dict) -> None:
        ctx.summary, self.during = meta["summary"], meta["during"]
        self.generator.set_state(tensors["rng_batches"].cpu())


def evaluate(ctx: RunContext, during: dict, models: list, lrt: bool, num_samples: int) -> None:
    """Evaluate the first n = ``len(models)`` tasks (model j = task j's posterior, with ``raw``/``predict``),
    update the summary and write the figures ``pred_dists_n``, ``val_predictions_n`` and ``mse_n``."""
    config, env, tasks, summary, n = ctx.config, ctx.env, ctx.tasks, ctx.summary, len(models)
    for m in models:
        m.eval()
    pairs = [(m, j) for j, m in enumerate(models)]
    res = evaluate_regression(pairs, tasks, num_samples, lrt, config.multi_head)
    during["mse"][n - 1] = res.mse[n - 1]
    during["inferred_mse"][n - 1] = res.inferred_mse[n - 1]
    for i in range(n):
        env.writer.add_scalar(f"test/task_{i}/val_mse", res.mse[i], n)
        env.writer.add_scalar(f"test/task_{i}/inferred_val_mse", res.inferred_mse[i], n)
        env.writer.add_scalar(f"test/task_{i}/accuracy", res.task_inference[i], n)
    env.logger.info(f"After {n} task(s): MSE {np.round(res.mse, 5).tolist()}, inferred MSE "
                    f"{np.round(res.inferred_mse, 5).tolist()}, "
                    f"task inference {np.round(res.task_inference, 1).tolist()} %")

    summary["aa_mse_during"][n - 1] = during["mse"][n - 1]
    summary["aa_mse_during_inferred"][n - 1] = during["inferred_mse"][n - 1]
    summary["aa_mse_during_mean"] = float(np.mean(during["mse"][:n]))
    summary["aa_mse_during_inferred_mean"] = float(np.mean(during["inferred_mse"][:n]))
    summary["aa_mse_final"][:n] = res.mse
    summary["aa_mse_final_inferred"][:n] = res.inferred_mse
    summary["aa_task_inference"][:n] = res.task_inference
    summary["aa_mse_final_mean"] = float(np.mean(res.mse))
    summary["aa_mse_final_inferred_mean"] = float(np.mean(res.inferred_mse))
    summary["aa_task_inference_mean"] = float(np.mean(res.task_inference))

    test_x = torch.cat([t.test_x for t in tasks[:n]])
    heads = list(range(n)) if config.multi_head else None
    test_pred = predict_tasks(pairs, test_x, num_samples, lrt, heads)  # [j, V, n * points]
    idx = torch.arange(n)
    own = test_pred.reshape(n, num_samples, n, -1)[idx, :, idx]  # [n, V, points]
    out = Path(env.out_dir)
    plot_predictive_distributions(tasks, own, out, env.writer, n, config.publication_style)
    plot_val_predictions(tasks, res.predictions, out, env.writer, n)
    plot_mse(during["mse"], res.mse, out, env.writer, n)

