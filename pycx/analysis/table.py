"""The `Report` table: one row per (model, epoch, layer), fixed columns (`COLUMNS`), plus the
network-level values, curves and settings; CSV, JSON and pandas forms.

Owns the column schema. May import: numpy, the base layer (`pycx._json`, `pycx._validate`),
the estimators' registry (`pycx.estimators.registry`: the metric groups).
"""
from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Iterable, Mapping, Optional


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
                 "kde_saturated", "kde_h_y", "kde_i_xy_saturated"]
COLUMNS = IDENTITY_COLUMNS + JANIK_COLUMNS + RELEVANCE_COLUMNS + KDE_COLUMNS + EXTRA_COLUMNS
_STRING_COLUMNS = {"model", "layer", "kind", "block", "shape", "complexity_estimator"}
_INT_COLUMNS = {"depth", "units", "rows_sample", "rows_patch", "n_states", "sample_bits",
                "rows_kde"}
# Flags: True/False where computed, NaN (empty in the CSV) where not.
BOOL_COLUMNS = {"complexity_exceeds_log2_rows", "kde_saturated", "kde_i_xy_saturated"}

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
