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


__all__ = ["COLUMNS", "Figure", "algebra_figure", "figures", "frame"]

# The per-layer table of the report schema, in its order.
COLUMNS = (
    "model", "epoch", "layer", "kind", "depth", "block", "shape", "units", "rows_sample",
    "rows_patch",
    "linearity", "unit_entropy_mean", "complexity", "complexity_per_neuron", "ntc",
    "effective_dimension", "complexity_estimator",
    "h_s", "h_k", "h_s_norm", "h_k_norm", "beta_mle", "beta_ls", "n_states",
    "classification_error",
    "kde_h", "kde_h_given_y", "kde_i_xy", "kde_tc", "kde_s2", "kde_alpha", "kde_h_concat",
)

_DPI = 100
_STYLE = {
    "figure.facecolor": "white", "axes.grid": True, "grid.alpha": 0.3, "font.size": 9,
    "axes.titlesize": 10, "axes.labelsize": 9, "legend.fontsize": 8, "legend.framealpha": 0.85,
    "xtick.labelsize": 8, "ytick.labelsize": 8, "axes.spines.top": False,
    "axes.spines.right": False, "axes.formatter.useoffset": False,
}


class Figure:
    """One report figure: a file stem, a title, a caption and the PNG bytes."""

    def __init__(self, name: str, title: str, caption: str, png: bytes):
        self.name, self.title, self.caption, self.png = name, title, caption, png

    def __repr__(self):
        return f"Figure({self.name!r}, {len(self.png)} bytes)"


def _plt():
    import matplotlib
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    return plt


def _png(fig) -> bytes:
    plt = _plt()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def _as_list(reports):
    if reports is None:
        return []
    if isinstance(reports, (list, tuple)):
        return list(reports)
    return [reports]


def frame(reports):
    """The per-layer rows of one or more reports as one DataFrame with the schema's columns
    (missing metric columns are NaN), sorted by model, epoch and depth."""
    import pandas as pd

    rows = [dict(r) for rep in _as_list(reports) for r in rep.rows]
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = np.nan
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[list(COLUMNS) + extra]
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


def _per_depth_panels(df, panels, name, title, caption_what, settings_cols, per_model_ticks=True):
    """Rows of panels: one panel per metric, one line per model (last epoch), x = layer depth."""
    plt = _plt()
    last = _last_epoch(df)
    models = _models(last)
    colors = _colors(models)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 3.8), squeeze=False)
        for ax, (col, ylabel) in zip(axes[0], panels):
            for m in models:
                g = last[(last["model"] == m) & last[col].notna()].sort_values("depth")
                if not len(g):
                    continue
                ax.plot(g["depth"], g[col], "o-", color=colors[m], ms=4, lw=1.5,
                        label=f"{m} ({_epoch_text(g)})")
            ax.set_xlabel("layer depth (index among gating layers)")
            ax.set_ylabel(ylabel)
            if len(models) == 1 and per_model_ticks:
                _layer_ticks(ax, last[last[col].notna()])
                ax.set_xlabel("gating layer (forward order)")
            else:
                ax.xaxis.get_major_locator().set_params(integer=True)
        axes[0][0].legend(loc="best")
        fig.tight_layout()
        png = _png(fig)
    caption = f"{caption_what} Settings: {_settings_text(last, settings_cols) or 'see metrics.json'}."
    return Figure(name, title, caption, png)


