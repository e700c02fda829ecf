"""Adapters with the interface of Janik's ml-entropy estimator ("Entropy from Machine
Learning"): ``entropy_xgb(X, n_splits=5, verbose=True, base2=True, **xgb_kwargs)`` and
``entropy_histogram(X, method)``, both returning the total entropy as a float.

Differences from the original ``entropy_xgb`` (all deliberate, docs/definitions.md §5.1):
- probabilities are clipped to ``[eps, 1 - eps]`` instead of ``log(p + eps)``;
- the first unit's term is the exact ``h2(p_0)`` (the original adds eps inside its logs);
- a training fold in which the target has one class predicts the Laplace rate
  ``(count_1 + 1/2)/(n_fold + 1)`` (the original fits/predicts whatever the classifier does);
- folds are one seeded shuffle (``seed``/``random_state``, default 0) shared by every column,
  instead of a fresh unseeded ``KFold(shuffle=True)`` per column: results are reproducible;
- identical rows are merged with integer weights (same estimate, faster);
- ``verbose`` prints the same per-unit lines, after the computation rather than during it.
The XGBoost defaults are the classifier's own (``n_estimators=100, max_depth=6,
learning_rate=0.3``), as in the original, which passes ``**kwargs`` to ``XGBClassifier``;
paper 000's settings (2 folds, depth 3, rate 0.1) are `pycx.xgb_entropy`'s defaults instead.
"""
from __future__ import annotations

import math

import numpy as np

from .._validate import as_host_array, check_choice, describe
from ..estimators._common import as_gate_array


def _rows(X) -> np.ndarray:
    x = as_host_array("X", X)
    if x.ndim < 2:
        raise ValueError(f"argument 'X' must be (samples, features...), got {describe(x)}")
    return as_gate_array("X", x.reshape(x.shape[0], -1))


# XGBClassifier keyword -> booster parameter (the ones with a different name).
_SKLEARN_TO_BOOSTER = {"n_jobs": None, "random_state": None, "reg_lambda": "lambda",
                       "reg_alpha": "alpha", "min_split_loss": "gamma"}


def entropy_xgb(X, n_splits=5, verbose=True, compare=0, compare_method="grassberger",
                base2=True, eps=1e-8, gpu=False, **kwargs) -> float:
    """Entropy of the binary rows of X (features flattened) by the XGBoost chain rule, in bits
    (``base2``) or nats. ``compare=n`` also prints, for the first n prefixes, the histogram
    entropy per unit (``compare_method``). Other keyword arguments are XGBClassifier's."""
    from ..estimators.xgb import xgb_entropy

    x = _rows(X)
    kw = dict(kwargs)
    n_estimators = kw.pop("n_estimators", 100)
    max_depth = kw.pop("max_depth", 6)
    learning_rate = kw.pop("learning_rate", kw.pop("eta", 0.3))
    seed = kw.pop("random_state", kw.pop("seed", 0))
    n_jobs = kw.pop("n_jobs", None)
    tree_method = kw.pop("tree_method", "hist")
    device = kw.pop("device", "cuda" if gpu else "cpu")
    params = {_SKLEARN_TO_BOOSTER.get(k, k): v for k, v in kw.items()}
    if tree_method not in ("hist", "gpu_hist"):
        params["tree_method"] = tree_method
    threads = None if n_jobs is None or n_jobs < 1 else int(n_jobs)
    result = xgb_entropy(x, folds=n_splits, n_estimators=n_estimators, max_depth=max_depth,
                         learning_rate=learning_rate, seed=seed, eps=eps, device=device,
                         threads=threads, xgb_params=params)
    unit = 1.0 if base2 else math.log(2.0)  # bits -> the unit returned (and printed)
    if verbose:
        cumulative = np.cumsum(result.terms) * unit
        for i, s in enumerate(cumulative):
            if compare > i:
                direct = entropy_histogram(x[:, : i + 1], method=compare_method, base2=base2)
                print(f"{i + 1} {s:.3f} {s / (i + 1):.5f} [{direct / (i + 1):.5f}]")
            else:
                print(f"{i + 1} {s:.3f} {s / (i + 1):.5f}")
    return result.entropy * unit


_METHODS = ("ml", "miller-madow", "grassberger", "chao-shen", "james-stein")


def entropy_histogram(X, method="ml", base2=True) -> float:
    """Entropy of the distinct rows of binary X (features flattened) from their counts, in
    bits (``base2``, the default) or nats. Methods: "ml" (plug-in), "miller-madow", "grassberger" (Grassberger 2003, with
    ``G(h) = psi(h) + (-1)^h/2 (psi((h+1)/2) - psi(h/2))``), "chao-shen" (coverage-adjusted
    Horvitz–Thompson), "james-stein" (shrinkage towards uniform over the ``2^d`` states).

    Differences from the original: rows must be 0/1 (the original hashes any integers with
    powers of two); "chao-shen" uses ``f1 = n - 1`` when every state is a singleton (the
    original divides by zero there); "james-stein" clips the shrinkage intensity to [0, 1]
    and needs d <= 1000 (2^d as a float).
    """
    if not isinstance(base2, (bool, np.bool_)):
        raise TypeError(f"argument 'base2' must be a bool, got {type(base2).__name__}")
    bits = _histogram_bits(X, method)
    return bits if base2 else bits * math.log(2.0)


def _histogram_bits(X, method) -> float:
    from ..estimators.counts import state_frequencies

    check_choice("method", method, _METHODS)
    counts = state_frequencies("X", _rows(X)).astype(np.float64)
    n = counts.sum()
    theta = counts / n
    if method == "ml":
        return float(-(theta * np.log2(theta)).sum())
    if method == "miller-madow":
        return float(-(theta * np.log2(theta)).sum() + (counts.size - 1) / (2 * n) / math.log(2.0))
    if method == "grassberger":
        from scipy.special import digamma

        parity = 1.0 - 2.0 * (counts % 2)
        g = digamma(counts) + 0.5 * parity * (digamma((counts + 1) / 2) - digamma(counts / 2))
        return float((math.log(n) - (counts * g).sum() / n) / math.log(2.0))
    if method == "chao-shen":
        singletons = float((counts == 1).sum())
        if singletons == n:
            singletons = n - 1.0
        covered = (1.0 - singletons / n) * theta
        inclusion = 1.0 - (1.0 - covered) ** n
        return float(-(covered * np.log2(covered) / inclusion).sum())
    d = _rows(X).shape[1]
    if d > 1000:
        raise ValueError(f"method 'james-stein' needs at most 1000 binary features (2^d states), got {d}")
    n_cells = 2.0 ** d
    target = 1.0 / n_cells
    missing = n_cells - counts.size
    if n > 1:
        spread = ((target - theta) ** 2).sum() + missing * target ** 2
        shrink = (1.0 - (theta ** 2).sum()) / ((n - 1) * spread) if spread > 0 else 1.0
    else:
        shrink = 1.0
    shrink = min(1.0, max(0.0, shrink))
    theta_shrunk = shrink * target + (1.0 - shrink) * theta
    present = -(theta_shrunk * np.log2(theta_shrunk)).sum()
    absent = -missing * (shrink * target) * math.log2(shrink * target) if shrink > 0 else 0.0
    return float(present + absent)
