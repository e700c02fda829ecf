"""The resolution–relevance figure (Song, Marsili & Jo, fig. 2a-c): each layer in the
H[s]–H[k] plane with the maximal relevance curve, k-means cluster sizes and the critical layer;
the degeneracies m_k with the fitted power law; the exponent β per layer.
"""
from __future__ import annotations

import numpy as np

from .base import (_STYLE, Figure, _epoch_text, _epochs_tracked, _has, _last_epoch, _layer_ticks,
                   _models, _plt, _render, _settings_text, _short)
from .labels import _annotate_layers, _place_labels
from .marks import (_draw_intervals, _draw_marked, _intervals_caption, _mark_handles, _marks,
                    _marks_caption)


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
