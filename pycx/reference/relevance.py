"""Reference of resolution, relevance and the frequency exponent (definitions §3; paper 003).

Input is the vector ``counts`` of the frequencies ``k_s`` of the distinct states of a layer
(e.g. ``state_counts(bits).counts``): M = sum k_s samples, ``m_k`` = number of states seen
exactly k times. Entropies are in bits; the "normalized" values are divided by ``log2 M``.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Tuple

import numpy as np

from .._validate import (as_host_array, check_choice, check_counts, check_finite,
                         check_gate_matrix, check_int, check_labels, describe)
from .state_counts import degeneracy, label_counts, state_counts

LN2 = math.log(2.0)


# --------------------------------------------------------------------------- resolution, relevance

def _counts(counts) -> np.ndarray:
    return check_counts("counts", counts, positive=True).astype(np.int64)


def _normalize(value: float, n_samples: int) -> float:
    # M = 1: both entropies are 0 and log2 M = 0; the normalised values are defined as 0.
    return value / math.log2(n_samples) if n_samples > 1 else 0.0


def resolution(counts, *, normalized: bool = False) -> float:
    """Resolution ``H[s] = -sum_s (k_s/M) log2(k_s/M)`` (definitions §3, paper 003 eq. 1); divided
    by ``log2 M`` when ``normalized``. ``counts`` are the ``k_s >= 1`` of the distinct states."""
    k = _counts(counts).astype(np.float64)
    n = k.sum()
    p = k / n
    h = float(-(p * np.log2(p)).sum()) + 0.0  # + 0.0: one state gives 0, not -0.0
    return _normalize(h, int(n)) if normalized else h


def relevance(counts, *, normalized: bool = False) -> float:
    """Relevance ``H[k] = -sum_k (k m_k/M) log2(k m_k/M)`` (definitions §3, paper 003 eq. 2): the
    entropy of the frequency of a sample's state. Divided by ``log2 M`` when ``normalized``."""
    c = _counts(counts)
    k, m_k = degeneracy(c)
    n = int(c.sum())
    q = (k * m_k).astype(np.float64) / n
    h = float(-(q * np.log2(q)).sum()) + 0.0  # + 0.0: one frequency gives 0, not -0.0
    return _normalize(h, n) if normalized else h


class ResolutionRelevance(NamedTuple):
    h_s: float             # resolution H[s], bits
    h_k: float             # relevance H[k], bits
    h_s_normalized: float  # H[s] / log2 M (0 when M = 1)
    h_k_normalized: float  # H[k] / log2 M (0 when M = 1)
    n_samples: int         # M


def resolution_relevance(counts) -> ResolutionRelevance:
    """Both entropies of docs/definitions.md §3, raw and normalised by ``log2 M``."""
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


def _n_frequencies(counts: np.ndarray, k_min: int = 1) -> int:
    return int(np.unique(counts[counts >= k_min]).size)


def beta_mle(counts, k_min: int = 1) -> float:
    """Exponent beta of ``m_k ~ k^(-beta-1)`` (definitions §3 decision): ``a - 1`` with ``a`` the
    discrete power-law MLE of `power_law_exponent_mle` over the frequencies ``k_s >= k_min``.
    (Drawing a distinct state uniformly, its frequency k has probability ``m_k / S``, so the
    law of the ``k_s`` is the law of ``m_k``.)

    **Undefined (NaN)** with fewer than three distinct frequencies ``k_s >= k_min``: one
    frequency (every state seen equally often: one state, or every sample alone) has no tail
    at all, and two give a finite but arbitrary number (0.110 for one state of 2 among
    singletons) that says nothing about a power law."""
    c = _counts(counts)
    k_min = check_int("k_min", k_min, minimum=1)
    if not (c >= k_min).any():
        raise ValueError(f"argument 'counts' has no frequency >= k_min={k_min} "
                         f"(largest is {c.max()})")
    if _n_frequencies(c, k_min) < 3:
        return math.nan
    return power_law_exponent_mle(c, k_min) - 1.0


def beta_least_squares(counts) -> float:
    """Exponent beta from the least-squares line ``log m_k = c - (beta + 1) log k`` over the
    distinct frequencies k present (docs/definitions.md §3): ``-slope - 1``.

    **Undefined (NaN)** with fewer than three distinct frequencies, and when every ``m_k`` is
    1 (each state has its own frequency: the line is flat whatever the states, and -1 would be
    an artefact, not a measurement)."""
    k, m_k = degeneracy(_counts(counts))
    if k.size < 3 or (m_k == 1).all():
        return math.nan
    slope = np.polyfit(np.log(k.astype(np.float64)), np.log(m_k.astype(np.float64)), 1)[0]
    return float(-slope - 1.0)


