"""Reference entropies from counts (docs/definitions.md §5.2) and the binary entropy h2 (units).

Entropies are in bits by default; every function takes ``base=`` (e.g. ``base=np.e`` for
nats). The convention ``0 log 0 = 0`` is used throughout.
"""
from __future__ import annotations

import numpy as np

from .._validate import (as_host_array, check_counts, check_finite, check_gate_matrix,
                         check_positive, describe)
from .state_counts import state_counts


def _log_base(base) -> float:
    """ln(base), for converting nats; base must be positive and not 1."""
    b = check_positive("base", base)
    if b == 1.0:
        raise ValueError("argument 'base' must not be 1 (log base 1 is undefined)")
    return float(np.log(b))


def h2(p, *, base=2):
    """Binary entropy ``h2(p) = -p log p - (1-p) log(1-p)``, ``h2(0) = h2(1) = 0`` (definitions, units).

    ``p`` is a probability or an array of them (float or integer dtype, values in [0, 1]).
    Returns a float for scalar input, else a float64 array of p's shape.
    """
    ln_b = _log_base(base)
    arr = as_host_array("p", p)
    if arr.dtype.kind not in "fiub":
        raise TypeError(f"argument 'p' must hold probabilities (a real dtype), got {describe(arr)}")
    check_finite("p", arr)
    q = arr.astype(np.float64)
    if ((q < 0) | (q > 1)).any():
        raise ValueError(f"argument 'p' must lie in [0, 1], got values in "
                         f"[{q.min()}, {q.max()}] ({describe(arr)})")
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = -q * np.log(q) - (1.0 - q) * np.log1p(-q)
    # 0 log 0 = 0 at both ends of the range.
    terms = np.where((q == 0) | (q == 1), 0.0, terms) / ln_b
    return float(terms) if terms.ndim == 0 else terms


def _counts_of(name: str, counts_or_bits) -> np.ndarray:
    """1-D input = counts of distinct states (zeros allowed); 2-D input = 0/1 rows whose
    distinct rows are the states."""
    x = as_host_array(name, counts_or_bits)
    if x.ndim == 1:
        return check_counts(name, x).astype(np.int64)
    if x.ndim == 2:
        bits = check_gate_matrix(name, x, min_rows=1)
        return state_counts(bits).counts
    raise ValueError(f"argument '{name}' must be 1-D counts or 2-D 0/1 rows, got {describe(x)}")


def plugin_entropy(counts_or_bits, *, base=2) -> float:
    """Plug-in entropy ``-sum_s (k_s/M) log(k_s/M)`` (docs/definitions.md §5.2).

    ``counts_or_bits``: 1-D integer counts ``k_s`` (zeros are ignored) or 2-D 0/1 rows
    ``(M, d)``, whose distinct rows are the states.
    """
    ln_b = _log_base(base)
    k = _counts_of("counts_or_bits", counts_or_bits)
    k = k[k > 0].astype(np.float64)
    p = k / k.sum()
    return float(-(p * np.log(p)).sum() / ln_b)


def miller_madow_entropy(counts_or_bits, *, base=2) -> float:
    """Miller–Madow estimate: plug-in ``+ (S - 1) / (2 M ln base)`` with S the number of
    states observed (nonzero counts) and M the number of samples (definitions §5.2; in bits the
    correction is ``(S-1)/(2 M ln 2)``)."""
    ln_b = _log_base(base)
    k = _counts_of("counts_or_bits", counts_or_bits)
    k = k[k > 0]
    n_states, n_samples = k.size, float(k.sum())
    return plugin_entropy(k, base=base) + (n_states - 1) / (2.0 * n_samples * ln_b)


def plugin_total_correlation(bits, *, base=2) -> float:
    """Total correlation of the empirical distribution of 0/1 rows, computed directly as
    ``KL(P || prod_i P_i) = sum_s P(s) log(P(s) / prod_i p_i^{s_i} (1-p_i)^{1-s_i})`` with
    ``p_i`` the unit rates. Equals ``sum_i h2(p_i) - plugin_entropy(bits)`` (definitions §4, eq. 6),
    which is why it is computed the long way here: the identity is then a test."""
    ln_b = _log_base(base)
    x = check_gate_matrix("bits", bits, min_rows=1)
    sc = state_counts(x)
    n_rows = float(x.shape[0])
    p_state = sc.counts / n_rows
    rates = x.astype(np.float64).mean(axis=0)
    states = sc.states.astype(np.float64)
    # Every observed state has product probability > 0: a bit set in it has rate > 0, a bit
    # clear in it has rate < 1. The where() keeps log(0) out of the unused branch.
    with np.errstate(divide="ignore"):
        log_on = np.log(np.where(rates > 0, rates, 1.0))
        log_off = np.log(np.where(rates < 1, 1.0 - rates, 1.0))
    log_product = states @ log_on + (1.0 - states) @ log_off
    return float((p_state * (np.log(p_state) - log_product)).sum() / ln_b)
