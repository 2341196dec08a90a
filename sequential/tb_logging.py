"""TensorBoard diagnostics of the RNN runs that the original logs besides the losses (spec §5.1 tags).

After each task (x axis: the task index): ``cl/edist_first`` and ``cl/edist_prev``, the Euclidean distance of the
main network's weights for the task to those after the first / the previous task (weight drift; HNET: the generated
weights); ``hreg/task_<j>/edist``, the distance of the hypernetwork's current output for an old task j to its
regularisation target; ``ewc/min_fisher, max_fisher`` and histograms ``ewc/fisher, fisher_hh, log_fisher,
log_fisher_hh``; ``si/min_omega, max_omega`` and histograms ``si/omega, log_omega``. Per logged step the runner adds
``tnet_grad_norm``, ``hnet_grad_norm`` and ``tnet_weights_hh_norm`` (:func:`step_norms`) to ``train/task_<t>/``,
and while the hypernetwork regulariser is active :func:`hnet_reg_diagnostics` splits it into the generated
feed-forward and recurrent weights.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from sequential.ht_analyses.importance import connection_ids
from utils.hnet_regularizer import hnet_output_regularizer

#: Added before the logarithm so that zero importances stay finite in the ``log_*`` histograms.
LOG_EPS = 1e-30


def flat(tensors: Sequence[Tensor]) -> Tensor:
    """All tensors as one detached vector."""
    return torch.cat([t.detach().flatten() for t in tensors])


def grad_norm(params: Sequence[Tensor]) -> float:
    """Euclidean norm of the gradients of ``params`` (those that have one)."""
    grads = [p.grad.detach().flatten() for p in params if p.grad is not None]
    return float(torch.cat(grads).norm()) if grads else 0.0


def log_weight_drift(writer, task: int, weights: Tensor, first: Tensor | None, prev: Tensor | None) -> None:
    """``cl/edist_first`` and ``cl/edist_prev`` of the flattened weights after task ``task``."""
    if first is not None:
        writer.add_scalar("cl/edist_first", float((weights - first).norm()), task)
    if prev is not None:
        writer.add_scalar("cl/edist_prev", float((weights - prev).norm()), task)


def log_hnet_drift(writer, task: int, current: Tensor, targets: Tensor) -> None:
    """``hreg/task_<j>/edist``: distance of the hypernetwork outputs ``[t, P]`` for old tasks to their targets."""
    for j, d in enumerate((current.detach() - targets).norm(dim=1).tolist()):
        writer.add_scalar(f"hreg/task_{j}/edist", d, task)


def _log_importance(writer, task: int, values: Sequence[Tensor], meta: Sequence[dict], prefix: str, name: str,
                    with_hh: bool) -> None:
    v = flat(values)
    writer.add_scalar(f"{prefix}/min_{name}", float(v.min()), task)
    writer.add_scalar(f"{prefix}/max_{name}", float(v.max()), task)
    writer.add_histogram(f"{prefix}/{name}", v, task)
    writer.add_histogram(f"{prefix}/log_{name}", torch.log(v.clamp(min=0) + LOG_EPS), task)
    ids = connection_ids(meta, "hh")
    if with_hh and ids:
        hh = flat([values[i] for i in ids])
        writer.add_histogram(f"{prefix}/{name}_hh", hh, task)
        writer.add_histogram(f"{prefix}/log_{name}_hh", torch.log(hh.clamp(min=0) + LOG_EPS), task)


def log_fisher(writer, task: int, fisher: Sequence[Tensor], meta: Sequence[dict]) -> None:
    """EWC tags of the online Fisher after task ``task``."""
    _log_importance(writer, task, fisher, meta, "ewc", "fisher", with_hh=True)


def log_omega(writer, task: int, omega: Sequence[Tensor], meta: Sequence[dict]) -> None:
    """SI tags of the accumulated importance Omega after task ``task``."""
    _log_importance(writer, task, omega, meta, "si", "omega", with_hh=False)


def step_norms(model, weights: Sequence[Tensor] | None) -> dict[str, float]:
    """Per-step measurements: ``tnet_grad_norm`` (main network's own weights), ``hnet_grad_norm`` (hypernetwork)
    and ``tnet_weights_hh_norm`` (norm of the hidden-to-hidden weights the step ran with)."""
    norms = {}
    if model.mnet.internal_params:
        norms["tnet_grad_norm"] = grad_norm(list(model.mnet.internal_params))
    if model.protected_hnet is not None:
        norms["hnet_grad_norm"] = grad_norm(list(model.protected_hnet.internal_params))
    if weights is not None:  # the full param_shapes list (generated, or masks merged with the own weights)
        pairs = zip(weights, model.mnet.param_shapes_meta)
    else:  # the network's own weights: context-mod entries are not among them
        own = [m for m in model.mnet.param_shapes_meta if not m["name"].startswith("cm_")]
        pairs = zip(model.main_weights(), own)
    hh = [t for t, m in pairs if m.get("info") == "hh" and m["name"] == "weight"]
    if hh:
        norms["tnet_weights_hh_norm"] = float(flat(hh).norm())
    return norms


@torch.no_grad()
def log_after_task(writer, model, state, task: int, snapshots: dict) -> None:
    """Weight drift (``cl/*``) and the hypernetwork's output drift for old tasks (``hreg/*``) after ``task``.

    Args:
        snapshots: Carries the flattened weights after the first and the previous task between calls.
    """
    weights = model.task_weights(task)
    current = flat(weights if weights is not None else model.main_weights())
    log_weight_drift(writer, task, current, snapshots.get("first"), snapshots.get("prev"))
    snapshots.setdefault("first", current)
    snapshots["prev"] = current
    hnet = model.protected_hnet
    if hnet is not None and state.hnet_targets is not None and task > 0:
        log_hnet_drift(writer, task, hnet(cond_id=list(range(task))), state.hnet_targets)


def recurrent_output_mask(target_shapes: Sequence[Sequence[int]], target_meta: Sequence[dict]) -> Tensor:
    """``[P]`` bool over the hypernetwork's flattened outputs: True for the hidden-to-hidden tensors."""
    parts = [torch.full((math.prod(s),), m.get("info") == "hh", dtype=torch.bool)
             for s, m in zip(target_shapes, target_meta)]
    return torch.cat(parts)


def hnet_reg_diagnostics(writer, hnet, mnet, targets: Tensor, step: int, tag: str) -> None:
    """The original's split of the hypernetwork regulariser (all previous tasks) into the generated feed-forward
    and recurrent weights: ``train/<tag>/hnet_reg_{ff,rec}_loss``, the norm of its gradient w.r.t. the
    hypernetwork divided by the number of weights of that type ``hnet_grad_norm_per_{ff,rec}_w``, and the
    gradient histograms ``hnet_grad_{ff,rec}``. Uses ``torch.autograd.grad``, so the training step's gradients
    are untouched.

    Args:
        mnet: The main network whose weights ``hnet`` generates.
        targets: ``[t, P]`` regularisation targets of the ``t`` previous tasks.
    """
    params = [p for p in hnet.internal_params if p.requires_grad]
    current = hnet(cond_id=list(range(targets.shape[0])))  # [t, P]
    rec = recurrent_output_mask(mnet.param_shapes, mnet.param_shapes_meta).to(current.device).float()
    for name, mask in (("ff", 1.0 - rec), ("rec", rec)):
        n = float(mask.sum())
        if n == 0:
            continue
        loss = hnet_output_regularizer(current, targets, mask.expand_as(current))
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        g = torch.cat([(torch.zeros_like(p) if d is None else d).flatten() for p, d in zip(params, grads)])
        writer.add_scalar(f"train/{tag}/hnet_reg_{name}_loss", loss.item(), step)
        writer.add_scalar(f"train/{tag}/hnet_grad_norm_per_{name}_w", float(g.norm()) / n, step)
        writer.add_histogram(f"train/{tag}/hnet_grad_{name}", g, step)
