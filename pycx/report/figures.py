"""The report's figures: one function per figure of the papers, each returning a `Figure`
(name, title, caption with the settings used, PNG bytes) from the tidy table of one or more
`Report`s.

matplotlib (Agg backend) and pandas are imported inside the functions: ``import pycx`` does not
load them. May import: `pycx.analysis` (the table schema), the base layer.
"""
from __future__ import annotations

import io
import math
from typing import Callable, Optional

import numpy as np

# The one rule of which H(Z) values are measurements lives with the table schema (so that
# `Report.summary` uses it too); re-exported here, where the figures and the page use it.
from ..analysis.table import (DERIVED_FLAGS, complexity_not_measured, derived_flags,
                              effective_dimension_undefined, h_s_saturated, network_sums)
from ..analysis.table import true_flags as _flag
from .columns import SCHEMA_COLUMNS

__all__ = ["COLUMNS", "Figure", "MARK_KINDS", "algebra_figure", "algebra_layer_names",
           "complexity_not_measured", "figures", "frame", "network_table"]

# The per-layer table of the report schema, in its order: one list, in the column guide.
COLUMNS = SCHEMA_COLUMNS

_DPI = 100
_STYLE = {
    "figure.facecolor": "white", "axes.grid": True, "grid.alpha": 0.3, "font.size": 9,
    "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "legend.framealpha": 0.85,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False,
    "axes.spines.right": False, "axes.formatter.useoffset": False,
}


class Figure:
    """One report figure: a file stem, a title, a caption, the PNG bytes, the same drawing as
    SVG (vector), ``notes``: warnings shown next to the figure (e.g. saturated values), and
    ``marked``: {kind: number of points drawn as not-a-measurement} (kinds in `MARK_KINDS`), so
    that a reader and a test can see what the figure flagged, and ``error_bars``: {column:
    number of error bars drawn} (`interval_of`)."""

    def __init__(self, name: str, title: str, caption: str, png: bytes, svg: bytes = b"",
                 notes=(), marked=None, error_bars=None):
        self.name, self.title, self.caption, self.png = name, title, caption, png
        self.svg, self.notes = svg, list(notes)
        self.marked = dict(marked or {})
        self.error_bars = dict(error_bars or {})

    def __repr__(self):
        return f"Figure({self.name!r}, {len(self.png)} bytes)"


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _render(fig):
    """(PNG bytes, SVG bytes) of a matplotlib figure, which is then closed. The SVG keeps
    its text as text (searchable, and 40% smaller and a little faster than glyph paths)."""
    import matplotlib

    plt = _plt()
    out = []
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        for fmt in ("png", "svg"):
            buf = io.BytesIO()
            fig.savefig(buf, format=fmt, dpi=_DPI, bbox_inches="tight")
            out.append(buf.getvalue())
    plt.close(fig)
    return out[0], out[1]


def _as_list(reports):
    if reports is None:
        return []
    if isinstance(reports, (list, tuple)):
        return list(reports)
    return [reports]


def frame(reports):
    """The per-layer rows of one or more reports as one DataFrame with the schema's columns
    (missing metric columns are NaN), sorted by model, epoch and depth, and, last, the
    report's flags (`pycx.analysis.table.DERIVED_FLAGS`: ``complexity_not_measured``,
    ``h_s_saturated``, ``effective_dimension_undefined``; NaN where the value they qualify
    was not computed)."""
    import pandas as pd

    rows = [dict(r) for rep in _as_list(reports) for r in rep.rows]
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    extra = [c for c in df.columns if c not in COLUMNS and c not in DERIVED_FLAGS]
    df = derived_flags(df[list(COLUMNS) + extra])
    if len(df):
        df["epoch"] = pd.to_numeric(df["epoch"], errors="coerce")
        order = df["model"].drop_duplicates().tolist()  # keep the models in the order given
        df["_m"] = df["model"].map({m: i for i, m in enumerate(order)})
        df = df.sort_values(["_m", "epoch", "depth"], na_position="first", kind="stable")
        df = df.drop(columns="_m").reset_index(drop=True)
    return df


def _has(df, *cols) -> bool:
    return all(c in df.columns and df[c].notna().any() for c in cols)


def _last_epoch(df):
    """Rows of each model's last epoch (all rows when epochs are missing)."""
    if not len(df):
        return df
    parts = []
    for _, g in df.groupby("model", sort=False):
        if g["epoch"].notna().any():
            g = g[g["epoch"] == g["epoch"].max()]
        parts.append(g)
    import pandas as pd
    return pd.concat(parts)


def _models(df):
    return df["model"].drop_duplicates().tolist()


def _colors(names):
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {m: cmap(i % 10) for i, m in enumerate(names)}


def _epoch_text(g) -> str:
    if g["epoch"].notna().any():
        return f"epoch {int(g['epoch'].max())}"
    return "one snapshot"


def _layer_ticks(ax, g, max_labels=14):
    """Layer names as x tick labels (depth order); thinned out when there are many."""
    g = g.drop_duplicates("depth").sort_values("depth")
    depths, names = g["depth"].to_numpy(), g["layer"].astype(str).tolist()
    step = max(1, math.ceil(len(depths) / max_labels))
    ax.set_xticks(depths[::step])
    ax.set_xticklabels([_short(n) for n in names[::step]], rotation=40, ha="right")


def _short(name: str, width: int = 18) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _settings_text(df, cols) -> str:
    parts = []
    for col, label in cols:
        if col in df.columns and df[col].notna().any():
            vals = df[col].dropna().unique()
            if len(vals) == 1:
                v = vals[0]
                v = f"{v:.4g}" if isinstance(v, (float, np.floating)) else str(v)
            elif np.issubdtype(np.asarray(vals).dtype, np.number):
                v = f"{np.min(vals):.4g}–{np.max(vals):.4g}"
            else:
                v = ", ".join(map(str, vals[:4]))
            parts.append(f"{label} {v}")
    return "; ".join(parts)


# ----------------------------------------------------------------------------------------------
# Figures from the per-layer table


def _epochs_tracked(df) -> bool:
    """More than one epoch of some model: trajectories and "last epoch" wording apply."""
    if not len(df) or not df["epoch"].notna().any():
        return False
    return bool((df.groupby("model", sort=False)["epoch"].nunique() > 1).any())


def _when(df) -> str:
    return "at each model's last epoch" if _epochs_tracked(df) else "(one snapshot per model)"


_LABEL_SIZE = 8  # point labels: at 100 dpi, 8 pt is 11 px (6 pt, 8 px, was unreadable)


