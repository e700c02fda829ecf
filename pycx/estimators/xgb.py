"""Classifier chain-rule entropy of a binary vector (docs/definitions.md §5.1; Janik, "Entropy from
Machine Learning", as used by paper 000).

``H(Z) = h2(p_0) + sum_{i>=1} H(z_i | z_0..z_{i-1})``; each conditional term is bounded above
by the out-of-fold cross-entropy (bits) of a classifier predicting ``z_i`` from the units
before it in the chosen order.

Three units: this module (`xgb_entropy`: the checks, the folds and the one driver of the
(column, fold) fits, sequential or on an executor), `pycx.estimators.xgb_rows` (the row sets:
each fold's distinct rows, deduplicated into weighted prefix groups, and the column order) and
`pycx.estimators.xgb_boosters` (the two boosters, XGBoost and the native one, chosen by the
``backend`` argument).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .._pool import Unit, available_cores, check_executor, open_executor, run_units
from .._validate import check_choice, check_int, check_positive
from ..kernels.packed import PackedBits
from ._common import Result, as_packed_rows, check_rows, h2
from .xgb_boosters import BACKENDS, check_cuda_device, import_xgboost, make_booster
from .xgb_rows import fold_rows, fold_states, resolve_order, row_sets

if TYPE_CHECKING:
    import concurrent.futures

    import numpy.typing as npt

# Predicted probabilities are clipped to [eps, 1 - eps]: a confident miss then costs at most
# log2(1/eps) ~ 19.9 bits for that row instead of an unbounded amount.
DEFAULT_EPS = 1e-6

# Automatic thread count: a fit on fewer (distinct, weighted) training points than this runs
# on one thread. Measured (XGBoost 3.2, depth 3, 100 rounds, 2 cores): 16 points take 12 ms on
# one thread and 69 ms on two, 10,000 points 0.10 s vs 0.81 s on a loaded machine; the
# threads' start-up and synchronisation per round dwarf such small histograms.
_SINGLE_THREAD_BELOW = 32768


@dataclass(frozen=True)
class XgbEntropy(Result):
    """Chain-rule estimate. ``terms[i]`` is the term of unit ``order[i]`` (the i-th unit of the
    chain): ``terms[0] = h2(p_order[0])``, the others out-of-fold cross-entropies, in bits."""
    entropy: float                  # bits, the sum of terms
    terms: np.ndarray               # (units,) float64, chain order
    order: np.ndarray               # (units,) int64, the column order used
    n_rows: int
    n_units: int
    n_fits: int                     # classifiers trained
    n_degenerate: int               # (column, fold) pairs answered by the Laplace rate
    settings: dict = field(default_factory=dict)
    # (folds,) float64: the estimate on each fold's test rows alone, terms[0] + sum over the
    # chain of that fold's cross-entropy per test row; `entropy` is their mean weighted by the
    # fold sizes. Their spread is the chain rule's fold-to-fold error bar (definitions §5.1).
    fold_entropies: Optional[np.ndarray] = None
    # The chain rule is an upper bound and can exceed log2(rows), the entropy of rows that are
    # all distinct (the most any plug-in count over these rows could show): flagged.
    log2_rows: float = field(init=False)
    exceeds_log2_rows: bool = field(init=False)

    def __post_init__(self):
        log2_rows = float(np.log2(self.n_rows)) if self.n_rows > 0 else 0.0
        object.__setattr__(self, "log2_rows", log2_rows)
        object.__setattr__(self, "exceeds_log2_rows", bool(self.entropy > log2_rows))

    @property
    def per_unit(self) -> float:
        """Complexity per neuron, ``H / units``."""
        return self.entropy / self.n_units


def _laplace_rate(ones: float, total: float) -> float:
    return (ones + 0.5) / (total + 1.0)


def _weighted_log_loss(p: np.ndarray, y: np.ndarray, w: Optional[np.ndarray], eps: float) -> float:
    """Sum over rows of ``-w log2 P(y)`` with P clipped to [eps, 1 - eps]."""
    p = np.clip(np.asarray(p, dtype=np.float64), eps, 1.0 - eps)
    loss = -np.where(y != 0, np.log2(p), np.log2(1.0 - p))
    return float(loss.sum() if w is None else loss @ w.astype(np.float64))


def xgb_entropy(gates: "npt.ArrayLike | PackedBits", *, folds: int = 2, n_estimators: int = 100,
                max_depth: int = 3,
                learning_rate: float = 0.1, order: "str | Sequence[int]" = "natural",
                seed: int = 0, dedup: bool = True,
                eps: float = DEFAULT_EPS, device: str = "cpu", progress: bool = False,
                threads: Optional[int] = None, xgb_params: Optional[dict] = None,
                executor: "str | concurrent.futures.Executor | None" = None,
                backend: str = "xgboost") -> XgbEntropy:
    """Entropy (bits) of binary rows by the classifier chain rule with XGBoost (definitions §5.1).

    gates: ``(rows, units)`` 0/1 array (bool/integer/float) or `PackedBits` (e.g. the per-patch
        rows of ``pycx.pack_per_patch``).
    folds: K-fold split over the original rows (seeded shuffle; the same split for every
        column). Paper 000 uses 2.
    n_estimators, max_depth, learning_rate: XGBoost settings (paper 000: 100, 3, 0.1);
        ``tree_method="hist"``, ``random_state=seed``; ``xgb_params`` adds/overrides booster
        parameters (e.g. ``{"min_child_weight": 1}``).
    order: "natural", "random" (seeded permutation), "greedy" (see
        `pycx.estimators.xgb_rows.greedy_order`: the next unit is the one most correlated with
        those already chosen) or an explicit permutation.
    dedup: merge identical rows within each fold into integer weights (much faster when rows
        repeat, as gate rows do; `pycx.estimators.xgb_rows`). ``dedup=False`` fits every row.
        The estimates agree up to float32 rounding of the weighted gradients: measured under
        1e-6 bits per term on 440 skewed cases (up to 200,000 rows), but a rounding can flip a
        near-tied split, and issue 32's fuzz found estimates 5.8e-4 bits apart
        (docs/decisions.md: bound 1e-3).
    eps: predicted probabilities are clipped to ``[eps, 1 - eps]``.
    device: XGBoost device ("cpu" or "cuda").
    threads: XGBoost threads. Default: one thread for fits on fewer than 32768 (distinct)
        training points, where threading only adds overhead, else the cores this process
        may use.

    executor: None (default) fits one classifier after another. "threads" / "processes" (a
        pool of one worker per available core, made for this call) or any
        `concurrent.futures.Executor` (a ``dask.distributed`` client's ``get_executor()``, or
        the ``Client``) runs the (column, fold) fits concurrently, largest first, each on one
        thread (unless `threads` is given); the estimate is bit-identical to the sequential
        one. Process and cluster workers receive each fold's distinct rows as packed bits.

    backend: "xgboost" (default) fits with XGBoost; "native" with pycx's own booster
        (`pycx.kernels.boost_fit`: XGBoost's algorithm on packed bits, CPU, one thread per
        fit, no `xgb_params`), several times faster; its trees are XGBoost's in ~99% of fits
        (~89% with weights of 1e4-1e7), the others differ at near-tied splits. Estimates,
        measured (tests/test_boost_fit.py keeps the bound): 970 of 1,000 random chain-rule
        cases identical to XGBoost's, 533 of 600 larger ones; the largest difference 0.0098
        bits (issue 32's fuzz; 0.0029 in ours), under 2e-4 of the estimate. Bound: 0.01 bits
        and 1e-3 of the estimate (ResNet-56 layers: at most 3e-4 bits; docs/decisions.md).

    A training fold in which the target unit has a single class predicts its Laplace-smoothed
    rate ``(count_1 + 1/2) / (n_fold + 1)`` instead of fitting. ``terms[0]`` is the plug-in
    ``h2(p)`` of the first unit over all rows.

    >>> z = (np.random.default_rng(0).random((400, 4)) < 0.3).astype(np.uint8)
    >>> a = xgb_entropy(z, n_estimators=5)
    >>> b = xgb_entropy(z, n_estimators=5, executor="threads")
    >>> bool(a.entropy == b.entropy), 3.0 < a.entropy < 3.6
    (True, True)
    """
    packed = as_packed_rows("gates", gates)
    folds = check_int("folds", folds, minimum=2)
    check_rows("gates", packed, minimum=folds, why=f"every one of the {folds} folds needs a row")
    n_estimators = check_int("n_estimators", n_estimators, minimum=1)
    max_depth = check_int("max_depth", max_depth, minimum=1)
    learning_rate = check_positive("learning_rate", learning_rate)
    seed = check_int("seed", seed, minimum=0)
    eps = check_positive("eps", eps)
    if eps >= 0.5:
        raise ValueError(f"argument 'eps' must be < 0.5, got {eps!r}")
    check_choice("device", device.split(":")[0] if isinstance(device, str) else device, ("cpu", "cuda"))
    fixed_threads = None if threads is None else check_int("threads", threads, minimum=1)
    executor = check_executor("executor", executor)
    check_choice("backend", backend, BACKENDS)
    if backend == "native":
        if device != "cpu":
            raise ValueError(f"backend='native' runs on the CPU; got device={device!r} (use "
                             "backend='xgboost' for CUDA)")
        if xgb_params:
            raise ValueError(f"backend='native' implements XGBoost's defaults only; got "
                             f"xgb_params={xgb_params!r} (use backend='xgboost')")
    else:
        xgb = import_xgboost()
        if device.startswith("cuda"):
            check_cuda_device(xgb, device)
    booster = make_booster(backend, n_estimators=n_estimators, max_depth=max_depth,
                           learning_rate=learning_rate, seed=seed, device=device,
                           xgb_params=xgb_params)

    n_rows, n_units = packed.shape
    fold_seed, order_seed = np.random.SeedSequence(seed).spawn(2)
    folds_rows = fold_rows(n_rows, folds, fold_seed)
    states = fold_states(packed, folds_rows)  # distinct rows (unpacked) and counts per fold

    def pooled():
        return (np.concatenate([b for b, _ in states]), np.concatenate([c for _, c in states]))

    col_order = resolve_order(order, n_units, order_seed, pooled)
    settings = dict(folds=folds, n_estimators=n_estimators, max_depth=max_depth,
                    learning_rate=learning_rate, order=order if isinstance(order, str) else "explicit",
                    seed=seed, dedup=bool(dedup), eps=eps, device=device, threads=threads,
                    xgb_params=dict(xgb_params or {}), backend=backend)

    # H(z_0): plug-in over all rows.
    all_bits, all_counts = pooled()
    p0 = float(all_counts @ all_bits[:, col_order[0]]) / n_rows
    terms = np.zeros(n_units, dtype=np.float64)
    terms[0] = float(h2(p0))

    # Per fold: (training row set, test row set), each able to produce column i's data.
    train_sets, test_sets = row_sets(packed, folds_rows, states, col_order, dedup)
    del states, all_bits, all_counts
    with open_executor(executor) as pool:
        losses, n_fits, n_degenerate = _chain_losses(train_sets, test_sets, n_units, booster,
                                                     eps, fixed_threads, pool, progress)
    fold_loss = np.zeros(folds)
    for i in range(1, n_units):
        loss = 0.0
        for f in range(folds):  # fold order: the same additions on every path
            loss += losses[i][f]
            fold_loss[f] += losses[i][f]
        terms[i] = loss / n_rows
    return XgbEntropy(entropy=float(terms.sum()), terms=terms, order=col_order, n_rows=n_rows,
                      n_units=n_units, n_fits=n_fits, n_degenerate=n_degenerate, settings=settings,
                      fold_entropies=_fold_entropies(terms[0], fold_loss, folds_rows))


def _fold_entropies(first_term, fold_loss, fold_rows) -> np.ndarray:
    """Per fold: the plug-in first term plus that fold's summed cross-entropy per test row."""
    sizes = np.array([len(r) for r in fold_rows], dtype=np.float64)
    return float(first_term) + np.asarray(fold_loss, np.float64) / sizes


# ---------------------------------------------------------------------------------------
# the one driver of the (column, fold) fits


def _fit_loss(train, test, i, booster, eps, nthread):
    """Out-of-fold log-loss (bits, summed over the test rows) of column ``i``: one work unit."""
    column = "packed_column" if booster.packed_inputs else "column"
    x_tr, y_tr, w_tr = getattr(train, column)(i)
    x_te, y_te, w_te = getattr(test, column)(i)
    p = booster.fit_predict(x_tr, y_tr, w_tr, x_te, i, nthread)
    return _weighted_log_loss(p, y_te, w_te, eps)


def _chain_losses(train_sets, test_sets, n_units, booster, eps, fixed_threads, executor,
                  progress):
    """``(losses, n_fits, n_degenerate)``: ``losses[i][f]`` for every column ``i >= 1`` and fold
    ``f``. A training fold whose target has one class is answered here by the Laplace rate;
    the others are fits, run one after another as the iteration reaches them (executor None)
    or all on `executor`, largest first. XGBoost's ``hist`` trees do not depend on the thread
    count (checked: identical predictions on 1, 2 and 3 threads), so a pool's one thread per
    fit reproduces the sequential estimate bit for bit."""
    folds = len(train_sets)
    losses = [[0.0] * folds for _ in range(n_units)]
    ones = [t.column_ones() for t in train_sets]
    points = [t.column_points() for t in train_sets]
    counts = {"fits": 0, "degenerate": 0}

    def nthread(n_points):
        if fixed_threads:
            return fixed_threads
        if executor is not None:
            return 1  # the pool's workers share the cores
        return 1 if n_points < _SINGLE_THREAD_BELOW else available_cores()

    def units():
        for i in range(1, n_units):
            for f in range(folds):
                n_fold = train_sets[f].total
                if ones[f][i] == 0 or ones[f][i] == n_fold:
                    _, y_te, w_te = test_sets[f].column(i)
                    p = np.full(y_te.shape[0], _laplace_rate(float(ones[f][i]), n_fold))
                    losses[i][f] = _weighted_log_loss(p, y_te, w_te, eps)
                    counts["degenerate"] += 1
                else:
                    counts["fits"] += 1
                    # Histogram cost: training points x features, plus a per-round constant.
                    cost = float(points[f][i]) * i + 64.0
                    yield Unit((i, f), cost, _fit_loss,
                               (train_sets[f], test_sets[f], i, booster, eps,
                                nthread(points[f][i])))

    total = sum(int(((o[1:] != 0) & (o[1:] != t.total)).sum()) for o, t in zip(ones, train_sets))
    for u, loss in run_units(units(), executor, progress=progress, desc="xgb_entropy",
                             unit="fit", total=total):
        i, f = u.key
        losses[i][f] = loss
    return losses, counts["fits"], counts["degenerate"]
