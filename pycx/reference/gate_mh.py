"""Reference of one Metropolis-Hastings step of the gate-state sampler (`pycx.kernels.gate_mh`;
math in ``csrc/include/pycx/gate_mh.hpp``): plain numpy in float64, exact sigmoid and softplus,
and the same counter-based hash for the random numbers, so that the kernel's flips and
acceptances can be compared one by one."""
from __future__ import annotations

import numpy as np

M64 = (1 << 64) - 1
LOGIT_CLAMP = 30.0


def splitmix64(x):
    """splitmix64 on Python ints or uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def fmix32(h):
    with np.errstate(over="ignore"):
        h = np.asarray(h, dtype=np.uint32)
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))


def row_keys(seed: int, counter: int, rows: int) -> np.ndarray:
    call = splitmix64(np.uint64(seed & M64) ^ splitmix64(np.uint64(counter & M64)))
    with np.errstate(over="ignore"):
        return splitmix64(call + np.arange(rows, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03))


def unit_uniforms(keys: np.ndarray, d: int, dtype) -> np.ndarray:
    """``(rows, d)`` uniforms: 24-bit grid for float32, 32-bit for float64."""
    k1 = (keys & np.uint64(0xFFFFFFFF)).astype(np.uint32)[:, None]
    k2 = (keys >> np.uint64(32)).astype(np.uint32)[:, None]
    with np.errstate(over="ignore"):
        j = np.arange(d, dtype=np.uint32)[None, :] * np.uint32(0x9E3779B9) + k1
    bits = fmix32(fmix32(j) ^ k2)
    if np.dtype(dtype) == np.float32:
        return (bits >> np.uint32(8)).astype(np.float64) / 16777216.0
    return bits.astype(np.float64) / 4294967296.0


def row_uniforms(keys: np.ndarray) -> np.ndarray:
    b = splitmix64(keys ^ np.uint64(0xA0761D6478BD642F))
    return ((b >> np.uint64(11)).astype(np.float64) + 0.5) / 9007199254740992.0


def flip_logits(s, g, logit_p, neg_half_inv):
    """``(L, n, d)`` clamped flip logits; float64."""
    l = 0.5 * (g + logit_p[:, None, :]) * (1.0 - 2.0 * s) + neg_half_inv[:, None, None]
    return np.clip(l, -LOGIT_CLAMP, LOGIT_CLAMP)


def propose(s, g, logit_p, neg_half_inv, seed: int, counter: int, dtype=np.float32):
    """``(s_new, move, part, u, p)``: the proposal (float64) and, for comparisons, each unit's
    uniform and flip probability."""
    s, g, lp, nhi = (np.asarray(a, dtype=np.float64) for a in (s, g, logit_p, neg_half_inv))
    L, n, d = s.shape
    l = flip_logits(s, g, lp, nhi)
    p = 1.0 / (1.0 + np.exp(-l))
    u = unit_uniforms(row_keys(seed, counter, L * n), d, dtype).reshape(L, n, d)
    flip = (u < p).astype(np.float64)
    move = flip * (1.0 - 2.0 * s)
    part = (move * lp[:, None, :] - flip * l + np.logaddexp(0.0, l)).sum(-1)
    return s + move, move, part, u, p


def accept(s, g, f, s_new, g_new, f_new, move, part, logit_p, neg_half_inv, seed: int,
           counter: int):
    """``(s, g, f, accepted, take, log_ratio, log_u)`` after the acceptance half (float64)."""
    s, g, f, s_new, g_new, f_new, move, part, lp, nhi = (
        np.asarray(a, dtype=np.float64)
        for a in (s, g, f, s_new, g_new, f_new, move, part, logit_p, neg_half_inv))
    L, n, d = s.shape
    b = flip_logits(s_new, g_new, lp, nhi)
    rev = (move * move * b - np.logaddexp(0.0, b)).sum(-1)
    log_ratio = f_new - f + part + rev
    log_u = np.log(row_uniforms(row_keys(seed, counter, L * n))).reshape(L, n)
    take = log_u < log_ratio
    s = np.where(take[..., None], s_new, s)
    g = np.where(take[..., None], g_new, g)
    f = np.where(take, f_new, f)
    return s, g, f, take.sum(1), take, log_ratio, log_u
