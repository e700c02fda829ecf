"""`analyze_checkpoints`: every checkpoint of a training run analysed into one `Report`, on one
machine's cores or on a cluster through any `concurrent.futures.Executor` (a
``dask.distributed`` Client, or its ``get_executor()``).

Work units are (checkpoint, metric group, layer): each checkpoint is loaded and captured in
this process (torch runs here only), then `pycx.analyze` ships its per-layer units (packed
bits, covariance moments; numpy only) to the executor. The next checkpoint is captured while
the workers estimate the previous one. Results are gathered in checkpoint order, so the report
is the same whatever ran where. A failing unit or checkpoint does not stop the others: the
`AnalysisError` at the end names each failure and holds the partial report.

May import: `pycx.analysis.analyze`, `pycx.analysis.table`, `pycx._pool`, the base
layer; torch lazily.
"""
from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterable, Sequence

import numpy as np

from .._validate import describe
from .._pool import InlineExecutor, check_executor, open_executor
from .analyze import (AnalysisError, _failure_message, _parse_estimators, _parse_metrics,
                      analyze)
from .checkpoint import load_checkpoint
from .table import Report

if TYPE_CHECKING:
    import concurrent.futures

    import torch

__all__ = ["analyze_checkpoints"]

# Checkpoints in flight at once: one being captured while the units of another run.
_DRIVERS = 2


def _checkpoint_items(checkpoints):
    """[(epoch, checkpoint)] from a sequence (epochs 0, 1, ...) or a mapping {epoch: ...}."""
    if isinstance(checkpoints, Mapping):
        items = list(checkpoints.items())
        for epoch, _ in items:
            if isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)):
                raise TypeError(f"argument 'checkpoints' must map int epochs to checkpoints, "
                                f"got key {describe(epoch)}")
        items = [(int(e), c) for e, c in items]
    elif isinstance(checkpoints, (list, tuple)):
        items = list(enumerate(checkpoints))
    else:
        raise TypeError(f"argument 'checkpoints' must be a list of checkpoints or a mapping "
                        f"{{epoch: checkpoint}}, got {describe(checkpoints)}")
    if not items:
        raise ValueError("argument 'checkpoints' is empty: nothing to analyse")
    for epoch, ckpt in items:
        if isinstance(ckpt, (str, os.PathLike)):
            if not os.path.isfile(ckpt):
                raise FileNotFoundError(f"checkpoint of epoch {epoch}: no file {os.fspath(ckpt)!r}")
        elif not isinstance(ckpt, Mapping):
            raise TypeError(f"checkpoint of epoch {epoch} must be a file path or a state dict, "
                            f"got {describe(ckpt)}")
    return items


def _where(epoch, ckpt) -> str:
    return (f"checkpoint {os.fspath(ckpt)!r} (epoch {epoch})"
            if isinstance(ckpt, (str, os.PathLike)) else f"checkpoint of epoch {epoch}")


def _load_model(model_factory, epoch, ckpt):
    import torch

    model = model_factory()
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"model_factory() must return a torch.nn.Module, got {describe(model)}")
    return load_checkpoint(model, ckpt, _where(epoch, ckpt), made_by="model_factory")


