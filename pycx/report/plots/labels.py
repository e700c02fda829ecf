"""Text on the figures: point labels placed where they overlap no other label (and, on
request, no curve), legends and layer keys under a figure, wrapped to its width.
"""
from __future__ import annotations

import numpy as np

from .base import _models, _short


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
