"""Values that are not measurements, marked as such on every figure: upper bounds,
impossible values, saturated and undefined values (`MARK_KINDS`: hollow or crossed markers, a
legend key, a caption sentence), and the error bars of the values that have an interval
(`interval_of`).
"""
from __future__ import annotations

import numpy as np

from ...analysis.table import complexity_not_measured, effective_dimension_undefined, h_s_saturated
from ...analysis.table import true_flags as _flag


# kind -> legend text of its marker key.
MARK_KINDS = {
    "bound": "hollow: upper bound, not a measurement (H(Z) above log2 of the rows, or above "
             "the sum of the unit entropies)",
    "ntc_bound": "hollow: lower bound (its H(Z) is only an upper bound)",
    "impossible": "× grey: impossible value (NTC < 0: the H(Z) estimate exceeds the sum of "
                  "the unit entropies)",
    "saturated": "hollow: saturated, at its ceiling (says only that the states are far apart)",
    "network_bound": "hollow: the sum includes layers whose H(Z) is only an upper bound",
    "block_bound": "hatched: the block average includes NTC values that are bounds or "
                   "impossible",
    "h_s_saturated": "hollow: H[s] at its ceiling log2 M (every sample its own state: it "
                     "measures the sample size, not the layer)",
    "undefined": "+ grey: undefined (zero variance: an effective dimension of 0 is a "
                 "convention, not a count of directions)",
}


def _marks(df, col):
    """Per row of `df`: the mark kind of `col`'s value ("" for a measurement)."""
    kinds = np.full(len(df), "", dtype=object)
    if col in ("complexity", "complexity_per_neuron"):
        kinds[complexity_not_measured(df)] = "bound"
    elif col == "ntc":
        kinds[_flag(df, "complexity_exceeds_log2_rows")] = "ntc_bound"
        kinds[df["ntc"].to_numpy(dtype=float) < 0] = "impossible"
    elif col == "kde_h":
        kinds[_flag(df, "kde_saturated")] = "saturated"
    elif col == "kde_i_xy":
        kinds[_flag(df, "kde_i_xy_saturated")] = "saturated"
    elif col in ("h_s", "h_k", "h_s_norm", "h_k_norm"):
        kinds[h_s_saturated(df)] = "h_s_saturated"
    elif col == "effective_dimension":
        kinds[effective_dimension_undefined(df)] = "undefined"
    return kinds


# column drawn -> (low column, high column, what the interval is); divided by the units
# (per neuron) or by log2 M (normalised) where the drawn column is.
_INTERVALS = {
    "complexity": ("complexity_lo", "complexity_hi", "fold"),
    "complexity_per_neuron": ("complexity_lo", "complexity_hi", "fold"),
    "effective_dimension": ("effective_dimension_lo", "effective_dimension_hi", "bootstrap"),
    "h_s": ("h_s_lo", "h_s_hi", "bootstrap"), "h_s_norm": ("h_s_lo", "h_s_hi", "bootstrap"),
    "h_k": ("h_k_lo", "h_k_hi", "bootstrap"), "h_k_norm": ("h_k_lo", "h_k_hi", "bootstrap"),
    "kde_h": ("kde_h_lo", "kde_h_hi", "bootstrap"),
}


def interval_of(df, col):
    """``(low, high)`` arrays of the interval of `col`'s values in `df` (NaN where there is
    none): the chain rule's per-fold range for H(Z) (per neuron: divided by ``units``), the
    bootstrap interval for the effective dimension, H[s], H[k] (normalised: divided by log2 of
    ``rows_sample``) and H(Σ); None for a column without one.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"complexity_lo": [4.0], "complexity_hi": [6.0], "units": [2]})
    >>> [a.tolist() for a in interval_of(df, "complexity_per_neuron")]
    [[2.0], [3.0]]
    """
    if col not in _INTERVALS:
        return None
    lo_col, hi_col, _ = _INTERVALS[col]
    nan = np.full(len(df), np.nan)
    lo = df[lo_col].to_numpy(dtype=float) if lo_col in df.columns else nan
    hi = df[hi_col].to_numpy(dtype=float) if hi_col in df.columns else nan
    if col == "complexity_per_neuron":
        units = df["units"].to_numpy(dtype=float) if "units" in df.columns else nan
        lo, hi = lo / units, hi / units
    elif col.endswith("_norm"):
        m = df["rows_sample"].to_numpy(dtype=float) if "rows_sample" in df.columns else nan
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = np.where(m > 1, np.log2(np.where(m > 1, m, 2.0)), np.nan)
        lo, hi = lo / scale, hi / scale
    return lo, hi


