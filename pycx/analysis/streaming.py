"""`StreamingTracker`: complexity metrics from the training forward pass itself, every N steps
(issue 30 item 2), beside `Tracker`'s probe-set mode.

On a due step the user's own forward pass runs inside a `pycx.Recorder` (autograd on, the
model's mode untouched, no extra forward); the capture of that batch is folded into the
mergeable `pycx.metrics` objects and dropped. Other steps run with nothing attached.

May import: `pycx.metrics`, `pycx.gates`, `pycx.analysis.table`, the base layer.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Iterator, Optional, Sequence

import numpy as np

from .._validate import check_int, describe
from ..metrics import EffectiveDimension, GateEntropy, Linearity, Metric, Relevance
from .table import Report, _nan_row

if TYPE_CHECKING:
    import torch

    from ..gates.recorder import Recorder
    from ..gates.select import LayerSelection


def default_metrics() -> list:
    """Linearity, effective dimension, plug-in H(Z) of the per-patch rows, resolution and
    relevance: every metric whose state is exact and small to merge.

    >>> [type(m).__name__ for m in default_metrics()]
    ['Linearity', 'EffectiveDimension', 'GateEntropy', 'Relevance']
    """
    return [Linearity(), EffectiveDimension(), GateEntropy("plugin"), Relevance()]


class StreamingTracker:
    """Records the gates of the training batch every `every` steps, inside the user's loop::

        tracker = pycx.StreamingTracker(model, every=100)
        for step, (x, y) in enumerate(loader):
            with tracker.record(step):             # records on steps 0, 100, 200...
                loss = loss_fn(model(x), y)
            loss.backward(); opt.step(); opt.zero_grad()
        report = tracker.compute(epoch)            # one row per layer; then tracker.reset()

    - `metrics`: `pycx.metrics` objects (default `default_metrics()`), updated with the capture
      of each recorded batch; under DDP, ``compute`` merges them over all processes (every
      process must call it).
    - `layers`, `exclude`, `covariance_positions`, `channel_axis`, `seed`, `mask_padding`: as
      in `pycx.capture` (the per-pixel covariance is not kept).
    - `writer`: anything with ``add_scalar(tag, value, step)``: each ``compute`` logs
      ``pycx/<layer>/<column>``.

    ``compute`` returns that window's `pycx.Report` and appends it to ``report``; ``reset``
    starts a new window (``compute(reset=True)`` does both).

    >>> import torch, pycx
    >>> model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    >>> tracker = pycx.StreamingTracker(model, every=2)
    >>> for step in range(4):
    ...     with tracker.record(step):
    ...         loss = model(torch.randn(16, 4)).pow(2).mean()
    ...     loss.backward()
    >>> tracker.recorded_steps, tracker.compute(0).to_pandas()[["layer", "rows_sample"]].values.tolist()
    ([0, 2], [['1', 32]])
    """

    def __init__(self, model: "torch.nn.Module", metrics: Optional[Sequence[Metric]] = None, *,
                 every: int = 100, layers: "LayerSelection" = None,
                 exclude: "LayerSelection" = None, covariance_positions: Optional[int] = 16,
                 channel_axis: "str | int | dict" = "auto", seed: int = 0,
                 mask_padding: bool = True, writer: Optional[Any] = None,
                 model_name: str = "model") -> None:
        from ..gates.tracer import check_model

        check_model(model)
        metrics = default_metrics() if metrics is None else list(metrics)
        for i, m in enumerate(metrics):
            if not isinstance(m, Metric):
                raise TypeError(f"argument 'metrics[{i}]' must be a pycx.metrics.Metric, got "
                                f"{describe(m)}")
        if writer is not None and not callable(getattr(writer, "add_scalar", None)):
            raise TypeError(f"argument 'writer' must have an add_scalar(tag, value, step) method, "
                            f"got {describe(writer)}")
        self.model = model
        self.metrics = metrics
        self.every = check_int("every", every, minimum=1)
        self.writer = writer
        self.model_name = str(model_name)
        self._recorder_kwargs = dict(layers=layers, exclude=exclude, covariance=True,
                                     covariance_positions=covariance_positions,
                                     channel_axis=channel_axis, seed=check_int("seed", seed, minimum=0),
                                     mask_padding=mask_padding)
        self._calls = 0
        self._layers = {}   # name -> (kind, shape) of the layers seen
        self._samples = 0
        self.recorded_steps: list = []
        self.report = Report()

    def due(self, step: Optional[int] = None) -> bool:
        """Whether `step` (default: the count of ``record`` calls so far) is a recording step.

        >>> import torch
        >>> t = StreamingTracker(torch.nn.Sequential(torch.nn.ReLU()), every=10)
        >>> t.due(0), t.due(5), t.due(20)
        (True, False, True)
        """
        step = self._calls if step is None else step
        return step % self.every == 0

    @contextmanager
    def record(self, step: Optional[int] = None, *, force: bool = False) -> "Iterator[Optional[Recorder]]":
        """Context manager around the training forward pass: on a due step (or with `force`)
        the model's calls inside it are recorded (yields the `pycx.Recorder`), and the capture
        updates the metrics on exit; otherwise nothing is attached (yields None). A forward
        that raises records nothing."""
        if step is not None and (isinstance(step, bool) or not isinstance(step, (int, np.integer))):
            raise TypeError(f"argument 'step' must be an int, got {describe(step)}")
        due = force or self.due(None if step is None else int(step))
        self._calls += 1
        if not due:
            yield None
            return
        from ..gates.recorder import Recorder

        recorder = Recorder(self.model, **self._recorder_kwargs)
        with recorder:
            yield recorder
        if recorder.n_samples:
            self.update(recorder.result())
            self.recorded_steps.append(self._calls - 1 if step is None else int(step))

    def update(self, capture: Any) -> None:
        """Folds one `pycx.Capture` into every metric (``record`` calls it)."""
        for m in self.metrics:
            m.update(capture)
        for rec in capture:
            self._layers.setdefault(rec.name, (rec.kind, rec.shape))
        self._samples += capture.n_samples

    def compute(self, epoch: int = 0, *, reset: bool = False) -> Report:
        """One row per layer (columns of `pycx.Report`: ``rows_sample`` is the number of
        samples recorded in this window), appended to ``report`` and logged to `writer`."""
        if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
            raise TypeError(f"argument 'epoch' must be an int, got {describe(epoch)}")
        values = [(m, m.compute()) for m in self.metrics]
        rows = []
        for depth, (name, (kind, shape)) in enumerate(self._layers.items()):
            row = _nan_row()
            row.update(model=self.model_name, epoch=int(epoch), layer=name, kind=kind,
                       depth=depth, shape="x".join(str(d) for d in shape), units=int(shape[0]),
                       rows_sample=self._samples)
            for m, computed in values:
                if name in computed:
                    row.update(m.columns(computed[name]))
            rows.append(row)
        result = Report(rows, settings={"streaming": {"every": self.every,
                                                      "recorded_steps": list(self.recorded_steps),
                                                      "metrics": [repr(m) for m in self.metrics]}})
        self.report.extend(result)
        if self.writer is not None:
            from .tracker import log_scalars
            log_scalars(self.writer, result, int(epoch))
        if reset:
            self.reset()
        return result

    def reset(self) -> None:
        """Starts a new window: every metric's state and the sample count are cleared."""
        for m in self.metrics:
            m.reset()
        self._layers = {}
        self._samples = 0
        self.recorded_steps = []
