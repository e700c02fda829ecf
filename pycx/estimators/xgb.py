"""Classifier chain-rule entropy of a binary vector (docs/definitions.md §5.1; Janik, "Entropy from
Machine Learning", as used by paper 000).

``H(Z) = h2(p_0) + sum_{i>=1} H(z_i | z_0..z_{i-1})``; each conditional term is bounded above
by the out-of-fold cross-entropy (bits) of an XGBoost classifier predicting ``z_i`` from the
units before it in the chosen order.

How the work is kept small (``dedup=True``): the rows are split into folds once, over the
original rows, with a seeded shuffle. Within each fold the distinct full rows are found once
(``pycx.state_counts`` on the packed rows: hashing, cost linear in the rows), with their
counts. Everything after that touches only the distinct rows: they are unpacked, put in the
column order and sorted lexicographically, so that for every prefix length ``i + 1`` the rows
sharing a prefix ``(z_0..z_i)`` are contiguous. The distinct ``(inputs, target)`` combinations
of column ``i`` are then the runs of that sorted list, and their integer weights are the summed
counts. XGBoost is fitted with those weights and the log-loss is weighted by them, which gives
the same estimate as fitting every row (gradients and hessians of identical rows add up), but
each fit sees at most ``min(rows, 2^(i+1))`` points.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .._progress import progress_iter
from .._validate import check_choice, check_int, check_positive
from ..kernels.packed import PackedBits
from ._common import Result, as_packed_rows, check_rows, h2, unpack_rows
from .._pool import Unit, available_cores, check_executor, open_executor, run_units

if TYPE_CHECKING:
    import concurrent.futures

    import numpy.typing as npt

# Predicted probabilities are clipped to [eps, 1 - eps]: a confident miss then costs at most
# log2(1/eps) ~ 19.9 bits for that row instead of an unbounded amount.
DEFAULT_EPS = 1e-6

_ORDERS = ("natural", "random", "greedy")

# Automatic thread count: a fit on fewer (distinct, weighted) training points than this runs
# on one thread. Measured (XGBoost 3.2, depth 3, 100 rounds, 2 cores): 16 points take 12 ms on
# one thread and 69 ms on two, 10,000 points 0.10 s vs 0.81 s on a loaded machine; the
# threads' start-up and synchronisation per round dwarf such small histograms.
_SINGLE_THREAD_BELOW = 32768


def _import_xgboost():
    try:
        import xgboost
    except ImportError as err:
        raise ImportError('xgb_entropy needs the xgboost package; install it with '
                          '`pip install "pycx[xgboost]"` (or `pip install xgboost`)') from err
    return xgboost


@functools.lru_cache(maxsize=None)
def _cuda_problem(xgb, device: str):
    """Why XGBoost cannot run on ``device`` here (None if it can): a build without CUDA, or
    no visible GPU, where XGBoost itself would only warn and fit on the CPU. One tiny fit,
    once per process and device."""
    if not xgb.build_info().get("USE_CUDA", False):
        return "this XGBoost build has no CUDA support (e.g. the xgboost-cpu package)"
    import warnings

    data = xgb.DMatrix(np.array([[0.0], [1.0]]), label=np.array([0.0, 1.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xgb.train({"device": device, "objective": "binary:logistic", "verbosity": 1}, data, 1)
    moved = [str(w.message) for w in caught if "CPU" in str(w.message)]
    return f"XGBoost found no usable GPU ({moved[0].split(': ')[-1].strip()})" if moved else None


def _check_cuda_device(xgb, device: str) -> None:
    """Refuses ``device="cuda"`` where XGBoost would silently fit on the CPU instead."""
    problem = _cuda_problem(xgb, device)
    if problem is not None:
        raise ValueError(f"argument 'device' is {device!r}, but {problem}; pass device='cpu' "
                         "(the same estimate, on the CPU)")


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


# ---------------------------------------------------------------------------------------
# distinct rows and prefix groups


def _distinct_rows(words: np.ndarray, n_bits: int):
    """``(distinct words, counts)`` of packed rows (any order of the distinct rows)."""
    from ..kernels.state_counts import state_counts

    sc = state_counts(PackedBits(np.ascontiguousarray(words), n_bits, _trusted=True))
    return sc.states.words, np.asarray(sc.counts, dtype=np.int64)


def _lex_sorted(bits: np.ndarray, counts: np.ndarray):
    """Sorts 0/1 rows lexicographically (column 0 first), merging identical rows (summing their
    counts). Returns ``(rows, counts, first_diff)`` where ``first_diff[j]`` is the first column
    in which row ``j + 1`` differs from row ``j``."""
    n_units = bits.shape[1]
    idx = np.lexsort(bits.T[::-1]) if bits.shape[0] > 1 else np.arange(bits.shape[0])
    bits, counts = bits[idx], counts[idx]
    differ = bits[1:] != bits[:-1]
    changed = differ.any(axis=1)
    if not changed.all():  # identical rows met (training set assembled from several folds)
        starts = np.flatnonzero(np.concatenate(([True], changed)))
        bits, counts = bits[starts], np.add.reduceat(counts, starts)
        differ = differ[changed]
    first_diff = np.where(differ.any(axis=1), differ.argmax(axis=1), n_units)
    return np.ascontiguousarray(bits), counts, first_diff


class _PrefixGroups:
    """Distinct rows of one row set in lexicographic order; `column(i)` gives the distinct
    ``(z_0..z_{i-1}, z_i)`` combinations with their weights."""

    def __init__(self, bits: np.ndarray, counts: np.ndarray):
        self.bits, self.counts, self.first_diff = _lex_sorted(bits, counts)
        self.total = int(self.counts.sum())

    def column(self, i: int):
        # A new (i+1)-prefix starts where the first differing column is <= i.
        starts = np.flatnonzero(np.concatenate(([True], self.first_diff <= i)))
        weights = np.add.reduceat(self.counts, starts)
        rows = self.bits[starts]
        return rows[:, :i], rows[:, i], weights

    def column_ones(self) -> np.ndarray:
        """Per column, the (weighted) number of rows with the bit set: the ``ones`` of
        `column` for every ``i`` at once (exact integers)."""
        ones = np.zeros(self.bits.shape[1], dtype=np.int64)
        for start in range(0, self.bits.shape[0], 1 << 16):  # bounded int64 temporaries
            block = slice(start, start + (1 << 16))
            ones += self.counts[block] @ self.bits[block].astype(np.int64)
        return ones

    def column_points(self) -> np.ndarray:
        """Per column ``i``, the number of distinct ``(z_0..z_i)`` prefixes: the training
        points of column ``i``'s fit."""
        return 1 + np.searchsorted(np.sort(self.first_diff), np.arange(self.bits.shape[1]),
                                   side="right")

    # Shipped to process / cluster workers as packed bits (8x smaller than the 0/1 bytes).
    def __getstate__(self):
        return {"packed": np.packbits(self.bits, axis=1, bitorder="little"),
                "n_units": self.bits.shape[1], "counts": self.counts,
                "first_diff": self.first_diff}

    def __setstate__(self, state):
        self.bits = np.unpackbits(state["packed"], axis=1, bitorder="little",
                                  count=state["n_units"])
        self.counts, self.first_diff = state["counts"], state["first_diff"]
        self.total = int(self.counts.sum())


