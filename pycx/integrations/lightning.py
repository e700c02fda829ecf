"""PyTorch Lightning: `ComplexityCallback` runs `pycx.analyze` at epoch ends on held-out data,
logs each layer's values through the trainer's logger, keeps the `Report`, and writes the HTML
report when fitting ends.

>>> import lightning as L                                                # doctest: +SKIP
>>> cb = ComplexityCallback(val_loader, every=1, metrics=["janik", "relevance"], out="report")  # doctest: +SKIP
>>> L.Trainer(max_epochs=10, callbacks=[cb]).fit(module, train_loader)   # doctest: +SKIP
"""
from __future__ import annotations

from typing import Optional

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
