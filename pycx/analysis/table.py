"""The `Report` table: one row per (model, epoch, layer), fixed columns (`COLUMNS`), plus the
network-level values, curves and settings; CSV, JSON and pandas forms.

Owns the column schema, and the one rule of which H(Z) values are measurements
(`complexity_not_measured`, used by the report's figures and summary too). May import: numpy,
the base layer (`pycx._json`, `pycx._validate`), the estimators' registry
(`pycx.estimators.registry`: the metric groups), the reference (`pycx.reference.relevance`: the
critical and Zipf layers). pandas is imported inside the functions that return DataFrames.
"""
from __future__ import annotations

import csv
import io
import json
import math
from typing import TYPE_CHECKING, Any, Iterable, Mapping, Optional

import numpy as np

from .._json import from_json_value, to_json_value
from ..estimators.registry import METRIC_GROUPS

IDENTITY_COLUMNS = ["model", "epoch", "layer", "kind", "depth", "block", "shape", "units",
                    "rows_sample", "rows_patch"]
JANIK_COLUMNS = ["linearity", "unit_entropy_mean", "complexity", "complexity_per_neuron", "ntc",
                 "effective_dimension", "complexity_estimator"]
RELEVANCE_COLUMNS = ["h_s", "h_k", "h_s_norm", "h_k_norm", "beta_mle", "beta_ls", "n_states",
                     "classification_error"]
KDE_COLUMNS = ["kde_h", "kde_h_given_y", "kde_i_xy", "kde_tc", "kde_s2", "kde_alpha",
               "kde_h_concat"]
# Added after the contract's columns (never renamed): gate bits per sample, rows the KDE used,
# -dH[k]/dH[s] from this layer to the next, plug-in H of the concatenation over all samples.
EXTRA_COLUMNS = ["sample_bits", "rows_kde", "beta_across", "plugin_h_concat",
                 # log2 of the per-patch rows behind H(Z), and whether H(Z) exceeds it (the
                 # chain rule is an upper bound); the KDE ceiling log2 n, its saturation flag,
                 # H(Y) of the KDE rows and whether I(X;Σ;Y) sits at it (docs/columns.md).
                 "complexity_bound_log2_rows", "complexity_exceeds_log2_rows", "kde_h_max",
                 "kde_saturated", "kde_h_y", "kde_i_xy_saturated",
                 # Error bars: the chain rule's per-fold estimates (min, max, spread), and
                 # the opt-in bootstrap intervals (`pycx.bootstrap_intervals`).
                 "complexity_lo", "complexity_hi", "complexity_fold_std",
                 "effective_dimension_lo", "effective_dimension_hi", "h_s_lo", "h_s_hi",
                 "h_k_lo", "h_k_hi", "kde_h_lo", "kde_h_hi"]
COLUMNS = IDENTITY_COLUMNS + JANIK_COLUMNS + RELEVANCE_COLUMNS + KDE_COLUMNS + EXTRA_COLUMNS
_STRING_COLUMNS = {"model", "layer", "kind", "block", "shape", "complexity_estimator"}
_INT_COLUMNS = {"depth", "units", "rows_sample", "rows_patch", "n_states", "sample_bits",
                "rows_kde"}
# Flags: True/False where computed, NaN (empty in the CSV) where not.
BOOL_COLUMNS = {"complexity_exceeds_log2_rows", "kde_saturated", "kde_i_xy_saturated"}

if TYPE_CHECKING:
    import pandas as pd

# Defaults (see docs/decisions.md, "Analysis").
_JSON_FORMAT = "pycx.report/1"


# ----------------------------------------------------------------------------------- Report

def _nan_row():
    row = {c: float("nan") for c in COLUMNS}
    for c in _STRING_COLUMNS:
        row[c] = None
    row["block"] = ""
    return row


