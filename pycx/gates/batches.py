"""Batches of `pycx.capture`'s data: how an item splits into inputs and labels, its size,
its first rows, and the label rule.

This module imports torch; it is only loaded through `pycx.capture`.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch

from .._validate import check_label_values, describe

__all__ = ["split_batch", "batch_input"]


def labels_array(name, y) -> np.ndarray:
    """One batch's labels (or all of them) as a 1-D array, by the one label rule
    (`pycx._validate.check_label_values`): integers and bools as int64 (as always: Capture
    labels of integers stay int64), strings and object labels as they are (only equality
    matters; the estimators code them with `pycx._validate.label_codes`)."""
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"argument '{name}' must be one label per sample, got {describe(arr)}")
    check_label_values(name, arr)
    if arr.dtype.kind not in "iub":
        return arr
    if arr.dtype == np.uint64 and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
        # int64 is the Capture's label dtype: a wrap to negative values would be a silent cast.
        raise ValueError(f"argument '{name}' holds uint64 labels above 2**63 - 1, which the "
                         f"capture's int64 labels cannot hold; give them as int64 or strings "
                         f"({describe(arr)})")
    return arr.astype(np.int64)


def label_kind(y: np.ndarray) -> str:
    """The kind of a batch's labels (after `labels_array`), for the rule that every batch of
    a capture holds labels of one kind: "integer" (integers and bools, int64 by then),
    "string" (``str``, also in an object array), "bytes", or "object (<type>)". Two kinds
    never mix: concatenating them would cast one into the other (the integer 0 into the
    string "0", bytes into str) and merge labels that differ.

    >>> label_kind(np.array([1, 2])), label_kind(np.array(["a"], dtype=object))
    ('integer', 'string')
    """
    kind = y.dtype.kind
    if kind in "iub":
        return "integer"
    if kind == "U":
        return "string"
    if kind == "S":
        return "bytes"
    types = {type(v) for v in y.reshape(-1).tolist()}  # one type: the label rule checked it
    if not types:
        return "empty"
    (t,) = types
    return {str: "string", bytes: "bytes"}.get(t, f"object ({t.__name__})")


# --- the one-call form -----------------------------------------------------------------------

# Keys of a keyword batch that tell its number of samples, in order of preference.
_SIZE_KEYS = ("input_ids", "inputs_embeds", "pixel_values", "input_values", "input_features")


def split_batch(item):
    """``(x, y)`` of one item of `capture`'s data: ``x`` a tensor, a mapping of keyword
    arguments (a dict or a ``transformers.BatchEncoding``, called as ``model(**x)``) or a list
    of image tensors (``(C, H, W)`` each, sizes may differ: a detection model's input, called
    as ``model(images)``; also as the first item of ``(images, y)``); ``y`` the labels or
    None. A mapping's ``"labels"`` are taken as the labels and not passed to the
    model. Public for code that iterates the same data (e.g. to collect the inputs).

    >>> import torch
    >>> x, y = split_batch({"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": [0, 1]})
    >>> sorted(x), y
    (['input_ids'], [0, 1])
    """
    if is_image_list(item):
        return list(item), None  # a detection model's input: one tensor per image
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("argument 'data' yielded an empty tuple; expected x or (x, y)")
        x, y = item[0], (item[1] if len(item) > 1 else None)
    else:
        x, y = item, None
    if isinstance(x, Mapping):
        if "labels" in x:
            if y is not None:
                raise ValueError("labels were given twice: by a batch's 'labels' key and as the "
                                 "second item of an (x, y) batch of 'data'")
            y = x["labels"]
        x = {k: v for k, v in x.items() if k != "labels"}
    return x, y


def is_image_list(item, minimum: int = 2) -> bool:
    """A list (or tuple) of `minimum` or more tensors of one rank >= 3, which no (x, y) pair is
    (labels have fewer axes than the inputs): a detection model's list of images. (A batch
    item needs two images to be told from an ``(x,)`` tuple; a model call's argument, one.)"""
    if not isinstance(item, (tuple, list)) or len(item) < minimum:
        return False
    if not all(isinstance(t, torch.Tensor) for t in item):
        return False
    return item[0].dim() >= 3 and all(t.dim() == item[0].dim() for t in item)


def batch_input(item):
    """The input tensor of one item of `capture`'s data (e.g. for a baseline on the raw
    inputs): the tensor (or array) itself, the first item of an ``(x, y)`` tuple, or a keyword
    batch's first of ``input_ids``, ``inputs_embeds``, ``pixel_values``, ``input_values``,
    ``input_features``; None for a mapping without any of them and for a list of images
    (sizes may differ).

    >>> import torch
    >>> batch_input({"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": 0}).shape
    torch.Size([2, 3])
    """
    if is_image_list(item):
        return None
    x = item[0] if isinstance(item, (tuple, list)) and item else item
    if is_image_list(x):
        return None
    if isinstance(x, Mapping):
        return next((x[k] for k in _SIZE_KEYS if x.get(k) is not None), None)
    return x


def to_device(x, device):
    if isinstance(x, list):
        return [to_device(t, device) for t in x]
    if isinstance(x, Mapping):
        return {k: (to_device(v, device) if isinstance(v, (torch.Tensor, np.ndarray)) else v)
                for k, v in x.items()}
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"argument 'data' must yield tensors, mappings of keyword arguments "
                        f"(dict, BatchEncoding) or (x, y) tuples, got {type(x).__name__}")
    return x.to(device, non_blocking=True) if x.device != device else x


def batch_size(x):
    """Samples in a batch: the first axis of the tensor, or of a mapping's input tensor, or
    the number of images of a list."""
    if isinstance(x, list):
        return len(x)
    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.dim() else 1
    for key in _SIZE_KEYS + tuple(x):
        v = x.get(key)
        if isinstance(v, torch.Tensor) and v.dim():
            return int(v.shape[0])
    raise ValueError(f"argument 'data' yielded a mapping with no batched tensor (keys "
                     f"{list(x)}); expected e.g. 'input_ids' of shape (N, T)")


def input_rows(args, kwargs):
    """The batch size of a model call: the first axis of its first batched tensor argument
    (a keyword batch: of its input tensor); None when no argument is a batched tensor."""
    for key in _SIZE_KEYS:
        v = kwargs.get(key)
        if isinstance(v, torch.Tensor) and v.dim():
            return int(v.shape[0])
    for v in list(args) + list(kwargs.values()):
        if isinstance(v, torch.Tensor) and v.dim():
            return int(v.shape[0])
        if is_image_list(v, minimum=1):
            return len(v)
    return None


def first_rows(x, keep, n):
    """The first `keep` samples of a batch of `n` (a mapping: every tensor with n rows)."""
    if isinstance(x, (torch.Tensor, list)):
        return x[:keep]
    return {k: (v[:keep] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == n else v)
            for k, v in x.items()}


def model_device(model):
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")
