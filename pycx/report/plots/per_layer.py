"""Per-layer curves against depth (one panel per metric, one line per model) and the
network-level plane of Janik & Witaszczyk: the holographic figure (effective dimension and
complexity per neuron), linearity and normalised total correlation per layer and per block,
effective dimension against complexity (`network_table`), and the classification error of the
gate states (Song, Marsili & Jo, fig. 2d).
"""
from __future__ import annotations

import numpy as np

from ...analysis.table import effective_dimension_undefined, network_sums
from .base import (_STYLE, Figure, _colors, _epoch_text, _epochs_tracked, _has, _last_epoch,
                   _layer_ticks, _models, _plt, _render, _settings_text, _short, _when)
from .labels import (_LABEL_SIZE, _annotate_layers, _layer_key, _legend_below, _place_labels,
                     _text_below)
from .marks import (_draw_intervals, _draw_marked, _intervals_caption, _mark_handles, _marks,
                    _marks_caption)


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
