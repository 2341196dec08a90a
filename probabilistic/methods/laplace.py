"""Online EWC and its Laplace posterior (``ewc_utils.run`` of the original, spec §2.10).

One deterministic main network with its own flat weights φ. Loss while training task t:

.. math::
    L = L_\\text{nll} + \\frac{1}{2\\sigma_p^2} \\Big[ [t = 0]\\, \\lVert \\phi_\\text{shared} \\rVert^2
        + \\lVert \\phi_{\\text{head } t} \\rVert^2 \\Big]
        + \\lambda_\\text{EWC}\\, \\frac{1}{2} \\sum_i F_i (\\phi_i - \\phi^*_i)^2 \\quad (t > 0)

with the online Fisher F of :mod:`utils.ewc` (γ decay applied in place per call, as the original, unless
``--fix_online_ewc``). At test time a multi-head run is a Laplace posterior per head, N(φ*, F⁻¹) (untrained heads
at the prior), sampled ``val_sample_size`` times; ``--det_multi_head`` and single-head runs are deterministic.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from mnets.base import MainNet, unflatten_weights
from probabilistic.ewc import (
    LaplacePosterior,
    ewc_prior_offset,
    fisher_diagonal,
    gaussian_prior_penalty,
    grad_square_sum,
)
from probabilistic.families.base import Family, RunContext
from probabilistic.methods.base import Method
from utils.ewc import decay_fisher_, ewc_penalty, online_fisher


class FlatWeightNet(nn.Module):
    """A weightless main network plus its flat weight vector φ ``[P]`` (what EWC regularises)."""

    def __init__(self, mnet: MainNet, phi: Tensor) -> None:
        super().__init__()
        self.mnet = mnet
        self.phi = nn.Parameter(phi)

    def forward(self, x: Tensor) -> Tensor:
        return self.mnet(x, unflatten_weights(self.phi, self.mnet.param_shapes))  # [B, O]


def new_flat_net(family: Family, device: torch.device) -> FlatWeightNet:
    """The family's main network with the family's initial weights (as the original's EWC and multitask runs)."""
    mnet = family.main_net()
    return FlatWeightNet(mnet, family.initial_weights(mnet)).to(device)


class OnlineEWC(Method):
    """Online EWC; multi-head runs are tested as Laplace posteriors."""

    name = "online EWC"

    # --- setup -------------------------------------------------------------------------------------------------
    def build(self, ctx: RunContext, family: Family) -> None:
        super().build(ctx, family)
        family.make_heads(shared_model=True, non_growing=vars(self.config).get("non_growing_sf_cl3", False))
        self.nets = nn.ModuleList([new_flat_net(family, ctx.device)])
        self.fishers: list[Tensor | None] = [None]  # online Fisher of each network
        mnet = self.nets[0].mnet
        self.set_weight_counts({"num_weights_main": mnet.num_params})
        ctx.env.logger.info(f"Main network: {mnet.num_params} weights; "
                            f"{'multi' if family.multi_head else 'single'} head.")
        self.head_entries = family.head_entries(mnet)
        shared = (~torch.stack(self.head_entries).any(0) if self.head_entries is not None
                  else torch.ones(mnet.num_params, dtype=torch.bool))
        self.shared = shared.to(ctx.device)
        self.predict = family.wrap_predict(self._predict, mnet)

    # --- one task ----------------------------------------------------------------------------------------------
    def before_task(self, task_id: int) -> None:
        if self.config.train_from_scratch and task_id > 0:
            self.nets.append(new_flat_net(self.family, self.ctx.device))
            self.fishers.append(None)
        net, fisher = self.nets[-1], self.fishers[-1]
        self.phi_star = net.phi.detach().clone() if fisher is not None else None
        self.first = task_id == 0 or self.config.train_from_scratch
        self.current_head = self.head_entries[task_id].to(self.ctx.device) if self.head_entries is not None else None
        self.prior_mask = ewc_prior_offset(self.shared, self.current_head, 0 if self.first else task_id, 1.0).bool()

    def parameters(self, task_id):
        return list(self.nets[-1].parameters())

    def train(self) -> None:
        self.nets[-1].train()

    def _logits(self, x: Tensor) -> Tensor:
        return self.nets[-1](x)[None]  # [1, B, O]

    def validate(self, task_id: int, it: int) -> None:
        self.nets[-1].eval()
        with torch.no_grad():
            self.family.validate(self._logits, task_id, it)
        self.nets[-1].train()

    def val_accuracy(self, task_id: int) -> float:
        return self.family.validate(self._logits, task_id, -1, log=False)

    def train_step(self, batch, task_id: int, it: int, n_iter: int) -> dict[str, Tensor]:
        config, net, fisher = self.config, self.nets[-1], self.fishers[-1]
        terms = self.family.task_terms(net(batch.inputs).unsqueeze(0), batch, task_id)  # outputs [1, B, O]
        loss_prior = gaussian_prior_penalty(net.phi, self.prior_mask, config.prior_variance)
        loss_ewc = torch.zeros((), device=net.phi.device)
        if fisher is not None:
            # the original decays the stored Fisher in place at every call (no-op for γ = 1; --fix_online_ewc: off)
            weights = fisher if config.fix_online_ewc else decay_fisher_([fisher], config.ewc_gamma)[0]
            loss_ewc = ewc_penalty([net.phi], [self.phi_star], [weights])
        loss = terms["loss_nll"] + loss_prior + config.ewc_lambda * loss_ewc
        return {"loss": loss, **terms, "loss_prior": loss_prior, "regularizer": loss_ewc}

    def after_task(self, task_id: int) -> None:
        """The task's empirical Fisher at φ*, accumulated online (the last one only serves a Laplace posterior)."""
        config, net, fisher = self.config, self.nets[-1], self.fishers[-1]
        if task_id < self.ctx.num_tasks - 1 or self.family.multi_head:
            net.eval()
            x, y = self.family.fisher_data(task_id, config.n_fisher)
            square_sum = grad_square_sum(net.mnet, net.phi.detach(), x, y, self.family.sample_nll(task_id))  # [P]
            offset = ewc_prior_offset(self.shared, self.current_head, 0 if self.first else task_id,
                                      config.prior_variance)
            new = fisher_diagonal(square_sum, x.shape[0], self.ctx.tasks[task_id].num_train, offset,
                                  scale_offset=not config.fix_online_ewc)
            self.fishers[-1] = online_fisher([new], None if fisher is None else [fisher], config.ewc_gamma)[0]
            for name, value in (("min_fisher", self.fishers[-1].min()), ("max_fisher", self.fishers[-1].max()),
                                ("fisher", self.fishers[-1].mean())):
                self.ctx.env.writer.add_scalar(f"ewc/{name}", value.item(), task_id)
        self.family.after_training_task(net.mnet, task_id)  # after the Fisher, which uses this task's statistics

    # --- test phase --------------------------------------------------------------------------------------------
    def _laplace(self, j: int, num_trained: int) -> LaplacePosterior:
        """Test-time posterior: N(φ*, F⁻¹) per head (multi-head, not ``--det_multi_head``), else deterministic."""
        net, fisher = self.nets[j], self.fishers[j]
        stochastic = (self.family.multi_head and not vars(self.config).get("det_multi_head", False)
                      and fisher is not None)
        std = fisher.clamp_min(1e-12).rsqrt() if stochastic else None
        heads = None if self.head_entries is None else [h.to(net.phi.device) for h in self.head_entries]
        return LaplacePosterior(net.mnet, net.phi.detach(), std, heads, num_trained, self.config.prior_variance ** 0.5)

    def models(self, n: int) -> list[LaplacePosterior]:
        if self.config.train_from_scratch:
            return [self._laplace(j, j + 1) for j in range(n)]
        return [self._laplace(0, n)] * n

    def _predict(self, posterior: LaplacePosterior, x: Tensor, task_ids: list[int], num_samples: int,
                 gen: torch.Generator) -> Tensor:
        return posterior.predict(x, posterior.raw(task_ids), num_samples, gen)

    # --- checkpoints -------------------------------------------------------------------------------------------
    def state(self) -> nn.Module:
        return self.nets

    def prepare_resume(self, last_task: int) -> None:
        while len(self.nets) < (last_task + 1 if self.config.train_from_scratch else 1):
            self.nets.append(new_flat_net(self.family, self.ctx.device))

    def tensors(self) -> dict[str, Tensor]:
        return {f"fisher_{j}": f for j, f in enumerate(self.fishers) if f is not None}

    def load(self, tensors: dict[str, Tensor], meta: dict) -> None:
        self.fishers = [tensors.get(f"fisher_{j}") for j in range(len(self.nets))]
