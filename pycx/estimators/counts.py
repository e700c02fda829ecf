"""Entropy from the counts of distinct states (docs/definitions.md §5.2): plug-in and Miller–Madow.

Exact when the number of rows is much larger than the number of distinct states. The heavy
part, finding the distinct rows, is ``pycx.state_counts`` (hashing of packed rows); the rest
is O(S) on the counts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .._validate import as_host_array, check_ndim, check_positive, describe
from ..kernels.packed import PackedBits
from ._common import Result, as_packed_rows, check_rows

if TYPE_CHECKING:
    import numpy.typing as npt


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
        from ..kernels.state_counts import _state_counts_core

        packed = as_packed_rows(name, gates_or_counts)
        check_rows(name, packed)
        counts = np.asarray(_state_counts_core(packed).counts, dtype=np.int64)  # checked above
    else:
        c = as_host_array(name, gates_or_counts)
        check_ndim(name, c, 1)
        if c.dtype.kind not in "iu":
            raise TypeError(f"argument '{name}' as 1-D must hold integer counts k_s, got {describe(c)}")
        if c.size and c.min() < 0:
            raise ValueError(f"argument '{name}' must hold non-negative counts, got minimum {c.min()}")
        # Kept exact: int64 when every count fits, else uint64 (a cast would wrap counts
        # >= 2**63 to negative numbers, which were then dropped as unseen states).
        fits = c.dtype.kind == "i" or c.size == 0 or int(c.max()) <= np.iinfo(np.int64).max
        counts = c.astype(np.int64 if fits else np.uint64)
    counts = counts[counts > 0]
    if counts.size == 0:
        raise ValueError(f"argument '{name}' has no samples (all counts are zero or it is empty)")
    return counts


def total_count(counts: np.ndarray) -> int:
    """The exact sum of non-negative integer counts as a Python int, whatever its size: the
    high and low 32-bit halves are summed apart in uint64 (each sum fits for fewer than 2**32
    counts), so int64 totals never overflow into negative or NaN entropies.

    >>> total_count(np.array([2**63, 2**63, 5], dtype=np.uint64)) == 2**64 + 5
    True
    """
    c = counts.astype(np.uint64, copy=False)  # non-negative: the cast is exact
    high = int(np.sum(c >> np.uint64(32), dtype=np.uint64))
    low = int(np.sum(c & np.uint64(0xFFFFFFFF), dtype=np.uint64))
    return (high << 32) + low


def _ln_base(base) -> float:
    b = check_positive("base", base)
    if b == 1.0:
        raise ValueError("argument 'base' must not be 1")
    return math.log(b)


def _plugin(counts: np.ndarray, total: int, ln_base: float) -> float:
    # k_s / M in float64 from the exact total: one rounding per probability, any magnitude.
    p = counts.astype(np.float64) / float(total)
    return float(-(p * np.log(p)).sum() / ln_base)


def plugin_entropy(gates_or_counts: "npt.ArrayLike | PackedBits", *,
                   base: float = 2) -> CountsEntropy:
    """Plug-in entropy ``-sum_s (k_s/M) log(k_s/M)`` (bits by default). Integer counts of
    any size (uint64 up to 2**64 - 1, totals past 2**63) are summed exactly; ``n_rows`` is
    the exact total.

    >>> plugin_entropy(np.array([1, 1, 2])).entropy
    1.5
    """
    ln_base = _ln_base(base)
    k = state_frequencies("gates_or_counts", gates_or_counts)
    total = total_count(k)
    return CountsEntropy(_plugin(k, total, ln_base), "plugin", total, int(k.size), float(base))


def miller_madow_entropy(gates_or_counts: "npt.ArrayLike | PackedBits", *,
                         base: float = 2) -> CountsEntropy:
    """Miller–Madow: plug-in ``+ (S - 1) / (2 M ln base)`` (in bits ``(S-1)/(2 M ln 2)``).

    >>> round(miller_madow_entropy(np.array([1, 1, 2])).entropy, 4)
    1.8607
    """
    ln_base = _ln_base(base)
    k = state_frequencies("gates_or_counts", gates_or_counts)
    n_rows, n_states = total_count(k), int(k.size)
    h = _plugin(k, n_rows, ln_base) + (n_states - 1) / (2.0 * float(n_rows) * ln_base)
    return CountsEntropy(h, "miller_madow", n_rows, n_states, float(base))


def joint_state_ids(ids_a: np.ndarray, ids_b: np.ndarray) -> np.ndarray:
    """Ids (0..S-1) of the distinct pairs (a, b) of two id arrays of one length (e.g. the
    `pycx.state_counts` inverses of two layers: the ids of their concatenated rows).

    >>> joint_state_ids(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])).tolist()
    [0, 1, 2, 2]
    """
    code = ids_a.astype(np.int64) * (int(ids_b.max()) + 1) + ids_b.astype(np.int64)
    return np.unique(code, return_inverse=True)[1].reshape(-1)


def plugin_entropy_of_ids(ids: np.ndarray) -> float:
    """Plug-in entropy (bits) of the distribution of state ids (non-negative integers).

    >>> plugin_entropy_of_ids(np.array([0, 1, 2, 2]))
    1.5
    """
    counts = np.bincount(ids).astype(np.float64)
    counts = counts[counts > 0]
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())