def _annotate_layers(ax, g, xcol, ycol, color="0.25", size=_LABEL_SIZE):
    """Each point labelled with its (shortened) layer name; returns the labels, to be placed
    by `_place_labels` once the axes are final."""
    return [ax.annotate(_short(str(r["layer"]), 14), (r[xcol], r[ycol]), fontsize=size,
                        color=color, xytext=(3, 3), textcoords="offset points")
            for _, r in g.iterrows()]


# Offsets (points) tried for a label, in order: above right, below right, above left, below
# left, then further out.
_OFFSETS = ((3, 3, "left", "bottom"), (3, -3, "left", "top"), (-3, 3, "right", "bottom"),
            (-3, -3, "right", "top"), (0, 9, "center", "bottom"), (0, -9, "center", "top"),
            (8, 0, "left", "center"), (-8, 0, "right", "center"))


# Further out, tried after _OFFSETS when labels must also keep off the curves.
_FAR_OFFSETS = ((0, 16, "center", "bottom"), (0, -16, "center", "top"),
                (14, -10, "left", "top"), (-14, 10, "right", "bottom"),
                (14, 10, "left", "bottom"), (-14, -10, "right", "top"),
                (0, 26, "center", "bottom"), (0, -26, "center", "top"))


def _line_paths(ax):
    """The drawn lines of `ax` in display coordinates: (paths of lines with a line style,
    vertices of every line), for `_place_labels`' curve test."""
    from matplotlib.path import Path

    paths, points = [], []
    for line in ax.get_lines():
        if not line.get_visible():
            continue
        xy = line.get_transform().transform(np.column_stack(line.get_data()).astype(float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        if not len(xy):
            continue
        points.append(xy)
        if line.get_linestyle() not in ("None", "none", "", " ") and len(xy) > 1:
            paths.append(Path(xy))
    return paths, (np.concatenate(points) if points else np.zeros((0, 2)))


def label_hits_curve(box, paths, points) -> bool:
    """Whether the display box `box` crosses one of `paths` or holds one of `points`
    (`_line_paths`)."""
    if len(points):
        inside = ((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1)
                  & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1))
        if inside.any():
            return True
    return any(p.intersects_bbox(box, filled=False) for p in paths)


def _place_labels(fig, labels, avoid_lines: bool = False) -> int:
    """Moves each point label to the first offset where it overlaps no label placed before it
    and stays inside its axes (with `avoid_lines`, also where it crosses none of its axes'
    lines and covers none of their points, further offsets tried too); a label with no such
    place is hidden (its point keeps its marker; the figure's layer key or legend still names
    it). Returns the number hidden."""
    labels = [a for a in labels if a.get_visible()]
    if not labels:
        return 0
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    placed, hidden = [], 0
    lines = {}
    offsets = _OFFSETS + (_FAR_OFFSETS if avoid_lines else ())
    for a in labels:
        inside = a.axes.get_window_extent(renderer)
        if avoid_lines and a.axes not in lines:
            lines[a.axes] = _line_paths(a.axes)
        for dx, dy, ha, va in offsets:
            a.set_position((dx, dy))
            a.set_ha(ha)
            a.set_va(va)
            box = a.get_window_extent(renderer).expanded(1.05, 1.1)
            if (box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0
                    and box.y1 <= inside.y1 and not any(box.overlaps(b) for b in placed)
                    and not (avoid_lines and label_hits_curve(box, *lines[a.axes]))):
                placed.append(box)
                break
        else:
            a.set_visible(False)
            hidden += 1
    return hidden


def _legend_below(fig, ax, extra=(), handles=None):
    """The legend of `ax`'s lines (or of `handles`) centred under the whole figure, off the
    data, and under it, one per line, the `extra` handles (marker keys); returns the lowest
    legend (None when there is none)."""
    if handles is None:
        handles, _ = ax.get_legend_handles_labels()
    labels = [h.get_label() for h in handles]
    legend = None
    y = 0.0
    if handles:
        legend = fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, y),
                            ncol=min(4, len(labels)), frameon=False)
    if extra:
        if legend is not None:
            fig.add_artist(legend)  # a second fig.legend would replace the first
            fig.canvas.draw()
            y = fig.transFigure.inverted().transform(
                legend.get_window_extent(fig.canvas.get_renderer()))[0][1]
        legend = fig.legend(list(extra), [h.get_label() for h in extra], loc="upper center",
                            bbox_to_anchor=(0.5, y), ncol=1, frameon=False)
    return legend


def _text_below(fig, anchor, text):
    """`text` (the layer key) under `anchor` (a legend) or under the axes, in figure
    coordinates; bbox_inches="tight" then keeps it in the file."""
    if not text:
        return
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    if anchor is not None:
        y = fig.transFigure.inverted().transform(anchor.get_window_extent(renderer))[0][1]
    else:
        y = min(ax.get_tightbbox(renderer).transformed(fig.transFigure.inverted()).y0
                for ax in fig.axes)
    fig.text(0.5, y - 0.02, _wrap(fig, text), ha="center", va="top", fontsize=_LABEL_SIZE,
             color="0.25")


def _wrap(fig, text):
    """`text` in lines as wide as the figure (8 pt characters are about 1/15 inch wide);
    matplotlib's own wrap=True padded the saved file with empty space."""
    import textwrap

    return textwrap.fill(text, width=max(40, int(fig.get_figwidth() * 15)))


def _layer_key(df) -> str:
    """'layer at each depth' per model, one line per model: replaces point labels when several
    models share a panel (17 labels in 4 colours overlapped in the demo)."""
    lines = []
    for m in _models(df):
        g = df[df["model"] == m].drop_duplicates("depth").sort_values("depth")
        lines.append(f"{m}: " + ", ".join(f"{int(d)} {_short(str(n), 16)}"
                                         for d, n in zip(g["depth"], g["layer"])))
    return "layer at each depth — " + "; ".join(lines) if lines else ""


# ----------------------------------------------------------------------------------------------
# Values that are not measurements: bounds, impossible values, saturated values

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


_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def _dodge(models):
    """Horizontal offset per model (in depth units), so that equal values of different models
    do not hide one another's lines (the CNN's classification error lay under the ResNet's)."""
    n = len(models)
    return {m: (0.0 if n == 1 else 0.16 * (i - (n - 1) / 2) / max(1, (n - 1) / 2))
            for i, m in enumerate(models)}


