"""Reference of state frequencies (definitions §3): distinct rows, k_s, m_k, per-label counts."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validate import as_host_array, check_binary, check_labels, check_ndim


class StateCounts(NamedTuple):
    states: np.ndarray   # (S, d) distinct rows, in order of first occurrence
    counts: np.ndarray   # (S,) int64 k_s
    inverse: np.ndarray  # (M,) int64: row i is in state inverse[i]


def state_counts(bits) -> StateCounts:
    """Distinct rows of a 0/1 array with their counts and the row -> state index.
    States are numbered in order of their first occurrence."""
    x = as_host_array("bits", bits)
    check_ndim("bits", x, 2)
    check_binary("bits", x)
    if x.shape[0] == 0:
        return StateCounts(x[:0].astype(np.uint8), np.zeros(0, np.int64), np.zeros(0, np.int64))
    uniq, first, inverse, counts = np.unique(x.astype(np.uint8), axis=0, return_index=True,
                                             return_inverse=True, return_counts=True)
    order = np.argsort(first, kind="stable")           # sorted-unique -> first-occurrence order
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return StateCounts(uniq[order], counts[order].astype(np.int64),
                       rank[inverse.reshape(-1)].astype(np.int64))


def degeneracy(counts) -> tuple:
    """``(k, m_k)``: the distinct frequencies k (ascending) and how many states have each."""
    c = as_host_array("counts", counts)
    check_ndim("counts", c, 1)
    k, m_k = np.unique(c, return_counts=True)
    return k.astype(np.int64), m_k.astype(np.int64)


def label_counts(inverse, labels, n_states: int) -> tuple:
    """``(classes, table)``: table[s, c] = number of rows in state s with label classes[c]."""
    inv = as_host_array("inverse", inverse)
    check_ndim("inverse", inv, 1)
    y = check_labels("labels", labels, inv.shape[0])
    classes, y_idx = np.unique(y, return_inverse=True)
    table = np.zeros((n_states, classes.size), dtype=np.int64)
    np.add.at(table, (inv, y_idx.reshape(-1)), 1)
    return classes, table
