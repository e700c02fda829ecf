"""Bootstrap intervals (issue 30 item 5, opt-in; not computed by `analyze`): the effective
dimension of per-patch float rows, the resolution H[s] and relevance H[k] of per-sample gate
states, and the KDE entropy H(Σ) of per-sample gate rows, each recomputed on rows drawn with
replacement (docs/definitions.md §2, §3, §4). `bootstrap_intervals` writes them into a
`pycx.Report` as the ``<column>_lo`` / ``<column>_hi`` columns.

Entropies of a resample are biased low: a row drawn twice is its own neighbour (the KDE) or
merges two states' counts (H[s]), so the interval can lie below the estimate, most where every
state is alone (H at its ceiling). The interval shows the sampling spread, not a centred
confidence interval around the estimate (docs/decisions.md).

The interval is the percentile interval of the bootstrap values at ``level``; ``estimate`` is
the value on the data as given. Resample b uses ``numpy.random.default_rng(seed)``'s b-th draw
of ``integers(0, M, M)``, so that a test can redo the resamples.

May import: numpy, the estimators, the reference, the kernels, the base layer; for
`bootstrap_intervals`, `pycx.analysis.table` (the Report) and `pycx.gates.result` (the
Capture).
"""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any, Mapping, NamedTuple, Optional, Tuple

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from ..analysis.table import Report
    from ..gates.result import Capture
    from ..kernels.packed import PackedBits


class Interval(NamedTuple):
    """A value on the data as given, its bootstrap percentile interval and standard deviation."""

    estimate: float
    low: float
    high: float
    std: float
    n_boot: int
    level: float