def beta_across_layers(h_s, h_k) -> np.ndarray:
    """``-dH[k]/dH[s]`` between consecutive layers (definitions §3): ``-(H[k]_{l+1} - H[k]_l) /
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

EXACT_CURVE_MAX_M = 40      # enumeration of every frequency profile (p(40) = 37,338 profiles)
LAGRANGE_CURVE_MAX_M = 300  # exact Lagrangian dynamic programme up to here; dual bound above
_CURVE_LINES = 64           # supporting lines (Lagrange multipliers) of the large-M methods


class MaxRelevanceCurve(NamedTuple):
    h_s: np.ndarray             # H[s] (bits), ascending, from 0 to log2 M
    h_k: np.ndarray             # H[k] (bits): the curve's value at h_s
    h_s_normalized: np.ndarray  # H[s] / log2 M
    h_k_normalized: np.ndarray  # H[k] / log2 M
    feasible: np.ndarray        # bool: the point is the (H[s], H[k]) of a real profile
    method: str                 # "enumeration" | "lagrange" | "dual"
    n_samples: int              # M


def profile_entropies(k, m_k, n_samples=None) -> Tuple[float, float]:
    """``(H[s], H[k])`` in bits of a frequency profile: ``m_k[i]`` states seen ``k[i]``
    times, ``M = sum k m_k`` (checked against ``n_samples`` when given)."""
    kk = np.asarray(k, dtype=np.float64)
    mm = np.asarray(m_k, dtype=np.float64)
    keep = mm > 0
    kk, mm = kk[keep], mm[keep]
    m = float((kk * mm).sum())
    if n_samples is not None and m != n_samples:
        raise ValueError(f"the profile holds {m:g} samples, not n_samples={n_samples}")
    q = kk * mm / m
    return (float((mm * (kk / m) * np.log2(m / kk)).sum()) + 0.0,
            float(-(q * np.log2(q)).sum()) + 0.0)


def frequency_profiles(n_samples: int):
    """Every frequency profile of M samples (the partitions of M), as ``(k, m_k)`` tuples
    with distinct ``k`` in descending order. There are p(M) of them (p(40) = 37,338)."""
    m = check_int("n_samples", n_samples, minimum=1)
    ks, ms = [], []

    def rec(rest, k_max):
        if rest == 0:
            yield tuple(ks), tuple(ms)
            return
        for k in range(min(k_max, rest), 0, -1):
            for mult in range(rest // k, 0, -1):
                ks.append(k)
                ms.append(mult)
                yield from rec(rest - k * mult, k - 1)
                ks.pop()
                ms.pop()

    yield from rec(m, m)


def _monotone_envelope(points: np.ndarray) -> np.ndarray:
    """The upper envelope of a finite point set that rises to its maximum and falls after it:
    left of the highest point, ``f(h) = max{H[k] : H[s] <= h}``; right of it, ``max{H[k] :
    H[s] >= h}``. Returned as its corner points (record highs), ascending in H[s]."""
    order = np.lexsort((-points[:, 1], points[:, 0]))
    p = points[order]
    top = p[:, 1].max()
    peak_first = int(np.flatnonzero(p[:, 1] == top)[0])
    peak_last = int(np.flatnonzero(p[:, 1] == top)[-1])
    left, best = [], -np.inf
    for i in range(peak_first + 1):
        if p[i, 1] > best:
            left.append(i)
            best = p[i, 1]
    right, best = [], -np.inf
    for i in range(p.shape[0] - 1, peak_last - 1, -1):
        if p[i, 1] > best:
            right.append(i)
            best = p[i, 1]
    env = p[left + [i for i in reversed(right) if i != left[-1]]]
    # Equal H[s] met twice (once from each side, or two profiles whose H[s] are equal but
    # rounded differently, within 1e-12): keep the higher, so that interpolation between
    # corners never falls under a profile.
    keep = np.ones(env.shape[0], dtype=bool)
    for i in range(1, env.shape[0]):
        if env[i, 0] - env[i - 1, 0] <= 1e-12:
            lower = i if env[i, 1] <= env[i - 1, 1] else i - 1
            keep[lower] = False
    return env[keep]


def _enumerated_curve(m: int) -> np.ndarray:
    pts = np.array([profile_entropies(k, mk, m) for k, mk in frequency_profiles(m)])
    return _monotone_envelope(pts)


def _curve_multipliers(m: int, n_lines: int) -> np.ndarray:
    """Lagrange multipliers ``lam`` of the supporting lines ``H[k] <= F(lam) - lam H[s]``:
    slopes ``-lam`` evenly spaced in angle from +1 (the line H[k] = H[s], lam = -1) to
    steeper than the curve's last segment (about ``-(log2 M + 0.5)``), so the end points are
    touched."""
    lam_max = 2.0 * math.log2(m) + 4.0
    return np.tan(np.linspace(-math.pi / 4.0, math.atan(lam_max), n_lines))


def _lagrange_dp(m: int, lams: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """For each multiplier ``lam``: ``max over integer profiles of H[k] + lam H[s]`` exactly,
    and the H[s] of a maximiser.

    Both entropies are sums over frequencies k of a term in ``m_k`` alone (``H[k] = sum_k
    g(k m_k)``, ``g(x) = -(x/M) log2(x/M)``; ``H[s] = sum_k m_k (k/M) log2(M/k)``), and the
    profile's only constraint is ``sum_k k m_k = M``: a knapsack with exact total weight,
    solved by dynamic programming over the total weight, one frequency at a time
    (``M^2 ln M / 2`` additions per multiplier, all multipliers at once)."""
    lam = np.asarray(lams, dtype=np.float64)[:, None]
    best = np.full((lam.shape[0], m + 1), -np.inf)
    best[:, 0] = 0.0
    hs = np.zeros_like(best)
    for k in range(1, m + 1):
        a_k = (k / m) * math.log2(m / k)
        new, new_hs = best.copy(), hs.copy()
        for mult in range(1, m // k + 1):
            w = k * mult
            x = w / m
            gain_s = mult * a_k
            cand = best[:, :m + 1 - w] + (-x * math.log2(x) + lam * gain_s)
            better = cand > new[:, w:]
            new[:, w:] = np.where(better, cand, new[:, w:])
            new_hs[:, w:] = np.where(better, hs[:, :m + 1 - w] + gain_s, new_hs[:, w:])
        best, hs = new, new_hs
    return best[:, m], hs[:, m]


def _dual_bounds(m: int, lams: np.ndarray) -> np.ndarray:
    """Upper bounds on ``max H[k] + lam H[s]`` by relaxing ``sum_k k m_k = M`` with a second
    multiplier mu (weak duality: for every mu, ``mu M + sum_k max_{m_k} [g(k m_k) + lam m_k
    a_k - mu k m_k]`` bounds the maximum; each ``m_k`` is still an integer in ``0..M/k``).
    Each inner term is concave in ``m_k``, so its integer maximum is at the floor or ceiling
    of the stationary point (or at 0 or M/k). mu is chosen by ternary search on the convex
    bound; any mu gives a valid bound."""
    k = np.arange(1, m + 1, dtype=np.float64)[None, :]
    cap = np.floor(m / k)
    a = (k / m) * np.log2(m / k)
    lam = np.asarray(lams, dtype=np.float64)[:, None]

    def term(mult, mu):
        x = k * mult / m
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(mult > 0, -x * np.log2(x), 0.0)
        return g + lam * a * mult - mu * k * mult

    def best_terms(mu):
        mu = mu[:, None]
        # d/dm [g(km) + (lam a - mu k) m] = 0  <=>  log2(km/M) = (M/k)(lam a - mu k) - 1/ln 2
        stat = (m / k) * np.exp2(np.minimum((m / k) * (lam * a - mu * k) - 1.0 / LN2, 60.0))
        lo, hi = np.clip(np.floor(stat), 0.0, cap), np.clip(np.ceil(stat), 0.0, cap)
        t_lo, t_hi = term(lo, mu), term(hi, mu)
        mult = np.where(t_hi > t_lo, hi, lo)
        t = np.maximum(t_lo, t_hi)
        return np.where(t > 0.0, t, 0.0), np.where(t > 0.0, mult, 0.0)

    def bound(mu):
        return mu * m + best_terms(mu)[0].sum(axis=1)

    # The bound is convex in mu with subgradient M - sum_k k m_k(mu): bisect on its sign.
    lo, hi = np.full(lam.shape[0], -8.0), np.full(lam.shape[0], 8.0)
    for _ in range(50):
        mid = 0.5 * (lo + hi)
        used = (k * best_terms(mid)[1]).sum(axis=1)
        lo, hi = np.where(used > m, mid, lo), np.where(used > m, hi, mid)
    return np.minimum(bound(lo), bound(hi))


def _lines_envelope(slopes: np.ndarray, intercepts: np.ndarray, x_max: float) -> np.ndarray:
    """Corner points of ``U(x) = min_i (intercepts_i + slopes_i x)`` on ``[0, x_max]``: U is
    concave and piecewise linear, so the polyline through its corners is U itself."""
    i, j = np.triu_indices(slopes.size, 1)
    ds = slopes[i] - slopes[j]
    ok = ds != 0
    xs = (intercepts[j][ok] - intercepts[i][ok]) / ds[ok]
    xs = np.concatenate([[0.0, x_max], xs[(xs > 0.0) & (xs < x_max)]])
    xs = np.unique(xs)
    values = intercepts[None, :] + slopes[None, :] * xs[:, None]
    u = values.min(axis=1)
    # Corners: where at least two lines are active (the ends are kept).
    active = (values <= u[:, None] + 1e-12 * (1.0 + np.abs(u[:, None]))).sum(axis=1)
    keep = (active >= 2) | (xs == 0.0) | (xs == x_max)
    return np.column_stack([xs[keep], u[keep]])


def max_relevance_curve(n_samples, *, method: str = "auto",
                        n_lines: int = _CURVE_LINES) -> MaxRelevanceCurve:
    """The maximal relevance curve for M samples (definitions §3; Haimovici & Marsili 2015, the
    dotted line of Song, Marsili & Jo fig. 2a): the upper envelope of ``(H[s], H[k])`` over
    every frequency profile, i.e. non-negative integers ``m_k`` with ``sum_k k m_k = M``.

    ``method``:

    - ``"enumeration"`` (default for M <= 40): every partition of M; the curve is the exact
      monotone envelope (left of the peak ``max{H[k]: H[s] <= h}``, right of it ``max{H[k]:
      H[s] >= h}``), its corners are real profiles (``feasible`` all True);
    - ``"lagrange"`` (default for 40 < M <= 300): for ``n_lines`` multipliers ``lam`` the exact
      maximum ``F(lam)`` of ``H[k] + lam H[s]`` over integer profiles (a knapsack dynamic
      programme). Each line ``H[k] <= F(lam) - lam H[s]`` bounds every profile and touches
      one (feasible points); the curve is the minimum of the lines: every point is a real
      profile or a proven upper bound;
    - ``"dual"`` (default above 300): the same lines with ``F(lam)`` replaced by a weak-duality
      upper bound (integers kept, the sum constraint relaxed); every point is an upper bound.
      Against the exact programme at M = 450 the bound is at most 0.014 bits higher.

    Between corners the curve is the straight line (an upper bound on every profile there).
    Since a state's frequency is a function of the state, ``H[k] <= H[s]``, and the peak lies
    near ``log2 sqrt(2M)``: normalised by ``log2 M``, near 1/2.
    """
    m = check_int("n_samples", n_samples, minimum=2)
    check_choice("method", method, ("auto", "enumeration", "lagrange", "dual"))
    n_lines = check_int("n_lines", n_lines, minimum=3)
    if method == "auto":
        method = ("enumeration" if m <= EXACT_CURVE_MAX_M else
                  "lagrange" if m <= LAGRANGE_CURVE_MAX_M else "dual")
    if method == "enumeration" and m > 60:
        raise ValueError(f"method='enumeration' visits p(M) profiles; n_samples={m} is too "
                         "large (at most 60), use 'lagrange' or 'dual'")
    log2_m = math.log2(m)
    if method == "enumeration":
        pts = _enumerated_curve(m)
        feasible = np.ones(pts.shape[0], dtype=bool)
    else:
        lams = _curve_multipliers(m, n_lines)
        if method == "lagrange":
            f, hs_at = _lagrange_dp(m, lams)
            vertices = np.column_stack([hs_at, f - lams * hs_at])
        else:
            f = _dual_bounds(m, lams)
            vertices = np.empty((0, 2))
        # H[k] <= H[s] always (slope 1, intercept 0), and the lines of the multipliers.
        pts = _lines_envelope(np.concatenate([[1.0], -lams]), np.concatenate([[0.0], f]), log2_m)
        pts = np.concatenate([pts, vertices])
        pts = pts[np.lexsort((pts[:, 1], pts[:, 0]))]
        keep = np.concatenate([[True], np.abs(np.diff(pts[:, 0])) > 1e-12])
        feasible_at = np.zeros(pts.shape[0], dtype=bool)
        for v in vertices:
            feasible_at |= (np.abs(pts[:, 0] - v[0]) <= 1e-12) & (np.abs(pts[:, 1] - v[1]) <= 1e-9)
        # Of near-duplicate x, keep the feasible one when there is one.
        pts_keep, feas_keep = [], []
        for i in range(pts.shape[0]):
            if keep[i]:
                pts_keep.append(pts[i])
                feas_keep.append(feasible_at[i])
            elif feasible_at[i] and not feas_keep[-1]:
                pts_keep[-1], feas_keep[-1] = pts[i], True
        pts, feasible = np.array(pts_keep), np.array(feas_keep, dtype=bool)
        pts[:, 1] = np.clip(pts[:, 1], 0.0, None)
    h_s, h_k = pts[:, 0].copy(), pts[:, 1].copy()
    return MaxRelevanceCurve(h_s, h_k, h_s / log2_m, h_k / log2_m, feasible, method, m)


def curve_value(curve: MaxRelevanceCurve, h_s) -> np.ndarray:
    """The curve's H[k] (bits) at the given H[s] (bits), by linear interpolation between its
    corners (an upper bound on every profile with that H[s])."""
    return np.interp(np.asarray(h_s, dtype=np.float64), curve.h_s, curve.h_k)


# --------------------------------------------------------------------------- per-layer summaries

def classification_error(inverse_or_states, labels) -> float:
    """``1 - (1/M) sum_s max_y count(s, y)`` (definitions §3, paper 003 fig. 2d): the fraction of
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