def _per_depth_panels(df, panels, name, title, caption_what, settings_cols, per_model_ticks=True):
    """Rows of panels: one panel per metric, one line per model (last epoch), x = layer depth.
    One model: layer names as tick labels; several: each model its own marker, offset a little
    sideways (equal values stay visible), and a key under the figure names the layer at each
    depth. Values that are not measurements are drawn hollow (or crossed) with a legend key."""
    plt = _plt()
    last = _last_epoch(df)
    models = _models(last)
    colors = _colors(models)
    dodge = _dodge(models)
    counts, bars = {}, {}
    one = len(models) == 1 and per_model_ticks
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.9), squeeze=False)
        for ax, (col, ylabel) in zip(axes[0], panels):
            for i, m in enumerate(models):
                g = last[(last["model"] == m) & last[col].notna()].sort_values("depth")
                if not len(g):
                    continue
                x = g["depth"].to_numpy(dtype=float) + dodge[m]
                ax.plot(x, g[col], "-", marker=_MARKERS[i % len(_MARKERS)], color=colors[m],
                        ms=5, lw=1.5, alpha=0.9, label=f"{m} ({_epoch_text(g)})")
                _draw_marked(ax, x, g[col], _marks(g, col), colors[m], counts)
                _draw_intervals(ax, x, g, col, colors[m], bars)
            ax.set_ylabel(ylabel)
            if one:
                _layer_ticks(ax, last[last[col].notna()])
                ax.set_xlabel(f"gating layer of {models[0]} (forward order)")
            else:
                ax.set_xlabel("layer depth (index among gating layers; key below)")
                ax.xaxis.get_major_locator().set_params(integer=True)
            if col == "ntc" and counts.get("impossible"):
                ax.axhline(0.0, color="0.5", lw=0.8, ls="--")
        fig.tight_layout()
        legend = _legend_below(fig, axes[0][0], extra=_mark_handles(counts))
        _text_below(fig, legend, "" if one else _layer_key(last))
        png, svg = _render(fig)
    caption = (f"{caption_what}{_marks_caption(counts)}{_intervals_caption(bars)}"
               + ("" if one or len(models) < 2 else
                  " Points of different models are offset sideways by up to ±0.16 so that "
                  "equal values stay visible.")
               + f" Settings: {_settings_text(last, settings_cols) or 'see metrics.json'}.")
    return Figure(name, title, caption, png, svg, marked=counts, error_bars=bars)


def _holographic(df):
    if not _has(df, "effective_dimension") and not _has(df, "complexity_per_neuron"):
        return None
    panels = [(c, lab) for c, lab in (
        ("effective_dimension", "effective dimension (count of directions)"),
        ("complexity_per_neuron", "complexity per neuron H(Z)/C (bits/unit)"))
        if _has(df, c)]
    return _per_depth_panels(
        df, panels, "holographic", "Effective dimension and complexity per neuron vs depth",
        f"Per gating layer {_when(df)}: the effective dimension of the per-patch "
        "post-activation outputs (exp of the entropy of the normalised covariance spectrum) and "
        "the joint gate entropy per unit of the per-patch gate vectors (Janik & Witaszczyk, "
        "figs. 2-3).",
        [("complexity_estimator", "complexity estimator"), ("rows_patch", "per-patch rows")])


def _linearity_ntc(df):
    if not _has(df, "linearity") and not _has(df, "ntc"):
        return None
    panels = [(c, lab) for c, lab in (
        ("linearity", "linearity (mean unit on-rate)"),
        ("ntc", "normalised total correlation"),
        ("unit_entropy_mean", "mean unit entropy H(Z_i) (bits)")) if _has(df, c)]
    return _per_depth_panels(
        df, panels, "linearity_ntc", "Linearity and normalised total correlation per layer",
        f"Per gating layer {_when(df)}: linearity = mean fraction of active gates, "
        "normalised total correlation = (Σ H(Z_i) − H(Z)) / Σ H(Z_i) of the per-patch gate "
        "vector, and the mean single-unit entropy (Janik & Witaszczyk, eqs. 7-8).",
        [("complexity_estimator", "H(Z) estimator"), ("rows_patch", "per-patch rows")])


def _block_bars(df):
    if not _has(df, "block") or not (df["block"].fillna("") != "").any():
        return None
    if not _has(df, "linearity") and not _has(df, "ntc"):
        return None
    plt = _plt()
    last = _last_epoch(df)
    with_blocks = last.groupby("model", sort=False)["block"].apply(
        lambda b: (b.fillna("") != "").any())
    last = last[last["model"].isin(with_blocks[with_blocks].index)]
    models = _models(last)
    colors = _colors(models)
    cols = [(c, lab) for c, lab in (("linearity", "linearity (mean unit on-rate)"),
                                    ("ntc", "normalised total correlation")) if _has(last, c)]
    counts = {}
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(cols), figsize=(5.2 * len(cols), 3.8), squeeze=False)
        for ax, (col, ylabel) in zip(axes[0], cols):
            width = 0.8 / max(1, len(models))
            labels = []
            for i, m in enumerate(models):
                g = last[last["model"] == m].copy()
                g["block"] = g["block"].fillna("").replace("", "(no block)")
                means = g.groupby("block", sort=False)[col].mean()
                for b in means.index:
                    if b not in labels:
                        labels.append(b)
                x = np.array([labels.index(b) for b in means.index])
                bars = ax.bar(x + (i - (len(models) - 1) / 2) * width, means.to_numpy(), width,
                              color=colors[m], label=m)
                # A block average over NTC values that are bounds or impossible is no
                # measurement either: hatched, hollow.
                flagged = g.assign(_k=_marks(g, col) != "").groupby("block", sort=False)["_k"].any()
                for bar, b in zip(bars, means.index):
                    if flagged[b]:
                        bar.set_facecolor("white")
                        bar.set_edgecolor(colors[m])
                        bar.set_hatch("///")
                        counts["block_bound"] = counts.get("block_bound", 0) + 1
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels([_short(b) for b in labels], rotation=30, ha="right")
            ax.set_xlabel("block")
            ax.set_ylabel(ylabel)
        fig.tight_layout()
        _legend_below(fig, axes[0][0], extra=_mark_handles(counts))
        png, svg = _render(fig)
    return Figure("linearity_ntc_blocks", "Linearity and normalised total correlation per block",
                  f"Block averages over the gating layers of each block {_when(df)}: "
                  "linearity = mean fraction of active gates; normalised total correlation = "
                  "(Σ H(Z_i) − H(Z)) / Σ H(Z_i) of the per-patch gate vector (Janik & "
                  f"Witaszczyk, eqs. 7-8).{_marks_caption(counts)} Settings: "
                  f"{_settings_text(last, [('complexity_estimator', 'H(Z) estimator')])}.", png,
                  svg, marked=counts)


