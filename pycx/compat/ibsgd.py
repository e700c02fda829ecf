"""Adapters with the interface of the information-plane KDE estimators (Kolchinsky & Tracey,
"Estimating mixture entropy with pairwise distances", 2017, as used in the IB-SGD
information-plane code): ``entropy_estimator_kl(x, var)``, ``entropy_estimator_bd(x, var)``,
``kde_condentropy(output, var)``, all in NATS.

The activations ``x`` (N rows, d dims) are read as the centres of an equal-weight mixture of
Gaussians ``N(x_i, var I)``. With ``D_ij = ||x_i - x_j||^2``:

- upper bound (KL):  ``H_KL(var) = d/2 + d/2 ln(2 pi var) + ln N
  - (1/N) sum_i ln sum_j exp(-D_ij / (2 var))``;
- lower bound (Bhattacharyya): ``H_BD(var) = H_KL(4 var) + d/2 ln(1/4)``;
- entropy of one component: ``H(X|T) = d/2 (ln(2 pi var) + 1)``.

Computation: binary input (a `PackedBits`, or a bool/integer 0/1 array) uses
``D_ij = Hamming distance`` and ``pycx.kde_sums`` over the distinct rows (weighted by their
counts); float input uses ``D_ij = |x_i|^2 + |x_j|^2 - 2 x_i . x_j`` (float64 GEMM, clipped
at 0 against rounding) in tiles of rows with a running log-sum-exp, so memory is
O(tile x N), never N x N. The row sums always include the self term ``exp(0) = 1``, so no
logarithm of 0 can occur. Differences from the original: float64 throughout (the original
computes in the framework's float32), and the rounding clip at 0.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import FLOAT_DTYPES, as_host_array, check_finite, check_positive, describe
from ..kernels.packed import PackedBits
from ..estimators._common import as_packed_rows

# Rows per tile of the float path: a tile x N float64 block of distances (<= 32 MiB at N = 16k).
_TILE_ELEMENTS = 1 << 22


def _is_binary_input(x) -> bool:
    return isinstance(x, PackedBits) or (getattr(x, "dtype", None) is not None
                                         and np.dtype(x.dtype).kind in "biu")


def _mean_log_kernel_sum(x, var: float):
    """``(N, d, (1/N) sum_i ln sum_j exp(-D_ij / (2 var)))``."""
    if _is_binary_input(x):
        from ..kernels.kde_sums import kde_sums
        from ..kernels.state_counts import state_counts

        packed = as_packed_rows("x", x)
        if packed.n_rows == 0:
            raise ValueError("argument 'x' has no rows")
        sc = state_counts(packed)
        counts = np.asarray(sc.counts, dtype=np.int64)
        totals = kde_sums(sc.states, s2=var, weights=counts).total
        return packed.n_rows, packed.n_bits, float(counts @ np.log(totals)) / packed.n_rows
    rows = as_host_array("x", x)
    if rows.dtype not in FLOAT_DTYPES:
        raise TypeError(f"argument 'x' must be float32/float64 activations or binary gates, got {describe(rows)}")
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"argument 'x' must be (N, dims) with N >= 1, got {describe(rows)}")
    check_finite("x", rows)
    xs = rows.astype(np.float64)
    n = xs.shape[0]
    sq = np.einsum("ij,ij->i", xs, xs)
    tile = max(1, _TILE_ELEMENTS // n)
    acc = 0.0
    for start in range(0, n, tile):
        block = xs[start:start + tile]
        dist = sq[start:start + tile, None] + sq[None, :] - 2.0 * (block @ xs.T)
        np.maximum(dist, 0.0, out=dist)
        logits = dist * (-1.0 / (2.0 * var))
        top = logits.max(axis=1)  # >= 0-ish: the self term
        acc += float((top + np.log(np.exp(logits - top[:, None]).sum(axis=1))).sum())
    return n, xs.shape[1], acc / n


def entropy_estimator_kl(x, var) -> float:
    """KL (upper-bound) estimate of the mixture entropy, nats (see module docstring)."""
    var = check_positive("var", var)
    n, d, mean_log = _mean_log_kernel_sum(x, var)
    return d / 2.0 + d / 2.0 * math.log(2.0 * math.pi * var) + math.log(n) - mean_log


def entropy_estimator_bd(x, var) -> float:
    """Bhattacharyya (lower-bound) estimate, nats: ``H_KL(4 var) + d/2 ln(1/4)``."""
    var = check_positive("var", var)
    n, d, mean_log = _mean_log_kernel_sum(x, 4.0 * var)
    kl = d / 2.0 + d / 2.0 * math.log(2.0 * math.pi * 4.0 * var) + math.log(n) - mean_log
    return kl + d / 2.0 * math.log(0.25)


def kde_condentropy(output, var) -> float:
    """Entropy of one Gaussian component ``N(., var I)`` in d = output's columns: nats."""
    var = check_positive("var", var)
    d = output.n_bits if isinstance(output, PackedBits) else as_host_array("output", output).shape[1]
    return d / 2.0 * (math.log(2.0 * math.pi * var) + 1.0)
