"""Boosted trees on packed binary features (``csrc/include/pycx/boost_fit.hpp``): the
classifiers of the XGBoost chain rule (`pycx.xgb_entropy` with ``backend="native"``).

XGBoost's ``hist`` algorithm for ``binary:logistic`` (depth-wise growth, base score the
weighted mean label, float gradients, double histograms summed in row order, the child with
the smaller hessian built and its sibling subtracted, float split gains, ties to the lower
feature, leaf weight ``-G / (H + lambda)`` times ``eta``) written for 0/1 features held as
bits: a histogram pass adds each point to two bins per feature with vector instructions and
no bin index (AVX-512 and AVX2 builds; a portable loop elsewhere, about XGBoost's speed on
large fits), and a fit has none of XGBoost's per-round set-up. On random 0/1 data it gives
XGBoost's predictions bit for bit in about 99% of fits with small integer weights and about
89% with weights of 1e4-1e7 (177 of 200 measured; tests/test_boost_fit.py); the other
fits differ where two candidate splits' gains agree to float rounding and XGBoost's gain
arithmetic, which is not fully reproduced here, breaks the tie the other way: the two trees
then fit the training points equally well and differ on some held-out rows.

Why a kernel: the chain rule makes thousands of small fits per layer, and XGBoost spends
~35 us per boosting round even on 64 points; a 64-unit layer of ResNet-56 at 100,000 rows
costs ~8 s of XGBoost fits (benchmarks/bench_boost_fit.py has the ratio).
"""
from __future__ import annotations

import numpy as np

from .. import _cpu
from .._validate import check_int, check_positive, describe

__all__ = ["fit_predict"]


def _check_words(name, a, words=None):
    if (not isinstance(a, np.ndarray) or a.dtype != np.uint64 or a.ndim != 2
            or not a.flags.c_contiguous or (words is not None and a.shape[1] != words)):
        want = "(rows, words)" if words is None else f"(rows, {words})"
        raise ValueError(f"argument '{name}' must be a C-contiguous uint64 array of shape {want} "
                         f"(packed rows, bit j of a row = feature j), got {describe(a)}")


def fit_predict(train: np.ndarray, n_features: int, label: np.ndarray, weight: np.ndarray,
                test: np.ndarray, *, rounds: int = 100, max_depth: int = 3, eta: float = 0.1,
                lambda_: float = 1.0, min_child_weight: float = 1.0) -> np.ndarray:
    """Fits ``rounds`` trees on the packed training rows and returns P(label = 1) of the test
    rows (float32, as XGBoost's predictions).

    train, test: packed rows, uint64 ``(rows, words)`` with the same words (bit j of a row is
    feature j < `n_features`; higher bits are ignored). label: float32 0/1 per training row,
    both classes present. weight: float32 > 0 per training row.

    >>> import pycx
    >>> rng = np.random.default_rng(0)
    >>> x = rng.random((500, 6)) < 0.5
    >>> y = (x[:, 0] ^ (rng.random(500) < 0.1)).astype(np.float32)
    >>> words = pycx.pack_bits(x).words
    >>> p = fit_predict(words, 6, y, np.ones(500, np.float32), words[:4], rounds=30)
    >>> (p.round(2) > 0.5).tolist() == x[:4, 0].tolist()
    True
    """
    n_features = check_int("n_features", n_features, minimum=1)
    _check_words("train", train)
    _check_words("test", test, train.shape[1])
    if n_features > 64 * train.shape[1]:
        raise ValueError(f"argument 'n_features' is {n_features} but the rows hold "
                         f"{64 * train.shape[1]} bits")
    n = train.shape[0]
    for name, a in (("label", label), ("weight", weight)):
        if (not isinstance(a, np.ndarray) or a.dtype != np.float32 or a.shape != (n,)
                or not a.flags.c_contiguous):
            raise ValueError(f"argument '{name}' must be a C-contiguous float32 array of shape "
                             f"({n},), got {describe(a)}")
    if n == 0:
        raise ValueError("argument 'train' has no rows")
    if not np.isin(label, (0.0, 1.0)).all() or label.min() == label.max():
        raise ValueError("argument 'label' must hold 0s and 1s, both")
    if not (np.isfinite(weight).all() and (weight > 0).all()):
        raise ValueError("argument 'weight' must be finite and > 0")
    rounds = check_int("rounds", rounds, minimum=1)
    max_depth = check_int("max_depth", max_depth, minimum=1)
    eta = check_positive("eta", eta)
    lambda_ = float(lambda_)
    if not np.isfinite(lambda_) or lambda_ < 0:
        raise ValueError(f"argument 'lambda_' must be finite and >= 0, got {lambda_!r}")
    min_child_weight = check_positive("min_child_weight", min_child_weight)
    return _fit_predict_core(train, n_features, label, weight, test, rounds=rounds,
                             max_depth=max_depth, eta=eta, lambda_=lambda_,
                             min_child_weight=min_child_weight)


def _fit_predict_core(train: np.ndarray, n_features: int, label: np.ndarray, weight: np.ndarray,
                      test: np.ndarray, *, rounds: int, max_depth: int, eta: float,
                      lambda_: float = 1.0, min_child_weight: float = 1.0) -> np.ndarray:
    """`fit_predict` without its checks: the trusted core the chain rule calls on the points
    it built (C-contiguous uint64 rows with the same words, float32 labels holding both
    classes, float32 weights > 0, settings already checked). `fit_predict` validates, then
    calls it.

    >>> import pycx
    >>> x = np.arange(40, dtype=np.uint8)[:, None] % 2               # one feature: 0, 1, 0, ...
    >>> words = pycx.pack_bits(x).words
    >>> p = _fit_predict_core(words, 1, x[:, 0].astype(np.float32), np.ones(40, np.float32),
    ...                       words[:4], rounds=20, max_depth=1, eta=0.5)
    >>> (p > 0.5).tolist()
    [False, True, False, True]
    """
    return _cpu.boost_fit_predict(train, n_features, label, weight, test, rounds, max_depth,
                                  np.float32(eta), float(lambda_), float(min_child_weight))
