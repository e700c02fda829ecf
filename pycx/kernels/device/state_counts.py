"""Device adapter of `pycx.kernels.state_counts`: grouping of identical rows on the GPU.
"""
from __future__ import annotations

import numpy as np

from ..._validate import describe
from ._array import (DeviceArray, _device_labels, address, copy, cuda_kernels, empty, packed_words, stream_of, to_device)


def state_counts(packed, labels, *, force_exact_sort: bool = False, hash_bits: int = 0):
    """(state words, counts, inverse, labels) on the device, states in order of first
    occurrence (as the CPU kernel numbers them). Test knobs: ``force_exact_sort`` skips the
    hash pass; ``hash_bits`` > 0 keeps that many hash bits, so distinct rows collide and the
    collision check and exact re-sort run (as the CPU's weak hash)."""
    words = packed_words("packed", packed)
    n = packed.n_rows
    y = None if labels is None else _device_labels(words, "labels", labels, n)
    cuda = cuda_kernels("packed")
    inverse = empty(words, (n,), "int64")
    counts = empty(words, (n,), "int64")
    first = empty(words, (n,), "int64")
    stream = stream_of(words)
    n_states = cuda.state_counts(words.ptr, n, packed.n_words, address(inverse), address(counts),
                                 address(first), bool(force_exact_sort), int(hash_bits),
                                 words.device, stream)
    states = empty(words, (n_states, packed.n_words), "uint64")
    cuda.gather_rows(words.ptr, packed.n_words, address(first), n_states, address(states),
                     words.device, stream)
    counts = copy(counts[:n_states])  # a compact copy: the buffer was sized for n rows
    return states, counts, inverse, y


def degeneracy(counts):
    """(k, m_k) of device counts, on the device (both int64, k ascending)."""
    c = DeviceArray("counts", counts)
    if c.dtype != np.dtype(np.int64) or c.ndim != 1:
        raise TypeError(f"argument 'counts' must be 1-D int64, got {describe(c)}")
    counts = to_device(c, counts, "int64")  # contiguous
    cuda = cuda_kernels("counts")
    k = empty(c, (c.shape[0],), "int64")
    m_k = empty(c, (c.shape[0],), "int64")
    runs = cuda.degeneracy(address(counts), c.shape[0], address(k), address(m_k), c.device, stream_of(c))
    return copy(k[:runs]), copy(m_k[:runs])


def label_counts(inverse, labels, n_states: int):
    """(classes, table) on the device: table[s, c] = rows of state s with label classes[c]."""
    inv = DeviceArray("inverse", inverse)
    n = inv.shape[0]
    y = _device_labels(inv, "labels", labels, n)
    cuda = cuda_kernels("labels")
    stream = stream_of(inv)
    classes = empty(inv, (n,), "int64")
    n_classes = cuda.unique_labels(address(y), n, address(classes), inv.device, stream)
    classes = copy(classes[:n_classes])
    table = empty(inv, (n_states, n_classes), "int64")
    inverse = to_device(inv, inverse, "int64")
    cuda.label_table(address(inverse), address(y), n, address(classes), n_classes, n_states,
                     address(table), inv.device, stream)
    return classes, table