def critical_layer(points: Sequence) -> Optional[int]:
    """Index of the layer maximising ``H[s] + H[k]`` (definitions §3) among ``(H_s, H_k)`` pairs,
    one per layer (raw or normalised, consistently); the first one on ties.

    Layers with ``H[k] = 0`` (every state seen equally often: one state, or every sample in
    its own state) are skipped; **None** when no layer is left (the critical layer is then
    undefined, not the first layer). `why_no_critical_layer` says why."""
    p = as_host_array("points", points)
    if p.ndim != 2 or p.shape[1] != 2 or p.shape[0] == 0 or p.dtype.kind not in "fiu":
        raise ValueError(f"argument 'points' must be a non-empty sequence of (H_s, H_k) pairs, "
                         f"got {describe(p)}")
    check_finite("points", p)
    p = p.astype(np.float64)
    score = np.where(p[:, 1] > 0.0, p.sum(axis=1), -np.inf)
    return int(np.argmax(score)) if np.isfinite(score).any() else None


def why_no_critical_layer(points: Sequence) -> str:
    """The reason `critical_layer` is None for these ``(H_s, H_k)`` pairs (or "")."""
    p = np.asarray(points, dtype=np.float64)
    if p.size == 0 or (p[:, 1] > 0.0).any():
        return ""
    if (p[:, 0] == 0.0).all():
        return "every layer maps all samples to one state (H[s] = 0)"
    if (p[:, 0] > 0.0).all():
        return ("in every layer all states are seen equally often (H[k] = 0; usually every "
                "sample in its own state, H[s] = log2 M)")
    return "every layer has H[k] = 0 (one state, or every state seen equally often)"


def zipf_layer(betas) -> Optional[int]:
    """Index of the layer whose beta is closest to 1 (Zipf's law, definitions §3); NaN and infinite
    betas (undefined exponents) are skipped, the first one on ties; **None** when no layer
    has a defined beta."""
    b = as_host_array("betas", betas)
    if b.ndim != 1 or b.shape[0] == 0 or b.dtype.kind not in "fiu":
        raise ValueError(f"argument 'betas' must be a non-empty 1-D array of numbers, got {describe(b)}")
    b = b.astype(np.float64)
    distance = np.where(np.isfinite(b), np.abs(b - 1.0), np.nan)
    if np.isnan(distance).all():
        return None
    return int(np.nanargmin(distance))
