"""SupSup-style task inference by the gradient of the predictive entropy (``--supsup_task_inference``, spec §2.13).

With n trained tasks, mixing coefficients α ∈ Rⁿ (initialised 1/n) superpose the task embeddings,
e(α) = Σ_k α_k e_k; the hypernetwork turns e(α) into one network. For every test input b the normalised entropy
H_b(α) of its predictive distribution is computed, and the inferred task is ``argmin_k ∂H_b/∂α_k`` (raising the
weight of the right task lowers the entropy most). Then α ← α − ``supsup_lr`` · mean_b ∂H_b/∂α, repeated
``supsup_grad_steps`` times; the last step's argmins are scored.

The original calls ``autograd.grad`` once per test sample and step. Here the per-sample Jacobian ``[B, n]`` comes
from n forward-mode JVPs (one per mixing coefficient) over the whole chunk. The softmax spans the output units of
all tasks seen so far (CL2: the shared head), i.e. the allowed outputs of the last task of a growing CL3 softmax,
the setting of the README run.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.func import jvp

from probabilistic.classification.evaluate import EVAL_SEED
from probabilistic.heads import Heads
from probabilistic.posterior import WeightPosterior
from utils.cli import ConfigError


def check_supsup(posterior: WeightPosterior, train_from_scratch: bool) -> None:
    """The method needs one hypernetwork with plain task embeddings (as the original)."""
    if posterior.hnet is None or train_from_scratch:
        raise ConfigError("--supsup_task_inference needs a hypernetwork shared by all tasks (drop --mnet_only and "
                          "--train_from_scratch)")
    if getattr(posterior.hnet, "cond_chunk_embs", False):
        raise ConfigError("--supsup_task_inference cannot be combined with --use_cond_chunk_embs")


def entropy_gradients(posterior: WeightPosterior, x: Tensor, alpha: Tensor, heads: Heads, num_samples: int,
                      lrt: bool) -> Tensor:
    """``∂H_b/∂α`` ``[B, n]`` of the normalised predictive entropies of inputs ``x [B, I]`` under the network
    generated from the superposed embedding e(α) (deterministic weight noise)."""
    n = alpha.shape[0]
    embeddings = torch.stack([posterior.hnet.conditional_params[k] for k in range(n)]).detach()  # [n, d]
    start, stop = 0, heads.num_classes if heads.scenario == 2 else n * heads.num_classes

    def entropies(a: Tensor) -> Tensor:
        raw = posterior.hnet(cond_input=(a[:, None] * embeddings).sum(0, keepdim=True))  # [1, outputs]
        gen = torch.Generator(device=x.device).manual_seed(EVAL_SEED)
        p = posterior.predict(x, raw, num_samples, gen, lrt=lrt)[0][..., start:stop].softmax(-1).mean(0)  # [B, W]
        return -(p * p.clamp_min(1e-5).log()).sum(-1) / math.log(heads.num_classes)

    columns = [jvp(entropies, (alpha,), (torch.eye(n, device=alpha.device)[k],))[1] for k in range(n)]
    return torch.stack(columns, dim=1)


def infer_tasks(posterior: WeightPosterior, x: Tensor, num_tasks: int, heads: Heads, steps: int, lr: float,
                num_samples: int, batch_size: int, lrt: bool = False) -> Tensor:
    """Inferred task ``[N]`` of every input ``x [N, I]`` after ``steps`` α-updates (see the module docstring)."""
    alpha = torch.full((num_tasks,), 1.0 / num_tasks, device=x.device)
    inferred = None
    with torch.no_grad():  # forward-mode only: no graph for reverse mode is needed
        for _ in range(max(1, steps)):
            grads = torch.cat([entropy_gradients(posterior, x[i:i + batch_size], alpha, heads, num_samples, lrt)
                               for i in range(0, x.shape[0], batch_size)])  # [N, n]
            inferred = grads.argmin(1)
            alpha = alpha - lr * grads.mean(0)
    return inferred


def supsup_summary(inferred: Tensor, true_task: Tensor, num_tasks: int) -> dict:
    """``task_inference_acc_ent_grad`` (per test task, %) and its mean ``avg_task_inference_acc_ent_grad``."""
    per_task = [float((inferred[true_task == t] == t).float().mean() * 100) for t in range(num_tasks)]
    return {"avg_task_inference_acc_ent_grad": sum(per_task) / num_tasks, "task_inference_acc_ent_grad": per_task}
