"""Reference of resolution, relevance and the frequency exponent (SPEC §3; paper 003).

Input is the vector ``counts`` of the frequencies ``k_s`` of the distinct states of a layer
(e.g. ``state_counts(bits).counts``): M = sum k_s samples, ``m_k`` = number of states seen
exactly k times. Entropies are in bits; the "normalized" values are divided by ``log2 M``.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from .._validate import (as_host_array, check_counts, check_finite, check_gate_matrix,
                         check_int, check_labels, describe)
from .state_counts import degeneracy, label_counts, state_counts

LN2 = math.log(2.0)


# --------------------------------------------------------------------------- resolution, relevance

def _counts(counts) -> np.ndarray:
    return check_counts("counts", counts, positive=True).astype(np.int64)


def _normalize(value: float, n_samples: int) -> float:
    # M = 1: both entropies are 0 and log2 M = 0; the normalised values are defined as 0.
    return value / math.log2(n_samples) if n_samples > 1 else 0.0


def resolution(counts, *, normalized: bool = False) -> float:
    """Resolution ``H[s] = -sum_s (k_s/M) log2(k_s/M)`` (SPEC §3, paper 003 eq. 1); divided
    by ``log2 M`` when ``normalized``. ``counts`` are the ``k_s >= 1`` of the distinct states."""
    k = _counts(counts).astype(np.float64)
    n = k.sum()
    p = k / n
    h = float(-(p * np.log2(p)).sum())
    return _normalize(h, int(n)) if normalized else h


def relevance(counts, *, normalized: bool = False) -> float:
    """Relevance ``H[k] = -sum_k (k m_k/M) log2(k m_k/M)`` (SPEC §3, paper 003 eq. 2): the
    entropy of the frequency of a sample's state. Divided by ``log2 M`` when ``normalized``."""
    c = _counts(counts)
    k, m_k = degeneracy(c)
    n = int(c.sum())
    q = (k * m_k).astype(np.float64) / n
    h = float(-(q * np.log2(q)).sum())
    return _normalize(h, n) if normalized else h


class ResolutionRelevance(NamedTuple):
    h_s: float             # resolution H[s], bits
    h_k: float             # relevance H[k], bits
    h_s_normalized: float  # H[s] / log2 M (0 when M = 1)
    h_k_normalized: float  # H[k] / log2 M (0 when M = 1)
    n_samples: int         # M


def resolution_relevance(counts) -> ResolutionRelevance:
    """Both entropies of SPEC §3, raw and normalised by ``log2 M``."""
    c = _counts(counts)
    n = int(c.sum())
    h_s, h_k = resolution(c), relevance(c)
    return ResolutionRelevance(h_s, h_k, _normalize(h_s, n), _normalize(h_k, n), n)


# --------------------------------------------------------------------------- Hurwitz zeta

# B_{2j} / (2j)! for j = 1..12 (Bernoulli numbers), the Euler–Maclaurin correction weights.
_BERNOULLI_2J = (1 / 6, -1 / 30, 1 / 42, -1 / 30, 5 / 66, -691 / 2730, 7 / 6, -3617 / 510,
                 43867 / 798, -174611 / 330, 854513 / 138, -236364091 / 2730)
_EM_WEIGHTS = tuple(b / math.factorial(2 * j) for j, b in enumerate(_BERNOULLI_2J, start=1))


def _log_hurwitz_zeta(s: float, q: float) -> float:
    """``ln zeta(s, q)``, ``zeta(s, q) = sum_{n>=0} (n + q)^-s`` for s > 1, q > 0.

    Euler–Maclaurin: the first N terms summed directly, the tail from ``a = N + q`` on as
    ``a^(1-s)/(s-1) + a^-s/2 + sum_j B_2j/(2j)! s(s+1)..(s+2j-2) a^(1-s-2j)``. With
    ``N = 16 + ceil(s)`` (so a > s) the 12 correction terms shrink geometrically and the
    omitted one is below 1e-20 of the total for s <= 1000. Everything is scaled by ``q^s`` so
    that large s neither underflows nor overflows.
    """
    n_direct = 16 + int(math.ceil(s))
    a = n_direct + q
    direct = float(np.exp(-s * np.log1p(np.arange(n_direct) / q)).sum())
    correction = a / (s - 1.0) + 0.5
    rising = s          # s (s+1) ... (s+2j-2): 2j-1 factors
    a_power = 1.0 / a   # a^(1-2j)
    for j, weight in enumerate(_EM_WEIGHTS, start=1):
        correction += weight * rising * a_power
        rising *= (s + 2 * j - 1) * (s + 2 * j)
        a_power /= a * a
    tail = math.exp(-s * math.log(a / q)) * correction
    return -s * math.log(q) + math.log(direct + tail)


