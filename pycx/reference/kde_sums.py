"""Reference of Hamming distances and Hamming-kernel sums (docs/definitions.md §4)."""
from __future__ import annotations

from typing import NamedTuple, Optional

import numpy as np

from .._validate import as_host_array, check_binary, check_labels, check_ndim, check_positive, check_weights


def _bits(name: str, x) -> np.ndarray:
    x = as_host_array(name, x)
    check_ndim(name, x, 2)
    check_binary(name, x)
    return x.astype(np.float64)


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"arguments 'a' and 'b' must have the same number of bits, got {a.shape[1]} and {b.shape[1]}")
    # |a - b| summed = a(1-b) + (1-a)b for 0/1 entries. float64 BLAS products of 0/1 entries
    # are exact integers (any count below 2**53).
    return a @ (1 - b).T + (1 - a) @ b.T


def hamming_distances(a, b=None) -> np.ndarray:
    """``h[j, k]`` = number of positions where rows ``a[j]`` and ``b[k]`` differ (0/1 input),
    as int64."""
    a = _bits("a", a)
    b = a if b is None else _bits("b", b)
    return _distances(a, b).astype(np.int64)


class KdeSums(NamedTuple):
    total: np.ndarray                 # (n,) float64
    same_label: Optional[np.ndarray]  # (n,) float64, or None without labels


def kde_sums(a, b=None, *, s2: float, weights=None, labels=None, b_labels=None) -> KdeSums:
    """For each row j of A: ``sum_k w_k exp(-h(a_j, b_k) / (2 s2))`` over rows k of B (B = A
    by default), and with labels the same sum restricted to rows of B with a_j's label."""
    s2 = check_positive("s2", s2)
    a_bits = _bits("a", a)
    b_bits = a_bits if b is None else _bits("b", b)
    h = _distances(a_bits, b_bits)
    m = b_bits.shape[0]
    w = np.ones(m) if weights is None else check_weights("weights", weights, m).astype(np.float64)
    kernel = np.exp(-h / (2.0 * s2)) * w[None, :]
    total = kernel.sum(axis=1)
    if labels is None:
        if b_labels is not None:
            raise ValueError("argument 'b_labels' needs 'labels' (the labels of the rows of A)")
        return KdeSums(total, None)
    ya = check_labels("labels", labels, a_bits.shape[0])
    if b is None:
        if b_labels is not None:
            raise ValueError("argument 'b_labels' is only used when 'b' is given")
        yb = ya
    else:
        if b_labels is None:
            raise ValueError("argument 'b_labels' is required with 'labels' when 'b' is given")
        yb = check_labels("b_labels", b_labels, m)
    same = (ya[:, None] == yb[None, :])
    return KdeSums(total, (kernel * same).sum(axis=1))
