"""Hugging Face ``transformers.Trainer``: `ComplexityTrainerCallback` records the gates of the
training forward pass itself every `every` optimisation steps (`pycx.StreamingTracker`: no
extra forward, no probe set), and at each epoch end adds the window's values to the
trainer's log history (``pycx/<layer>/<column>``) and to `report`.

>>> from transformers import Trainer                                     # doctest: +SKIP
>>> cb = ComplexityTrainerCallback(every=100)                            # doctest: +SKIP
>>> Trainer(model, args, train_dataset=ds, callbacks=[cb]).train(); cb.report.to_pandas()  # doctest: +SKIP
"""
from __future__ import annotations

from contextlib import ExitStack
from typing import Any, Optional, Sequence

from .._validate import check_int

try:
    from transformers import TrainerCallback as _Callback
except ModuleNotFoundError as exc:  # pragma: no cover - exercised only without transformers
    raise ModuleNotFoundError(
        "pycx.integrations.huggingface needs transformers: pip install transformers") from exc


class ComplexityTrainerCallback(_Callback):
    """Every `every` global steps, the forward passes of that step (all its gradient
    accumulation micro-batches) are recorded and folded into the `pycx.metrics` objects
    (default: `pycx.analysis.streaming.default_metrics`); at each epoch end the window is
    computed (merged over processes under DDP), appended to `report`, added to
    ``state.log_history`` and reset. Other keyword arguments go to `pycx.StreamingTracker`
    (``layers``, ``exclude``, ``covariance_positions``...)."""

    def __init__(self, *, every: int = 100, metrics: Optional[Sequence[Any]] = None,
                 **tracker_kwargs: Any) -> None:
        super().__init__()
        self.every = check_int("every", every, minimum=1)
        self.metrics = metrics
        self.tracker_kwargs = tracker_kwargs
        self.tracker = None
        self._stack = None
        self.report = None

    def _tracker(self, model):
        if self.tracker is None or self.tracker.model is not model:
            from ..analysis.streaming import StreamingTracker
            from ..analysis.table import Report

            self.tracker = StreamingTracker(model, self.metrics, every=self.every,
                                            **self.tracker_kwargs)
            if self.report is None:
                self.report = Report()
        return self.tracker

    def on_step_begin(self, args, state, control, model=None, **kwargs):
        if model is None:
            return
        tracker = self._tracker(model)
        if tracker.due(int(state.global_step)):
            self._stack = ExitStack()
            self._stack.enter_context(tracker.record(int(state.global_step), force=True))

    def on_step_end(self, args, state, control, **kwargs):
        if self._stack is not None:
            stack, self._stack = self._stack, None
            stack.close()

    def on_epoch_end(self, args, state, control, **kwargs):
        if self._stack is not None:  # a step that ended the epoch without on_step_end
            self.on_step_end(args, state, control)
        if self.tracker is None or not self.tracker.recorded_steps:
            return
        from ..analysis.tracker import numeric_values

        epoch = int(state.epoch or 0) if state.epoch is not None else 0
        result = self.tracker.compute(epoch, reset=True)
        self.report.extend(result)
        logs = {f"pycx/{layer}/{col}": value for layer, col, value in numeric_values(result)}
        if logs:
            state.log_history.append({**logs, "epoch": state.epoch, "step": state.global_step})