def hurwitz_zeta(s, q):
    """Hurwitz zeta ``zeta(s, q) = sum_{n>=0} (n + q)^-s`` for real ``s > 1`` and ``q > 0``
    (numpy only; see `_log_hurwitz_zeta` for the method). Scalars or broadcastable arrays."""
    arrays = []
    for name, value in (("s", s), ("q", q)):
        v = as_host_array(name, value)
        if v.dtype.kind not in "fiu":
            raise TypeError(f"argument '{name}' must be real, got {describe(v)}")
        check_finite(name, v)
        arrays.append(v.astype(np.float64))
    s_arr, q_arr = arrays
    if (s_arr <= 1).any():
        raise ValueError(f"argument 's' must be > 1, got minimum {s_arr.min()}")
    if (q_arr <= 0).any():
        raise ValueError(f"argument 'q' must be > 0, got minimum {q_arr.min()}")
    s_b, q_b = np.broadcast_arrays(s_arr, q_arr)
    logs = [_log_hurwitz_zeta(float(si), float(qi)) for si, qi in zip(s_b.ravel(), q_b.ravel())]
    with np.errstate(over="ignore"):  # zeta beyond the float range is inf, not an error
        out = np.exp(np.array(logs, dtype=np.float64))
    out = out.reshape(s_b.shape)
    return float(out) if out.ndim == 0 else out


# --------------------------------------------------------------------------- exponent beta

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0
_A_CAP = 2.0 ** 16  # bracket search stops here (exponents that large mean "no tail")


def _power_law_loglik(a: float, sum_log_k: float, n: int, k_min: int) -> float:
    """Log-likelihood of n frequencies k >= k_min under ``P(k) = k^-a / zeta(a, k_min)``."""
    return -a * sum_log_k - n * _log_hurwitz_zeta(a, float(k_min))


def power_law_exponent_mle(counts, k_min: int = 1) -> float:
    """The maximum-likelihood ``a`` of a discrete power law ``P(k) = k^-a / zeta(a, k_min)``
    fitted to the frequencies ``k_s >= k_min`` (one value per distinct state).

    The log-likelihood ``-a sum ln k - n ln zeta(a, k_min)`` is concave in a (``ln zeta`` is a
    log-sum-exp of functions linear in a) and tends to -inf as a -> 1+, so it has one maximum:
    the upper end of the bracket is doubled from 2 until the likelihood falls, then a golden
    section search on ``(1, upper)`` narrows it to ~1e-10 (the likelihood is flat at its
    maximum, so the returned a is accurate to about 1e-7 relative). If every ``k_s`` equals
    ``k_min`` the likelihood increases without bound and the estimate is ``inf``.
    """
    c = _counts(counts)
    k_min = check_int("k_min", k_min, minimum=1)
    x = c[c >= k_min]
    if x.size == 0:
        raise ValueError(f"argument 'counts' has no frequency >= k_min={k_min} "
                         f"(largest is {c.max()})")
    if (x == k_min).all():
        return math.inf
    n = int(x.size)
    sum_log_k = float(np.log(x.astype(np.float64)).sum())

    def loglik(a):
        return _power_law_loglik(a, sum_log_k, n, k_min)

    upper = 2.0
    while upper < _A_CAP and loglik(2.0 * upper) >= loglik(upper):
        upper *= 2.0
    lo, hi = 1.0, 2.0 * upper if upper < _A_CAP else _A_CAP
    x1, x2 = hi - _GOLDEN * (hi - lo), lo + _GOLDEN * (hi - lo)
    f1, f2 = loglik(x1), loglik(x2)
    while hi - lo > 1e-10 * max(1.0, lo):
        if f1 < f2:
            lo, x1, f1 = x1, x2, f2
            x2 = lo + _GOLDEN * (hi - lo)
            f2 = loglik(x2)
        else:
            hi, x2, f2 = x2, x1, f1
            x1 = hi - _GOLDEN * (hi - lo)
            f1 = loglik(x1)
    return 0.5 * (lo + hi)


