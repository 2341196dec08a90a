"""The example of ``docs/architecture.rst`` ("How to add a method"): a new method is one class, run by the same
trainer on any family. This one anchors a deterministic network to its weights after the previous task (an L2
penalty, i.e. EWC with a unit Fisher)."""

import torch
from torch import nn

from probabilistic.args import parse_args
from probabilistic.families.classification import ClassificationFamily
from probabilistic.families.regression import RegressionFamily
from probabilistic.methods.base import Method
from probabilistic.methods.laplace import new_flat_net
from probabilistic.trainer import run_with


# --- the example method (docs/architecture.rst includes this block) --------------------------------------------
class L2Anchor(Method):
    """A deterministic main network; while training task t > 0 it pays λ/2 ‖φ − φ*‖² with φ* the weights after
    task t − 1 (``--ewc_lambda`` is λ)."""

    name = "L2 anchor"

    def build(self, ctx, family):
        super().build(ctx, family)
        family.make_heads(shared_model=True)  # one network serves every task (classification heads)
        self.net = new_flat_net(family, ctx.device)
        self.anchor = None
        self.set_weight_counts({"num_weights_main": self.net.mnet.num_params})

    def before_task(self, task_id):
        self.anchor = self.net.phi.detach().clone() if task_id > 0 else None

    def train_step(self, batch, task_id, it, n_iter):
        terms = self.family.task_terms(self.net(batch.inputs)[None], batch, task_id)  # outputs [1, B, O]
        penalty = torch.zeros(()) if self.anchor is None else 0.5 * ((self.net.phi - self.anchor) ** 2).sum()
        return {"loss": terms["loss_nll"] + self.config.ewc_lambda * penalty, **terms, "regularizer": penalty}

    def models(self, n):  # model j = task j's predictor; here one network for all tasks
        return [Deterministic(self.net)] * n

    def state(self):
        return nn.ModuleList([self.net])


class Deterministic(nn.Module):
    """The test-phase interface (``raw``, ``predict``) of a deterministic network: V copies of one prediction."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def raw(self, task_ids):
        return torch.zeros(len(task_ids), 0)

    def predict(self, x, raw, num_samples, generator=None, lrt=False):
        out = self.net(x)  # [B, O]
        return out.expand(raw.shape[0], num_samples, *out.shape)  # [N, V, B, O]
# --- end of the example ------------------------------------------------------------------------------------------


def test_example_method_runs_on_gmm_and_learns(tmp_path):
    config = parse_args("gmm_ewc", ["--cl_scenario=1", "--use_adam", "--lr=0.01", "--net_act=relu", "--n_iter=150",
                                    "--ewc_lambda=0.01", f"--out_dir={tmp_path}", "--loglevel_info"])
    summary = run_with(config, ClassificationFamily(config), L2Anchor(config, "ewc"))
    assert summary["finished"] == 1 and summary["num_weights_main"] > 0
    assert summary["acc_avg_task_given"] > 80  # GMM tasks, task given: far above chance (50 %)
    assert (tmp_path / "checkpoints").is_dir() and (tmp_path / "performance_overview.txt").exists()


def test_example_method_runs_on_regression_and_fits(tmp_path):
    def run(n_iter: int) -> dict:
        config = parse_args("regression_ewc", ["--used_task_set=3", "--use_adam", "--lr=0.01", "--net_act=relu",
                                               "--ll_dist_std=0.05", f"--n_iter={n_iter}", "--ewc_lambda=0.01",
                                               f"--out_dir={tmp_path / str(n_iter)}", "--loglevel_info"])
        return run_with(config, RegressionFamily(config), L2Anchor(config, "ewc"))

    short, longer = run(2), run(300)
    assert longer["finished"] == 1 and longer["aa_mse_final"][-1] < 0.3 * short["aa_mse_final"][-1]
