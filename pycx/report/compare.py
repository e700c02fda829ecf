"""Two reports side by side (checkpoints, seeds, models): `compare_reports` gives the per-layer
values of A and B and their difference B − A, `compare_figure` draws them, `read_report` reads
a report folder written by `pycx analyze` / `pycx demo` (`write_report`) back into a `Report`.

Each report is compared at each model's last epoch. Layers are matched by name (``on="layer"``:
two checkpoints or seeds of one architecture) or by position among the gating layers
(``on="depth"``: two architectures). When each report holds one model, its layers are matched
whatever the models' names; otherwise models are matched by name. A layer found in one report
only keeps its row, with the other side empty.

pandas and matplotlib are imported inside the functions. May import: `pycx.analysis` (the
`Report` and its schema), the base layer, this package.
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Tuple, Union

import numpy as np

from ..analysis.table import COLUMNS, Report, complexity_not_measured, derived_flags

if TYPE_CHECKING:
    import pandas as pd

    from .figures import Figure

__all__ = ["MAIN_COLUMNS", "compare_figure", "compare_reports", "read_report"]

# The columns compared by default (those with a value in either report).
MAIN_COLUMNS = ("complexity", "complexity_per_neuron", "ntc", "linearity", "effective_dimension",
                "h_s", "h_k", "beta_mle", "classification_error", "kde_h", "kde_i_xy")
_NUMERIC = [c for c in COLUMNS if c not in ("model", "layer", "kind", "block", "shape",
                                            "complexity_estimator", "epoch", "depth")]
_MATCH = ("layer", "depth")

ReportSource = Union[Report, str, "os.PathLike[str]"]


def read_report(source: ReportSource, argument: str = "source") -> Report:
    """A `Report` from `source`: a `Report` (returned as is); a report folder written by
    `write_report` (``pycx analyze``, ``pycx demo``): its ``metrics.json``, else its
    ``metrics.csv``; such a ``metrics.json`` or ``metrics.csv`` file; or a file written by
    `Report.to_json`. A path that is none of these raises ValueError naming `argument`.

    >>> import tempfile, pathlib, pycx
    >>> folder = pathlib.Path(tempfile.mkdtemp()) / "rep"
    >>> _ = pycx.write_report(pycx.Report([{"model": "m", "layer": "relu1"}]), folder)
    >>> read_report(folder).rows[0]["layer"]
    'relu1'
    """
    if isinstance(source, Report):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"argument '{argument}' must be a Report or a path, got "
                        f"{type(source).__name__}")
    path = Path(source)
    if path.is_dir():
        for name in ("metrics.json", "metrics.csv"):
            if (path / name).is_file():
                return read_report(path / name, argument)
        raise ValueError(f"argument '{argument}' ({str(source)!r}) is a folder without "
                         "metrics.json or metrics.csv: not a pycx report (written by pycx "
                         "analyze, pycx demo or pycx.write_report)")
    if not path.is_file():
        raise ValueError(f"argument '{argument}' ({str(source)!r}) does not exist")
    if path.suffix.lower() == ".csv":
        import pandas as pd

        try:
            df = pd.read_csv(path)
        except Exception as exc:  # an empty or malformed file
            raise ValueError(f"argument '{argument}' ({str(source)!r}) cannot be read as a "
                             f"CSV table: {exc}") from None
        if not {"model", "layer"} <= set(df.columns):
            raise ValueError(f"argument '{argument}' ({str(source)!r}) has no 'model' and "
                             "'layer' columns: not a pycx metrics.csv")
        rows = df.astype(object).where(df.notna(), None).to_dict("records")
        return Report(rows)
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except (OSError, ValueError) as exc:
        raise ValueError(f"argument '{argument}' ({str(source)!r}) cannot be read as JSON: "
                         f"{exc}") from None
    if isinstance(doc, dict) and "format" in doc:
        return Report.load(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("rows"), list):
        raise ValueError(f"argument '{argument}' ({str(source)!r}) is not a pycx report "
                         "(no 'rows' list)")
    network = [n for n in doc.get("network") or [] if isinstance(n, dict)]
    return Report(doc["rows"], network, settings=doc.get("settings") or {})


def _last_epoch_rows(rep: Report) -> "pd.DataFrame":
    """The per-layer rows of each model's last epoch, with the flags complexity_not_measured,
    h_s_saturated and effective_dimension_undefined."""
    import pandas as pd

    df = rep.to_pandas()
    parts = []
    for _, g in df.groupby("model", sort=False, dropna=False):
        if g["epoch"].notna().any():
            g = g[g["epoch"] == g["epoch"].max()]
        parts.append(g)
    df = pd.concat(parts) if parts else df
    df = derived_flags(df)
    df["complexity_not_measured"] = complexity_not_measured(df) & df["complexity"].notna()
    if len(df) and df["depth"].isna().any():  # rows built by hand: their order is the depth
        df["depth"] = df.groupby("model", sort=False, dropna=False).cumcount()
    return df.reset_index(drop=True)


def compare_reports(a: ReportSource, b: ReportSource, *, on: str = "layer",
                    columns: Optional[Sequence[str]] = None) -> "pd.DataFrame":
    """Per-layer values of two reports side by side: for each compared column ``<col>_a``,
    ``<col>_b`` and ``<col>_diff`` (B − A; NaN where either is missing), then
    ``complexity_not_measured_a`` / ``_b`` (the H(Z) of that side is only a bound, so its
    difference is not a measured change), ``h_s_saturated_a`` / ``_b`` and
    ``effective_dimension_undefined_a`` / ``_b`` (H[s] at its ceiling log2 M; an effective
    dimension of 0), after the identity columns ``layer_a``, ``layer_b``,
    ``depth_a``, ``depth_b``, ``model_a``, ``model_b``, ``epoch_a``, ``epoch_b``. One row per
    matched layer, in A's depth order, then B's layers that A lacks.

    a, b: `Report`s or report folders / files (see `read_report`); each is compared at each
    model's last epoch. on: ``"layer"`` (match layers by name) or ``"depth"`` (by position).
    columns: metric columns of the report schema to compare (default: those of
    `MAIN_COLUMNS` with a value in either report).

    >>> import pycx
    >>> a = pycx.Report([{"model": "m", "epoch": 0, "layer": "relu1", "complexity": 3.0},
    ...                  {"model": "m", "epoch": 0, "layer": "relu2", "complexity": 5.0}])
    >>> b = pycx.Report([{"model": "m", "epoch": 9, "layer": "relu1", "complexity": 4.5},
    ...                  {"model": "m", "epoch": 9, "layer": "relu2", "complexity": 4.0}])
    >>> t = compare_reports(a, b)
    >>> t[["layer_a", "complexity_a", "complexity_b", "complexity_diff"]].to_string(index=False)
    'layer_a  complexity_a  complexity_b  complexity_diff\\n  relu1           3.0           4.5              1.5\\n  relu2           5.0           4.0             -1.0'
    """
    import pandas as pd

    if on not in _MATCH:
        raise ValueError(f"argument 'on' must be one of {', '.join(map(repr, _MATCH))}, got {on!r}")
    ra, rb = read_report(a, "a"), read_report(b, "b")
    da, db = _last_epoch_rows(ra), _last_epoch_rows(rb)
    if columns is None:
        columns = [c for c in MAIN_COLUMNS
                   if (c in da.columns and da[c].notna().any())
                   or (c in db.columns and db[c].notna().any())]
    else:
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise TypeError("argument 'columns' must be a sequence of column names, got "
                            f"{columns!r}")
        unknown = [c for c in columns if c not in _NUMERIC]
        if unknown:
            raise ValueError(f"argument 'columns': {', '.join(map(repr, unknown))} "
                             f"{'is' if len(unknown) == 1 else 'are'} not numeric columns of "
                             "the report schema (pycx.analysis.table.COLUMNS)")
        columns = list(dict.fromkeys(columns))
    one_each = da["model"].nunique(dropna=False) <= 1 and db["model"].nunique(dropna=False) <= 1
    keys = [on] if one_each else ["model", on]

    def side(df, suffix):
        keep = (["model", "epoch", "layer", "depth"] + list(columns)
                + ["complexity_not_measured", "_has_complexity"] + list(_FLAGS))
        t = df.assign(_has_complexity=df["complexity"].notna())[keep].copy()
        t["_order"] = np.arange(len(t))
        for k in keys:
            t["_key_" + k] = t[k]
        t = t.drop_duplicates([f"_key_{k}" for k in keys])  # the first of a repeated name
        return t.rename(columns={c: f"{c}_{suffix}" for c in keep + ["_order"]})

    key_cols = [f"_key_{k}" for k in keys]
    merged = pd.merge(side(da, "a"), side(db, "b"), on=key_cols, how="outer", sort=False)
    merged = merged.sort_values(["_order_a", "_order_b"], na_position="last", kind="stable")
    out = pd.DataFrame(index=merged.index)
    for c in ("layer", "depth", "model", "epoch"):
        out[f"{c}_a"], out[f"{c}_b"] = merged[f"{c}_a"], merged[f"{c}_b"]
    for c in columns:
        va = pd.to_numeric(merged[f"{c}_a"], errors="coerce")
        vb = pd.to_numeric(merged[f"{c}_b"], errors="coerce")
        out[f"{c}_a"], out[f"{c}_b"], out[f"{c}_diff"] = va, vb, vb - va
    for s in ("a", "b"):  # True/False where that side has an H(Z), None where not
        flag = merged[f"complexity_not_measured_{s}"].astype(object)
        out[f"complexity_not_measured_{s}"] = flag.where(merged[f"_has_complexity_{s}"] == True,  # noqa: E712
                                                          None)
    for s in ("a", "b"):  # True/False where that side has the value, None where not
        for flag in _FLAGS:
            out[f"{flag}_{s}"] = merged[f"{flag}_{s}"].astype(object).where(
                merged[f"{flag}_{s}"].notna(), None)
    return out.reset_index(drop=True)


# Flags of values that are not measurements, beside complexity_not_measured: flag -> the
# compared columns it marks.
_FLAGS = {"h_s_saturated": ("h_s", "h_k"),
          "effective_dimension_undefined": ("effective_dimension",)}


def compared_columns(table: "pd.DataFrame") -> list:
    """The metric columns a `compare_reports` table compares, in its order."""
    return [c[:-5] for c in table.columns if c.endswith("_diff")]


def compare_figure(table: "pd.DataFrame", labels: Tuple[str, str] = ("A", "B"),
                   max_panels: int = 9) -> "Figure":
    """The figure of a `compare_reports` table: per compared column (at most `max_panels`),
    A's and B's values per layer (A solid, B dashed; hollow where H(Z) is only a bound) above
    the difference B − A as bars.

    >>> import pycx
    >>> a = pycx.Report([{"model": "m", "layer": "relu1", "h_s": 3.0}])
    >>> b = pycx.Report([{"model": "m", "layer": "relu1", "h_s": 4.0}])
    >>> fig = compare_figure(compare_reports(a, b), labels=("seed 0", "seed 1"))
    >>> fig.name, fig.png[:4] == b"\\x89PNG"
    ('compare', True)
    """
    from matplotlib.gridspec import GridSpec, GridSpecFromSubplotSpec

    from .columns import COLUMN_GUIDE
    from .figures import _STYLE, Figure, _plt, _render, _short

    plt = _plt()
    every = compared_columns(table)
    cols = every[:max_panels]
    la, lb = (str(x) for x in labels)
    n = len(table)
    names = [_row_name(r) for r in table.itertuples(index=False)]
    x = np.arange(n)
    with plt.rc_context(_STYLE):
        ncols = min(3, max(1, len(cols)))
        nrows = max(1, math.ceil(len(cols) / ncols))
        fig = plt.figure(figsize=(4.6 * ncols, 4.8 * nrows))
        # One cell per column: the values above their difference, the cells well apart (the
        # layer names under each cell are rotated).
        gs = GridSpec(nrows, ncols, figure=fig, hspace=0.55, wspace=0.3)
        step = max(1, math.ceil(n / 14))
        for i, c in enumerate(cols):
            r, k = divmod(i, ncols)
            cell = GridSpecFromSubplotSpec(2, 1, subplot_spec=gs[r, k], height_ratios=[3, 1.4],
                                           hspace=0.08)
            top = fig.add_subplot(cell[0])
            bottom = fig.add_subplot(cell[1], sharex=top)
            unit = COLUMN_GUIDE.get(c, ("",))[0]
            va, vb = table[f"{c}_a"].to_numpy(float), table[f"{c}_b"].to_numpy(float)
            top.plot(x, va, "o-", color="C0", label=la, ms=4)
            top.plot(x, vb, "s--", color="C1", label=lb, ms=4)
            if c in ("complexity", "complexity_per_neuron"):
                for s, v, color in (("a", va, "C0"), ("b", vb, "C1")):
                    bound = table[f"complexity_not_measured_{s}"].map(lambda f: f is True
                                                                      or f is np.True_)
                    sel = bound.to_numpy(dtype=bool)
                    if sel.any():
                        top.plot(x[sel], v[sel], "o", mfc="white", mec=color, mew=1.3, ms=6,
                                 zorder=4, label=f"{la if s == 'a' else lb}: upper bound")
            for flag, flagged_cols in _FLAGS.items():
                if c not in flagged_cols or f"{flag}_a" not in table.columns:
                    continue
                for s, v, color in (("a", va, "C0"), ("b", vb, "C1")):
                    sel = table[f"{flag}_{s}"].map(lambda f: f is True or f is np.True_
                                                   ).to_numpy(dtype=bool)
                    if sel.any():
                        what = ("H[s] at log2 M" if flag == "h_s_saturated"
                                else "undefined (0)")
                        top.plot(x[sel], v[sel], "o" if flag == "h_s_saturated" else "s",
                                 mfc="white", mec=color, mew=1.3, ms=6, zorder=4,
                                 label=f"{la if s == 'a' else lb}: {what}")
            top.set_title(f"{c}" + (f" ({unit})" if unit and unit not in ("text",) else ""))
            top.legend(loc="best")
            plt.setp(top.get_xticklabels(), visible=False)
            d = table[f"{c}_diff"].to_numpy(float)
            bottom.bar(x, np.nan_to_num(d), color=np.where(d >= 0, "C2", "C3"), width=0.6)
            bottom.axhline(0.0, color="0.3", lw=0.8)
            bottom.set_ylabel(f"{lb} − {la}", fontsize=7)
            bottom.set_xticks(x[::step])
            bottom.set_xticklabels([_short(nm) for nm in names[::step]], rotation=40, ha="right")
        if not cols:
            ax = fig.add_subplot(gs[0, 0])
            ax.text(0.5, 0.5, "no metric column to compare", ha="center", va="center")
            ax.set_axis_off()
        png, svg = _render(fig)
    return Figure("compare", f"{la} vs {lb}",
                  f"Per layer ({n} matched layers), each report at each model's last epoch: "
                  f"{la} solid, {lb} dashed; bars: {lb} − {la}. Hollow points: H(Z) only an "
                  "upper bound (its difference is not a measured change), or H[s] at its "
                  "ceiling log2 M (every sample its own state: H[s] and H[k] then measure the "
                  "sample size); hollow squares: an effective dimension of 0 (zero variance, "
                  "undefined)."
                  + (f" The first {len(cols)} of {len(every)} compared columns; all are in the "
                     "table." if len(every) > len(cols) else ""), png, svg)


def _row_name(r) -> str:
    """A compared row's layer name: one name when both sides agree, else 'A / B'."""
    a = r.layer_a if isinstance(r.layer_a, str) else None
    b = r.layer_b if isinstance(r.layer_b, str) else None
    if a and b and a != b:
        return f"{a} / {b}"
    return a or b or "?"
