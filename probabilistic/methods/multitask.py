"""Multitask upper bound (``multitask_utils.run`` of the original, which crashes for GMM and regression:
spec §6.2.1; fixed).

One deterministic main network is trained on all tasks jointly; every iteration's batch mixes the tasks in
proportion to their training-set sizes (the family draws it), and the loss is N_total / B times the summed
negative log-likelihood of the batch, each sample on its own task's outputs. All heads are trained from the start.
The model is tested once, after training.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from probabilistic.ewc import LaplacePosterior
from probabilistic.families.base import Family, RunContext
from probabilistic.methods.base import Method
from probabilistic.methods.laplace import new_flat_net


class Multitask(Method):
    name = "multitask"
    trains_jointly = True

    def build(self, ctx: RunContext, family: Family) -> None:
        super().build(ctx, family)
        family.make_heads(shared_model=True, joint=True)
        self.net = new_flat_net(family, ctx.device)
        self.set_weight_counts({"num_weights_main": self.net.mnet.num_params})
        ctx.env.logger.info(f"Multitask training on {ctx.num_tasks} tasks for {family.num_iterations(None)} "
                            "iterations.")

    def validate(self, task_id: int | None, it: int) -> None:
        """The family's validation score of every task (logged under ``eval/multitask``)."""
        self.net.eval()
        with torch.no_grad():
            for t in range(self.ctx.num_tasks):
                self.family.validate(lambda x: self.net(x)[None], t, it)
        self.net.train()

    def val_accuracy(self, task_id: int | None) -> float:
        """Mean validation accuracy over the tasks (the plateau scheduler's signal)."""
        return float(np.mean([self.family.validate(lambda x: self.net(x)[None], t, -1, log=False)
                              for t in range(self.ctx.num_tasks)]))

    def train_step(self, batch, task_id: None, it: int, n_iter: int) -> dict[str, Tensor]:
        return self.family.joint_terms(self.net, batch)

    def models(self, n: int) -> list[LaplacePosterior]:
        return [LaplacePosterior(self.net.mnet, self.net.phi.detach())] * n

    def state(self) -> nn.Module:
        return nn.ModuleList([self.net])
