"""PyTorch optimizers that start without importing ``torch._dynamo``.

``torch.optim`` wraps ``Optimizer.add_param_group``, ``zero_grad``, ``state_dict``, ``load_state_dict`` and every
optimizer's ``step`` in guards for ``torch.compile``. In eager mode the guards do nothing, but their first call
imports ``torch._dynamo``: 1.5–3 s on a 2-core CPU, paid by every run when it builds its first optimizer, which made
up most of the start-up to the first training step. :func:`eager` returns a subclass of a ``torch.optim`` class
whose methods are the same functions without those guards, so the update, the state dict and the hooks (LR
schedulers, profiler labels, step hooks) are those of the parent class, bit for bit. The subclass is still a
``torch.optim.Optimizer``. Under ``torch.compile`` use the parent class.
"""

from __future__ import annotations

import functools
import inspect

import torch

#: The methods of ``torch.optim.Optimizer`` whose compile guard imports ``torch._dynamo`` on first use.
_GUARDED = ("add_param_group", "zero_grad", "state_dict", "load_state_dict")
_CACHE: dict[type, type] = {}


def eager(cls: type[torch.optim.Optimizer]) -> type[torch.optim.Optimizer]:
    """The subclass ``Eager<cls>`` of the optimizer class ``cls`` without compile guards (cached per class)."""
    sub = _CACHE.get(cls)
    if sub is None:
        namespace = {name: inspect.unwrap(getattr(torch.optim.Optimizer, name)) for name in _GUARDED}
        raw_step = inspect.unwrap(cls.step)  # under the profiler hook and the grad-mode guard

        @functools.wraps(raw_step)
        def step(self, *args, **kwargs):
            # What the guard does in eager mode: gradients off (on for a differentiable optimizer).
            with torch.set_grad_enabled(self.defaults["differentiable"]):
                return raw_step(self, *args, **kwargs)

        namespace.update(step=step, __doc__=f"{cls.__name__} without torch.compile guards (see utils.optim).")
        sub = _CACHE[cls] = type(f"Eager{cls.__name__}", (cls,), namespace)
    return sub
