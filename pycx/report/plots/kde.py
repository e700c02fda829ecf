"""The KDE figure (Ren et al. 2022, figs. 1, 3, 4): H(Σ), I(X;Σ;Y) and the total
correlation per layer, and each model's layers over epochs, with their ceilings.
"""
from __future__ import annotations

from .base import (_STYLE, Figure, _colors, _epoch_text, _epochs_tracked, _has, _last_epoch,
                   _models, _plt, _render, _settings_text, _short)
from .labels import _LABEL_SIZE, _layer_key, _wrap
from .marks import (_draw_intervals, _draw_marked, _intervals_caption, _mark_handles, _marks,
                    _marks_caption)
from .per_layer import _MARKERS, _dodge


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