def _holographic(df):
    if not _has(df, "effective_dimension") and not _has(df, "complexity_per_neuron"):
        return None
    panels = [(c, lab) for c, lab in (
        ("effective_dimension", "effective dimension (count of directions)"),
        ("complexity_per_neuron", "complexity per neuron H(Z)/C (bits/unit)"))
        if _has(df, c)]
    return _per_depth_panels(
        df, panels, "holographic", "Effective dimension and complexity per neuron vs depth",
        "Per gating layer at each model's last epoch: the effective dimension of the per-patch "
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
        "Per gating layer at the last epoch: linearity = mean fraction of active gates, "
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
                ax.bar(x + (i - (len(models) - 1) / 2) * width, means.to_numpy(), width,
                       color=colors[m], label=m)
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels([_short(b) for b in labels], rotation=30, ha="right")
            ax.set_xlabel("block")
            ax.set_ylabel(ylabel)
        axes[0][0].legend(loc="best")
        fig.tight_layout()
        png = _png(fig)
    return Figure("linearity_ntc_blocks", "Linearity and normalised total correlation per block",
                  "Block averages over the gating layers of each block at the last epoch: "
                  "linearity = mean fraction of active gates; normalised total correlation = "
                  "(Σ H(Z_i) − H(Z)) / Σ H(Z_i) of the per-patch gate vector (Janik & "
                  "Witaszczyk, eqs. 7-8). Settings: "
                  f"{_settings_text(last, [('complexity_estimator', 'H(Z) estimator')])}.", png)


def _network_table(df):
    """Per model and epoch: network complexity (sum over layers) and mean effective dimension."""
    g = df.groupby(["model", "epoch"], sort=False, dropna=False)
    out = g.agg(network_complexity=("complexity", lambda s: s.sum(min_count=1)),
                effective_dimension=("effective_dimension", "mean"),
                complexity_per_neuron=("complexity_per_neuron", "mean")).reset_index()
    return out


def _ed_vs_complexity(df):
    if not _has(df, "effective_dimension", "complexity"):
        return None
    plt = _plt()
    net = _network_table(df)
    models = _models(net)
    colors = _colors(models)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4.0))
        ax = axes[0]
        for m in models:
            g = net[net["model"] == m].sort_values("epoch", na_position="first")
            g = g[g["network_complexity"].notna() & g["effective_dimension"].notna()]
            if not len(g):
                continue
            x, y = g["network_complexity"].to_numpy(), g["effective_dimension"].to_numpy()
            if len(g) > 1:
                ax.plot(x, y, "-", color=colors[m], lw=1.2, alpha=0.7)
                ax.scatter(x[:-1], y[:-1], s=14, color=colors[m], alpha=0.6)
                ax.annotate("", xy=(x[-1], y[-1]), xytext=(x[-2], y[-2]),
                            arrowprops=dict(arrowstyle="->", color=colors[m], lw=1.2))
                ax.annotate(f"ep {int(g['epoch'].iloc[0])}", (x[0], y[0]), fontsize=7,
                            color=colors[m], xytext=(3, -9), textcoords="offset points")
            ax.scatter(x[-1:], y[-1:], s=60, color=colors[m], edgecolor="k", zorder=3, label=m)
        ax.set_xlabel("network complexity Σ_layers H(Z) (bits)")
        ax.set_ylabel("mean effective dimension over layers")
        ax.set_title("training trajectories (large dot: last epoch)")
        ax.legend(loc="best")
        ax = axes[1]
        last = _last_epoch(df)
        for m in models:
            g = last[(last["model"] == m) & last["effective_dimension"].notna()
                     & last["complexity_per_neuron"].notna()].sort_values("depth")
            if not len(g):
                continue
            ax.plot(g["complexity_per_neuron"], g["effective_dimension"], "o-", color=colors[m],
                    ms=4, lw=1, label=m)
            ax.annotate("in", (g["complexity_per_neuron"].iloc[0],
                               g["effective_dimension"].iloc[0]), fontsize=7, color=colors[m],
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xlabel("complexity per neuron H(Z)/C (bits/unit)")
        ax.set_ylabel("effective dimension (count)")
        ax.set_title("layers at the last epoch (line follows depth)")
        fig.tight_layout()
        png = _png(fig)
    return Figure(
        "ed_vs_complexity", "Effective dimension vs complexity",
        "Left: each model's network complexity (sum over gating layers of the per-patch joint "
        "gate entropy H(Z)) against the mean effective dimension of its layers, one point per "
        "tracked epoch, arrow towards the last (Janik & Witaszczyk, figs. 4-5). Right: the "
        "same plane per layer at the last epoch, the line following depth from the input "
        f"('in'). Settings: {_settings_text(df, [('complexity_estimator', 'H(Z) estimator'), ('rows_patch', 'per-patch rows')])}.",
        png)


def _curve(curves, key):
    c = (curves or {}).get(key)
    return c if isinstance(c, dict) and c else None


def _relevance(df, reports):
    if not _has(df, "h_s_norm", "h_k_norm"):
        return None
    plt = _plt()
    last = _last_epoch(df)
    models = [m for m in _models(last) if last.loc[last["model"] == m, "h_s_norm"].notna().any()]
    # A model whose every layer gives each sample its own state (H[s] = log2 M, H[k] = 0) has
    # nothing to show in this plane; it is named in the caption instead.
    saturated = [m for m in models
                 if (last.loc[last["model"] == m, "h_s_norm"].dropna() > 0.995).all()]
    if len(saturated) < len(models):
        models = [m for m in models if m not in saturated]
    else:
        saturated = []
    by_model = {}
    for rep in reports:
        names = {r.get("model", "model") for r in rep.rows}
        for m in names:
            by_model.setdefault(m, rep)
    n = len(models)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(n, 2, figsize=(10, 3.9 * n), squeeze=False)
        for row, m in enumerate(models):
            g = last[(last["model"] == m) & last["h_s_norm"].notna()].sort_values("depth")
            curves = getattr(by_model.get(m), "curves", {}) or {}
            ax = axes[row][0]
            mr = _curve(curves, "max_relevance")
            if mr is not None:
                ax.plot(mr["h_s_norm"], mr["h_k_norm"], ":", color="k", lw=1.2,
                        label=f"maximal relevance (M={mr.get('M')})")
            km = _curve(curves, "kmeans")
            if km is not None and len(km.get("h_s_norm", [])):
                ax.plot(km["h_s_norm"], km["h_k_norm"], "s--", color="0.55", ms=4, lw=1,
                        label="k-means clusters")
            cmap = plt.get_cmap("viridis")
            depths = g["depth"].to_numpy()
            span = max(1, depths.max() - depths.min()) if len(depths) else 1
            for _, r in g.iterrows():
                ax.scatter(r["h_s_norm"], r["h_k_norm"], s=40,
                           color=cmap((r["depth"] - depths.min()) / span), edgecolor="k", lw=0.5,
                           zorder=3)
                ax.annotate(_short(str(r["layer"]), 14), (r["h_s_norm"], r["h_k_norm"]),
                            fontsize=7, xytext=(4, 3), textcoords="offset points")
            ax.plot(g["h_s_norm"], g["h_k_norm"], "-", color="0.3", lw=0.8, zorder=2)
            crit = _critical(g, by_model.get(m), m)
            if crit is not None:
                ax.scatter(crit["h_s_norm"], crit["h_k_norm"], s=160, facecolor="none",
                           edgecolor="red", lw=1.5, zorder=4, label=f"critical: {crit['layer']}")
            ax.set_xlim(-0.02, 1.02)
            ax.set_ylim(bottom=0)
            ax.set_xlabel("resolution H[s] / log2 M")
            ax.set_ylabel("relevance H[k] / log2 M")
            ax.set_title(f"{m}: H[s]–H[k] plane per layer ({_epoch_text(g)})")
            ax.legend(loc="upper left")
            ax = axes[row][1]
            deg = (curves.get("degeneracy") or {}) if isinstance(curves, dict) else {}
            layers = [lay for lay in g["layer"] if lay in deg]
            dmap = plt.get_cmap("viridis")
            for i, lay in enumerate(layers):
                d = deg[lay]
                k, mk = np.asarray(d["k"], float), np.asarray(d["m_k"], float)
                if not len(k):
                    continue
                color = dmap(i / max(1, len(layers) - 1))
                beta = d.get("beta_mle", float("nan"))
                ax.loglog(k, mk, "o", ms=3, color=color, alpha=0.8,
                          label=f"{_short(lay, 14)}: β={beta:.2f}")
                if beta is not None and np.isfinite(beta) and beta > 0 and len(k) > 1:
                    # The fitted law as expected counts: S states with frequencies drawn from
                    # P(k) = k^-(beta+1) / zeta(beta+1), k >= 1 (the MLE's model).
                    from scipy.special import zeta
                    kk = np.geomspace(1, k.max(), 50)
                    ax.loglog(kk, mk.sum() * kk ** (-(beta + 1)) / zeta(beta + 1, 1), "-",
                              color=color, lw=0.9)
            if layers:
                ax.legend(loc="upper right", ncol=1 if len(layers) < 7 else 2)
            from matplotlib.ticker import FuncFormatter
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(plt.NullFormatter())
            ax.set_ylim(bottom=0.5)
            ax.set_xlabel("state frequency k (samples per state)")
            ax.set_ylabel("m_k (number of states seen k times)")
            ax.set_title(f"{m}: degeneracy m_k, fitted m_k ∝ k^-(β+1)")
            if row == n - 1 and not len(layers):
                ax.text(0.5, 0.5, "no degeneracy curves in this report", ha="center",
                        transform=ax.transAxes)
        fig.tight_layout()
        png = _png(fig)
    m_rows = _settings_text(last, [("rows_sample", "M (samples)")])
    return Figure(
        "relevance", "Resolution and relevance per layer",
        "Left: normalised resolution H[s] and relevance H[k] of each layer's per-sample binary "
        "states (sigmoid units binarised at 0.5), the maximal relevance curve for M samples "
        "(dotted), k-means cluster sizes on the inputs (dashed, k = 4, 8, ...), and the critical "
        "layer (max H[s] + H[k], red circle). Right: m_k against k, log-log, with the fitted "
        f"power law (β by discrete maximum likelihood) (Song, Marsili & Jo, fig. 2). "
        f"Settings: {m_rows}."
        + (f" Not shown: {', '.join(saturated)} (every sample in its own state in every layer, "
           "H[s] = log2 M)." if saturated else ""), png)


def _critical(g, rep, model):
    name = None
    for rec in getattr(rep, "network", []) or []:
        if rec.get("model", model) == model:
            name = rec.get("critical_layer") or name  # the last epoch's, as records are in order
    if name is None and len(g):
        name = g.loc[(g["h_s"] + g["h_k"]).idxmax(), "layer"] if _has(g, "h_s", "h_k") else None
    hit = g[g["layer"] == name]
    return hit.iloc[0] if len(hit) else None


def _classification_error(df):
    if not _has(df, "classification_error"):
        return None
    return _per_depth_panels(
        df, [("classification_error", "classification error of the states"),
             ("n_states", "distinct states")] if _has(df, "n_states") else
        [("classification_error", "classification error of the states")],
        "classification_error", "Classification error of the gate states per layer",
        "Per layer at the last epoch: 1 − (1/M) Σ_s max_y count(s, y), the error of predicting "
        "the label from the majority label of each sample's binary state, and the number of "
        "distinct states (Song, Marsili & Jo, fig. 2d).",
        [("rows_sample", "M (samples)")])


def _kde(df):
    cols = [(c, lab) for c, lab in (("kde_h", "H(Σ) (bits)"), ("kde_i_xy", "I(X;Σ;Y) (bits)"),
                                    ("kde_tc", "total correlation TC (bits)")) if _has(df, c)]
    if not cols:
        return None
    plt = _plt()
    last = _last_epoch(df)
    models = _models(df)
    colors = _colors(models)
    with_epochs = df["epoch"].notna().any() and df["epoch"].nunique() > 1
    # Top row: every model per layer at its last epoch; then one row per model over epochs.
    nrows = 1 + (len(models) if with_epochs else 0)
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(nrows, len(cols), figsize=(4.6 * len(cols), 3.3 * nrows),
                                 squeeze=False)
        for j, (col, ylabel) in enumerate(cols):
            ax = axes[0][j]
            for m in models:
                g = last[(last["model"] == m) & last[col].notna()].sort_values("depth")
                if len(g):
                    ax.plot(g["depth"], g[col], "o-", color=colors[m], ms=4, label=m)
            ax.set_xlabel("layer depth (index among gating layers)")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{ylabel.split(' (')[0]} per layer, last epoch")
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
                    ax.plot(h["epoch"], h[col], "-", marker=".", lw=1.2,
                            color=cmap(li / max(1, len(layers) - 1)), label=_short(str(lay), 16))
                ax.set_xlabel("epoch")
                ax.set_ylabel(ylabel)
                ax.set_title(f"{m}: over epochs")
                ax.xaxis.get_major_locator().set_params(integer=True)
                if j == len(cols) - 1 and layers:
                    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), title="layer",
                              fontsize=7)
        axes[0][0].legend(loc="best")
        fig.tight_layout()
        png = _png(fig)
    return Figure(
        "kde", "Transformation complexity (KDE on gate states)",
        "Kernel density estimates on the per-sample gate states with a Hamming kernel "
        "exp(−h/(2 s2)), s2 = α·Σ p_i(1−p_i): complexity H(Σ), the label information "
        "I(X;Σ;Y) = H(Σ) − H(Σ|Y), and the total correlation against independent units "
        "(leave-one-out); top: per layer at the last epoch, bottom: over training "
        f"(arXiv 2205.01940, figs. 1, 3, 4). Settings: "
        f"{_settings_text(df, [('kde_alpha', 'α'), ('rows_sample', 'samples n')])}.", png)


