"""Reference of the NSB entropy estimator (Nemenman, Shafee & Bialek 2002; definitions §5.2): the
posterior mean of the entropy under a mixture of symmetric Dirichlet priors whose mixing
density makes the prior on the entropy flat.

Notation: K possible states (the alphabet), N samples, ``n_i`` the counts of the S observed
states, ``beta`` the Dirichlet concentration per state, ``kappa = K beta`` the total one. In
nats internally; `nsb_entropy` returns bits.

- Prior mean entropy of Dirichlet(beta): ``xi(beta) = psi(kappa + 1) - psi(beta + 1)``; the
  NSB prior on beta is ``d xi / d beta`` (flat in xi), i.e. ``kappa * d xi/d kappa`` per unit
  of ``log kappa``, with ``d xi / d kappa = psi1(kappa + 1) - psi1(beta + 1) / K``.
- Evidence: ``p(n | beta) ∝ Gamma(kappa) / Gamma(N + kappa) * prod_i Gamma(n_i + beta) /
  Gamma(beta)`` (unseen states contribute factors of 1).
- Posterior mean entropy at beta (Wolpert & Wolf 1995): ``psi(N + kappa + 1) - sum_i (n_i +
  beta)/(N + kappa) psi(n_i + beta + 1) - (K - S) beta/(N + kappa) psi(beta + 1)``.
- NSB: ``int E[H | n, beta] p(n | beta) p(beta) d beta / int p(n | beta) p(beta) d beta``,
  integrated here over ``log kappa`` by the trapezoid rule on a coarse grid (to find where the
  posterior lives) and then on a fine grid over the region within ``e^-40`` of its maximum.

Numpy and ``math`` only (digamma and trigamma by recurrence and their asymptotic series).
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import check_counts

LN2 = math.log(2.0)
_COARSE = 2000      # points of the coarse log-kappa grid
_FINE = 4000        # points of the fine grid over the posterior's support
_SUPPORT = 40.0     # the fine grid covers log-posterior >= max - 40 (e^-40 of the peak)


def digamma(x: float) -> float:
    """psi(x) for x > 0: ``psi(x) = psi(x + 1) - 1/x`` up to x >= 10, then the asymptotic
    series (error below 1e-15 there)."""
    acc = 0.0
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    x2 = 1.0 / (x * x)
    return acc + math.log(x) - 0.5 / x - x2 * (1 / 12 - x2 * (1 / 120 - x2 * (1 / 252 - x2 * (
        1 / 240 - x2 * (1 / 132)))))


def trigamma(x: float) -> float:
    """psi1(x) for x > 0: ``psi1(x) = psi1(x + 1) + 1/x^2`` up to x >= 10, then the series."""
    acc = 0.0
    while x < 10.0:
        acc += 1.0 / (x * x)
        x += 1.0
    x2 = 1.0 / (x * x)
    return acc + 1.0 / x + 0.5 * x2 + (1.0 / x) * x2 * (1 / 6 - x2 * (1 / 30 - x2 * (
        1 / 42 - x2 * (1 / 30))))


def _lgamma_ratio(n: float, b: float) -> float:
    """``ln Gamma(n + b) - ln Gamma(b)``, accurate for tiny b (``ln Gamma(b) = ln Gamma(1 + b)
    - ln b``)."""
    return math.lgamma(n + b) - math.lgamma(1.0 + b) + math.log(b)


def _log_posterior(log_kappa: float, counts, n: int, k: float) -> float:
    kappa = math.exp(log_kappa)
    beta = kappa / k
    log_prior = log_kappa + math.log(trigamma(kappa + 1.0) - trigamma(beta + 1.0) / k)
    log_evidence = -_lgamma_ratio(n, kappa) + sum(_lgamma_ratio(c, beta) for c in counts)
    return log_prior + log_evidence


def _mean_entropy(log_kappa: float, counts, n: int, k: float) -> float:
    kappa = math.exp(log_kappa)
    beta = kappa / k
    s = len(counts)
    h = digamma(n + kappa + 1.0)
    h -= sum((c + beta) * digamma(c + beta + 1.0) for c in counts) / (n + kappa)
    h -= (kappa - s * beta) * digamma(beta + 1.0) / (n + kappa)  # the K - S unseen states
    return h


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    return float(((y[1:] + y[:-1]) * np.diff(x)).sum() / 2.0)


def nsb_entropy(counts, alphabet_size: float) -> float:
    """NSB entropy in bits of the counts ``n_i >= 1`` of the observed states, out of
    ``alphabet_size`` (K) possible states (K >= number of observed states)."""
    c = [int(v) for v in check_counts("counts", counts, positive=True)]
    k = float(alphabet_size)
    if not k >= len(c):
        raise ValueError(f"argument 'alphabet_size' ({alphabet_size}) must be at least the "
                         f"number of observed states ({len(c)})")
    n = sum(c)
    lo, hi = math.log(1e-6), math.log(1e10 * max(k, n))
    grid = np.linspace(lo, hi, _COARSE)
    logp = np.array([_log_posterior(x, c, n, k) for x in grid])
    top = int(np.argmax(logp))
    inside = np.flatnonzero(logp >= logp[top] - _SUPPORT)
    a = grid[max(inside[0] - 1, 0)]
    b = grid[min(inside[-1] + 1, _COARSE - 1)]
    fine = np.linspace(a, b, _FINE)
    logp = np.array([_log_posterior(x, c, n, k) for x in fine])
    w = np.exp(logp - logp.max())
    h = np.array([_mean_entropy(x, c, n, k) for x in fine])
    return _trapezoid(w * h, fine) / _trapezoid(w, fine) / LN2