def _draw_intervals(ax, x, df, col, color, bars, horizontal=False, y=None):
    """Error bars of `col` (`interval_of`) where they exist: a line from the low to the high
    end with short caps (the end points as given: a bootstrap interval of an entropy can lie
    below its estimate); adds to `bars` {column: number drawn}."""
    iv = interval_of(df, col)
    if iv is None:
        return
    lo, hi = iv
    x = np.asarray(x, float)
    ok = np.isfinite(lo) & np.isfinite(hi)
    if not ok.any():
        return
    if horizontal:
        y = np.asarray(y, float)
        ax.hlines(y[ok], lo[ok], hi[ok], color=color, lw=1.0, alpha=0.8, zorder=2)
    else:
        ax.vlines(x[ok], lo[ok], hi[ok], color=color, lw=1.0, alpha=0.8, zorder=2)
        ax.plot(np.r_[x[ok], x[ok]], np.r_[lo[ok], hi[ok]], "_", color=color, ms=5, mew=1.0,
                alpha=0.8, zorder=2)
    bars[col] = bars.get(col, 0) + int(ok.sum())


def _intervals_caption(bars, df=None) -> str:
    if not bars:
        return ""
    kinds = {_INTERVALS[c][2] for c in bars}
    parts = []
    if "fold" in kinds:
        parts.append("the range of the chain rule's per-fold estimates of H(Z)")
    if "bootstrap" in kinds:
        parts.append("bootstrap percentile intervals (rows resampled; for entropies the "
                     "resamples' duplicates pull them low, so an interval can lie below its "
                     "point)")
    return " Error bars: " + "; ".join(parts) + "."


def _draw_marked(ax, x, y, kinds, color, counts):
    """Over points already drawn filled: hollow markers on bounds and saturated values, a grey
    cross on impossible values; adds to `counts` {kind: points}."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    for kind in ("bound", "ntc_bound", "saturated", "network_bound", "h_s_saturated"):
        sel = kinds == kind
        if sel.any():
            ax.plot(x[sel], y[sel], "o", ls="none", mfc="white", mec=color, mew=1.3, ms=6,
                    zorder=4)
            counts[kind] = counts.get(kind, 0) + int(sel.sum())
    sel = kinds == "impossible"
    if sel.any():
        ax.plot(x[sel], y[sel], "o", ls="none", mfc="white", mec="0.5", ms=7, zorder=4)
        ax.plot(x[sel], y[sel], "x", ls="none", color="0.35", ms=6, mew=1.4, zorder=5)
        counts["impossible"] = counts.get("impossible", 0) + int(sel.sum())
    sel = kinds == "undefined"
    if sel.any():
        ax.plot(x[sel], y[sel], "s", ls="none", mfc="white", mec="0.5", ms=7, zorder=4)
        ax.plot(x[sel], y[sel], "+", ls="none", color="0.35", ms=7, mew=1.4, zorder=5)
        counts["undefined"] = counts.get("undefined", 0) + int(sel.sum())


def _mark_handles(counts):
    """Legend keys of the mark kinds drawn (proxy artists)."""
    from matplotlib.lines import Line2D

    from matplotlib.patches import Patch

    out = []
    for kind, text in MARK_KINDS.items():
        if counts.get(kind):
            if kind == "block_bound":
                out.append(Patch(facecolor="white", edgecolor="0.3", hatch="///", label=text))
            elif kind == "impossible":
                out.append(Line2D([], [], marker="x", ls="none", color="0.35", mew=1.4, ms=6,
                                  label=text))
            elif kind == "undefined":
                out.append(Line2D([], [], marker="+", ls="none", color="0.35", mew=1.4, ms=7,
                                  label=text))
            else:
                out.append(Line2D([], [], marker="o", ls="none", mfc="white", mec="0.3",
                                  mew=1.3, ms=6, label=text))
    return out


def _marks_caption(counts) -> str:
    if not counts:
        return ""
    parts = [f"{n} {'point' if n == 1 else 'points'} {MARK_KINDS[k].split(': ', 1)[1]}"
             for k, n in counts.items() if n]
    return " Marked as not measurements: " + "; ".join(parts) + "."
