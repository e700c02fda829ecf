"""The metric groups as units, and the one driver that runs them.

Each group is a module of this package (`group_janik`, `group_relevance`, `group_kde`) with one
signature, ``run(records, ctx) -> rows``: the captured layers (`pycx.gates.result.LayerRecord`,
in depth order) and a `GroupContext` in, one dict of column values per layer out (a layer whose
work unit failed gets no values: its columns stay NaN). Curves and settings a group adds go to
``ctx.curves`` / ``ctx.settings``, the time of each stage to ``ctx.timer``, and (with an
executor) failed units to ``ctx.failures``. `run_groups` runs the groups one after another, or,
with an executor, side by side on it; either way curves and timings are merged in group order,
so the report is laid out the same.

May import: `pycx.estimators` (the pool), the base layer.
"""
from __future__ import annotations

import dataclasses
import importlib
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Any, Optional

from .._pool import InlineExecutor, open_executor

# Metric group -> the module that computes it (imported when the group runs).
GROUP_MODULES = {"janik": "pycx.analysis.group_janik",
                 "relevance": "pycx.analysis.group_relevance",
                 "kde": "pycx.analysis.group_kde"}


class Timings:
    """Seconds per stage, summed over calls; ``with timer("stage"): ...`` times one."""

    def __init__(self):
        self.seconds = OrderedDict()

    def add(self, seconds):
        for stage, value in seconds.items():
            self.seconds[stage] = self.seconds.get(stage, 0.0) + value

    @contextmanager
    def __call__(self, stage):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - start


@dataclasses.dataclass
class GroupContext:
    """What every metric group reads (the analysis' settings) and writes (curves, settings,
    timings, failures). `executor`: None (units run in this thread, the first error raises)
    or an open `concurrent.futures.Executor` (failures are collected in `failures`)."""
    est: dict                    # the estimator settings (`pycx.estimators.registry.parse_estimators`)
    seed: int
    progress: bool
    n_samples: int
    labels: Any = None           # checked labels (one per sample) or None
    inputs: Any = None           # the k-means baseline's inputs, or None (not computed)
    patch_rows: Optional[int] = None
    kde_rows: Optional[int] = None
    pixel_map: bool = False
    model_name: str = "model"
    epoch: Optional[int] = None
    settings: dict = dataclasses.field(default_factory=OrderedDict)
    curves: dict = dataclasses.field(default_factory=dict)
    timer: Timings = dataclasses.field(default_factory=Timings)
    executor: Any = None
    failures: list = dataclasses.field(default_factory=list)

    @property
    def errors(self) -> str:
        """`run_units`' error mode: raise in a plain loop, collect on an executor."""
        return "raise" if self.executor is None else "collect"


def run_groups(groups, records, ctx: GroupContext, executor=None) -> list:
    """Runs the metric groups `groups` on `records`: ``[rows of each group]``, in group order.

    executor None: one group after another in this thread. Otherwise (anything
    `pycx._pool.check_executor` accepted) the executor is opened for this call and
    the groups run side by side, each submitting its units to it, then doing its in-process
    part (the groups write disjoint columns). Each group gets its own curves and timer, merged
    into ``ctx``'s in group order."""
    run = [importlib.import_module(GROUP_MODULES[g]).run for g in groups]
    parts = [dataclasses.replace(ctx, curves={}, timer=Timings()) for _ in groups]
    if executor is None:
        out = [fn(records, part) for fn, part in zip(run, parts)]
    else:
        with open_executor(executor) as pool:
            for part in parts:
                part.executor = pool
            if isinstance(pool, InlineExecutor):  # in this thread, in order
                out = [fn(records, part) for fn, part in zip(run, parts)]
            else:
                from concurrent.futures import ThreadPoolExecutor

                with ThreadPoolExecutor(max(1, len(run))) as drivers:
                    running = [drivers.submit(fn, records, part) for fn, part in zip(run, parts)]
                    out = [fut.result() for fut in running]
    for part in parts:
        ctx.curves.update(part.curves)
        ctx.timer.add(part.timer.seconds)
    return out
