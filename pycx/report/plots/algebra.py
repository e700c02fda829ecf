"""The layer-algebra figure (Badias & Banerjee, figs. 7-8): cumulative intrinsic power
and complexity along each model's nodes, the gating nodes named as in the other figures.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .base import _STYLE, Figure, _colors, _plt, _render, _short
from .labels import _LABEL_SIZE, _place_labels


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