def network_table(df):
    """Per model and epoch: network complexity over every layer (``network_complexity``, an
    upper bound as soon as one layer's H(Z) is), the sum over the measured layers only
    (``network_complexity_measured``), the layer counts (``layers``, ``layers_not_measured``:
    see `complexity_not_measured`) and the mean effective dimension (over the layers where it
    is defined; ``layers_effective_dimension_undefined`` counts the others) and complexity per
    neuron.

    >>> import pandas as pd
    >>> df = pd.DataFrame({"model": "m", "epoch": 0, "complexity": [3.0, 20.0],
    ...                    "complexity_exceeds_log2_rows": [False, True], "ntc": [0.1, 0.2],
    ...                    "effective_dimension": 2.0, "complexity_per_neuron": 1.0})
    >>> row = network_table(df).iloc[0]
    >>> [float(row[k]) for k in ("network_complexity", "network_complexity_measured",
    ...                          "layers_not_measured")]
    [23.0, 3.0, 1.0]
    """
    sums = network_sums(df).rename(columns={"complexity_layers": "layers",
                                            "complexity_layers_not_measured": "layers_not_measured"})
    # An effective dimension of 0 (zero variance) is no count of directions: left out of the
    # mean, and counted.
    undefined = effective_dimension_undefined(df)
    ed = df["effective_dimension"].astype(float).where(~undefined)
    means = (df.assign(effective_dimension=ed, layers_effective_dimension_undefined=undefined)
             .groupby(["model", "epoch"], sort=False, dropna=False)
             .agg(effective_dimension=("effective_dimension", "mean"),
                  complexity_per_neuron=("complexity_per_neuron", "mean"),
                  layers_effective_dimension_undefined=("layers_effective_dimension_undefined",
                                                        "sum")).reset_index())
    return sums.merge(means, on=["model", "epoch"], how="left", sort=False)


def _ed_vs_complexity(df):
    if not _has(df, "effective_dimension", "complexity"):
        return None
    plt = _plt()
    net = network_table(df)
    n_undefined = int(net["layers_effective_dimension_undefined"].sum())
    models = _models(net)
    colors = _colors(models)
    tracked = _epochs_tracked(df)
    from matplotlib.lines import Line2D

    counts, bars = {}, {}
    model_handles, labels = [], []
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
        ax = axes[0]
        for m in models:
            g = net[net["model"] == m].sort_values("epoch", na_position="first")
            g = g[g["network_complexity"].notna() & g["effective_dimension"].notna()]
            if not len(g):
                continue
            x, y = g["network_complexity"].to_numpy(), g["effective_dimension"].to_numpy()
            # A sum with a layer whose H(Z) is only an upper bound is itself only a bound.
            kinds = np.where(g["layers_not_measured"].to_numpy() > 0, "network_bound", "")
            if len(g) > 1:
                ax.plot(x, y, "-", color=colors[m], lw=1.0, alpha=0.6)
                ax.scatter(x[:-1], y[:-1], s=14, color=colors[m], alpha=0.6)
                # An arrow head on every step, from one tracked epoch to the next.
                for i in range(len(x) - 1):
                    ax.annotate("", xy=(x[i + 1], y[i + 1]), xytext=(x[i], y[i]),
                                arrowprops=dict(arrowstyle="-|>", color=colors[m], lw=0.9,
                                                shrinkA=0, shrinkB=3, mutation_scale=9))
                labels.append(ax.annotate(f"ep {int(g['epoch'].iloc[0])}", (x[0], y[0]),
                                          fontsize=_LABEL_SIZE, color=colors[m],
                                          xytext=(3, -11), textcoords="offset points"))
            last_bound = kinds[-1] == "network_bound"
            ax.scatter(x[-1:], y[-1:], s=60, color="white" if last_bound else colors[m],
                       edgecolor=colors[m] if last_bound else "k", lw=1.5, zorder=3)
            model_handles.append(Line2D([], [], marker="o", ls="none", ms=8, mfc=colors[m],
                                        mec="k", label=m))
            _draw_marked(ax, x[:-1], y[:-1], kinds[:-1], colors[m], counts)
            if last_bound:
                counts["network_bound"] = counts.get("network_bound", 0) + 1
        ax.set_xlabel("network complexity Σ_layers H(Z) (bits)")
        ax.set_ylabel("mean effective dimension over layers")
        ax.set_title("training trajectories (arrows: epoch to epoch; large dot: last)" if tracked
                     else "one point per model")
        ax = axes[1]
        last = _last_epoch(df)
        for i, m in enumerate(models):
            g = last[(last["model"] == m) & last["effective_dimension"].notna()
                     & last["complexity_per_neuron"].notna()].sort_values("depth")
            if not len(g):
                continue
            ax.plot(g["complexity_per_neuron"], g["effective_dimension"], "-",
                    marker=_MARKERS[i % len(_MARKERS)], color=colors[m], ms=5, lw=1)
            _draw_marked(ax, g["complexity_per_neuron"], g["effective_dimension"],
                         _marks(g, "complexity_per_neuron"), colors[m], counts)
            _draw_marked(ax, g["complexity_per_neuron"], g["effective_dimension"],
                         _marks(g, "effective_dimension"), colors[m], counts)
            _draw_intervals(ax, g["complexity_per_neuron"], g, "effective_dimension", colors[m],
                            bars)
            _draw_intervals(ax, None, g, "complexity_per_neuron", colors[m], bars,
                            horizontal=True, y=g["effective_dimension"])
            labels += _annotate_layers(ax, g, "complexity_per_neuron", "effective_dimension",
                                       color=colors[m])
        ax.set_xlabel("complexity per neuron H(Z)/C (bits/unit)")
        ax.set_ylabel("effective dimension (count)")
        ax.set_title("layers " + ("at the last epoch" if tracked else "") + " (line follows depth)")
        fig.tight_layout()
        hidden = _place_labels(fig, labels)
        _legend_below(fig, axes[0], extra=_mark_handles(counts), handles=model_handles)
        png, svg = _render(fig)
    left = ("each model's network complexity (sum over gating layers of the per-patch joint gate "
            "entropy H(Z)) against the mean effective dimension of its layers, one point per "
            "tracked epoch, an arrow from each epoch to the next, 'ep N' at the first, a large "
            "dot at the last" if tracked else
            "each model's network complexity (sum over gating layers of the per-patch joint gate "
            "entropy H(Z)) against the mean effective dimension of its layers, one point per model")
    return Figure(
        "ed_vs_complexity", "Effective dimension vs complexity",
        f"Left: {left} (Janik & Witaszczyk, figs. 4-5)"
        + (f"; the mean leaves out {n_undefined} layer values whose effective dimension is "
           "undefined (0: zero variance)" if n_undefined else "")
        + ". Right: the same plane per layer "
        f"{_when(df)}, the line following depth, each point named by its layer"
        + (f" ({hidden} names left out where they would overlap; metrics.csv has every "
           "layer)" if hidden else "") + f".{_marks_caption(counts)}{_intervals_caption(bars)}"
        + " Settings: "
        + _settings_text(df, [("complexity_estimator", "H(Z) estimator"),
                              ("rows_patch", "per-patch rows")]) + ".",
        png, svg, marked=counts, error_bars=bars)


