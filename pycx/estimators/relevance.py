"""Resolution and relevance (SPEC section 3; Song, Marsili & Jo): state frequencies ``k_s``,
degeneracies ``m_k``, ``H[s]``, ``H[k]``, the exponent beta and the maximal relevance curve.

The distinct states and their counts come from ``pycx.state_counts`` (the only part that
scales with the number of samples); everything else is O(S) on the counts and uses the
numpy reference functions directly.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from .._validate import check_int, check_labels
from ..reference import relevance as _ref
from ._common import Result, as_packed_rows, check_rows


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
    beta_mle: float                # discrete power-law MLE over k_s >= k_min, minus 1
    beta_least_squares: float      # -slope - 1 of log m_k vs log k (NaN with < 2 distinct k)
    classification_error: Optional[float]  # with labels: 1 - (1/M) sum_s max_y count(s, y)
    settings: dict = field(default_factory=dict)


def _classification_error(inverse: np.ndarray, labels: np.ndarray) -> float:
    """``1 - (1/M) sum_s max_y count(s, y)`` via one sort of (state, label) pair codes."""
    _, y_idx = np.unique(labels, return_inverse=True)
    n_classes = int(y_idx.max()) + 1
    pairs, pair_counts = np.unique(inverse.astype(np.int64) * n_classes + y_idx.reshape(-1),
                                   return_counts=True)
    state_of_pair = pairs // n_classes
    starts = np.flatnonzero(np.concatenate(([True], state_of_pair[1:] != state_of_pair[:-1])))
    majority = np.maximum.reduceat(pair_counts, starts)
    return float(1.0 - majority.sum() / inverse.shape[0])


def resolution_relevance(gates, labels=None, *, k_min: int = 1) -> ResolutionRelevance:
    """SPEC §3 summary of one layer's per-sample binarised states.

    gates: `PackedBits` or a 2-D 0/1 array, one row per sample. labels: optional integer
    class labels (one per row) for the classification error. k_min: smallest frequency used
    by the power-law MLE of beta.
    """
    from ..kernels.state_counts import state_counts

    packed = as_packed_rows("gates", gates)
    check_rows("gates", packed)
    k_min = check_int("k_min", k_min, minimum=1)
    y = None if labels is None else check_labels("labels", labels, packed.n_rows)
    sc = state_counts(packed)
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
    n_samples: int
    betas: np.ndarray              # exponents traced, ascending (may include -inf, +inf)
    h_s: np.ndarray                # H[s], bits
    h_k: np.ndarray                # H[k], bits
    h_s_normalized: np.ndarray     # / log2 M
    h_k_normalized: np.ndarray


def max_relevance_curve(n_samples, betas=None, *, n_points: int = 257) -> MaxRelevanceCurve:
    """The maximal relevance curve for M samples (SPEC §3, paper 003 fig. 2a): ``q_k ∝
    k^-beta`` over ``k = 1..M``, ``H[k] = -sum q_k log2 q_k``, ``H[s] = log2 M - sum q_k
    log2 k``, traced over ``betas`` (default: ``n_points`` exponents from -inf through 0, the
    peak, to +inf, drawing the curve from (0, 0) to (log2 M, 0))."""
    m = check_int("n_samples", n_samples, minimum=2)
    curve = _ref.max_relevance_curve(m, betas, n_points=n_points)
    return MaxRelevanceCurve(m, curve.betas, curve.h_s, curve.h_k, curve.h_s_normalized,
                             curve.h_k_normalized)
