"""PyTorch Lightning: `ComplexityCallback` runs `pycx.analyze` at epoch ends on held-out data,
logs each layer's values through the trainer's logger, keeps the `Report`, and writes the HTML
report when fitting ends.

>>> import lightning as L                                                # doctest: +SKIP
>>> cb = ComplexityCallback(val_loader, every=1, metrics=["janik", "relevance"], out="report")  # doctest: +SKIP
>>> L.Trainer(max_epochs=10, callbacks=[cb]).fit(module, train_loader)   # doctest: +SKIP
"""
from __future__ import annotations

from typing import Any, Optional

from .._validate import check_int

try:  # the base class comes from whichever Lightning is installed
    from lightning.pytorch.callbacks import Callback as _Callback
except ModuleNotFoundError:  # pragma: no cover - exercised only without lightning
    try:
        from pytorch_lightning.callbacks import Callback as _Callback
    except ModuleNotFoundError as exc:
        raise ModuleNotFoundError(
            "pycx.integrations.lightning needs Lightning: pip install \"pycx[integrations]\"") from exc


class ComplexityCallback(_Callback):
    """Analyses the LightningModule every `every` epochs on `data` (a loader or an iterable of
    ``(x, y)`` batches), logs ``pycx/<layer>/<column>`` through ``pl_module.log_dict`` (so any
    logger the trainer has receives them), and keeps everything in `report`. With `out`, the
    HTML report is written there when fitting ends. Other keyword arguments go to
    `pycx.analyze` (e.g. ``max_samples``, ``metrics``)."""

    def __init__(self, data, *, every: int = 1, metrics="all", out: Optional[str] = None,
                 progress: bool = False, **analyze_kwargs):
        super().__init__()
        from ..analysis.analyze import _parse_metrics
        from ..analysis.table import Report
        self.data = data
        self.every = check_int("every", every, minimum=1)
        _parse_metrics(metrics)
        self.metrics = metrics
        if out is not None:  # refuse a bad folder now, not after training
            from ..report.html import check_report_dir
            check_report_dir(out)
        self.out = out
        self.progress = bool(progress)
        self.kwargs = analyze_kwargs
        self.report = Report()
        self.logged = {}  # epoch -> number of values logged

    def on_train_epoch_end(self, trainer, pl_module):
        epoch = int(trainer.current_epoch)
        if epoch % self.every:
            return
        from ..analysis.analyze import analyze
        from ..analysis.tracker import numeric_values
        was_training = pl_module.training
        pl_module.eval()
        try:
            first = not self.report.rows
            kwargs = dict(self.kwargs)
            kwargs["kmeans"] = kwargs.get("kmeans", True) and first
            result = analyze(pl_module, self.data, metrics=self.metrics, epoch=epoch,
                             progress=self.progress, **kwargs)
        finally:
            pl_module.train(was_training)
        self.report.extend(result)
        values = {f"pycx/{layer}/{col}": value for layer, col, value in numeric_values(result)}
        if values and trainer.logger is not None:
            trainer.logger.log_metrics(values, step=trainer.global_step)
        self.logged[epoch] = len(values)

    def on_fit_end(self, trainer, pl_module):
        if self.out is not None and self.report.rows:
            from ..report.html import write_report
            write_report([self.report], self.out, title="pycx report (Lightning)", progress=False)


def log_metrics(module: Any, metrics: Any, *, prefix: Optional[str] = None,
                reset: bool = True, **log_kwargs: Any) -> dict:
    """Logs `pycx.metrics` objects through a LightningModule's ``self.log_dict`` (so the
    trainer's loggers, ``trainer.callback_metrics`` and checkpoint monitors see them), e.g. at
    the end of a training epoch whose batches updated them; then resets them (``reset=False``
    keeps them). Names: ``[<prefix>/]<metric's as_log name>`` (`pycx.metrics.Metric.as_log`).
    Under DDP every process must call it: each metric's ``compute`` merges the processes'
    states, so the values are already global (``sync_dist`` is not needed). Other keyword
    arguments go to ``log_dict`` (``on_epoch``, ``prog_bar``, ...). Returns what was logged.

    >>> class Net(L.LightningModule):                                     # doctest: +SKIP
    ...     def on_train_epoch_end(self):
    ...         log_metrics(self, self.tracker.metrics)   # a pycx.StreamingTracker's metrics
    """
    from ..metrics import Metric

    single = isinstance(metrics, Metric)
    items = [metrics] if single else list(metrics)
    for m in items:
        if not isinstance(m, Metric):
            raise TypeError(f"argument 'metrics' must be pycx.metrics objects, got "
                            f"{type(m).__name__}")
    if prefix is not None and not isinstance(prefix, str):
        raise TypeError(f"argument 'prefix' must be a string or None, got {type(prefix).__name__}")
    values, owner = {}, {}
    for m in items:
        for name, v in m.as_log().items():
            name = f"{prefix}/{name}" if prefix else name
            if name in values:
                raise ValueError(f"argument 'metrics': {owner[name]!r} and {m!r} both log "
                                 f"{name!r}; log one of them with its own prefix "
                                 "(module.log_dict(metric.as_log('name')))")
            values[name], owner[name] = v, m
    if values:
        module.log_dict(values, **log_kwargs)
    if reset:
        for m in items:
            m.reset()
    return values
