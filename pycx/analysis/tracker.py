"""`Tracker`: `analyze` during training, one `Report` over epochs.

May import: `pycx.analysis.analyze`, `pycx.analysis.table`, the base layer.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_int, describe
from .analyze import _parse_metrics, analyze
from .table import Report


class Tracker:
    """Runs `analyze` during training and collects one `Report` over epochs::

        tracker = pycx.Tracker(model, val_loader, every=2, metrics=["janik", "relevance"])
        for epoch in range(epochs):
            train_one_epoch(model)
            tracker.step(epoch)
        tracker.report.to_pandas()

    ``step(epoch)`` analyses on its 1st, (every+1)-th, (2*every+1)-th... call (so the first
    call always runs) and appends rows with that epoch. The k-means baseline (which depends on
    the inputs only) is computed at the first analysis only. Other keyword arguments go to
    `analyze`.
    """

    def __init__(self, model, data, *, every=1, metrics="all", labels=None, **analyze_kwargs):
        self.model = model
        self.data = data
        self.every = check_int("every", every, minimum=1)
        _parse_metrics(metrics)  # fail now, not at the first epoch
        self.metrics = metrics
        self.labels = labels
        if "epoch" in analyze_kwargs:
            raise TypeError("Tracker sets 'epoch' itself (the argument of step)")
        self.kwargs = analyze_kwargs
        self.report = Report()
        self.calls = 0

    def step(self, epoch, *, force=False):
        """Analyses now if this call is due (or `force`); returns that epoch's `Report`, or
        None when skipped."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"argument 'epoch' must be an int, got {describe(epoch)}")
        due = force or self.calls % self.every == 0
        self.calls += 1
        if not due:
            return None
        first = not self.report.rows
        kwargs = dict(self.kwargs)
        kwargs.setdefault("kmeans", True)
        kwargs["kmeans"] = kwargs["kmeans"] and first
        result = analyze(self.model, self.data, metrics=self.metrics, labels=self.labels,
                         epoch=int(epoch), **kwargs)
        self.report.extend(result)
        return result