class Report:
    """Results of `analyze` / `Tracker`: ``rows`` (one dict per model, epoch and layer, keys
    `COLUMNS`), ``network`` (one dict per model and epoch), ``curves`` (JSON-able arrays) and
    ``settings`` (every setting and cap used, seeds, ``timings`` in seconds per stage).

    >>> rep = Report([{"model": "m", "epoch": 0, "layer": "relu1", "linearity": 0.5}])
    >>> rep, rep.rows[0]["linearity"]
    (Report(1 rows, models=['m'], epochs=[0], layers=1), 0.5)
    """

    def __init__(self, rows: Optional[Iterable[Mapping[str, Any]]] = None,
                 network: Optional[Iterable[Mapping[str, Any]]] = None,
                 curves: Optional[Mapping[str, Any]] = None,
                 settings: Optional[Mapping[str, Any]] = None) -> None:
        self.rows = [dict(r) for r in (rows or [])]
        self.network = [dict(n) for n in (network or [])]
        self.curves = dict(curves or {})
        self.settings = dict(settings or {})

    def __len__(self) -> int:
        return len(self.rows)

    def __repr__(self) -> str:
        # Rows built by hand may lack identity columns: describe what is there.
        models = sorted({str(r.get("model")) for r in self.rows if r.get("model") is not None})
        epochs = sorted({r.get("epoch") for r in self.rows if r.get("epoch") is not None})
        return (f"Report({len(self.rows)} rows, models={models}, epochs={epochs or None}, "
                f"layers={len({r.get('layer') for r in self.rows})})")

    # --- tables
    def to_pandas(self):
        """The per-layer table as a DataFrame with columns `COLUMNS` (NaN where not computed)."""
        import pandas as pd

        frame = pd.DataFrame([{c: r.get(c) for c in COLUMNS} for r in self.rows], columns=COLUMNS)
        frame["epoch"] = pd.to_numeric(frame["epoch"], errors="coerce")
        for c in COLUMNS:
            if c not in _STRING_COLUMNS:
                frame[c] = pd.to_numeric(frame[c], errors="coerce")
        return frame

    def summary(self) -> "pd.DataFrame":
        """The network-level values as a DataFrame, one row per model and epoch (in the order
        of the rows; docs/definitions.md §2-§4):

        - ``layers``: layers (rows) of that model and epoch;
        - ``network_complexity_measured``: Σ H(Z) over the layers whose H(Z) is a measurement;
          ``network_complexity``: Σ H(Z) over every layer with one (an upper bound as soon as
          one layer's is); ``complexity_layers``, ``complexity_layers_not_measured``: how many
          layers have an H(Z), and how many of them only a bound (`complexity_not_measured`);
        - ``critical_layer`` (max H[s] + H[k] among layers with H[k] > 0) and ``zipf_layer``
          (beta closest to 1), with ``critical_layer_why`` / ``zipf_layer_why`` when undefined;
          ``beta_across_layers`` (minus the least-squares slope of H[k] on H[s] over the
          layers): the analysis's network record where there is one, else computed from the
          rows (a report read back from a CSV);
        - ``beta_across_layers_measured``, ``critical_layer_measured`` (with
          ``critical_layer_measured_why``): the same fit and the same choice over the layers
          whose H[s] is not at its ceiling (`h_s_saturated`: there H[s] measures the sample
          size, not the layer, and H[s] + H[k] is near its maximum for that reason alone);
        - ``layers_complexity_exceeds_log2_rows``, ``layers_kde_saturated``,
          ``layers_kde_i_xy_saturated``, ``layers_h_s_saturated``,
          ``layers_effective_dimension_undefined``: how many layers carry each flag (missing,
          ``<NA>``, where no layer computed the value it qualifies).

        Values not computed are NaN (None for layer names).

        >>> rep = Report([{"model": "m", "epoch": 0, "layer": n, "complexity": c,
        ...                "complexity_exceeds_log2_rows": x, "ntc": 0.2, "h_s": hs, "h_k": hk,
        ...                "beta_mle": b, "kde_saturated": x}
        ...               for n, c, x, hs, hk, b in [("relu1", 3.0, False, 5.0, 2.0, 0.4),
        ...                                         ("relu2", 9.0, True, 7.0, 1.0, 0.9)]])
        >>> row = rep.summary().iloc[0]
        >>> float(row["network_complexity_measured"]), float(row["network_complexity"])
        (3.0, 12.0)
        >>> row["critical_layer"], row["zipf_layer"], int(row["layers_kde_saturated"])
        ('relu2', 'relu2', 1)
        """
        import pandas as pd

        columns = ["model", "epoch", "layers", "network_complexity_measured",
                   "network_complexity", "complexity_layers", "complexity_layers_not_measured",
                   "critical_layer", "critical_layer_why", "zipf_layer", "zipf_layer_why",
                   "beta_across_layers", "beta_across_layers_measured",
                   "critical_layer_measured", "critical_layer_measured_why"] + [
                       f"layers_{f}" for f in _SUMMARY_FLAGS]
        df = derived_flags(self.to_pandas())
        if not len(df):
            return pd.DataFrame(columns=columns)
        sums = network_sums(df).set_index(["model", "epoch"])
        records = {(n.get("model"), _epoch_key(n.get("epoch"))): n for n in self.network}
        out = []
        for (model, epoch), g in df.groupby(["model", "epoch"], sort=False, dropna=False):
            s = sums.loc[(model, epoch)]
            row = {"model": model, "epoch": epoch, "layers": len(g),
                   "network_complexity_measured": float(s["network_complexity_measured"]),
                   "network_complexity": float(s["network_complexity"]),
                   "complexity_layers": int(s["complexity_layers"]),
                   "complexity_layers_not_measured": int(s["complexity_layers_not_measured"])}
            rec = records.get((model, _epoch_key(epoch)))
            row.update(_relevance_summary(g) if rec is None else _record_summary(rec, g))
            measured = g[~h_s_saturated(g)]
            row["beta_across_layers_measured"] = _beta_across(measured)
            crit = _relevance_summary(measured)
            row["critical_layer_measured"] = crit["critical_layer"]
            why = ""
            if crit["critical_layer"] is None:
                why = crit["critical_layer_why"] or ("every layer with an H[s] has it at log2 M"
                                                     if h_s_saturated(g).any() else "")
            row["critical_layer_measured_why"] = why
            for f in _SUMMARY_FLAGS:
                computed = g[f].notna().any()
                row[f"layers_{f}"] = int(true_flags(g, f).sum()) if computed else pd.NA
            out.append(row)
        frame = pd.DataFrame(out, columns=columns)
        for f in _SUMMARY_FLAGS:
            frame[f"layers_{f}"] = frame[f"layers_{f}"].astype("Int64")
        return frame

    def to_csv(self, path) -> None:
        """Writes the per-layer table (columns `COLUMNS`; empty cells where not computed),
        atomically: an interrupted write or a full disk leaves any previous file as it was.

        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "metrics.csv"
        >>> Report([{"model": "m", "layer": "relu1"}]).to_csv(path)
        >>> path.read_text().splitlines()[1].startswith("m,,relu1")
        True
        """
        from .._io import atomic_write_text

        buf = io.StringIO(newline="")
        writer = csv.writer(buf)
        writer.writerow(COLUMNS)
        for r in self.rows:
            writer.writerow(["" if _missing(r.get(c)) else r.get(c) for c in COLUMNS])
        atomic_write_text(path, buf.getvalue())

    def to_dict(self) -> dict:
        return {"format": _JSON_FORMAT, "rows": to_json_value(self.rows), "network": to_json_value(self.network),
                "curves": to_json_value(self.curves), "settings": to_json_value(self.settings)}

    def to_json(self, path=None) -> str:
        """Everything (rows, network, curves, settings) as strict JSON (NaN is null, infinities
        are the strings "Infinity"/"-Infinity"); written to `path` when given (atomically: an
        interrupted write or a full disk leaves any previous file as it was), and returned.

        >>> import tempfile, pathlib
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "report.json"
        >>> _ = Report([{"model": "m", "layer": "relu1"}]).to_json(path)
        >>> Report.load(path).rows[0]["layer"]
        'relu1'
        """
        text = json.dumps(self.to_dict(), allow_nan=False)
        if path is not None:
            from .._io import atomic_write_text

            atomic_write_text(path, text)
        return text

    @classmethod
    def load(cls, path) -> "Report":
        """A report from a file written by `to_json`."""
        with open(path) as f:
            doc = json.load(f)
        if not isinstance(doc, dict) or doc.get("format") != _JSON_FORMAT:
            raise ValueError(f"{path!r} is not a pycx report (expected format {_JSON_FORMAT!r})")
        rows = []
        for r in from_json_value(doc["rows"]):
            row = _nan_row()
            for k, v in r.items():
                row[k] = (float("nan") if v is None and k not in _STRING_COLUMNS and k != "epoch"
                          else v)
            rows.append(row)
        network = []
        for n in from_json_value(doc["network"]):
            network.append({k: (float("nan") if v is None and k in ("network_complexity",
                                                                   "beta_across_layers") else v)
                            for k, v in n.items()})
        return cls(rows, network, from_json_value(doc["curves"]), from_json_value(doc["settings"]))

    # --- concatenation
    def extend(self, other: "Report") -> "Report":
        """Appends another report's rows and network rows (e.g. a later epoch), in place.
        Curves: the other report's ``degeneracy`` and ``effective_dimension_map`` (last epoch)
        replace these; ``max_relevance`` and ``kmeans`` are kept, or taken from `other` when
        absent here. Settings: timings are added up per stage; each analysis run is listed in
        ``settings["runs"]`` (with its full settings where they differ from this report's)."""
        if not isinstance(other, Report):
            raise TypeError(f"argument 'other' must be a Report, got {type(other).__name__}")
        self.rows.extend(dict(r) for r in other.rows)
        self.network.extend(dict(n) for n in other.network)
        for key, value in other.curves.items():
            if key in ("degeneracy", "effective_dimension_map") or key not in self.curves:
                self.curves[key] = value
        if not self.settings:
            self.settings = dict(other.settings)
            return self
        mine = {k: v for k, v in self.settings.items() if k not in ("timings", "runs")}
        theirs = {k: v for k, v in other.settings.items() if k not in ("timings", "runs")}
        timings = dict(self.settings.get("timings", {}))
        for stage, seconds in other.settings.get("timings", {}).items():
            timings[stage] = timings.get(stage, 0.0) + seconds
        self.settings["timings"] = timings
        runs = list(self.settings.get("runs", []))
        for run in other.settings.get("runs", []):
            run = dict(run)
            if to_json_value(theirs) != to_json_value(mine):
                run["settings"] = theirs
            runs.append(run)
        self.settings["runs"] = runs
        return self

    def __add__(self, other: "Report") -> "Report":
        out = Report(self.rows, self.network, self.curves, json.loads(json.dumps(to_json_value(self.settings))))
        out.settings = from_json_value(out.settings)
        return out.extend(other)


