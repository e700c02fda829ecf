"""The report's figures: one function per figure of the papers, each returning a `Figure`
(name, title, caption with the settings used, PNG bytes) from the tidy table of one or more
`Report`s.

The drawing lives in `pycx.report.plots`, one module per part: `base` (the `Figure` record,
rendering, the table `frame`), `labels` (label placement, legends and keys), `marks` (values
that are not measurements, error bars), `per_layer` (per-layer curves and the network plane),
`relevance` (the resolution–relevance figure), `kde`, `algebra`, `training`. This module draws
every figure the data supports (`figures`) and exports the names the page, the comparison and
the command line use.

matplotlib (Agg backend) and pandas are imported inside the functions: ``import pycx`` does not
load them. May import: `pycx.analysis` (the table schema), the base layer.
"""
from __future__ import annotations

from typing import Callable, Optional

# The one rule of which H(Z) values are measurements lives with the table schema (so that
# `Report.summary` uses it too); re-exported here, where the figures and the page use it.
from ..analysis.table import (DERIVED_FLAGS, complexity_not_measured, derived_flags,
                              effective_dimension_undefined, h_s_saturated, network_sums)
from ..analysis.table import true_flags as _flag
from .plots.algebra import _is_gating_op, algebra_figure, algebra_layer_names
from .plots.base import (_STYLE, COLUMNS, Figure, _as_list, _last_epoch, _models, _plt,
                         _render, _short, frame)
from .plots.kde import _kde
from .plots.labels import _place_labels, label_hits_curve
from .plots.marks import MARK_KINDS, interval_of
from .plots.per_layer import (_block_bars, _classification_error, _dodge, _ed_vs_complexity,
                              _holographic, _linearity_ntc, network_table)
from .plots.relevance import _relevance
from .plots.training import _training

__all__ = ["COLUMNS", "Figure", "MARK_KINDS", "algebra_figure", "algebra_layer_names",
           "complexity_not_measured", "figures", "frame", "network_table"]


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
