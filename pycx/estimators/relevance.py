"""Resolution and relevance (docs/definitions.md §3; Song, Marsili & Jo): state frequencies ``k_s``,
degeneracies ``m_k``, ``H[s]``, ``H[k]``, the exponent beta and the maximal relevance curve.

The distinct states and their counts come from ``pycx.state_counts`` (the only part that
scales with the number of samples); everything else is O(S) on the counts and uses the
numpy reference functions directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Optional

import numpy as np

from .._validate import check_int, check_labels, label_codes
from ..reference import relevance as _ref
from ._common import Result, as_packed_rows, check_rows

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..kernels.packed import PackedBits


@dataclass(frozen=True)
class ResolutionRelevance(Result):
    n_samples: int                 # M
    n_states: int                  # S, distinct states
    k: np.ndarray                  # distinct frequencies, ascending
    m_k: np.ndarray                # number of states seen exactly k times
    h_s: float                     # resolution H[s], bits
    h_k: float                     # relevance H[k], bits
    h_s_normalized: float          # H[s] / log2 M (0 when M = 1)
    h_k_normalized: float          # H[k] / log2 M (0 when M = 1)
    beta_mle: float                # discrete power-law MLE over k_s >= k_min, minus 1 (NaN:
                                   # fewer than 3 distinct frequencies, undefined)
    beta_least_squares: float      # -slope - 1 of log m_k vs log k (NaN with < 3 distinct k
                                   # or every m_k = 1)
    classification_error: Optional[float]  # with labels: 1 - (1/M) sum_s max_y count(s, y)
    settings: dict = field(default_factory=dict)


def _classification_error(inverse: np.ndarray, labels: np.ndarray) -> float:
    """``1 - (1/M) sum_s max_y count(s, y)`` via one sort of (state, label) pair codes."""
    _, y_idx = label_codes(labels)
    n_classes = int(y_idx.max()) + 1
    pairs, pair_counts = np.unique(inverse.astype(np.int64) * n_classes + y_idx,
                                   return_counts=True)
    state_of_pair = pairs // n_classes
    starts = np.flatnonzero(np.concatenate(([True], state_of_pair[1:] != state_of_pair[:-1])))
    majority = np.maximum.reduceat(pair_counts, starts)
    return float(1.0 - majority.sum() / inverse.shape[0])


def resolution_relevance(gates: "npt.ArrayLike | PackedBits",
                         labels: Optional[npt.ArrayLike] = None,
                         *, k_min: int = 1) -> ResolutionRelevance:
    """docs/definitions.md §3 summary of one layer's per-sample binarised states.

    gates: `PackedBits` or a 2-D 0/1 array, one row per sample. labels: optional integer
    class labels (one per row) for the classification error. k_min: smallest frequency used
    by the power-law MLE of beta. beta is NaN where undefined (fewer than three distinct
    frequencies; see `pycx.reference.relevance.beta_mle`).

    >>> import numpy as np
    >>> r = resolution_relevance(np.array([[0, 1], [0, 1], [1, 1], [0, 0]]))
    >>> r.h_s, r.h_k, r.n_states, bool(np.isnan(r.beta_mle))
    (1.5, 1.0, 3, True)
    """
    from ..kernels.state_counts import _state_counts_core

    packed = as_packed_rows("gates", gates)
    check_rows("gates", packed)
    k_min = check_int("k_min", k_min, minimum=1)
    y = None if labels is None else check_labels("labels", labels, packed.n_rows)
    sc = _state_counts_core(packed)  # checked just above (labels are coded below)
    counts = np.asarray(sc.counts, dtype=np.int64)
    k, m_k = np.unique(counts, return_counts=True)
    rr = _ref.resolution_relevance(counts)
    beta = _ref.beta_mle(counts, k_min) if (counts >= k_min).any() else float("nan")
    error = None if y is None else _classification_error(np.asarray(sc.inverse), y)
    return ResolutionRelevance(
        n_samples=rr.n_samples, n_states=int(counts.size), k=k.astype(np.int64),
        m_k=m_k.astype(np.int64), h_s=rr.h_s, h_k=rr.h_k, h_s_normalized=rr.h_s_normalized,
        h_k_normalized=rr.h_k_normalized, beta_mle=float(beta),
        beta_least_squares=float(_ref.beta_least_squares(counts)), classification_error=error,
        settings={"k_min": k_min})


@dataclass(frozen=True)
class MaxRelevanceCurve(Result):
    n_samples: int                 # M
    h_s: np.ndarray                # H[s], bits, ascending from 0 to log2 M (the corners)
    h_k: np.ndarray                # H[k], bits: the curve at h_s
    h_s_normalized: np.ndarray     # / log2 M
    h_k_normalized: np.ndarray
    feasible: np.ndarray           # bool per corner: a real frequency profile (else a bound)
    method: str                    # "enumeration" (exact), "lagrange" or "dual" (upper bound)

    def at(self, h_s) -> np.ndarray:
        """The curve's H[k] (bits) at the given H[s] (bits), linear between corners."""
        return np.interp(np.asarray(h_s, dtype=np.float64), self.h_s, self.h_k)


@lru_cache(maxsize=16)
def _curve(m: int, method: str, n_lines: int):
    return _ref.max_relevance_curve(m, method=method, n_lines=n_lines)


def max_relevance_curve(n_samples: int, *, method: str = "auto",
                        n_lines: int = 64) -> MaxRelevanceCurve:
    """The maximal relevance curve for M samples (definitions §3; Haimovici & Marsili 2015, the
    dotted line of Song, Marsili & Jo fig. 2a): the upper envelope of ``(H[s], H[k])`` over
    all frequency profiles of M samples (integers ``m_k >= 0``, ``sum_k k m_k = M``).

    Exact for M <= 40 (every profile enumerated); above, an upper bound from supporting lines
    whose corners are real profiles (M <= 300, exact Lagrangian programme) or bounds (larger
    M, weak duality); see `pycx.reference.relevance.max_relevance_curve`. Results are cached
    per M. No profile lies above the curve, and ``H[k] <= H[s]`` along it.

    >>> c = max_relevance_curve(10)
    >>> c.method, bool(c.feasible.all()), round(float(c.h_k.max()), 3)
    ('enumeration', True, 1.846)
    >>> bool((c.h_k <= c.h_s + 1e-12).all())
    True
    """
    m = check_int("n_samples", n_samples, minimum=2)
    c = _curve(m, method, check_int("n_lines", n_lines, minimum=3))
    return MaxRelevanceCurve(m, c.h_s.copy(), c.h_k.copy(), c.h_s_normalized.copy(),
                             c.h_k_normalized.copy(), c.feasible.copy(), c.method)