def _curve(curves, key):
    c = (curves or {}).get(key)
    return c if isinstance(c, dict) and c else None


_MIN_ACCURACY = 0.5  # a model below this test accuracy "never learned": no relevance panel


def _relevance(df, reports, training=None):
    if not _has(df, "h_s_norm", "h_k_norm"):
        return None
    plt = _plt()
    last = _last_epoch(df)
    models = [m for m in _models(last) if last.loc[last["model"] == m, "h_s_norm"].notna().any()]
    # Left out, and named in the caption: a model whose every layer gives each sample its own
    # state (H[s] = log2 M, H[k] = 0: nothing to show in this plane), and a model that never
    # learned (its layers' trade-off says nothing about learning).
    left_out = {}
    for m in models:
        if (last.loc[last["model"] == m, "h_s_norm"].dropna() > 0.995).all():
            left_out[m] = "every sample in its own state in every layer, H[s] = log2 M"
        acc = ((training or {}).get(m) or {}).get("test_accuracy") or []
        if len(acc) and np.isfinite(acc[-1]) and acc[-1] < _MIN_ACCURACY:
            left_out[m] = (f"test accuracy {100 * acc[-1]:.0f}% at its last epoch: a model that "
                           "did not learn")
    if len(left_out) < len(models):
        models = [m for m in models if m not in left_out]
    else:
        left_out = {}
    by_model = {}
    for rep in reports:
        for m in {r.get("model", "model") for r in rep.rows}:
            by_model.setdefault(m, rep)
    tracked = _epochs_tracked(df)
    n = len(models)
    curve_kinds = set()
    point_labels = []
    counts, bars = {}, {}
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(n, 3, figsize=(15, 4.6 * n), squeeze=False)
        for row, m in enumerate(models):
            gm = df[(df["model"] == m) & df["h_s_norm"].notna()]
            g = last[(last["model"] == m) & last["h_s_norm"].notna()].sort_values("depth")
            first = gm[gm["epoch"] == gm["epoch"].min()].sort_values("depth") if tracked else None
            curves = getattr(by_model.get(m), "curves", {}) or {}
            # (a) the H[s]-H[k] plane
            ax = axes[row][0]
            mr = _curve(curves, "max_relevance")
            top = float(g["h_k_norm"].max())
            if mr is not None:
                kind = mr.get("method", "")
                curve_kinds.add(kind)
                what = ("exact" if kind == "enumeration" else
                        "upper bound" if kind in ("lagrange", "dual") else "")
                ax.plot(mr["h_s_norm"], mr["h_k_norm"], ":", color="k", lw=1.3,
                        label=f"maximal relevance, M={mr.get('M')}"
                        + (f" ({what})" if what else ""))
                top = max(top, float(np.max(mr["h_k_norm"])))
            km = _curve(curves, "kmeans")
            if km is not None and len(km.get("h_s_norm", [])):
                ax.plot(km["h_s_norm"], km["h_k_norm"], "s--", color="0.55", ms=4, lw=1,
                        label="k-means clusters of the inputs")
                top = max(top, float(np.max(km["h_k_norm"])))
            if first is not None and len(first):
                ax.plot(first["h_s_norm"], first["h_k_norm"], "o-", color="0.6", mfc="white",
                        ms=6, lw=0.7, zorder=2,
                        label=f"epoch {int(first['epoch'].iloc[0])} (initialisation)")
                top = max(top, float(first["h_k_norm"].max()))
            cmap = plt.get_cmap("viridis")
            depths = g["depth"].to_numpy()
            span = max(1, depths.max() - depths.min()) if len(depths) else 1
            ax.plot(g["h_s_norm"], g["h_k_norm"], "-", color="0.3", lw=0.8, zorder=2)
            ax.scatter(g["h_s_norm"], g["h_k_norm"], s=42, zorder=3, edgecolor="k", lw=0.5,
                       c=[cmap((d - depths.min()) / span) for d in depths],
                       label=_epoch_text(g) + " (colour: depth)")
            point_labels += _annotate_layers(ax, g, "h_s_norm", "h_k_norm")
            row_counts = {}
            _draw_marked(ax, g["h_s_norm"], g["h_k_norm"], _marks(g, "h_s_norm"), "k",
                         row_counts)
            _draw_intervals(ax, g["h_s_norm"], g, "h_k_norm", "0.3", bars)
            _draw_intervals(ax, None, g, "h_s_norm", "0.3", bars, horizontal=True,
                            y=g["h_k_norm"])
            for kind, k in row_counts.items():
                counts[kind] = counts.get(kind, 0) + k
            crit, why = _critical(g, by_model.get(m), m)
            if crit is not None:
                ax.scatter(crit["h_s_norm"], crit["h_k_norm"], s=170, facecolor="none",
                           edgecolor="red", lw=1.5, zorder=4, label=f"critical: {crit['layer']}")
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(0, 1.15 * top if top > 0 else 1)
            ax.set_xlabel("resolution H[s] / log2 M")
            ax.set_ylabel("relevance H[k] / log2 M")
            ax.set_title(f"{m}: H[s]–H[k] per layer" + ("" if crit is not None or not why
                                                        else " (critical layer undefined)"))
            handles, texts = ax.get_legend_handles_labels()
            for h in _mark_handles(row_counts):
                handles.append(h)
                texts.append(h.get_label())
            ax.legend(handles, texts, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2,
                      fontsize=7)
            # (b) degeneracies of the last analysis
            ax = axes[row][1]
            deg = curves.get("degeneracy") or {}
            layers = [lay for lay in g["layer"] if lay in deg]
            for i, lay in enumerate(layers):
                d = deg[lay]
                k, mk = np.asarray(d["k"], float), np.asarray(d["m_k"], float)
                if not len(k):
                    continue
                color = cmap(i / max(1, len(layers) - 1))
                beta = d.get("beta_mle", float("nan"))
                beta = float("nan") if beta is None else float(beta)
                text = f"β={beta:.2f}" if np.isfinite(beta) else "β undefined"
                ax.loglog(k, mk, "o", ms=3, color=color, alpha=0.8,
                          label=f"{_short(lay, 14)}: {text}")
                if np.isfinite(beta) and beta > 0 and len(k) > 1:
                    # The fitted law as expected counts: S states with frequencies drawn from
                    # P(k) = k^-(beta+1) / zeta(beta+1), k >= 1 (the MLE's model).
                    from scipy.special import zeta
                    kk = np.geomspace(1, k.max(), 50)
                    ax.loglog(kk, mk.sum() * kk ** (-(beta + 1)) / zeta(beta + 1, 1), "-",
                              color=color, lw=0.9)
            if layers:
                ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16),
                          ncol=2 if len(layers) < 7 else 3, fontsize=7)
            else:
                ax.text(0.5, 0.5, "no degeneracy curves in this report", ha="center",
                        transform=ax.transAxes)
            from matplotlib.ticker import FuncFormatter
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
            ax.set_ylim(bottom=0.5)
            ax.set_xlabel("state frequency k (samples per state)")
            ax.set_ylabel("m_k (number of states seen k times)")
            ax.set_title(f"{m}: m_k, {_epoch_text(g)}, fitted m_k ∝ k^-(β+1)")
            # (c) beta per layer (fig. 2c)
            ax = axes[row][2]
            for part, style in ((first, dict(color="0.6", mfc="white")),
                                (g, dict(color="C0"))):
                if part is None or not len(part):
                    continue
                b = part["beta_mle"].to_numpy(dtype=float)
                ok = np.isfinite(b)
                label = (f"epoch {int(part['epoch'].iloc[0])}" if part["epoch"].notna().any()
                         else "β (MLE)")
                if part is first:
                    label += " (initialisation)"
                ax.plot(part["depth"].to_numpy()[ok], b[ok], "o-", ms=5, lw=1, label=label,
                        **style)
                if (~ok).any():
                    undefined_label = "β undefined (< 3 distinct frequencies)"
                    seen = undefined_label in ax.get_legend_handles_labels()[1]
                    ax.plot(part["depth"].to_numpy()[~ok], np.zeros((~ok).sum()), "x",
                            color=style["color"], ms=7,
                            label="_nolegend_" if seen else undefined_label)
            ax.axhline(1.0, color="k", ls="--", lw=0.8, label="β = 1 (Zipf)")
            _layer_ticks(ax, g)
            ax.set_xlabel(f"gating layer of {m} (forward order)")
            ax.set_ylabel("β (discrete power-law MLE)")
            ax.set_ylim(bottom=0)
            ax.set_title(f"{m}: exponent β per layer")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.3), ncol=2, fontsize=7)
        fig.tight_layout()
        hidden = _place_labels(fig, point_labels)
        png, svg = _render(fig)
    m_rows = _settings_text(last, [("rows_sample", "M (samples)")])
    if curve_kinds <= {"enumeration"}:
        curve_text = "exact: the envelope over every frequency profile of M samples"
    else:
        curve_text = ("an upper bound on every frequency profile of M samples from supporting "
                      "lines of the integer problem; at most a few hundredths of log2 M above "
                      "the exact envelope")
    init = (" Hollow grey points: the same layers at the first tracked epoch (initialisation)."
            if tracked else "")
    caption = (
        "Left: normalised resolution H[s] and relevance H[k] of each layer's per-sample binary "
        "states (sigmoid units binarised at 0.5), " + ("at the last epoch, " if tracked else "")
        + f"with the maximal relevance curve (dotted; {curve_text}), k-means cluster sizes on the "
        "inputs (dashed, k = 4, 8, ...) and the critical layer (max H[s] + H[k] among layers "
        f"with H[k] > 0, red circle).{init} Middle: m_k against k, log-log, with the fitted power "
        "law (β by discrete maximum likelihood). Right: β per layer; β = 1 is Zipf's law "
        f"(Song, Marsili & Jo, fig. 2a-c).{_marks_caption(counts)}{_intervals_caption(bars)} "
        f"Settings: {m_rows}.")
    if hidden:
        caption += (f" {hidden} layer names left out of the H[s]–H[k] plane where they would "
                    "overlap (the right panel names every layer).")
    if left_out:
        caption += " Not shown: " + "; ".join(f"{m} ({why})" for m, why in left_out.items()) + "."
    return Figure("relevance", "Resolution and relevance per layer", caption, png, svg,
                  notes=_ternary_notes(df), marked=counts, error_bars=bars)


