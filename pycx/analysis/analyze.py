"""High-level metrics: `analyze(model_or_capture, data)` -> `Report`, and `Tracker` for
trajectories over training epochs.

One call captures the gates of a model (`pycx.capture`), then applies the array-level
estimators of `pycx.estimators` to every captured layer, by metric group:

- ``"janik"`` (definitions §2, per-patch rows): linearity, mean unit entropy, complexity H(Z) with
  the chosen estimator (default: the XGBoost chain rule with paper 000's settings), complexity
  per neuron, normalised total correlation, effective dimension (and, with ``pixel_map=True``,
  the pixel-wise map);
- ``"relevance"`` (definitions §3, per-sample binarised states): H[s], H[k] (raw and / log2 M), beta
  (MLE and least squares), distinct states, classification error; across layers the critical
  and Zipf layers and beta; the maximal relevance curve for M; the k-means baseline on the
  same inputs;
- ``"kde"`` (definitions §4, per-sample gates): H, H|Y, I(X;Σ;Y), total correlation, and H of the
  concatenation of each layer with all later ones (KDE, and plug-in over all samples).

Every cap (samples, per-patch rows, KDE rows, k-means sizes) is explicit, seeded and written
to ``report.settings``, together with the time each stage took (``settings["timings"]``).
The table's columns are fixed (`COLUMNS`); a value that was not computed is NaN.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence

import numpy as np

from .._validate import check_int
from ..estimators.registry import DEFAULT_XGB as _DEFAULT_XGB, OPTION_GROUPS, parse_estimators
from .._pool import check_executor
from .groups import GroupContext, Timings, run_groups
from .kmeans_inputs import as_inputs, tap_inputs
from .table import (JANIK_COLUMNS, KDE_COLUMNS, METRIC_GROUPS, RELEVANCE_COLUMNS, _STRING_COLUMNS,
                    Report, _missing, _nan_row)

if TYPE_CHECKING:
    import concurrent.futures

    import numpy.typing as npt
    import torch

    from ..gates.result import Capture
    from ..gates.select import LayerSelection

__all__ = ["analyze", "AnalysisError"]

DEFAULT_MAX_SAMPLES = 10_000
DEFAULT_PATCH_ROWS = 100_000
DEFAULT_KDE_ROWS = 2_000
# The estimators and their options: pycx/estimators/registry.py (one source of truth).
DEFAULT_KMEANS = dict(OPTION_GROUPS["kmeans"].options)
DEFAULT_XGB = dict(_DEFAULT_XGB)
_LABEL_VALUES = {"relevance": ["classification_error"], "kde": ["kde_h_given_y", "kde_i_xy"]}


# ----------------------------------------------------------------------------------- helpers

class AnalysisError(RuntimeError):
    """Some work units failed (with ``executor=``): ``failures`` lists ``(where, error)``
    (``where`` names the model, epoch or checkpoint, metric group and layer); ``report`` holds
    every value that was computed (NaN where a unit failed) and can be saved.

    >>> err = AnalysisError("1 unit failed", [("epoch 3, janik, relu", ValueError("bad"))], Report())
    >>> err.failures[0][0], len(err.report)
    ('epoch 3, janik, relu', 0)
    """

    def __init__(self, message: str, failures: Iterable[tuple[str, BaseException]],
                 report: Report) -> None:
        super().__init__(message)
        self.failures = list(failures)
        self.report = report


def _failure_message(failures) -> str:
    head = "; ".join(f"{where}: {type(err).__name__}: {err}" for where, err in failures[:3])
    more = f" (and {len(failures) - 3} more)" if len(failures) > 3 else ""
    return (f"{len(failures)} work unit(s) failed: {head}{more}. The values computed are in "
            f"this error's .report (NaN where a unit failed), which can be saved")


def _parse_metrics(metrics):
    """(groups in canonical order, explicit?) from "all", a group name or a list of them."""
    valid = ", ".join(repr(g) for g in ("all",) + METRIC_GROUPS)
    if isinstance(metrics, str):
        names = [metrics]
    else:
        try:
            names = list(metrics)
        except TypeError:
            raise TypeError(f"argument 'metrics' must be a metric group name or a list of them "
                            f"({valid}), got {type(metrics).__name__}") from None
    if not names:
        raise ValueError(f"argument 'metrics' is empty; valid metric groups: {valid}")
    groups = set()
    explicit = True
    for name in names:
        if not isinstance(name, str) or name not in ("all",) + METRIC_GROUPS:
            raise ValueError(f"argument 'metrics' has unknown metric group {name!r}; valid "
                             f"metric groups: {valid}")
        if name == "all":
            groups.update(METRIC_GROUPS)
            explicit = False
        else:
            groups.add(name)
    return [g for g in METRIC_GROUPS if g in groups], explicit


def _parse_estimators(estimators):
    """Estimator settings from ``estimators=``, by the registry
    (`pycx.estimators.registry.parse_estimators`): unknown names are errors."""
    return parse_estimators(estimators)


# ----------------------------------------------------------------------------------- analyze

_UNSET = object()


def analyze(model_or_capture: "torch.nn.Module | Capture", data: Optional[Any] = None, *,
            metrics: "str | Sequence[str]" = "all", layers: LayerSelection = None,
            labels: Optional[npt.ArrayLike] = None, estimators: "str | dict | None" = None,
            seed: int = 0, progress: bool = True, max_samples: Optional[int] = _UNSET,
            patch_rows: Optional[int] = DEFAULT_PATCH_ROWS,
            kde_rows: Optional[int] = DEFAULT_KDE_ROWS,
            blocks: "dict[str, Sequence[str]] | Callable[[str], str] | None" = None,
            model_name: str = "model", epoch: Optional[int] = None, pixel_map: bool = False,
            kmeans: bool = True, capture_kwargs: Optional[dict] = None,
            executor: "str | concurrent.futures.Executor | None" = None) -> Report:
    """Complexity metrics of every gating layer of a model (or of a `pycx.Capture`).

    model_or_capture: a ``torch.nn.Module`` (then `data` is required: a DataLoader or any
        iterable of inputs or ``(x, y)`` batches) or a `Capture` (then `data`, if given, is only
        used as the inputs of the k-means baseline: an array or an iterable of batches).
    metrics: "all" (default), "janik", "relevance", "kde", or a list of them.
    layers: which gating layers (names, kinds such as "relu", or a predicate), as in
        `pycx.capture`; also selects among a Capture's layers.
    labels: class labels (one per sample: integers, bools or strings) when the batches carry
        none (or for a Capture that has none). Labels are needed for the classification
        error (relevance) and H|Y, I(X;Σ;Y) (kde): without labels, whatever `metrics` says,
        those values are NaN, one warning names them, ``settings["labels"]`` is False and
        ``settings["skipped"]`` lists them. Per-token labels (a language model's ``labels``
        of shape (N, T)) are not class labels: the capture leaves them out with a warning.
    estimators: the complexity H(Z) estimator by name ("xgb" default, "plugin",
        "miller_madow", "kde", "nsb": `pycx.estimators.registry.COMPLEXITY_METHODS`) or a
        dict with keys "complexity" (name or {"method": name, **options}), "kde" (e.g.
        {"bandwidth": "d", "alpha": 0.02}), "kmeans" (keys of `DEFAULT_KMEANS`), "relevance"
        ({"k_min": 1}). An option name the registry does not list is a ValueError naming the
        valid ones.
    seed: one seed for every random choice (row subsamples, folds, synthetic TC rows, k-means).
    max_samples: samples captured from `data` (default 10,000; None = all).
    patch_rows: per-patch rows per layer for the Janik metrics (default 100,000, seeded
        uniform subsample; None = all).
    kde_rows: samples used by the KDE group (default 2,000, seeded uniform subsample, the same
        samples for every layer; None = all).
    blocks: layer -> block name, as a dict {block: [layer names or name prefixes]} or a
        callable(layer_name) -> str; per-block averages go to ``network[...]["block_avg"]``.
    model_name, epoch: identity columns of the rows.
    pixel_map: also the pixel-wise effective dimension map (``curves["effective_dimension_map"]``).
    kmeans: compute the k-means baseline (relevance group), when the inputs are available.
    capture_kwargs: further keyword arguments of `pycx.capture` (device, train_mode, ...).
    executor: None (default: one layer after another in this process), "threads",
        "processes" or any `concurrent.futures.Executor` (e.g. a ``dask.distributed`` Client or
        its ``get_executor()``): the per-layer work units (Janik values with H(Z); KDE entropy
        and TC; the k-means baseline) run there, largest first, shipped as packed bits; the
        metric groups run side by side. Same values as without. A unit that raises does not
        stop the others: `AnalysisError` names the layers and holds the partial report.

    >>> import torch
    >>> x = torch.tensor([[1.0, 1.0], [1.0, -1.0], [-1.0, 1.0], [-1.0, -1.0]])  # 4 gate states
    >>> rep = analyze(torch.nn.Sequential(torch.nn.ReLU()), [x], metrics="janik",
    ...               estimators="plugin", progress=False)
    >>> [rep.rows[0][k] for k in ("layer", "linearity", "complexity", "ntc", "effective_dimension")]
    ['0', 0.5, 2.0, 0.0, 2.0]
    """
    from ..gates.result import Capture
    from ..gates.capture import capture

    groups, _ = _parse_metrics(metrics)
    est = _parse_estimators(estimators)
    executor = check_executor("executor", executor)
    seed = check_int("seed", seed, minimum=0)
    if patch_rows is not None:
        patch_rows = check_int("patch_rows", patch_rows, minimum=2)
    if kde_rows is not None:
        kde_rows = check_int("kde_rows", kde_rows, minimum=2)
    timer = Timings()
    inputs = None
    if isinstance(model_or_capture, Capture):
        cap = model_or_capture
        if max_samples is not _UNSET:
            raise ValueError("argument 'max_samples' applies when capturing from a model; a "
                             "Capture already holds its samples")
        max_samples = None
        cap = _select_layers(cap, layers)
        if "relevance" in groups and kmeans:
            inputs = as_inputs(data, cap.n_samples)
    else:
        import torch

        if not isinstance(model_or_capture, torch.nn.Module):
            raise TypeError(f"argument 'model_or_capture' must be a torch.nn.Module or a "
                            f"pycx.Capture, got {type(model_or_capture).__name__}")
        if data is None:
            raise ValueError("argument 'data' is required when analysing a model (a DataLoader "
                             "or an iterable of inputs or (x, y) batches)")
        if max_samples is _UNSET:
            max_samples = DEFAULT_MAX_SAMPLES
        if max_samples is not None:
            max_samples = check_int("max_samples", max_samples, minimum=2)
        tap = tap_inputs(data, max_samples or np.iinfo(np.int64).max) \
            if ("relevance" in groups and kmeans) else data
        with timer("capture"):
            cap = capture(model_or_capture, tap, layers=layers, labels=labels,
                          max_samples=max_samples, patch_rows=None, seed=seed,
                          pixel_covariance=bool(pixel_map), progress=progress,
                          **(capture_kwargs or {}))
        if tap is not data:
            inputs = tap.inputs(cap.n_samples)
        labels = None  # now inside the capture
    if len(cap.layers) == 0:
        raise ValueError("the capture has no layers: nothing to analyse")
    y = cap.labels
    if labels is not None:
        from .._validate import check_labels

        if y is not None:
            raise ValueError("labels were given twice: by argument 'labels' and by the Capture")
        y = check_labels("labels", labels, cap.n_samples)  # coded by the estimators
    if y is None:
        # The same for every metric spec, "all" or named groups: the label-free values are
        # computed, the label values are NaN, said once here and kept in settings["skipped"].
        needy = [g for g in groups if g in _LABEL_VALUES]
        if needy:
            what = "; ".join(f"{g!r}: {', '.join(_LABEL_VALUES[g])}" for g in needy)
            warnings.warn(f"pycx.analyze: no labels, so the values that need them are NaN "
                          f"({what}). Pass labels=... or give (x, y) batches", stacklevel=2)
    n = cap.n_samples
    records = list(cap.layers.values())
    # What the capture's covariance used (capture's default unless overridden); unknown for a
    # Capture made elsewhere.
    covariance_positions = (None if isinstance(model_or_capture, Capture)
                            else (capture_kwargs or {}).get("covariance_positions", 16))
    block_of = _block_function(blocks, [r.name for r in records])

    settings = OrderedDict()
    settings["metrics"] = groups
    settings["seed"] = seed
    settings["n_samples"] = n
    settings["max_samples"] = max_samples
    settings["patch_rows"] = patch_rows
    settings["kde_rows"] = kde_rows
    settings["labels"] = y is not None
    settings["skipped"] = [] if y is not None else [
        v for g in groups for v in _LABEL_VALUES.get(g, [])]
    settings["layers"] = [r.name for r in records]
    # What ran and was not read as a gate (the capture warned once): kept with the results.
    settings["not_captured"] = list(getattr(cap, "not_captured", []))
    settings["estimators"] = {
        "complexity": est["complexity"] if "janik" in groups else None,
        "relevance": est["relevance"] if "relevance" in groups else None,
        "kde": ({**est["kde"], "alpha": (est["kde"]["alpha"] if est["kde"]["alpha"] is not None
                                          else "0.04 conv / 0.01 linear"),
                 "tc_leave_one_out": True, "tc_seed": seed} if "kde" in groups else None),
        "effective_dimension": ({"covariance_positions_per_sample": covariance_positions,
                                 "pixel_map": bool(pixel_map)} if "janik" in groups else None),
    }
    rows = []
    for depth, rec in enumerate(records):
        row = _nan_row()
        row.update(model=str(model_name), epoch=epoch, layer=rec.name, kind=rec.kind, depth=depth,
                   block=block_of(rec.name), shape="x".join(str(d) for d in rec.shape),
                   units=rec.shape[0], sample_bits=rec.per_sample.n_bits, rows_sample=n)
        rows.append(row)
    ctx = GroupContext(est=est, seed=seed, progress=progress, n_samples=n, labels=y,
                       inputs=inputs if kmeans else None, patch_rows=patch_rows,
                       kde_rows=kde_rows, pixel_map=bool(pixel_map), model_name=model_name,
                       epoch=epoch, settings=settings, timer=timer)
    for values in run_groups(groups, records, ctx, executor):  # group order: "janik", ...
        for row, v in zip(rows, values):
            row.update(v)
    curves = ctx.curves
    failures = ctx.failures

    network = _network(rows, groups, model_name, epoch, blocks is not None)
    settings["timings"] = dict(timer.seconds)
    settings["runs"] = [{"model": str(model_name), "epoch": epoch, "timings": dict(timer.seconds)}]
    report = Report(rows, [network], curves, settings)
    if failures:
        where = f"model {model_name!r}" + ("" if epoch is None else f", epoch {epoch}")
        failures = [(f"{where}, {w}", err) for w, err in failures]
        raise AnalysisError(_failure_message(failures), failures, report) from failures[0][1]
    return report


def _select_layers(cap, layers):
    if layers is None:
        return cap
    from ..gates.result import Capture
    from ..gates.select import layer_selector

    select, required = layer_selector(layers, known=cap.layers)
    missing = sorted(required - set(cap.layers))
    if missing:
        raise ValueError(f"argument 'layers' names {missing}, which are not in the capture; "
                         f"layers: {cap.names}")
    kept = OrderedDict((n, r) for n, r in cap.layers.items() if select(n, r.kind))
    return Capture(kept, cap.labels, cap.patch_rows, cap.seed)


def _block_function(blocks, names):
    if blocks is None:
        return lambda name: ""
    if callable(blocks):
        return lambda name: str(blocks(name) or "")
    if not isinstance(blocks, dict):
        raise TypeError(f"argument 'blocks' must be a dict {{block: [layer names or prefixes]}} or "
                        f"a callable(layer_name) -> block, got {type(blocks).__name__}")

    def block_of(name):
        for block, members in blocks.items():
            members = [members] if isinstance(members, str) else list(members)
            for m in members:
                if name == m or name.startswith(m + ".") or name.startswith(m + ":"):
                    return str(block)
        return ""

    return block_of


def _network(rows, groups, model_name, epoch, with_blocks):
    from ..reference.relevance import critical_layer, why_no_critical_layer, zipf_layer

    net = {"model": str(model_name), "epoch": epoch, "network_complexity": float("nan"),
           "critical_layer": None, "zipf_layer": None, "critical_layer_why": "",
           "zipf_layer_why": "", "beta_across_layers": float("nan"),
           "block_avg": {}}
    if "janik" in groups:
        net["network_complexity"] = float(sum(r["complexity"] for r in rows))
    if "relevance" in groups:
        points = [(r["h_s"], r["h_k"]) for r in rows]
        # Undefined (None, with the reason) rather than an arbitrary first layer when no
        # layer qualifies (docs/definitions.md §3).
        crit = critical_layer(points)
        if crit is None:
            net["critical_layer_why"] = why_no_critical_layer(points)
        else:
            net["critical_layer"] = rows[crit]["layer"]
        zipf = zipf_layer(np.array([r["beta_mle"] for r in rows], dtype=np.float64))
        if zipf is None:
            net["zipf_layer_why"] = ("no layer has a defined beta (each needs at least three "
                                     "distinct state frequencies)")
        else:
            net["zipf_layer"] = rows[zipf]["layer"]
        hs = np.array([r["h_s"] for r in rows])
        hk = np.array([r["h_k"] for r in rows])
        if len(rows) >= 2 and np.ptp(hs) > 0:
            # One number for the whole network: minus the least-squares slope of H[k] on H[s]
            # over the layers (per-pair values are the rows' beta_across).
            net["beta_across_layers"] = float(-np.polyfit(hs, hk, 1)[0])
    if with_blocks:
        numeric = [c for c in JANIK_COLUMNS + RELEVANCE_COLUMNS + KDE_COLUMNS
                   if c not in _STRING_COLUMNS]
        for block in dict.fromkeys(r["block"] for r in rows):
            if not block:
                continue
            members = [r for r in rows if r["block"] == block]
            avg = {}
            for c in numeric:
                values = [r[c] for r in members if not _missing(r[c])]
                if values:
                    avg[c] = float(np.mean(values))
            net["block_avg"][block] = avg
    return net
