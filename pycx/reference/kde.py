"""Reference of the transformation-complexity estimators of paper 004 (docs/definitions.md §4).

Input: per-sample gate rows ``sigma_j in {0,1}^d`` of shape ``(n, d)`` (any gate dtype),
unit rates ``p_i = mean_j sigma_ji``. Kernel ``K_jk = exp(-h_jk / (2 s2))`` with ``h_jk`` the
Hamming distance. Entropies are in bits.

Kernel means are formed in log space (log-sum-exp over the kernel's exponents), so that a
small bandwidth gives the exact limit instead of ``log(0)``. ``s2 = 0`` is accepted and means
that limit: ``K_jk = 1[h_jk = 0]`` (the bandwidth of a layer whose units are all constant).
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import (check_choice, check_gate_matrix, check_int, check_labels,
                         check_positive)
from .entropy import h2
from .kde_sums import hamming_distances

ALPHA_CONV = 0.04    # bandwidth factor for gates of a convolutional output (docs/definitions.md §4)
ALPHA_LINEAR = 0.01  # ... and of a linear (2-D) output


def default_alpha(output_ndim) -> float:
    """definitions §4 default bandwidth factor for a layer whose output has ``output_ndim`` axes
    (batch axis included): 0.01 for a linear ``(N, D)`` output, 0.04 for a convolutional one.
    Outputs with spatial axes of any count (3-D conv1d, 5-D conv3d) count as convolutional."""
    ndim = check_int("output_ndim", output_ndim, minimum=2)
    return ALPHA_LINEAR if ndim == 2 else ALPHA_CONV


def _gates(gates, min_rows: int = 1) -> np.ndarray:
    return check_gate_matrix("gates", gates, min_rows=min_rows).astype(np.uint8)


def layer_sum_entropy(gates) -> float:
    """``C_l = sum_i h2(p_i)`` in bits (definitions §4, paper 004 eq. 6): the joint entropy if the
    units were independent."""
    g = _gates(gates)
    return float(np.sum(h2(g.astype(np.float64).mean(axis=0))))


def kde_bandwidth(gates, alpha, *, mode: str = "var") -> float:
    """Kernel variance ``s2 = alpha * V`` (definitions §4). ``mode="var"`` (default, the paper's
    ``Var(Sigma_l)``): ``V = sum_i p_i (1 - p_i)``; ``mode="d"`` (the authors' released code):
    ``V = d``. See `default_alpha` for the usual alpha. ``V = 0`` (all units constant in
    "var" mode, or d = 0) gives 0, which the estimators read as the small-bandwidth limit."""
    a = check_positive("alpha", alpha)
    check_choice("mode", mode, ("var", "d"))
    g = _gates(gates)
    if mode == "d":
        return a * float(g.shape[1])
    p = g.astype(np.float64).mean(axis=0)
    return a * float((p * (1.0 - p)).sum())


def _log_kernel(a: np.ndarray, b: np.ndarray, s2: float) -> np.ndarray:
    """``log K(a_j, b_k)`` as an (rows of a, rows of b) matrix; -inf where K = 0."""
    h = hamming_distances(a, b).astype(np.float64)
    if s2 == 0.0:
        return np.where(h == 0, 0.0, -np.inf)
    return -h / (2.0 * s2)


def _log_mean_exp(log_values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Row-wise ``log( sum_k exp(v_jk) / counts_j )``, stable; -inf for a row of -inf."""
    top = log_values.max(axis=1)
    finite_top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return finite_top + np.log(np.exp(log_values - finite_top[:, None]).sum(axis=1) / counts)


def _check_s2(s2) -> float:
    return check_positive("s2", s2, allow_zero=True)


def _entropy_of(g: np.ndarray, s2: float) -> float:
    log_k = _log_kernel(g, g, s2)
    n = g.shape[0]
    return float(-_log_mean_exp(log_k, np.full(n, float(n))).mean() / math.log(2.0))


def kde_entropy(gates, s2) -> float:
    """Complexity ``H(Sigma) = -(1/n) sum_j log2( (1/n) sum_k K_jk )`` (definitions §4, paper 004
    eq. 2), self term ``K_jj = 1`` included, so ``0 <= H <= log2 n``."""
    return _entropy_of(_gates(gates), _check_s2(s2))


def kde_conditional_entropy(gates, labels, s2) -> float:
    """``H(Sigma|Y) = sum_m (n_m/n) H(Sigma restricted to class m)`` (definitions §4), each class
    term the `kde_entropy` of the class's rows alone: normalised by its own ``n_m``, same
    bandwidth ``s2``. Equivalently ``-(1/n) sum_j log2( (1/n_{y_j}) sum_{k: y_k = y_j} K_jk )``."""
    g = _gates(gates)
    s2 = _check_s2(s2)
    y = check_labels("labels", labels, g.shape[0])
    total = 0.0
    for cls in np.unique(y):
        members = g[y == cls]
        total += members.shape[0] / g.shape[0] * _entropy_of(members, s2)
    return total


def kde_mutual_information(gates, labels, s2) -> float:
    """``I(X; Sigma; Y) = H(Sigma) - H(Sigma|Y)`` (docs/definitions.md §4, paper 004 eq. 4 with
    ``I(Sigma; Y | X) = 0``)."""
    g = _gates(gates)
    return kde_entropy(g, s2) - kde_conditional_entropy(g, labels, s2)


# "TCKD": the spawn key of the synthetic stream of the total correlation.
SYNTHETIC_SPAWN_KEY = 0x54434B44


def synthetic_independent_rows(gates, seed) -> np.ndarray:
    """The n synthetic rows of the total-correlation estimate: independent Bernoulli(p_i)
    bits with the rates ``p_i`` of ``gates``, drawn exactly as
    ``(default_rng(SeedSequence(seed, spawn_key=(SYNTHETIC_SPAWN_KEY,))).random((n, d)) < p)``
    with ``p`` the float64 column means (uniforms consumed row by row, C order). The spawn key
    makes this stream differ from a user's plain ``default_rng(seed)`` draw of the data itself
    (with the plain stream, data drawn that way shared rows with its synthetic twin). A fast path
    reproduces the same rows by making this same call."""
    g = _gates(gates)
    seed = check_int("seed", seed, minimum=0)
    p = g.astype(np.float64).mean(axis=0)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SYNTHETIC_SPAWN_KEY,)))
    return (rng.random(g.shape) < p).astype(np.uint8)


