"""The k-means baseline's inputs (definitions §3): the first inputs of the data, flattened to
float32, kept while `pycx.analyze` captures (a tap on the data) or read from an array.

May import: numpy, `pycx.gates.batches` (lazily, only while a model is run: torch is loaded).
"""
from __future__ import annotations

import numpy as np

__all__ = ["tap_inputs", "as_inputs"]


class _InputTap:
    """Iterates `data` unchanged while keeping the first `limit` inputs (flattened float32) for
    the k-means baseline. `tap_inputs` gives sized data a sized tap (for the progress bar)."""

    def __init__(self, data, limit):
        self.data = data
        self.limit = limit
        self.parts = []
        self.kept = 0

    def __iter__(self):
        from ..gates.batches import batch_input  # torch is loaded: a model is being run

        for item in self.data:
            x = batch_input(item)  # a keyword batch's input_ids (or inputs_embeds, pixel_values...)
            if x is not None and self.kept < self.limit:
                arr = x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)
                arr = arr.reshape(arr.shape[0], -1)[: self.limit - self.kept]
                self.parts.append(arr.astype(np.float32, copy=False))
                self.kept += arr.shape[0]
            yield item

    def inputs(self, n):
        """The first `n` inputs seen, ``(n, features)`` float32, or None if none were."""
        if not self.parts:
            return None
        return np.concatenate(self.parts)[:n]


class _SizedInputTap(_InputTap):
    def __len__(self):
        return len(self.data)


def tap_inputs(data, limit):
    """A tap on `data`: iterating it yields `data`'s items unchanged and keeps the first
    `limit` inputs; ``tap.inputs(n)`` returns them. Sized data gives a sized tap.

    >>> import numpy as np
    >>> tap = tap_inputs([(np.ones((2, 3)), [0, 1]), (np.zeros((2, 3)), [1, 0])], limit=3)
    >>> len(tap), len(list(tap)), tap.inputs(10).tolist()
    (2, 2, [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0.0, 0.0, 0.0]])
    """
    return (_SizedInputTap if hasattr(data, "__len__") else _InputTap)(data, limit)


def as_inputs(data, n):
    """Flattened float32 inputs (the first `n`) from an array or an iterable of batches; None
    for no data.

    >>> import numpy as np
    >>> as_inputs(np.arange(12).reshape(3, 2, 2), 2).tolist()
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0]]
    """
    if data is None:
        return None
    if hasattr(data, "shape"):
        arr = data.detach().cpu().numpy() if hasattr(data, "detach") else np.asarray(data)
        return arr.reshape(arr.shape[0], -1)[:n].astype(np.float32, copy=False)
    tap = tap_inputs(data, n)
    for _ in tap:
        pass
    return tap.inputs(n)
