"""Entropy from the counts of distinct states (SPEC section 5.2): plug-in and Miller–Madow.

Exact when the number of rows is much larger than the number of distinct states. The heavy
part, finding the distinct rows, is ``pycx.state_counts`` (hashing of packed rows); the rest
is O(S) on the counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .._validate import as_host_array, check_ndim, check_positive, describe
from ..kernels.packed import PackedBits
from ._common import Result, as_packed_rows, check_rows


@dataclass(frozen=True)
class CountsEntropy(Result):
    entropy: float      # in units of log base `base` (bits by default)
    method: str         # "plugin" or "miller_madow"
    n_rows: int         # M
    n_states: int       # S, distinct states observed
    base: float


def state_frequencies(name: str, gates_or_counts) -> np.ndarray:
    """The frequencies ``k_s > 0`` of the distinct states, int64. Accepts gate rows
    (`PackedBits` or a 2-D 0/1 array), a `pycx.StateCounts`, or 1-D integer counts (zeros are
    dropped: states never seen)."""
    if hasattr(gates_or_counts, "counts") and hasattr(gates_or_counts, "states"):
        counts = np.asarray(gates_or_counts.counts, dtype=np.int64)
    elif isinstance(gates_or_counts, PackedBits) or getattr(gates_or_counts, "ndim", 1) != 1:
        from ..kernels.state_counts import state_counts

        packed = as_packed_rows(name, gates_or_counts)
        check_rows(name, packed)
        counts = np.asarray(state_counts(packed).counts, dtype=np.int64)
    else:
        c = as_host_array(name, gates_or_counts)
        check_ndim(name, c, 1)
        if c.dtype.kind not in "iu":
            raise TypeError(f"argument '{name}' as 1-D must hold integer counts k_s, got {describe(c)}")
        if c.size and c.min() < 0:
            raise ValueError(f"argument '{name}' must hold non-negative counts, got minimum {c.min()}")
        counts = c.astype(np.int64)
    counts = counts[counts > 0]
    if counts.size == 0:
        raise ValueError(f"argument '{name}' has no samples (all counts are zero or it is empty)")
    return counts


def _ln_base(base) -> float:
    b = check_positive("base", base)
    if b == 1.0:
        raise ValueError("argument 'base' must not be 1")
    return math.log(b)


def _plugin(counts: np.ndarray, ln_base: float) -> float:
    p = counts / float(counts.sum())
    return float(-(p * np.log(p)).sum() / ln_base)


def plugin_entropy(gates_or_counts, *, base=2) -> CountsEntropy:
    """Plug-in entropy ``-sum_s (k_s/M) log(k_s/M)`` (bits by default)."""
    ln_base = _ln_base(base)
    k = state_frequencies("gates_or_counts", gates_or_counts)
    return CountsEntropy(_plugin(k, ln_base), "plugin", int(k.sum()), int(k.size), float(base))


def miller_madow_entropy(gates_or_counts, *, base=2) -> CountsEntropy:
    """Miller–Madow: plug-in ``+ (S - 1) / (2 M ln base)`` (in bits ``(S-1)/(2 M ln 2)``)."""
    ln_base = _ln_base(base)
    k = state_frequencies("gates_or_counts", gates_or_counts)
    n_rows, n_states = int(k.sum()), int(k.size)
    h = _plugin(k, ln_base) + (n_states - 1) / (2.0 * n_rows * ln_base)
    return CountsEntropy(h, "miller_madow", n_rows, n_states, float(base))