# ---------------------------------------------------------------------------------------
# column order


def _greedy_order(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Greedy correlation order: first the unit with the largest summed absolute correlation
    with the others, then repeatedly the remaining unit with the largest absolute correlation
    with any unit already chosen (ties: lowest index). Constant units correlate with nothing
    and come last, in index order."""
    w = counts.astype(np.float64) / counts.sum()
    x = bits.astype(np.float64)
    mean = w @ x
    centred = x - mean
    cov = (centred * w[:, None]).T @ centred
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.abs(cov / np.outer(sd, sd))
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 0.0)
    n = corr.shape[0]
    chosen = [int(np.argmax(corr.sum(axis=1)))]
    best = corr[chosen[0]].copy()
    remaining = np.ones(n, dtype=bool)
    remaining[chosen[0]] = False
    for _ in range(n - 1):
        score = np.where(remaining, best, -1.0)
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        remaining[nxt] = False
        best = np.maximum(best, corr[nxt])
    return np.asarray(chosen, dtype=np.int64)


def _resolve_order(order, n_units: int, seed_seq: np.random.SeedSequence, sample):
    if isinstance(order, str):
        check_choice("order", order, _ORDERS)
        if order == "natural":
            return np.arange(n_units, dtype=np.int64)
        if order == "random":
            return np.random.default_rng(seed_seq).permutation(n_units).astype(np.int64)
        return _greedy_order(*sample())
    perm = np.asarray(order)
    if perm.ndim != 1 or perm.dtype.kind not in "iu" or perm.shape[0] != n_units \
            or not np.array_equal(np.sort(perm), np.arange(n_units)):
        raise ValueError(f"argument 'order' must be one of {_ORDERS} or a permutation of "
                         f"range({n_units}), got {order!r}")
    return perm.astype(np.int64)


# ---------------------------------------------------------------------------------------
# the estimator


def _fold_rows(n_rows: int, folds: int, seed_seq) -> list:
    perm = np.random.default_rng(seed_seq).permutation(n_rows)
    return [np.sort(part) for part in np.array_split(perm, folds)]


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
    order: "natural", "random" (seeded permutation), "greedy" (see `_greedy_order`: the next
        unit is the one most correlated with those already chosen) or an explicit permutation.
    dedup: merge identical rows within each fold into integer weights (much faster when rows
        repeat, as gate rows do). ``dedup=False`` fits every row. The estimates agree up to
        float32 rounding of the weighted gradients: measured under 1e-6 bits per term on 440
        skewed cases (up to 200,000 rows), but a rounding can flip a near-tied split, and
        issue 32's fuzz found estimates 5.8e-4 bits apart (docs/decisions.md: bound 1e-3).
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
    check_choice("backend", backend, ("xgboost", "native"))
    if backend == "native":
        if device != "cpu":
            raise ValueError(f"backend='native' runs on the CPU; got device={device!r} (use "
                             "backend='xgboost' for CUDA)")
        if xgb_params:
            raise ValueError(f"backend='native' implements XGBoost's defaults only; got "
                             f"xgb_params={xgb_params!r} (use backend='xgboost')")
    else:
        xgb = _import_xgboost()
        if device.startswith("cuda"):
            _check_cuda_device(xgb, device)

    n_rows, n_units = packed.shape
    fold_seed, order_seed = np.random.SeedSequence(seed).spawn(2)
    fold_rows = _fold_rows(n_rows, folds, fold_seed)

    # Distinct rows (unpacked, natural column order) and counts of each fold.
    fold_states = []
    for rows in fold_rows:
        words, counts = _distinct_rows(packed.words[rows], n_units)
        fold_states.append((unpack_rows(words, n_units), counts))

    def pooled():
        return (np.concatenate([b for b, _ in fold_states]),
                np.concatenate([c for _, c in fold_states]))

    col_order = _resolve_order(order, n_units, order_seed, pooled)

    settings = dict(folds=folds, n_estimators=n_estimators, max_depth=max_depth,
                    learning_rate=learning_rate, order=order if isinstance(order, str) else "explicit",
                    seed=seed, dedup=bool(dedup), eps=eps, device=device, threads=threads,
                    xgb_params=dict(xgb_params or {}), backend=backend)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": max_depth,
              "eta": learning_rate, "seed": seed, "device": device,
              "verbosity": 0}
    params.update(xgb_params or {})
    params["backend"] = backend  # read by _fit_predict, not passed to XGBoost

    # H(z_0): plug-in over all rows.
    all_bits, all_counts = pooled()
    p0 = float(all_counts @ all_bits[:, col_order[0]]) / n_rows
    terms = np.zeros(n_units, dtype=np.float64)
    terms[0] = float(h2(p0))

    # Per fold: (training row set, test row set), each able to produce column i's data.
    if dedup:
        test_sets = [_PrefixGroups(b[:, col_order], c) for b, c in fold_states]
        train_sets = []
        for f in range(folds):
            if folds == 2:
                train_sets.append(test_sets[1 - f])
            else:
                others = [fold_states[g] for g in range(folds) if g != f]
                train_sets.append(_PrefixGroups(np.concatenate([b for b, _ in others])[:, col_order],
                                                np.concatenate([c for _, c in others])))
    else:
        bits = np.empty((n_rows, n_units), dtype=np.uint8)
        for start in range(0, n_rows, 1 << 20):
            bits[start:start + (1 << 20)] = unpack_rows(packed.words[start:start + (1 << 20)],
                                                        n_units)[:, col_order]
        test_sets = [_PlainRows(bits[rows]) for rows in fold_rows]
        train_sets = [_PlainRows(bits[np.concatenate([fold_rows[g] for g in range(folds) if g != f])])
                      for f in range(folds)]
        del bits

    if executor is not None:
        with open_executor(executor) as pool:
            losses, n_fits, n_degenerate = _concurrent_losses(
                train_sets, test_sets, n_units, params, n_estimators, eps, fixed_threads or 1,
                pool, progress)
        for i in range(1, n_units):
            loss = 0.0
            for f in range(folds):  # the sequential loop's order of additions
                loss += losses[i][f]
            terms[i] = loss / n_rows
        return XgbEntropy(entropy=float(terms.sum()), terms=terms, order=col_order,
                          n_rows=n_rows, n_units=n_units, n_fits=n_fits,
                          n_degenerate=n_degenerate, settings=settings)

    columns = progress_iter(range(1, n_units), progress, desc="xgb_entropy", unit="unit",
                            leave=True)

    n_fits = n_degenerate = 0
    for i in columns:
        loss = 0.0
        for f in range(folds):
            x_tr, y_tr, w_tr = train_sets[f].column(i)
            x_te, y_te, w_te = test_sets[f].column(i)
            n_fold = train_sets[f].total
            ones = float(y_tr.sum() if w_tr is None else w_tr @ y_tr)
            if ones == 0 or ones == n_fold:
                p = np.full(y_te.shape[0], _laplace_rate(ones, n_fold))
                n_degenerate += 1
            else:
                nthread = fixed_threads or (1 if y_tr.shape[0] < _SINGLE_THREAD_BELOW
                                            else available_cores())
                p = _fit_predict(x_tr, y_tr, w_tr, x_te, params, n_estimators, nthread)
                n_fits += 1
            loss += _weighted_log_loss(p, y_te, w_te, eps)
        terms[i] = loss / n_rows

    return XgbEntropy(entropy=float(terms.sum()), terms=terms, order=col_order, n_rows=n_rows,
                      n_units=n_units, n_fits=n_fits, n_degenerate=n_degenerate, settings=settings)


class _PlainRows:
    """Every row of one row set, unweighted (``dedup=False``)."""

    def __init__(self, bits: np.ndarray):
        self.bits = bits
        self.total = bits.shape[0]

    def column(self, i: int):
        return self.bits[:, :i], self.bits[:, i], None

    def column_ones(self) -> np.ndarray:
        return self.bits.sum(axis=0, dtype=np.int64)

    def column_points(self) -> np.ndarray:
        return np.full(self.bits.shape[1], self.total, dtype=np.int64)

    # Shipped to process / cluster workers as packed bits (8x smaller than the 0/1 bytes).
    def __getstate__(self):
        return {"packed": np.packbits(self.bits, axis=1, bitorder="little"),
                "n_units": self.bits.shape[1]}

    def __setstate__(self, state):
        self.bits = np.unpackbits(state["packed"], axis=1, bitorder="little",
                                  count=state["n_units"])
        self.total = self.bits.shape[0]


# ---------------------------------------------------------------------------------------
# concurrent fits (executor=)


def _fit_loss(train, test, i, params, n_estimators, eps, nthread):
    """Out-of-fold log-loss (bits, summed over the test rows) of column ``i``: the fit of the
    sequential loop, as one work unit."""
    x_tr, y_tr, w_tr = train.column(i)
    x_te, y_te, w_te = test.column(i)
    p = _fit_predict(x_tr, y_tr, w_tr, x_te, params, n_estimators, nthread)
    return _weighted_log_loss(p, y_te, w_te, eps)


def _fit_predict(x_tr, y_tr, w_tr, x_te, params, n_estimators, nthread):
    """P(z_i = 1) of the test rows from a classifier fitted on the training points, by the
    backend named in ``params["backend"]``."""
    if params["backend"] == "native":
        from ..kernels.boost_fit import fit_predict
        from ..kernels.pack_bits import pack_bits

        weight = (np.ones(y_tr.shape[0], np.float32) if w_tr is None
                  else np.ascontiguousarray(w_tr, dtype=np.float32))  # XGBoost's float weights
        return fit_predict(pack_bits(x_tr).words, x_tr.shape[1],
                           np.ascontiguousarray(y_tr, dtype=np.float32), weight,
                           pack_bits(x_te).words, rounds=n_estimators,
                           max_depth=params["max_depth"], eta=params["eta"])
    xgb = _import_xgboost()
    booster_params = {k: v for k, v in params.items() if k != "backend"}
    booster = _fit(xgb, x_tr, y_tr, w_tr, booster_params, n_estimators, nthread)
    return _predict(xgb, booster, x_te, nthread, params["device"])


def _fit(xgb, x, y, w, params, n_estimators, nthread):
    """One classifier of the chain: `n_estimators` boosting rounds on the (weighted) points.
    The rounds of ``xgb.train`` without its callback machinery (no evaluation sets, no early
    stopping here): the same model, byte for byte (tested), ~2 ms less per fit, which is a
    third of a small fit's time and the chain rule makes thousands of them."""
    dtrain = xgb.DMatrix(x, label=y, weight=w, nthread=nthread)
    booster = xgb.Booster({**params, "nthread": nthread}, [dtrain])
    for round_ in range(n_estimators):
        booster.update(dtrain, round_)
    return booster


def _predict(xgb, booster, x, nthread, device):
    """P(z_i = 1) of the test rows. On the CPU straight from the array (``inplace_predict``:
    no DMatrix, about half the prediction time; the same trees walked, checked to give the
    same probabilities bit for bit); a CUDA booster keeps the DMatrix path (inplace
    prediction from host memory would fall back to it with a warning)."""
    if str(device).startswith("cuda"):
        return booster.predict(xgb.DMatrix(x, nthread=nthread))
    return booster.inplace_predict(x)


def _concurrent_losses(train_sets, test_sets, n_units, params, n_estimators, eps, nthread,
                       executor, progress):
    """``losses[i][f]`` for every column ``i >= 1`` and fold ``f``: degenerate folds answered
    here (Laplace rate), the fits run on `executor`, largest first. XGBoost's ``hist`` trees do
    not depend on the thread count (checked: identical predictions on 1, 2 and 3 threads), so
    one thread per fit reproduces the sequential estimate bit for bit."""
    folds = len(train_sets)
    losses = [[0.0] * folds for _ in range(n_units)]
    ones = [t.column_ones() for t in train_sets]
    points = [t.column_points() for t in train_sets]
    units = []
    n_degenerate = 0
    for i in range(1, n_units):
        for f in range(folds):
            n_fold = train_sets[f].total
            if ones[f][i] == 0 or ones[f][i] == n_fold:
                _, y_te, w_te = test_sets[f].column(i)
                p = np.full(y_te.shape[0], _laplace_rate(float(ones[f][i]), n_fold))
                losses[i][f] = _weighted_log_loss(p, y_te, w_te, eps)
                n_degenerate += 1
            else:
                # Histogram cost: training points x features, plus a per-round constant.
                cost = float(points[f][i]) * i + 64.0
                units.append(Unit((i, f), cost, _fit_loss,
                                  (train_sets[f], test_sets[f], i, params, n_estimators, eps,
                                   nthread)))
    for u, loss in run_units(units, executor, progress=progress, desc="xgb_entropy",
                             unit="fit"):
        i, f = u.key
        losses[i][f] = loss
    return losses, len(units), n_degenerate
