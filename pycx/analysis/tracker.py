"""`Tracker`: `analyze` during training, one `Report` over epochs.

May import: `pycx.analysis.analyze`, `pycx.analysis.table`, `pycx._pool`, the base
layer.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence

import numpy as np

from .._validate import check_int, describe
from .._pool import check_executor
from .analyze import _parse_metrics, analyze
from .table import Report

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

    StepCallback = Callable[[Report, int], Any]   # f(report, epoch)


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
    `analyze`, e.g. ``executor="threads"`` or a dask ``Client`` for the per-layer work.

    - `progress`: progress bars of each analysis (default False: inside a training loop they
      would interleave with the loop's own output).
    - `writer`: a TensorBoard ``SummaryWriter`` (or anything with ``add_scalar(tag, value,
      step)``): every numeric column of every layer is logged as ``pycx/<layer>/<column>`` at
      the epoch step (figures too with `pycx.integrations.tensorboard.log_report`).
    - `on_step`: callables ``f(report, epoch)`` run after each analysis.

    >>> import torch, pycx
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> x, y = torch.randn(64, 4), torch.randint(0, 2, (64,))
    >>> tracker = pycx.Tracker(model, [(x, y)], metrics=["relevance"], kmeans=False)
    >>> _ = tracker.step(0)
    >>> tracker.report.to_pandas()[["epoch", "layer", "n_states"]].shape
    (1, 3)
    """

    def __init__(self, model: "torch.nn.Module", data: Iterable[Any], *, every: int = 1,
                 metrics: "str | Sequence[str]" = "all", labels: Optional[npt.ArrayLike] = None,
                 progress: bool = False, writer: Optional[Any] = None,
                 on_step: "StepCallback | Iterable[StepCallback]" = (),
                 **analyze_kwargs: Any) -> None:
        if writer is not None and not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(f"argument 'writer' must have an add_scalar(tag, value, step) method "
                            f"(a torch.utils.tensorboard SummaryWriter), got {describe(writer)}")
        on_step = list(on_step) if not callable(on_step) else [on_step]
        for i, fn in enumerate(on_step):
            if not callable(fn):
                raise TypeError(f"argument 'on_step[{i}]' must be callable, got {describe(fn)}")
        self.writer = writer
        self.on_step = on_step
        self.progress = bool(progress)
        self.model = model
        self.data = data
        self.every = check_int("every", every, minimum=1)
        _parse_metrics(metrics)  # fail now, not at the first epoch
        self.metrics = metrics
        self.labels = labels
        if "epoch" in analyze_kwargs:
            raise TypeError("Tracker sets 'epoch' itself (the argument of step)")
        if "executor" in analyze_kwargs:  # fail now; a dask Client becomes its executor
            analyze_kwargs["executor"] = check_executor("executor", analyze_kwargs["executor"])
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
                         epoch=int(epoch), progress=self.progress, **kwargs)
        self.report.extend(result)
        if self.writer is not None:
            log_scalars(self.writer, result, int(epoch))
        for fn in self.on_step:
            fn(result, int(epoch))
        return result


def numeric_values(report):
    """``(layer, column, value)`` for every finite numeric value of a report's rows, then
    ``("network", key, value)`` for its network-level numbers.

    >>> rep = Report([{"layer": "relu", "epoch": 0, "h_s": 3.5, "kind": "relu"}])
    >>> [v for v in numeric_values(rep) if v[1] == "h_s"]
    [('relu', 'h_s', 3.5)]
    """
    import math
    skip = {"epoch", "depth"}
    out = []
    for row in report.rows:
        layer = str(row.get("layer", "?"))
        for col, value in row.items():
            if col in skip or isinstance(value, (bool, np.bool_)):
                continue
            if not isinstance(value, (int, float, np.integer, np.floating)):
                continue
            if math.isfinite(float(value)):
                out.append((layer, col, float(value)))
    for net in report.network:
        prefix = "network" if not net.get("model") else f"network/{net['model']}"
        for key, value in net.items():
            if key in skip or isinstance(value, (bool, np.bool_)):
                continue
            if isinstance(value, (int, float, np.integer, np.floating)) and math.isfinite(float(value)):
                out.append((prefix, str(key), float(value)))
    return out


def log_scalars(writer, report, step: int) -> int:
    """Logs every numeric value of `report` to `writer` as ``pycx/<layer>/<column>``; returns
    how many scalars were written."""
    values = numeric_values(report)
    for layer, col, value in values:
        writer.add_scalar(f"pycx/{layer}/{col}", value, step)
    if hasattr(writer, "flush"):
        writer.flush()
    return len(values)