_TERNARY_KINDS = ("sigmoid", "tanh", "hardsigmoid", "glu")


def _ternary_notes(df):
    """Why relevance and the complexity / KDE may disagree on a ternary layer: they read two
    codes of the same units (definitions §1 and §3)."""
    if "kind" not in df.columns:
        return []
    layers = sorted({str(x) for x in df.loc[df["kind"].isin(_TERNARY_KINDS), "layer"]})
    if not layers:
        return []
    return [f"{', '.join(layers[:6])}{', ...' if len(layers) > 6 else ''}: sigmoid-like and "
            "tanh units have two codes. H[s] and H[k] read one bit per unit (the output above "
            "the middle of its range), the complexity H(Z) and the KDE read two saturation bits "
            "per unit; a layer whose units never saturate has a constant ternary code (H(Z) at "
            "its estimator's floor, KDE 0) while its binary code still varies (H[s] > 0)."]


def _critical(g, rep, model):
    """The critical layer's row at the last epoch and, when it is undefined, the reason."""
    name, why, found = None, "", False
    for rec in getattr(rep, "network", []) or []:
        if rec.get("model", model) == model:  # the last epoch's, as records are in order
            name, why, found = rec.get("critical_layer"), rec.get("critical_layer_why", ""), True
    if not found and len(g) and _has(g, "h_s", "h_k"):
        score = (g["h_s"] + g["h_k"]).where(g["h_k"] > 0)
        name = g.loc[score.idxmax(), "layer"] if score.notna().any() else None
    hit = g[g["layer"] == name]
    return (hit.iloc[0] if len(hit) else None), why


def _classification_error(df):
    if not _has(df, "classification_error"):
        return None
    return _per_depth_panels(
        df, [("classification_error", "classification error of the states"),
             ("n_states", "distinct states")] if _has(df, "n_states") else
        [("classification_error", "classification error of the states")],
        "classification_error", "Classification error of the gate states per layer",
        f"Per layer {_when(df)}: 1 − (1/M) Σ_s max_y count(s, y), the error of predicting "
        "the label from the majority label of each sample's binary state, and the number of "
        "distinct states (Song, Marsili & Jo, fig. 2d).",
        [("rows_sample", "M (samples)")])


def _kde_bandwidth_text(reports) -> str:
    modes = set()
    for rep in reports:
        est = (getattr(rep, "settings", {}) or {}).get("estimators") or {}
        kde = est.get("kde") if isinstance(est, dict) else None
        if isinstance(kde, dict) and kde.get("bandwidth"):
            modes.add(kde["bandwidth"])
    if modes == {"var"}:
        return "s2 = α·Σ p_i(1−p_i) (bandwidth \"var\")"
    if modes <= {"d"}:
        return "s2 = α·d, d the number of gate bits (bandwidth \"d\", the default)"
    return "s2 = α·d or α·Σ p_i(1−p_i) (see the settings)"


