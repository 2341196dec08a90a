"""Pieces of the training loop that both papers' runners share."""

from __future__ import annotations


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite; the message names the task and the iteration."""