def _missing(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


# ------------------------------------------------------ values that are not measurements, sums

# The flags Report.summary counts per model and epoch.
_SUMMARY_FLAGS = ("complexity_exceeds_log2_rows", "kde_saturated", "kde_i_xy_saturated",
                  "h_s_saturated", "effective_dimension_undefined")


def true_flags(df: "pd.DataFrame", col: str) -> np.ndarray:
    """Boolean array: the flag column `col` of `df` is True (True, 1.0 or the text "True", as
    a CSV read back gives it); NaN (not computed) and a missing column are False.

    >>> import pandas as pd
    >>> true_flags(pd.DataFrame({"f": [True, float("nan"), 0.0, "True"]}), "f").tolist()
    [True, False, False, True]
    """
    if col not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return df[col].map(lambda v: v is True or v is np.True_ or (isinstance(v, str) and v.strip() == "True")
                       or (not isinstance(v, str) and v == 1.0)).to_numpy(dtype=bool)


def complexity_not_measured(df: "pd.DataFrame") -> np.ndarray:
    """Rows whose H(Z) is not a measurement: above log2(rows_patch) (the chain rule's upper
    bound exceeds what the rows can show; `complexity_exceeds_log2_rows`) or above the sum of
    the unit entropies (NTC < 0, impossible for an entropy). A boolean array.

    >>> import pandas as pd
    >>> complexity_not_measured(pd.DataFrame({"complexity_exceeds_log2_rows": [True, False,
    ...                                       False], "ntc": [0.3, -0.02, 0.1]})).tolist()
    [True, True, False]
    """
    over = (_numeric(df["ntc"]) < 0) if "ntc" in df.columns else False
    return true_flags(df, "complexity_exceeds_log2_rows") | over


# H[s] within this many bits of log2(rows_sample) is at its ceiling (as kde_saturated's rule).
H_S_CEILING_TOL = 0.01


def h_s_saturated(df: "pd.DataFrame") -> np.ndarray:
    """Rows whose resolution H[s] sits at its ceiling: within `H_S_CEILING_TOL` (0.01) bits of
    log2(rows_sample), every sample (nearly) in its own state. H[s] then measures the number of
    samples, not the layer, and H[k] is (near) 0 (definitions §3). A boolean array; False
    where H[s] or rows_sample is missing.

    >>> import pandas as pd
    >>> h_s_saturated(pd.DataFrame({"h_s": [10.0, 9.995, 7.0, float("nan")],
    ...                             "rows_sample": [1024, 1024, 1024, 1024]})).tolist()
    [True, True, False, False]
    """
    if "h_s" not in df.columns or "rows_sample" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    hs, m = _numeric(df["h_s"]), _numeric(df["rows_sample"])
    with np.errstate(divide="ignore", invalid="ignore"):
        ceiling = np.where(m >= 1, np.log2(np.where(m >= 1, m, 1.0)), np.nan)
    return np.isfinite(hs) & np.isfinite(ceiling) & (hs >= ceiling - H_S_CEILING_TOL)


def effective_dimension_undefined(df: "pd.DataFrame") -> np.ndarray:
    """Rows whose effective dimension is 0: zero total variance (every output constant), where
    the value is the convention of definitions §2, not a count of directions (a defined value
    lies in [1, C]). A boolean array; False where it is missing.

    >>> import pandas as pd
    >>> effective_dimension_undefined(pd.DataFrame({"effective_dimension": [0.0, 1.0,
    ...                                             float("nan")]})).tolist()
    [True, False, False]
    """
    if "effective_dimension" not in df.columns:
        return np.zeros(len(df), dtype=bool)
    return _numeric(df["effective_dimension"]) == 0.0


# Flags the report derives from the table's values (metrics.csv's last columns): name ->
# (rule, the column it qualifies).
DERIVED_FLAGS = {"complexity_not_measured": (complexity_not_measured, "complexity"),
                 "h_s_saturated": (h_s_saturated, "h_s"),
                 "effective_dimension_undefined": (effective_dimension_undefined,
                                                   "effective_dimension")}


def derived_flags(df: "pd.DataFrame") -> "pd.DataFrame":
    """`df` with the `DERIVED_FLAGS` columns set: True/False where the column they qualify has
    a value, NaN where it has none (not computed).

    >>> import pandas as pd
    >>> out = derived_flags(pd.DataFrame({"h_s": [10.0, float("nan")], "rows_sample": 1024,
    ...                                   "effective_dimension": 0.0}))
    >>> out["h_s_saturated"].tolist(), out["effective_dimension_undefined"].tolist()
    ([True, nan], [True, True])
    """
    import pandas as pd

    out = df.copy()
    for name, (rule, col) in DERIVED_FLAGS.items():
        has = (~np.isnan(_numeric(df[col])) if col in df.columns
               else np.zeros(len(df), dtype=bool))
        out[name] = pd.Series(rule(df), index=df.index, dtype=object).where(has, np.nan)
    return out


def _numeric(series) -> np.ndarray:
    """A column as float64 (values that are not numbers are NaN)."""
    import pandas as pd

    return pd.to_numeric(series, errors="coerce").to_numpy(dtype=float)


def network_sums(df: "pd.DataFrame") -> "pd.DataFrame":
    """Per model and epoch (in order of appearance): ``network_complexity`` (Σ H(Z) over every
    layer with one: an upper bound as soon as one layer's is), ``network_complexity_measured``
    (the sum over the layers whose H(Z) is a measurement, `complexity_not_measured`),
    ``complexity_layers`` (layers with an H(Z)) and ``complexity_layers_not_measured``.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": "m", "epoch": 0, "complexity": [3.0, 20.0],
    ...                    "complexity_exceeds_log2_rows": [False, True], "ntc": [0.1, 0.2]})
    >>> row = network_sums(df).iloc[0]
    >>> [float(row[k]) for k in ("network_complexity", "network_complexity_measured",
    ...                          "complexity_layers", "complexity_layers_not_measured")]
    [23.0, 3.0, 2.0, 1.0]
    """
    complexity = _numeric(df["complexity"]) if "complexity" in df.columns else np.full(len(df), np.nan)
    bound = complexity_not_measured(df) & ~np.isnan(complexity)
    df = df.assign(_c=complexity, _bound=bound, _measured=np.where(bound, np.nan, complexity))
    g = df.groupby(["model", "epoch"], sort=False, dropna=False)
    out = g.agg(network_complexity=("_c", lambda s: s.sum(min_count=1)),
                network_complexity_measured=("_measured", lambda s: s.sum(min_count=1)),
                complexity_layers=("_c", "count"),
                complexity_layers_not_measured=("_bound", "sum")).reset_index()
    out["complexity_layers_not_measured"] = out["complexity_layers_not_measured"].astype(int)
    return out


def _epoch_key(epoch):
    """An epoch as a dictionary key: None for a missing one, an int where it is whole."""
    if epoch is None or (isinstance(epoch, float) and math.isnan(epoch)):
        return None
    try:
        return int(epoch) if float(epoch) == int(epoch) else float(epoch)
    except (TypeError, ValueError):
        return epoch


def _record_summary(rec, g) -> dict:
    """The critical and Zipf layers and beta across layers of an analysis's network record;
    keys the record lacks are computed from the rows."""
    computed = None
    out = {}
    for key in ("critical_layer", "critical_layer_why", "zipf_layer", "zipf_layer_why",
                "beta_across_layers"):
        if key in rec:
            value = rec[key]
            out[key] = (float("nan") if key == "beta_across_layers" and value is None
                        else "" if key.endswith("_why") and value is None else value)
        else:
            computed = computed or _relevance_summary(g)
            out[key] = computed[key]
    return out


def _beta_across(g) -> float:
    """Minus the least-squares slope of H[k] on H[s] over the rows `g` with both (NaN with
    fewer than two, or no spread of H[s])."""
    hs, hk = _numeric(g["h_s"]), _numeric(g["h_k"])
    ok = np.isfinite(hs) & np.isfinite(hk)
    if ok.sum() >= 2 and np.ptp(hs[ok]) > 0:
        return float(-np.polyfit(hs[ok], hk[ok], 1)[0])
    return float("nan")


def _relevance_summary(g) -> dict:
    """The critical layer, the Zipf layer and beta across layers of one model and epoch from
    its rows (the definitions of `pycx.reference.relevance`; the network value of beta as
    `analyze` computes it)."""
    from ..reference.relevance import critical_layer, why_no_critical_layer, zipf_layer

    out = {"critical_layer": None, "critical_layer_why": "", "zipf_layer": None,
           "zipf_layer_why": "", "beta_across_layers": float("nan")}
    hs, hk = _numeric(g["h_s"]), _numeric(g["h_k"])
    names = g["layer"].tolist()
    ok = np.isfinite(hs) & np.isfinite(hk)
    if ok.any():
        points = np.stack([hs[ok], hk[ok]], axis=1)
        crit = critical_layer(points)
        if crit is None:
            out["critical_layer_why"] = why_no_critical_layer(points)
        else:
            out["critical_layer"] = [n for n, keep in zip(names, ok) if keep][crit]
        out["beta_across_layers"] = _beta_across(g)
    betas = _numeric(g["beta_mle"])
    if len(betas):
        zipf = zipf_layer(betas)
        if zipf is None:
            if ok.any():
                out["zipf_layer_why"] = ("no layer has a defined beta (each needs at least "
                                         "three distinct state frequencies)")
        else:
            out["zipf_layer"] = names[zipf]
    return out