def _kde_notes(df):
    """Warnings: layers whose KDE values sit at their ceilings (definitions §4 saturation)."""
    notes = []
    last = _last_epoch(df)
    for col, ceiling, what in (("kde_saturated", "kde_h_max", "H(Σ) is saturated (within 0.01 "
                                "bits of log2 n: every state alone at this bandwidth; the value "
                                "says only that the states are far apart)"),
                               ("kde_i_xy_saturated", "kde_h_y", "I(X;Σ;Y) sits at H(Y) (within "
                                "0.01 bits)")):
        if col not in df.columns:
            continue
        for m in _models(last):
            g = last[(last["model"] == m) & (last[col] == True)]  # noqa: E712 (NaN: not computed)
            if len(g):
                layers = ", ".join(str(x) for x in g["layer"])
                ep = _epoch_text(g)
                c = g[ceiling].dropna()
                at = f" = {c.iloc[0]:.2f} bits" if len(c) else ""
                notes.append(f"{m}, {ep}: {what}{at} in {len(g)} of "
                             f"{int((last['model'] == m).sum())} layers: {layers}.")
    return notes


def _kde(df, reports=()):
    cols = [(c, lab) for c, lab in (("kde_h", "H(Σ) (bits)"), ("kde_i_xy", "I(X;Σ;Y) (bits)"),
                                    ("kde_tc", "total correlation TC (bits)")) if _has(df, c)]
    if not cols:
        return None
    ceilings = {"kde_h": "kde_h_max", "kde_i_xy": "kde_h_y"}
    plt = _plt()
    last = _last_epoch(df)
    models = _models(df)
    colors = _colors(models)
    with_epochs = _epochs_tracked(df)
    # Top row: every model per layer at its last epoch; then one row per model over epochs.
    nrows = 1 + (len(models) if with_epochs else 0)
    dodge = _dodge(models)
    counts, bars = {}, {}
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(nrows, len(cols), figsize=(4.8 * len(cols), 3.5 * nrows),
                                 squeeze=False)
        for j, (col, ylabel) in enumerate(cols):
            ax = axes[0][j]
            for i, m in enumerate(models):
                g = last[(last["model"] == m) & last[col].notna()].sort_values("depth")
                if len(g):
                    x = g["depth"].to_numpy(dtype=float) + dodge[m]
                    ax.plot(x, g[col], "-", marker=_MARKERS[i % len(_MARKERS)],
                            color=colors[m], ms=5, label=m)
                    _draw_marked(ax, x, g[col], _marks(g, col), colors[m], counts)
                    _draw_intervals(ax, x, g, col, colors[m], bars)
                    ceil = ceilings.get(col)
                    if ceil in g.columns and g[ceil].notna().any():
                        ax.plot(x, g[ceil], "_", color=colors[m], ms=14, mew=1.5)
            ax.set_xlabel("layer depth (index among gating layers; key above)")
            ax.set_ylabel(ylabel)
            if col in ceilings:
                ax.set_ylim(bottom=0)  # the whole range: no zoom onto noise at the ceiling
            ax.set_title(f"{ylabel.split(' (')[0]} per layer" +
                         (", last epoch" if with_epochs else ""))
            ax.xaxis.get_major_locator().set_params(integer=True)
            if not with_epochs:
                continue
            cmap = plt.get_cmap("viridis")
            for mi, m in enumerate(models):
                ax = axes[1 + mi][j]
                g = df[(df["model"] == m) & df[col].notna()]
                layers = g.drop_duplicates("layer").sort_values("depth")["layer"].tolist()
                for li, lay in enumerate(layers):
                    h = g[g["layer"] == lay].sort_values("epoch")
                    color = cmap(li / max(1, len(layers) - 1))
                    ax.plot(h["epoch"], h[col], "-", marker=".", lw=1.2, color=color,
                            label=_short(str(lay), 16))
                    _draw_marked(ax, h["epoch"], h[col], _marks(h, col), color, counts)
                ceil = ceilings.get(col)
                if ceil in g.columns and g[ceil].notna().any():
                    ax.axhline(float(g[ceil].max()), color="k", ls=":", lw=0.9,
                               label="ceiling (log2 n)" if col == "kde_h" else "ceiling H(Y)")
                    ax.set_ylim(bottom=0)
                ax.set_xlabel("epoch")
                ax.set_ylabel(ylabel)
                ax.set_title(f"{m}: {ylabel.split(' (')[0]} over epochs")
                ax.xaxis.get_major_locator().set_params(integer=True)
                if j == len(cols) - 1 and layers:
                    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title="layer",
                              fontsize=7)
        fig.tight_layout()
        handles, labels = axes[0][0].get_legend_handles_labels()
        for h in _mark_handles(counts):
            handles.append(h)
            labels.append(h.get_label())
        key = _layer_key(last) if len(models) > 1 else _layer_key(last).replace(f"{models[0]}: ", "")
        if handles:  # above the figure, off the data, with the layer key above it
            legend = fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0),
                                ncol=min(3, len(labels)), frameon=False)
            fig.canvas.draw()
            top = fig.transFigure.inverted().transform(
                legend.get_window_extent(fig.canvas.get_renderer()))[1][1]
            fig.text(0.5, top + 0.005, _wrap(fig, key), ha="center", va="bottom",
                     fontsize=_LABEL_SIZE, color="0.25")
        png, svg = _render(fig)
    rows_text = "top: per layer at the last epoch, below: each model over epochs" if with_epochs \
        else "per layer"
    return Figure(
        "kde", "Transformation complexity (KDE on gate states)",
        "Kernel density estimates on the per-sample gate states with a Hamming kernel "
        f"exp(−h/(2 s2)), {_kde_bandwidth_text(reports)}: complexity H(Σ), the label "
        "information I(X;Σ;Y) = H(Σ) − H(Σ|Y), and the total correlation against independent "
        f"units (leave-one-out); {rows_text}. Short bars / dotted lines mark the ceilings "
        "(log2 n for H(Σ), H(Y) for I(X;Σ;Y)); a value there is saturated "
        f"(Ren et al. 2022, figs. 1, 3, 4).{_marks_caption(counts)}{_intervals_caption(bars)} "
        f"Settings: {_settings_text(df, [('kde_alpha', 'α'), ('rows_kde', 'samples n')])}.",
        png, svg, notes=_kde_notes(df), marked=counts, error_bars=bars)


_GATING_OPS = ("relu", "sigmoid", "tanh", "maxpool", "gelu", "silu", "elu", "dropout",
               "hardtanh", "prelu")


def _is_gating_op(op: str) -> bool:
    o = "".join(ch for ch in str(op).lower().split(".")[-1] if ch.isalnum())
    return any(o.startswith(g) or o.endswith(g) for g in _GATING_OPS)