def kde_total_correlation(gates, s2, seed=0, *, leave_one_out: bool = True) -> float:
    """Total correlation (docs/definitions.md §4, paper 004 eq. 28), bits:
    ``TC = (1/n) sum_j log2( mean_{k != j} K(sigma_j, sigma_k) / mean_k K(sigma_j, sigma_hat_k) )``
    with ``sigma_hat`` = `synthetic_independent_rows` (gates, seed), same ``s2``.

    Decision: the numerator leaves row j out (``leave_one_out=True``, needs n >= 2); with
    ``leave_one_out=False`` it is eq. 28 as printed, mean over all k including ``K_jj = 1``.
    """
    if not isinstance(leave_one_out, (bool, np.bool_)):
        raise TypeError(f"argument 'leave_one_out' must be a bool, got {type(leave_one_out).__name__}")
    g = _gates(gates, min_rows=2 if leave_one_out else 1)
    s2 = _check_s2(s2)
    n = g.shape[0]
    synthetic = synthetic_independent_rows(g, seed)
    log_k = _log_kernel(g, g, s2)
    if leave_one_out:
        np.fill_diagonal(log_k, -np.inf)
        numerator = _log_mean_exp(log_k, np.full(n, float(n - 1)))
    else:
        numerator = _log_mean_exp(log_k, np.full(n, float(n)))
    denominator = _log_mean_exp(_log_kernel(g, synthetic, s2), np.full(n, float(n)))
    with np.errstate(invalid="ignore"):
        return float((numerator - denominator).mean() / math.log(2.0))