def analyze_checkpoints(model_factory: "Callable[[], torch.nn.Module]",
                        checkpoints: "Sequence[Any] | Mapping[int, Any]", data: Iterable[Any], *,
                        executor: "str | concurrent.futures.Executor | None" = None,
                        progress: bool = True, **analyze_kwargs: Any) -> Report:
    """`pycx.analyze` of the model at every checkpoint, as one `Report` (rows in checkpoint
    order, column ``epoch`` = the checkpoint's epoch).

    model_factory: callable with no argument returning the (untrained) ``torch.nn.Module``
        into which each checkpoint loads.
    checkpoints: a list (epochs 0, 1, ...) or a mapping ``{epoch: checkpoint}``; a checkpoint
        is a file written by ``torch.save`` (a state dict, or a dict holding one under
        "state_dict", "model_state_dict" or "model": `pycx.analysis.checkpoint`, the loader
        ``pycx analyze --weights`` uses too), or such a dict; files are read with
        ``weights_only=True``.
    data: the inputs, as for `analyze` (iterated once per checkpoint: a DataLoader or a
        list of batches, not a one-shot generator).
    executor: None (one unit after another in this process), "threads", "processes" (a pool
        for the whole call), any `concurrent.futures.Executor`, or a ``dask.distributed``
        ``Client`` for a cluster (``Client("tcp://scheduler:8786")``). Same values whichever.
    Other keyword arguments go to `analyze` (``metrics``, ``layers``, ``labels``,
    ``estimators``, ``seed``, caps, ``model_name``...). As in `Tracker`, the k-means baseline
    (it depends on the inputs only) is computed at the first checkpoint only.

    Raises `AnalysisError` after every other unit has run when a checkpoint does not load or a
    unit fails; its ``report`` holds what was computed and ``failures`` names each checkpoint
    and layer.

    >>> import torch
    >>> factory = lambda: torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU())
    >>> ckpts = [factory().state_dict() for _ in range(3)]  # or paths of torch.save files
    >>> batches = [torch.randn(64, 4)]
    >>> r = analyze_checkpoints(factory, ckpts, batches, metrics="janik", estimators="plugin",
    ...                         executor="threads", progress=False)
    >>> sorted({row["epoch"] for row in r.rows}), len(r.rows)
    ([0, 1, 2], 3)
    """
    import torch

    if not callable(model_factory) or isinstance(model_factory, torch.nn.Module):
        raise TypeError(f"argument 'model_factory' must be a callable with no argument that "
                        f"makes the model (e.g. `lambda: Net()`), got {describe(model_factory)}")
    items = _checkpoint_items(checkpoints)
    for name in ("epoch", "model_or_capture", "data"):
        if name in analyze_kwargs:
            raise TypeError(f"analyze_checkpoints sets {name!r} itself")
    # Argument errors now, not once per checkpoint.
    inspect.signature(analyze).bind(None, data, **analyze_kwargs)
    _parse_metrics(analyze_kwargs.get("metrics", "all"))
    _parse_estimators(analyze_kwargs.get("estimators"))
    executor = check_executor("executor", executor)
    kmeans = analyze_kwargs.pop("kmeans", True)

    def one(k, epoch, ckpt, pool):
        model = _load_model(model_factory, epoch, ckpt)
        return analyze(model, data, epoch=epoch, executor=pool, kmeans=bool(kmeans and k == 0),
                       progress=False, **analyze_kwargs)

    results = [None] * len(items)
    bar = None
    if progress:
        try:
            from tqdm.auto import tqdm
            bar = tqdm(total=len(items), desc="pycx checkpoints", unit="checkpoint")
        except ImportError:
            pass
    with open_executor(executor if executor is not None else InlineExecutor()) as pool:
        if isinstance(pool, InlineExecutor):
            for k, (epoch, ckpt) in enumerate(items):
                results[k] = _outcome(one, k, epoch, ckpt, pool)
                if bar is not None:
                    bar.update(1)
        else:
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(min(_DRIVERS, len(items))) as drivers:
                running = [drivers.submit(_outcome, one, k, epoch, ckpt, pool)
                           for k, (epoch, ckpt) in enumerate(items)]
                for k, fut in enumerate(running):
                    results[k] = fut.result()
                    if bar is not None:
                        bar.update(1)
    if bar is not None:
        bar.close()

    report = Report()
    failures = []
    for (epoch, ckpt), (part, errs) in zip(items, results):
        if part is not None:
            report.extend(part)
        failures.extend((f"{_where(epoch, ckpt)}: {w}" if w else _where(epoch, ckpt), e)
                        for w, e in errs)
    if failures:
        raise AnalysisError(_failure_message(failures), failures, report) from failures[0][1]
    return report


def _outcome(one, k, epoch, ckpt, pool):
    """(report or None, [(where, error)]) of one checkpoint: nothing escapes, so that the other
    checkpoints still run."""
    try:
        return one(k, epoch, ckpt, pool), []
    except AnalysisError as err:
        return err.report, [(w, e) for w, e in err.failures]
    except Exception as err:
        return None, [("", err)]
