"""Plain-numpy reference of definitions §7: Bernoulli-Bernoulli RBMs by exact enumeration, and
the generation ability (KL divergence of label distributions, in bits).

Conventions: ``W`` is ``(n_visible, n_hidden)``, ``a`` the visible biases, ``b`` the hidden
biases; energy ``E(v, h) = -a.v - b.h - v.W.h``. Everything is float64. The enumerations are
exponential in the number of units and meant for tiny machines (<= ~20 units).
"""
from __future__ import annotations

import numpy as np


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + float(np.log(np.sum(np.exp(x - m))))


def sigmoid(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def all_states(n: int) -> np.ndarray:
    """Every binary vector of length n, ``(2**n, n)`` float64; row i is the bits of i, unit 0
    the least significant."""
    idx = np.arange(2 ** n, dtype=np.int64)
    return ((idx[:, None] >> np.arange(n)) & 1).astype(np.float64)


def state_index(states: np.ndarray) -> np.ndarray:
    """Inverse of `all_states`: the integer whose bits are each 0/1 row."""
    s = np.asarray(states).astype(np.int64)
    return (s << np.arange(s.shape[1])).sum(axis=1)


def energy(v, h, W, a, b) -> np.ndarray:
    """``E(v, h)`` for rows of v and h (same number of rows)."""
    v, h = np.asarray(v, np.float64), np.asarray(h, np.float64)
    return -(v @ a) - (h @ b) - np.einsum("ni,ij,nj->n", v, W, h)


def p_h_given_v(v, W, b) -> np.ndarray:
    """``P(h_j = 1 | v) = sigmoid(b_j + (vW)_j)``."""
    return sigmoid(np.asarray(v, np.float64) @ W + b)


def p_v_given_h(h, W, a) -> np.ndarray:
    """``P(v_i = 1 | h) = sigmoid(a_i + (W h)_i)``."""
    return sigmoid(np.asarray(h, np.float64) @ W.T + a)


def free_energy(v, W, a, b) -> np.ndarray:
    """``F(v) = -a.v - sum_j softplus(b_j + (vW)_j)``, so that ``P(v) = exp(-F(v)) / Z``."""
    v = np.asarray(v, np.float64)
    return -(v @ a) - _softplus(v @ W + b).sum(axis=1)


def log_partition(W, a, b) -> float:
    """``log Z`` (natural log) by enumerating the smaller layer and summing the other one out
    analytically."""
    W, a, b = (np.asarray(t, np.float64) for t in (W, a, b))
    n_v, n_h = W.shape
    if n_v <= n_h:
        return _logsumexp(-free_energy(all_states(n_v), W, a, b))
    # Symmetric form: F(h) = -b.h - sum_i softplus(a_i + (W h)_i).
    h = all_states(n_h)
    return _logsumexp(h @ b + _softplus(h @ W.T + a).sum(axis=1))


def log_partition_joint(W, a, b) -> float:
    """``log Z`` by enumerating every joint state ``(v, h)`` (a second, independent route)."""
    n_v, n_h = np.asarray(W).shape
    v, h = all_states(n_v), all_states(n_h)
    vv = np.repeat(v, len(h), axis=0)
    hh = np.tile(h, (len(v), 1))
    return _logsumexp(-energy(vv, hh, W, a, b))


def visible_distribution(W, a, b) -> np.ndarray:
    """Exact ``P(v)`` over `all_states` of the visible layer."""
    logp = -free_energy(all_states(np.asarray(W).shape[0]), W, a, b) - log_partition(W, a, b)
    return np.exp(logp)


def log_likelihood(v, W, a, b) -> float:
    """Mean ``log P(v)`` (nats) of the rows of v (0/1 or probabilities, read as in `free_energy`)."""
    return float(np.mean(-free_energy(v, W, a, b)) - log_partition(W, a, b))


def kt_distribution(labels, n_classes: int) -> np.ndarray:
    """Krichevsky-Trofimov estimate ``(n_c + 1/2) / (n + C/2)`` of a label distribution."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=n_classes).astype(np.float64)
    return (counts + 0.5) / (counts.sum() + n_classes / 2.0)


def kl_bits(p, q) -> float:
    """``sum_c p_c log2(p_c / q_c)`` over the classes with ``p_c > 0``."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = p > 0
    return float(np.sum(p[m] * np.log2(p[m] / q[m])))


def generation_ability(train_labels, generated_labels, n_classes: int) -> float:
    """definitions §7: ``1 / KL(P || Q)`` in bits, P the empirical training label distribution, Q the
    KT-smoothed distribution of the generated labels; infinity when KL = 0."""
    p = np.bincount(np.asarray(train_labels, np.int64), minlength=n_classes) / len(train_labels)
    kl = kl_bits(p, kt_distribution(generated_labels, n_classes))
    return float("inf") if kl == 0 else 1.0 / kl