def _options(n_boot, level, seed) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 2:
        raise ValueError(f"argument 'n_boot' must be an integer >= 2, got {n_boot!r}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0.0 < level < 1.0:
        raise ValueError(f"argument 'level' must be a number in (0, 1), got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"argument 'seed' must be a non-negative integer, got {seed!r}")


def _resamples(m: int, n_boot: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, m, m)


def _interval(estimate: float, values, n_boot: int, level: float) -> Interval:
    v = np.asarray(values, dtype=np.float64)
    low, high = np.quantile(v, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(estimate), float(low), float(high), float(v.std(ddof=1)), int(n_boot),
                    float(level))


def bootstrap_effective_dimension(rows: npt.ArrayLike, *, n_boot: int = 200,
                                  level: float = 0.95, seed: int = 0) -> Interval:
    """The effective dimension (`pycx.effective_dimension`) of float rows ``(M, C)`` (a
    layer's per-patch outputs) with a bootstrap interval over the rows.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((400, 3)) * [1.0, 1.0, 0.1]
    >>> iv = bootstrap_effective_dimension(x, n_boot=50)
    >>> iv.low <= iv.estimate <= iv.high, round(iv.estimate, 1)
    (True, 2.1)
    """
    from ..estimators.janik import effective_dimension

    _options(n_boot, level, seed)
    x = np.asarray(rows)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] == 0 or x.dtype.kind != "f":
        raise ValueError(f"argument 'rows' must be float rows (M, C) with M >= 2 and C >= 1, "
                         f"got shape {x.shape} dtype {x.dtype}")
    estimate = effective_dimension(x)
    values = [effective_dimension(x[i]) for i in _resamples(x.shape[0], n_boot, seed)]
    return _interval(estimate, values, n_boot, level)


def _state_ids(states) -> np.ndarray:
    s = np.asarray(states)
    if s.ndim == 1 and s.dtype.kind in "iub":
        return np.unique(s, return_inverse=True)[1].reshape(-1)
    if s.ndim == 2 and s.dtype.kind in "iub" and s.shape[1] > 0:
        return np.unique(s, axis=0, return_inverse=True)[1].reshape(-1)
    raise ValueError(f"argument 'states' must be per-sample states: integer ids (M,) or gate "
                     f"rows (M, bits) of bools or integers, got shape {s.shape} dtype {s.dtype}")


def bootstrap_resolution_relevance(states: npt.ArrayLike, *, n_boot: int = 200,
                                   level: float = 0.95, seed: int = 0
                                   ) -> Tuple[Interval, Interval]:
    """``(H[s], H[k])`` in bits (`pycx.resolution_relevance`, definitions §3) of per-sample
    states, each with a bootstrap interval over the samples. ``states``: one state id per
    sample ``(M,)``, or one gate row per sample ``(M, bits)``.

    >>> import numpy as np
    >>> s = np.random.default_rng(0).zipf(2.0, 500) % 50
    >>> hs, hk = bootstrap_resolution_relevance(s, n_boot=50)
    >>> hs.low <= hs.estimate <= hs.high, hk.low <= hk.estimate <= hk.high
    (True, True)
    """
    from ..reference.relevance import resolution_relevance

    _options(n_boot, level, seed)
    ids = _state_ids(states)
    if ids.shape[0] < 2:
        raise ValueError(f"argument 'states' needs at least 2 samples, got {ids.shape[0]}")
    n_states = int(ids.max()) + 1

    def entropies(sample_ids):
        counts = np.bincount(sample_ids, minlength=n_states)
        r = resolution_relevance(counts[counts > 0])
        return r.h_s, r.h_k

    estimate = entropies(ids)
    values = np.array([entropies(ids[i]) for i in _resamples(ids.shape[0], n_boot, seed)])
    return (_interval(estimate[0], values[:, 0], n_boot, level),
            _interval(estimate[1], values[:, 1], n_boot, level))


def bootstrap_kde_entropy(gates: "npt.ArrayLike | PackedBits", *, n_boot: int = 200,
                          level: float = 0.95, seed: int = 0, **kde_options: Any) -> Interval:
    """The KDE entropy H(Σ) in bits (`pycx.kde_entropy`, definitions §4) of per-sample gate
    rows with a bootstrap interval over the rows; each resample is a full `kde_entropy` (with
    ``bandwidth="var"`` the bandwidth follows the resample's unit rates). ``kde_options``:
    ``alpha``, ``bandwidth``, ``layer``, ``threads`` as `kde_entropy` takes them.

    >>> import numpy as np
    >>> rows = (np.random.default_rng(0).random((300, 12)) < 0.2).astype(np.uint8)
    >>> iv = bootstrap_kde_entropy(rows, n_boot=20, alpha=0.05)
    >>> bool(iv.low <= iv.high), bool(0.0 < iv.estimate <= np.log2(300))
    (True, True)
    """
    from ..estimators.kde import kde_entropy
    from ..estimators._common import as_packed_rows

    _options(n_boot, level, seed)
    unknown = sorted(set(kde_options) - {"alpha", "bandwidth", "layer", "threads"})
    if unknown:
        raise ValueError(f"bootstrap_kde_entropy got unknown option(s) {unknown}; it takes "
                         "alpha, bandwidth, layer, threads")
    packed = as_packed_rows("gates", gates)
    if packed.n_rows < 2:
        raise ValueError(f"argument 'gates' needs at least 2 rows, got {packed.n_rows}")
    estimate = kde_entropy(packed, **kde_options).entropy
    values = [kde_entropy(packed[i], **kde_options).entropy
              for i in _resamples(packed.n_rows, n_boot, seed)]
    return _interval(estimate, values, n_boot, level)


# Columns bootstrap_intervals fills (with _lo and _hi).
INTERVAL_COLUMNS = ("effective_dimension", "h_s", "h_k", "kde_h")


def bootstrap_intervals(report: "Report", capture: "Capture", *, model: Optional[str] = None,
                        epoch: Optional[int] = None,
                        outputs: Optional[Mapping[str, npt.ArrayLike]] = None,
                        n_boot: int = 200, level: float = 0.95, seed: int = 0) -> "Report":
    """A copy of `report` whose rows for the layers of `capture` (the capture that report
    analysed; rows of `model` and `epoch` when given) carry bootstrap intervals as columns:
    ``h_s_lo`` / ``h_s_hi`` and ``h_k_lo`` / ``h_k_hi`` (the per-sample states; sigmoid/tanh
    binarised as `analyze` does), ``kde_h_lo`` / ``kde_h_hi`` (the KDE rows `analyze` used:
    its seeded ``kde_rows`` subsample, its bandwidth settings) and ``effective_dimension_lo``
    / ``_hi`` (the per-patch float rows: the capture's when it kept them, else ``outputs[layer]``,
    an ``(M, C)`` float array; NaN without either). Each estimate is recomputed first and must
    equal the report's value (to 1e-9 relative; the effective dimension 1e-6, float32 sums): a
    ValueError names the layer otherwise (a different capture, or ``max_samples``
    subsampling).

    >>> import torch, pycx
    >>> model = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU())
    >>> cap = pycx.capture(model, [torch.randn(200, 5)], progress=False)
    >>> rep = pycx.analyze(cap, labels=torch.arange(200) % 2, metrics=["relevance", "kde"],
    ...                    kmeans=False, progress=False)
    >>> r = bootstrap_intervals(rep, cap, n_boot=20).rows[0]
    >>> r["h_s_lo"] <= r["h_s_hi"] and r["kde_h_lo"] <= r["kde_h_hi"]
    True
    """
    from ..analysis.table import Report
    from ..gates.result import Capture
    from ..kernels.state_counts import _state_counts_core

    _options(n_boot, level, seed)
    if not isinstance(report, Report):
        raise TypeError(f"argument 'report' must be a pycx.Report, got {type(report).__name__}")
    if not isinstance(capture, Capture):
        raise TypeError(f"argument 'capture' must be a pycx.Capture, got {type(capture).__name__}")
    outputs = dict(outputs or {})
    settings = report.settings or {}
    analysis_seed = int(settings.get("seed", 0) or 0)
    kde_rows = settings.get("kde_rows", 2000)
    kde_opts = {k: v for k, v in ((settings.get("estimators") or {}).get("kde") or {}).items()
                if k in ("alpha", "bandwidth")}  # the entropy's options (not the TC's)
    if not isinstance(kde_opts.get("alpha"), (int, float)):
        kde_opts.pop("alpha", None)  # the settings' text for the per-layer default
    out = Report(report.rows, report.network, report.curves, report.settings)
    targets = {}
    for i, row in enumerate(out.rows):
        if row.get("layer") not in capture.layers:
            continue
        if model is not None and row.get("model") != model:
            continue
        if epoch is not None and row.get("epoch") != epoch:
            continue
        if row["layer"] in targets:
            raise ValueError(f"layer {row['layer']!r} has several rows in argument 'report' "
                             "(models or epochs): name the ones the capture belongs to with "
                             "model= and epoch=")
        targets[row["layer"]] = i
    kde_index = None
    for name, i in targets.items():
        rec, row = capture.layers[name], out.rows[i]

        def put(col, iv, rtol=1e-9):
            value = row.get(col)
            if value is not None and np.isfinite(value) and not np.isclose(
                    iv.estimate, value, rtol=rtol, atol=1e-12):
                raise ValueError(f"layer {name!r}: {col} of argument 'capture' is "
                                 f"{iv.estimate!r}, the report's is {value!r}: not the capture "
                                 "the report analysed (or analysed with max_samples)")
            row[f"{col}_lo"], row[f"{col}_hi"] = iv.low, iv.high

        if _finite(row.get("h_s")):
            states = rec.binary if rec.binary is not None else rec.per_sample
            ids = np.asarray(_state_counts_core(states).inverse, np.int64).reshape(-1)
            hs, hk = bootstrap_resolution_relevance(ids, n_boot=n_boot, level=level, seed=seed)
            put("h_s", hs)
            put("h_k", hk)
        if _finite(row.get("kde_h")):
            n = rec.n_samples
            if kde_index is None and kde_rows is not None and kde_rows < n:
                kde_index = np.sort(np.random.default_rng(analysis_seed).choice(
                    n, kde_rows, replace=False))  # the KDE group's own subsample
            gates = rec.per_sample if kde_index is None else rec.per_sample[kde_index]
            layer = "conv" if len(rec.output_shape) > 1 else "linear"
            put("kde_h", bootstrap_kde_entropy(gates, n_boot=n_boot, level=level, seed=seed,
                                               layer=layer, **kde_opts))
        if _finite(row.get("effective_dimension")):
            rows = outputs.get(name, rec.covariance_rows)
            if rows is not None:
                rows = np.asarray(rows)
                if rows.dtype.kind == "f" and rows.dtype != np.float64:
                    rows = rows.astype(np.float64)
                # rtol 1e-6: the capture's moments sum the float32 outputs in another order
                # (2e-9 relative seen), and a user's rows may be float32.
                put("effective_dimension", bootstrap_effective_dimension(
                    rows, n_boot=n_boot, level=level, seed=seed), rtol=1e-6)
    return out


def _finite(v) -> bool:
    return isinstance(v, (int, float, np.floating, np.integer)) and bool(np.isfinite(v))