def beta_mle(counts, k_min: int = 1) -> float:
    """Exponent beta of ``m_k ~ k^(-beta-1)`` (SPEC §3 decision): ``a - 1`` with ``a`` the
    discrete power-law MLE of `power_law_exponent_mle` over the frequencies ``k_s >= k_min``.
    (Drawing a distinct state uniformly, its frequency k has probability ``m_k / S``, so the
    law of the ``k_s`` is the law of ``m_k``.) ``inf`` when all ``k_s`` equal ``k_min``."""
    return power_law_exponent_mle(counts, k_min) - 1.0


def beta_least_squares(counts) -> float:
    """Exponent beta from the least-squares line ``log m_k = c - (beta + 1) log k`` over the
    distinct frequencies k present (SPEC §3): ``-slope - 1``. NaN with fewer than two
    distinct frequencies (no line to fit)."""
    k, m_k = degeneracy(_counts(counts))
    if k.size < 2:
        return math.nan
    slope = np.polyfit(np.log(k.astype(np.float64)), np.log(m_k.astype(np.float64)), 1)[0]
    return float(-slope - 1.0)


def beta_across_layers(h_s, h_k) -> np.ndarray:
    """``-dH[k]/dH[s]`` between consecutive layers (SPEC §3): ``-(H[k]_{l+1} - H[k]_l) /
    (H[s]_{l+1} - H[s]_l)``, length L-1; NaN/inf where H[s] does not change."""
    hs = _layer_values("h_s", h_s)
    hk = _layer_values("h_k", h_k)
    if hs.shape != hk.shape:
        raise ValueError(f"arguments 'h_s' and 'h_k' must have the same length, got "
                         f"{hs.shape[0]} and {hk.shape[0]}")
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.diff(hk) / np.diff(hs)


def _layer_values(name: str, values) -> np.ndarray:
    v = as_host_array(name, values)
    if v.ndim != 1 or v.dtype.kind not in "fiu":
        raise ValueError(f"argument '{name}' must be a 1-D sequence of numbers, got {describe(v)}")
    if v.shape[0] == 0:
        raise ValueError(f"argument '{name}' is empty")
    check_finite(name, v)
    return v.astype(np.float64)


# --------------------------------------------------------------------------- maximal relevance

class MaxRelevanceCurve(NamedTuple):
    betas: np.ndarray           # the exponents traced, ascending (may include -inf, +inf)
    h_s: np.ndarray             # H[s] (bits), ascending with beta
    h_k: np.ndarray             # H[k] (bits)
    h_s_normalized: np.ndarray  # H[s] / log2 M
    h_k_normalized: np.ndarray  # H[k] / log2 M


def default_curve_betas(n_samples: int, n_points: int = 257) -> np.ndarray:
    """The exponents `max_relevance_curve` traces by default, ascending: -inf (the point
    (0, 0)), ``-geomspace(64 M, 1e-3)``, 0 (the peak, H[k] = log2 M), ``geomspace(1e-3, 64)``,
    +inf (the point (log2 M, 0)). At beta = -64 M the mass is within e^-64 of k = M; at
    beta = 64 within 2^-64 of k = 1, so the finite points join the end points smoothly."""
    m = check_int("n_samples", n_samples, minimum=2)
    n_points = check_int("n_points", n_points, minimum=5)
    side = (n_points - 3) // 2
    return np.concatenate([[-np.inf], -np.geomspace(64.0 * m, 1e-3, side), [0.0],
                           np.geomspace(1e-3, 64.0, n_points - 3 - side), [np.inf]])