def algebra_figure(algebras: dict, name: str = "algebra") -> Figure:
    """Cumulative log10 intrinsic power and complexity along each model's nodes (paper 002,
    figs. 7-8). ``algebras``: {model name: `pycx.layer_algebra` result}."""
    plt = _plt()
    colors = _colors(list(algebras))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.9))
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
        axes[0].set_ylabel("cumulative intrinsic power, log10")
        axes[1].set_ylabel("cumulative intrinsic complexity, log10")
        for ax in axes:
            ax.set_xlabel("node index along the data flow (input → output)")
        fig.tight_layout()
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0),
                   ncol=2 if len(labels) > 1 else 1, frameon=False)
        png = _png(fig)
    return Figure(
        name, "Layer algebra: cumulative intrinsic power and complexity",
        "Architecture only, no data: cumulative intrinsic power (product of local powers, max "
        "where paths merge, triangles) and complexity (product, summed at merges) after each "
        "layer node, in log10 (Badias & Banerjee, figs. 7-8; convolution kernel size counts "
        "input channels). Legend: log10 of the global values at the output.", png)


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
        png = _png(fig)
    return Figure("training", "Training", "Mean training loss (cross-entropy over the epoch's "
                  "mini-batches) and accuracy on the held-out images, per epoch; epoch 0 is the "
                  "network at initialisation, before any update.", png)


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
            steps.append((lambda: _relevance(df, reports)) if name == "relevance"
                         else (lambda fn=fn: fn(df)))
    if algebras:
        steps.append(lambda: algebra_figure(algebras))
    for step in steps:
        fig = step()
        if fig is not None:
            out.append(fig)
        if progress is not None:
            progress()
    return out
