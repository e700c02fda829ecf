"""NSB entropy (Nemenman, Shafee & Bialek 2002; docs/definitions.md §5.2): the estimator for the
undersampled regime, where the plug-in entropy is biased low by up to ``log2(K/N)``.

The posterior mean of the entropy under the NSB prior (a mixture of symmetric Dirichlet priors
flat in the prior mean entropy), integrated over ``log kappa`` (``kappa`` the total Dirichlet
concentration); the formulas are those of `pycx.reference.nsb`. Here they are vectorised over
the integration grid and grouped by distinct count (``m_k`` states seen k times enter as
``m_k`` times one term), so the cost is O(grid x distinct counts), not O(grid x states).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional

import numpy as np

from .._validate import as_host_array, check_positive, describe
from ..kernels.packed import PackedBits
from ..reference import nsb as _ref
from ._common import Result
from .counts import state_frequencies, total_count

if TYPE_CHECKING:
    import numpy.typing as npt

# Largest alphabet accepted: beyond ~2^1000 the float64 kappa / K underflows.
_MAX_LOG2_ALPHABET = 1000


@dataclass(frozen=True)
class NsbEntropy(Result):
    entropy: float            # posterior mean entropy, bits (or log base `base`)
    std: float                # posterior sd of E[H | beta] over beta (a lower bound on the sd)
    n_rows: int               # N
    n_states: int             # S, distinct states observed
    alphabet_size: float      # K
    plugin: float             # the plug-in entropy of the same counts, for comparison
    base: float
    settings: dict = field(default_factory=dict)


def _vec(f):
    return np.vectorize(f, otypes=[np.float64])


_digamma = _vec(_ref.digamma)
_trigamma = _vec(_ref.trigamma)
_lgamma = _vec(math.lgamma)


def _lgamma_ratio(n, b):
    """``ln Gamma(n + b) - ln Gamma(b)`` (arrays), accurate for tiny b."""
    return _lgamma(n + b) - _lgamma(1.0 + b) + np.log(b)


def _posterior_terms(log_kappa, k_vals, m_k, n, alphabet):
    kappa = np.exp(log_kappa)[:, None]
    beta = kappa / alphabet
    log_prior = np.log(kappa[:, 0]) + np.log(_trigamma(kappa[:, 0] + 1.0)
                                             - _trigamma(beta[:, 0] + 1.0) / alphabet)
    log_evidence = (-_lgamma_ratio(float(n), kappa[:, 0])
                    + (m_k * _lgamma_ratio(k_vals, beta)).sum(axis=1))
    return log_prior + log_evidence


def _mean_entropy(log_kappa, k_vals, m_k, n, alphabet):
    kappa = np.exp(log_kappa)[:, None]
    beta = kappa / alphabet
    s = m_k.sum()
    h = _digamma(n + kappa[:, 0] + 1.0)
    h -= (m_k * (k_vals + beta) * _digamma(k_vals + beta + 1.0)).sum(axis=1) / (n + kappa[:, 0])
    h -= (kappa[:, 0] - s * beta[:, 0]) * _digamma(beta[:, 0] + 1.0) / (n + kappa[:, 0])
    return h


def _trapezoid(y, x):
    return float(((y[1:] + y[:-1]) * np.diff(x)).sum() / 2.0)


def nsb_entropy(gates_or_counts: "npt.ArrayLike | PackedBits", *,
                alphabet_size: Optional[float] = None, base: float = 2,
                grid: int = 600) -> NsbEntropy:
    """NSB entropy (bits by default) of gate rows or state counts.

    gates_or_counts: gate rows (`PackedBits` or 2-D 0/1 array; distinct rows are the states),
        a `pycx.StateCounts`, or 1-D integer counts of the observed states.
    alphabet_size: K, the number of possible states: default ``2**units`` for gate rows (up
        to 1000 units); required for counts.
    grid: points of each of the two integration grids over ``log kappa`` (a coarse one over
        ``[1e-6, 1e10 max(K, N)]``: above it the prior weight per unit of log kappa falls as
        ``max(K, N) / kappa``, so the cut-off tail is ~1e-10 of the total, then a fine one
        over the posterior's support).

    In the undersampled regime (N << K) the plug-in estimate is biased low; NSB recovers the
    entropy when the distribution is close to a typical draw of a symmetric Dirichlet. With
    no coincidences at all (every sample a new state) the data carry no information about
    the entropy beyond ``>= log2 N`` and NSB returns a prior-dominated value.

    >>> import numpy as np
    >>> r = nsb_entropy(np.array([3, 1, 1, 2, 1]), alphabet_size=16)
    >>> round(r.plugin, 3), round(r.entropy, 3)
    (2.156, 3.0)
    """
    ln_base = math.log(check_positive("base", base))
    if ln_base == 0.0:
        raise ValueError("argument 'base' must not be 1")
    if not isinstance(grid, (int, np.integer)) or isinstance(grid, bool) or grid < 50:
        raise ValueError(f"argument 'grid' must be an integer >= 50, got {grid!r}")
    is_rows = (isinstance(gates_or_counts, PackedBits)
               or (hasattr(gates_or_counts, "counts") and hasattr(gates_or_counts, "states"))
               or getattr(gates_or_counts, "ndim", 1) != 1)
    counts = state_frequencies("gates_or_counts", gates_or_counts)
    if alphabet_size is None:
        if not is_rows:
            raise ValueError("argument 'alphabet_size' is required with 1-D counts (the number "
                             "of possible states K)")
        if hasattr(gates_or_counts, "states"):
            units = gates_or_counts.states.n_bits
        else:
            units = (gates_or_counts.n_bits if isinstance(gates_or_counts, PackedBits)
                     else as_host_array("gates_or_counts", gates_or_counts).shape[1])
        if units > _MAX_LOG2_ALPHABET:
            raise ValueError(f"argument 'gates_or_counts' has {units} units: 2**{units} states "
                             f"is beyond float range; pass alphabet_size= (at most "
                             f"2**{_MAX_LOG2_ALPHABET})")
        alphabet = float(2.0 ** units)
    else:
        a = as_host_array("alphabet_size", alphabet_size)
        if a.ndim != 0 or a.dtype.kind not in "iuf" or not np.isfinite(a):
            raise ValueError(f"argument 'alphabet_size' must be a finite number, got {describe(a)}")
        alphabet = float(a)
    n = total_count(counts)
    s = int(counts.size)
    if not alphabet >= s:
        raise ValueError(f"argument 'alphabet_size' ({alphabet:g}) must be at least the number "
                         f"of observed states ({s})")
    k_vals, m_k = np.unique(counts, return_counts=True)
    k_vals = k_vals.astype(np.float64)[None, :]
    m_k = m_k.astype(np.float64)[None, :]
    coarse = np.linspace(math.log(1e-6), math.log(1e10 * max(alphabet, n)), int(grid))
    logp = _posterior_terms(coarse, k_vals, m_k, n, alphabet)
    inside = np.flatnonzero(logp >= logp.max() - _ref._SUPPORT)
    fine = np.linspace(coarse[max(inside[0] - 1, 0)], coarse[min(inside[-1] + 1, grid - 1)],
                       int(grid))
    logp = _posterior_terms(fine, k_vals, m_k, n, alphabet)
    w = np.exp(logp - logp.max())
    h = _mean_entropy(fine, k_vals, m_k, n, alphabet)
    z = _trapezoid(w, fine)
    mean = _trapezoid(w * h, fine) / z
    var = max(0.0, _trapezoid(w * (h - mean) ** 2, fine) / z)
    p = counts.astype(np.float64) / float(n)
    plugin = float(-(p * np.log(p)).sum())
    return NsbEntropy(entropy=mean / ln_base, std=math.sqrt(var) / ln_base, n_rows=int(n),
                      n_states=s, alphabet_size=alphabet, plugin=plugin / ln_base,
                      base=float(base), settings={"grid": int(grid)})
