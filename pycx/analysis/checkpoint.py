"""The one checkpoint loader: `load_checkpoint`, used by `pycx.analyze_checkpoints` and by
``pycx analyze --weights``.

A checkpoint is a state dict, or a training checkpoint (a dict) holding one under one of
`CHECKPOINT_KEYS`; files are read by ``torch.load(..., weights_only=True)`` (tensors and plain
containers only: no code runs). torch is imported when a file is read.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._validate import describe

if TYPE_CHECKING:
    import torch

__all__ = ["CHECKPOINT_KEYS", "CheckpointError", "load_checkpoint"]

# Keys under which a training checkpoint holds the model's state dict, tried in this order.
CHECKPOINT_KEYS = ("state_dict", "model_state_dict", "model")


class CheckpointError(ValueError):
    """A checkpoint that does not load: ``stage`` says where it failed ("read": torch.load
    failed, "format": no state dict in it, "fit": the model refused it); the message names
    the checkpoint (`where`)."""

    def __init__(self, message: str, stage: str) -> None:
        super().__init__(message)
        self.stage = stage


def read_state_dict(ckpt: Any, where: str) -> Mapping:
    """The state dict of a checkpoint: a file path (read with ``weights_only=True`` on the
    CPU) or a mapping, unwrapped from the first of `CHECKPOINT_KEYS` that holds a mapping.

    >>> read_state_dict({"epoch": 3, "model": {"w": 1}}, "checkpoint of epoch 3")
    {'w': 1}
    """
    state = ckpt
    if isinstance(ckpt, (str, os.PathLike)):
        import torch

        try:
            state = torch.load(ckpt, map_location="cpu", weights_only=True)
        except Exception as err:
            raise CheckpointError(f"{where} cannot be read by torch.load: {err}", "read") from err
    if isinstance(state, Mapping):
        for key in CHECKPOINT_KEYS:  # a training checkpoint wrapping one
            if isinstance(state.get(key), Mapping):
                state = state[key]
                break
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{where} holds {describe(state)}, not a state dict", "format")
    return state


def load_checkpoint(model: "torch.nn.Module", ckpt: Any, where: str,
                    made_by: str = "") -> "torch.nn.Module":
    """Loads a checkpoint (file path, state dict, or training checkpoint holding one under
    one of `CHECKPOINT_KEYS`) into `model` (strictly: every key must match) and returns it.
    Raises `CheckpointError` (a ValueError) naming `where` (and `made_by`, what made the
    model, when given).

    >>> import torch
    >>> net = torch.nn.Linear(2, 1)
    >>> saved = {"epoch": 1, "model": torch.nn.Linear(2, 1).state_dict()}
    >>> load_checkpoint(net, saved, "checkpoint of epoch 1") is net
    True
    """
    state = read_state_dict(ckpt, where)
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError) as err:
        made = f" made by {made_by}" if made_by else ""
        raise CheckpointError(f"{where} does not load into the {type(model).__name__}{made}: "
                              f"{err}", "fit") from err
    return model
