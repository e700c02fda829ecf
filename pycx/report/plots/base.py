"""The report figures' shared pieces: the `Figure` record, rendering (matplotlib's Agg
backend in the report's style, PNG and SVG), the tidy table of one or more reports (`frame`)
and the small helpers every figure reads that table with.
"""
from __future__ import annotations

import io
import math

import numpy as np

from ...analysis.table import DERIVED_FLAGS, derived_flags
from ..columns import SCHEMA_COLUMNS


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


def _epochs_tracked(df) -> bool:
    """More than one epoch of some model: trajectories and "last epoch" wording apply."""
    if not len(df) or not df["epoch"].notna().any():
        return False
    return bool((df.groupby("model", sort=False)["epoch"].nunique() > 1).any())


def _when(df) -> str:
    return "at each model's last epoch" if _epochs_tracked(df) else "(one snapshot per model)"