def algebra_layer_names(la, layer_names) -> dict:
    """{algebra node name: captured layer name} for the gating nodes of a `layer_algebra`
    result, matched in forward order with the layers `pycx.capture` / `pycx.analyze` name
    (``layer_names``, in depth order); {} when the counts differ (no safe match)."""
    nodes = [r["name"] for r in la.nodes if r["kind"] == "layer" and _is_gating_op(r["op"])]
    names = list(layer_names or [])
    return dict(zip(nodes, names)) if names and len(nodes) == len(names) else {}


_ALGEBRA_NAMES = 12  # layer names per model in the algebra figure


def algebra_figure(algebras: dict, name: str = "algebra",
                   layer_names: Optional[dict] = None) -> Figure:
    """Cumulative log10 intrinsic power and complexity along each model's nodes (Badias &
    Banerjee, figs. 7-8). ``algebras``: {model name: `pycx.layer_algebra` result};
    ``layer_names``: optional {model name: captured layer names in depth order}, to mark the
    gating nodes with the names the other figures use."""
    plt = _plt()
    colors = _colors(list(algebras))
    unmatched = []
    labels, steps = [], {}
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
        for m, la in algebras.items():
            rows = [r for r in la.nodes if r["kind"] not in ("skip",)]
            x = np.arange(len(rows))
            label = (f"{m} (log10 GCIP {la.gcip_log10:.2f}, log10 GCC {la.gcc_log10:.2f})")
            axes[0].plot(x, [r["power_log10"] for r in rows], "-", color=colors[m], lw=1.4,
                         label=label)
            axes[1].plot(x, [r["complexity_log10"] for r in rows], "-", color=colors[m], lw=1.4,
                         label=m)
            merges = [i for i, r in enumerate(rows) if r["kind"] == "merge"]
            if merges:
                axes[0].plot(x[merges], [rows[i]["power_log10"] for i in merges], "^",
                             color=colors[m], ms=4)
            names = algebra_layer_names(la, (layer_names or {}).get(m))
            if layer_names and m in layer_names and not names:
                unmatched.append(m)
            gating = [i for i, r in enumerate(rows) if r["name"] in names]
            # At most _ALGEBRA_NAMES names per model, evenly spaced (ResNet-56's 55 names ran
            # off the axes); every gating node keeps its dot.
            step = max(1, math.ceil(len(gating) / _ALGEBRA_NAMES))
            named = set(gating[::step]) | ({gating[-1]} if gating else set())
            steps[m] = step
            for i in gating:
                r = rows[i]
                for ax, key in ((axes[0], "power_log10"), (axes[1], "complexity_log10")):
                    ax.plot(x[i], r[key], "o", color=colors[m], ms=3.5)
                if i in named:
                    labels.append(axes[1].annotate(
                        _short(names[r["name"]], 16), (x[i], r["complexity_log10"]),
                        fontsize=_LABEL_SIZE, color=colors[m], xytext=(3, 3),
                        textcoords="offset points"))
        axes[0].set_ylabel("cumulative intrinsic power, log10")
        axes[1].set_ylabel("cumulative intrinsic complexity, log10")
        for ax in axes:
            ax.set_xlabel("node index along the data flow (input → output)")
        fig.tight_layout()
        hidden = _place_labels(fig, labels, avoid_lines=True)
        handles, legend_labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, legend_labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=2 if len(legend_labels) > 1 else 1, frameon=False)
        png, svg = _render(fig)
    names_note = ""
    if layer_names:
        thinned = {m: k for m, k in steps.items() if k > 1}
        names_note = (" Dots: the gating layers, named as in the other figures (right panel"
                      + ("; " + ", ".join(f"{m}: every {_ordinal(k)} named" for m, k in thinned.items())
                         if thinned else "")
                      + (f"; {hidden} names left out where they would overlap a name or the "
                         "curve" if hidden else "")
                      + ")."
                      + (f" Not matched (different number of gating nodes): "
                         f"{', '.join(unmatched)}." if unmatched else ""))
    return Figure(
        name, "Layer algebra: cumulative intrinsic power and complexity",
        "Architecture only, no data: cumulative intrinsic power (product of local powers, max "
        "where paths merge, triangles) and complexity (product, summed at merges) after each "
        "layer node, in log10 (Badias & Banerjee, figs. 7-8; convolution kernel size counts "
        "input channels). Legend: log10 of the global values at the output." + names_note,
        png, svg)


def _ordinal(k: int) -> str:
    """2nd, 3rd, 5th, 11th, 21st."""
    if 10 <= k % 100 <= 20:
        return f"{k}th"
    return f"{k}{ {1: 'st', 2: 'nd', 3: 'rd'}.get(k % 10, 'th')}"


def _training(training: dict) -> Optional[Figure]:
    if not training:
        return None
    plt = _plt()
    colors = _colors(list(training))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        for m, t in training.items():
            axes[0].plot(t["epoch"], t["train_loss"], "o-", ms=3, color=colors[m], label=m)
            axes[1].plot(t["epoch"], 100 * np.asarray(t["test_accuracy"], float), "o-", ms=3,
                         color=colors[m], label=m)
        axes[0].set_ylabel("training loss (cross-entropy, nats)")
        axes[1].set_ylabel("test accuracy (%)")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[1].legend(loc="lower right")
        fig.tight_layout()
        png, svg = _render(fig)
    return Figure("training", "Training", "Mean training loss (cross-entropy over the epoch's "
                  "mini-batches) and accuracy on the held-out images, per epoch; epoch 0 is the "
                  "network at initialisation, before any update.", png, svg)


_FIGURES: tuple = (
    ("holographic", _holographic), ("ed_vs_complexity", _ed_vs_complexity),
    ("linearity_ntc", _linearity_ntc), ("linearity_ntc_blocks", _block_bars), ("relevance", None),
    ("classification_error", _classification_error), ("kde", _kde),
)


def figures(reports, algebras: Optional[dict] = None, training: Optional[dict] = None,
            progress: Optional[Callable] = None) -> list:
    """All figures that the given data supports (a metric group that was not computed gives
    no figure), as `Figure` objects."""
    reports = _as_list(reports)
    df = frame(reports)
    out = []
    steps = [lambda: _training(training)]
    if len(df):
        for name, fn in _FIGURES:
            steps.append((lambda: _relevance(df, reports, training)) if name == "relevance"
                         else (lambda: _kde(df, reports)) if name == "kde"
                         else (lambda fn=fn: fn(df)))
    if algebras:
        names = {m: df[df["model"] == m].drop_duplicates("layer").sort_values("depth")["layer"]
                 .astype(str).tolist() for m in algebras} if len(df) else None
        steps.append(lambda: algebra_figure(algebras, layer_names=names))
    for step in steps:
        fig = step()
        if fig is not None:
            out.append(fig)
        if progress is not None:
            progress()
    return out
