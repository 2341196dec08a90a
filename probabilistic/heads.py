"""Output heads of a classifier per continual-learning scenario (spec §2.2): which output units a task's softmax
spans, and where the task's C local classes sit among them.

The main network has ``C * H`` output units, ``H = 1`` in CL2 and ``H = T`` otherwise (all heads allocated from the
start). For task t (C classes per task):

=====================================================  ==========================  ==================================
scenario                                               allowed output units        task t's classes inside them
=====================================================  ==========================  ==================================
CL1, or CL3 with ``--split_head_cl3``                  ``[tC, (t+1)C)``            ``[0, C)`` (local one-hot)
CL2                                                    ``[0, C)``                  ``[0, C)``
CL3 growing softmax, one posterior per task (hnet)     ``[0, (t+1)C)``             ``[tC, (t+1)C)``
CL3 growing softmax, one shared model (mnet / EWC)     ``[0, nC)``, n = #trained   ``[tC, (t+1)C)``
CL3 non-growing softmax (``--non_growing_sf_cl3``)     ``[0, TC)``                 ``[tC, (t+1)C)``
=====================================================  ==========================  ==================================

Global class ids (used to score predictions of any model on any task) are ``label + label_offset(t)``: ``tC``
except in CL2, where labels stay within-task (spec §2.13: a wrong model can still be "correct" in CL2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from mnets.mlp import MLP


@dataclass(frozen=True)
class Heads:
    """Head layout of one run.

    Args:
        scenario: ``--cl_scenario`` (1, 2 or 3).
        num_tasks: T.
        num_classes: C, classes per task.
        split_head: ``--split_head_cl3`` (CL3 with one softmax per task).
        non_growing: ``--non_growing_sf_cl3`` (EWC: softmax over all T·C units from the start).
        shared_model: One model serves all tasks (``--mnet_only``, EWC, multitask, prior-focused): a growing CL3
            softmax then always spans every head trained so far.
    """

    scenario: int
    num_tasks: int
    num_classes: int
    split_head: bool = False
    non_growing: bool = False
    shared_model: bool = False

    def __post_init__(self) -> None:
        if self.scenario not in (1, 2, 3):
            raise ValueError(f"cl_scenario must be 1, 2 or 3 (got {self.scenario})")
        if self.non_growing and self.scenario != 3:
            raise ValueError("a non-growing softmax only exists in CL3")

    @property
    def multi_head(self) -> bool:
        """One softmax per task head (CL1, CL3 + split heads)."""
        return self.scenario == 1 or (self.scenario == 3 and self.split_head)

    @property
    def growing(self) -> bool:
        """CL3 with a softmax over several heads."""
        return self.scenario == 3 and not self.split_head

    @property
    def num_outputs(self) -> int:
        """Width C·H of the main network's output layer."""
        return self.num_classes * (1 if self.scenario == 2 else self.num_tasks)

    def allowed(self, task_id: int, num_trained: int | None = None) -> tuple[int, int]:
        """``(start, stop)`` of the output units task ``task_id``'s softmax spans.

        Args:
            num_trained: Tasks trained so far (shared-model growing CL3 only; default ``task_id + 1``).
        """
        C = self.num_classes
        if self.multi_head:
            return task_id * C, (task_id + 1) * C
        if self.scenario == 2:
            return 0, C
        if self.non_growing:
            return 0, self.num_tasks * C
        if self.shared_model:
            return 0, (num_trained if num_trained is not None else task_id + 1) * C
        return 0, (task_id + 1) * C

    def target_offset(self, task_id: int) -> int:
        """Position of task ``task_id``'s class 0 inside its allowed units (targets are placed there)."""
        return task_id * self.num_classes if self.growing else 0

    def label_offset(self, task_id: int) -> int:
        """Offset turning a local label of task ``task_id`` into a global class id (0 in CL2)."""
        return 0 if self.scenario == 2 else task_id * self.num_classes

    def targets(self, labels: Tensor, task_id: int) -> Tensor:
        """Class indices ``[B]`` into the allowed units of ``task_id`` for local labels ``[B]``."""
        return labels + self.target_offset(task_id)

    def logits(self, out: Tensor, task_id: int, num_trained: int | None = None) -> Tensor:
        """Slice the allowed units ``[..., O] -> [..., allowed]``."""
        start, stop = self.allowed(task_id, num_trained)
        return out[..., start:stop]

    def regularized_units(self, task_id: int) -> list[int]:
        """Output units whose generated weights the mse regulariser keeps for old task ``task_id``: its allowed
        units (hnet-based growing CL3: ``[0, (t+1)C)``); all units in CL2."""
        if self.scenario == 2:
            return list(range(self.num_outputs))
        start, stop = self.allowed(task_id)
        return list(range(start, stop))


def output_layer_tensors(mnet: MLP) -> set[int]:
    """Indices into ``param_shapes`` of the output layer's weight (and bias): the last ``layer_param_ids`` pair
    of the ResNets / WRN, else the tensors with the highest ``layer`` number (MLP, LeNet, ZenkeNet)."""
    layer_ids = getattr(mnet, "layer_param_ids", None)
    if layer_ids:
        return {i for i in layer_ids[-1] if i is not None}
    out_layer = max(meta["layer"] for meta in mnet.param_shapes_meta)
    return {i for i, meta in enumerate(mnet.param_shapes_meta) if meta["layer"] == out_layer}


def output_unit_entries(mnet: MLP, units: list[int]) -> Tensor:
    """Boolean ``[P]``: which main-network parameters feed the given output units (rows of the last layer)."""
    per_tensor = []
    out_tensors = output_layer_tensors(mnet)
    for i, shape in enumerate(mnet.param_shapes):
        m = torch.zeros(shape, dtype=torch.bool)
        if i in out_tensors:
            m[units] = True
        per_tensor.append(m.reshape(-1))
    return torch.cat(per_tensor)


def regularizer_mask(mnet: MLP, heads: Heads, task_ids: list[int], gaussian: bool) -> Tensor:
    """0/1 mask ``[S, outputs]`` hiding, for each regularised task, the output rows of units outside its
    allowed outputs (spec §2.5; for Gaussian nets both the mean and the ρ half)."""
    all_units = output_unit_entries(mnet, list(range(heads.num_outputs)))  # [P]
    masks = []
    for j in task_ids:
        keep = ~all_units | output_unit_entries(mnet, heads.regularized_units(j))  # [P]
        masks.append(torch.cat([keep, keep]) if gaussian else keep)
    return torch.stack(masks).float()