def max_relevance_curve(n_samples, betas=None, *, n_points: int = 257) -> MaxRelevanceCurve:
    """The maximal relevance curve (SPEC §3, paper 003 fig. 2a dotted line) for M samples.

    Maximising H[k] at fixed H[s] in the continuous relaxation gives ``q_k = k m_k / M ∝
    k^-beta`` over ``k = 1..M``; then ``H[k] = -sum q_k log2 q_k`` and ``H[s] = log2 M -
    sum q_k log2 k``. The curve is parametrised by beta: H[s] increases with beta (its
    derivative is ``Var_q(log2 k) ln 2 >= 0``), beta = -inf gives (0, 0), beta = 0 the peak
    (H[s] = log2 M - mean log2 k, H[k] = log2 M), beta = +inf gives (log2 M, 0); the slope of
    the curve at a point is -beta. ``betas`` default to `default_curve_betas`; ±inf are
    allowed and give the end points exactly.
    """
    m = check_int("n_samples", n_samples, minimum=2)
    if betas is None:
        b = default_curve_betas(m, n_points)
    else:
        b = as_host_array("betas", betas)
        if b.ndim != 1 or b.dtype.kind not in "fiu" or b.shape[0] == 0:
            raise ValueError(f"argument 'betas' must be a non-empty 1-D array of numbers, "
                             f"got {describe(b)}")
        if np.isnan(b.astype(np.float64)).any():
            raise ValueError(f"argument 'betas' contains NaN ({describe(b)})")
        b = b.astype(np.float64)
    log_k = np.log(np.arange(1, m + 1, dtype=np.float64))
    # H[s] as sum_k q_k log2(M/k): non-negative terms, no cancellation near H[s] = 0.
    log_m_over_k = math.log(m) - log_k
    log2_m = math.log2(m)
    h_s = np.empty(b.shape[0])
    h_k = np.empty(b.shape[0])
    for i, beta in enumerate(b):
        if beta == math.inf:       # all mass on k = 1: every sample in its own state
            h_s[i], h_k[i] = log2_m, 0.0
        elif beta == -math.inf:    # all mass on k = M: one state
            h_s[i], h_k[i] = 0.0, 0.0
        else:
            logits = -beta * log_k
            top = logits.max()
            log_q = logits - (top + math.log(np.exp(logits - top).sum()))
            q = np.exp(log_q)
            h_k[i] = max(0.0, float(-(q * log_q).sum()) / LN2)
            h_s[i] = min(log2_m, float((q * log_m_over_k).sum()) / LN2)
    return MaxRelevanceCurve(b, h_s, h_k, h_s / log2_m, h_k / log2_m)


# --------------------------------------------------------------------------- per-layer summaries

def classification_error(inverse_or_states, labels) -> float:
    """``1 - (1/M) sum_s max_y count(s, y)`` (SPEC §3, paper 003 fig. 2d): the fraction of
    samples whose label differs from the majority label of their state.

    ``inverse_or_states``: 1-D integer state ids, one per sample (any integers: equal ids =
    same state), or 2-D 0/1 rows whose distinct rows are the states. ``labels``: integer
    labels, one per sample."""
    x = as_host_array("inverse_or_states", inverse_or_states)
    if x.ndim == 1:
        if x.dtype.kind not in "iu":
            raise TypeError(f"argument 'inverse_or_states' as 1-D must hold integer state ids, "
                            f"got {describe(x)}")
        if x.shape[0] == 0:
            raise ValueError(f"argument 'inverse_or_states' has no samples, got {describe(x)}")
        _, inverse = np.unique(x, return_inverse=True)
        inverse = inverse.reshape(-1)
    elif x.ndim == 2:
        inverse = state_counts(check_gate_matrix("inverse_or_states", x, min_rows=1)).inverse
    else:
        raise ValueError(f"argument 'inverse_or_states' must be 1-D state ids or 2-D 0/1 rows, "
                         f"got {describe(x)}")
    check_labels("labels", labels, inverse.shape[0])
    _, table = label_counts(inverse, labels, int(inverse.max()) + 1)
    return float(1.0 - table.max(axis=1).sum() / inverse.shape[0])


def critical_layer(points: Sequence) -> int:
    """Index of the layer maximising ``H[s] + H[k]`` (SPEC §3) among ``(H_s, H_k)`` pairs,
    one per layer (raw or normalised, consistently); the first one on ties."""
    p = as_host_array("points", points)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0 or p.dtype.kind not in "fiu":
        raise ValueError(f"argument 'points' must be a non-empty sequence of (H_s, H_k) pairs, "
                         f"got {describe(p)}")
    check_finite("points", p)
    return int(np.argmax(p.astype(np.float64).sum(axis=1)))


def zipf_layer(betas) -> int:
    """Index of the layer whose beta is closest to 1 (Zipf's law, SPEC §3); NaN betas are
    skipped, the first one on ties."""
    b = as_host_array("betas", betas)
    if b.ndim != 1 or b.shape[0] == 0 or b.dtype.kind not in "fiu":
        raise ValueError(f"argument 'betas' must be a non-empty 1-D array of numbers, got {describe(b)}")
    distance = np.abs(b.astype(np.float64) - 1.0)
    if np.isnan(distance).all():
        raise ValueError("argument 'betas' has no layer with a defined (non-NaN) beta")
    return int(np.nanargmin(distance))
