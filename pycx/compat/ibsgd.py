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

Computation: 0/1 input (a `PackedBits`, a bool array, or an integer array whose values are
all 0 or 1) uses ``D_ij = Hamming distance`` and ``pycx.kde_sums`` over the distinct rows
(weighted by their counts); any other input goes the float way, as in the original (integers
other than 0/1 are converted to float64): identical rows are merged with integer weights, and
``-D_ij / (2 var) = (x_i . x_j - |x_i|^2 / 2 - |x_j|^2 / 2) / var`` is formed from one
float64 GEMM per tile of distinct rows (tiles of ~1 MiB, so the passes that follow run in
cache), clipped at 0 against rounding, then exponentiated and summed with the weights. Every
row sum includes the row's own term ``exp(0) = 1``: all logits are <= 0 and the sum is >= 1,
so the log-sum-exp needs no running maximum and no logarithm of 0 can occur. Memory is
O(tile x N), never N x N. Differences from the original: float64 throughout (the original
computes in the framework's float32), and the rounding clip at 0. Measured at 8000 x 32
floats (``benchmarks/bench_estimators.py``): see docs/decisions.md.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import FLOAT_DTYPES, as_host_array, check_finite, check_positive, describe
from ..kernels.packed import PackedBits
from ..estimators._common import as_packed_rows

# Float64 elements per tile of the float path: 1 MiB, so that the element-wise passes after
# the GEMM read and write cache, not memory.
_TILE_ELEMENTS = 1 << 17


def _is_binary_input(x) -> bool:
    """0/1 input: a `PackedBits`, a bool array, or an integer array holding only 0 and 1."""
    if isinstance(x, PackedBits):
        return True
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return False
    kind = np.dtype(dtype).kind if not hasattr(dtype, "is_floating_point") else (
        "b" if str(dtype) == "torch.bool" else ("f" if dtype.is_floating_point else "i"))
    if kind == "b":
        return True
    if kind not in "iu":
        return False
    arr = as_host_array("x", x)
    return arr.size == 0 or (int(arr.min()) >= 0 and int(arr.max()) <= 1)


_BLAS = []  # a threadpoolctl controller, made on first use (None: threadpoolctl absent)


def _one_blas_thread():
    """A context that runs BLAS on one thread (threadpoolctl, when installed; else nothing).
    The tiles' GEMMs are small (tile x d x N): with a multi-threaded BLAS every call wakes and
    joins its pool, which on a busy 2-core machine made the whole estimate 4-8x slower
    (measured, 8000 x 32: 8.4 s against 1.1 s); the element-wise passes are single-threaded
    anyway."""
    import contextlib

    if not _BLAS:
        try:
            from threadpoolctl import ThreadpoolController
            _BLAS.append(ThreadpoolController())
        except ImportError:
            _BLAS.append(None)
    if _BLAS[0] is None:
        return contextlib.nullcontext()
    return _BLAS[0].limit(limits=1, user_api="blas")


def _float_mean_log(rows: np.ndarray, var: float) -> float:
    """``(1/N) sum_i ln sum_j exp(-D_ij / (2 var))`` over the distinct rows, weighted."""
    with _one_blas_thread():
        return _float_mean_log_tiles(rows, var)


def _float_mean_log_tiles(rows: np.ndarray, var: float) -> float:
    n = rows.shape[0]
    distinct, counts = np.unique(rows, axis=0, return_counts=True)
    w = counts.astype(np.float64)
    m = distinct.shape[0]
    half_sq = np.einsum("ij,ij->i", distinct, distinct) * (0.5 / var)
    scaled_t = np.ascontiguousarray((distinct * (1.0 / var)).T)
    tile = max(1, _TILE_ELEMENTS // m)
    buf = np.empty((min(tile, m), m))
    acc = 0.0
    for start in range(0, m, tile):
        block = distinct[start:start + tile]
        logits = buf[:block.shape[0]]
        np.matmul(block, scaled_t, out=logits)
        logits -= half_sq[start:start + tile, None]
        logits -= half_sq[None, :]
        np.minimum(logits, 0.0, out=logits)  # D_ij >= 0: a positive logit is rounding
        np.exp(logits, out=logits)
        acc += float(w[start:start + tile] @ np.log(logits @ w))
    return acc / n


def _mean_log_kernel_sum(x, var: float):
    """``(N, d, (1/N) sum_i ln sum_j exp(-D_ij / (2 var)))``."""
    if _is_binary_input(x):
        from ..kernels.kde_sums import _kde_sums_core
        from ..kernels.state_counts import _state_counts_core

        if getattr(x, "dtype", None) in (np.uint16, np.uint32, np.uint64):
            x = np.asarray(x).astype(np.uint8)  # 0/1 (checked): exact, a dtype the packer takes
        packed = as_packed_rows("x", x)
        if packed.n_rows == 0:
            raise ValueError("argument 'x' has no rows")
        sc = _state_counts_core(packed)
        counts = np.asarray(sc.counts, dtype=np.int64)
        # Rows pycx just packed and deduplicated: the trusted core, not the checking kernel.
        totals = _kde_sums_core(sc.states, None, float(var), counts.astype(np.float64),
                                None, None).total
        return packed.n_rows, packed.n_bits, float(counts @ np.log(totals)) / packed.n_rows
    rows = as_host_array("x", x)
    if rows.dtype not in FLOAT_DTYPES and rows.dtype.kind not in "iu":
        raise TypeError(f"argument 'x' must be float or integer activations or binary gates, "
                        f"got {describe(rows)}")
    if rows.ndim != 2 or rows.shape[0] == 0:
        raise ValueError(f"argument 'x' must be (N, dims) with N >= 1, got {describe(rows)}")
    if rows.dtype.kind == "f":
        check_finite("x", rows)
    xs = rows.astype(np.float64)
    return xs.shape[0], xs.shape[1], _float_mean_log(xs, var)


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
