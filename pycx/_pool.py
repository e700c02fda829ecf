"""Independent work units on a `concurrent.futures.Executor`: the argument check, pools made
for one call ("threads", "processes"), largest-first submission, results in input order.

Any `concurrent.futures.Executor` works, including a ``dask.distributed`` client's
``client.get_executor()`` (a ``Client`` itself is accepted and turned into its executor).
Units are plain functions of numpy data, so that process and cluster workers need neither
torch nor the caller's objects. Base layer (estimators and analysis both run units here):
may import the base layer only.
"""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
from contextlib import contextmanager
from typing import Any, Callable, NamedTuple

from ._progress import progress_bar
from ._validate import describe

EXECUTOR_NAMES = ("threads", "processes")


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without sched_getaffinity
        return max(1, os.cpu_count() or 1)


class Unit(NamedTuple):
    """One independent piece of work: ``fn(*args)``; ``key`` names it in errors and results,
    ``cost`` (any comparable number) orders the submission, largest first."""
    key: Any
    cost: float
    fn: Callable
    args: tuple


class UnitFailure(NamedTuple):
    """What a unit that raised returns with ``errors="collect"``."""
    key: Any
    error: BaseException


class InlineExecutor(cf.Executor):
    """Runs each submitted call at once, in the caller's thread (the executor of "no
    executor" where a code path wants one)."""

    def submit(self, fn, /, *args, **kwargs):
        fut = cf.Future()
        try:
            fut.set_result(fn(*args, **kwargs))
        except BaseException as err:  # delivered through the future, as a pool would
            fut.set_exception(err)
        return fut


def _is_dask_client(obj) -> bool:
    return type(obj).__module__.startswith("distributed") and hasattr(obj, "get_executor")


def check_executor(name: str, executor):
    """``None``, one of `EXECUTOR_NAMES`, a `concurrent.futures.Executor`, or a
    ``dask.distributed.Client`` (returned as its executor); anything else is a TypeError."""
    if executor is None or isinstance(executor, cf.Executor):
        return executor
    if isinstance(executor, str):
        if executor in EXECUTOR_NAMES:
            return executor
        raise ValueError(f"argument '{name}' must be None, one of {list(EXECUTOR_NAMES)} or a "
                         f"concurrent.futures.Executor, got {executor!r}")
    if _is_dask_client(executor):
        return executor.get_executor()
    raise TypeError(f"argument '{name}' must be None, one of {list(EXECUTOR_NAMES)}, a "
                    f"concurrent.futures.Executor (ThreadPoolExecutor, ProcessPoolExecutor, a "
                    f"dask.distributed Client's get_executor()) or a dask Client, got "
                    f"{describe(executor)}")


@contextmanager
def open_executor(executor, workers=None):
    """The executor to submit to: a checked executor as it is (the caller owns it), or a pool
    made for the duration of the block for "threads" / "processes" (one worker per available
    core). Processes start with "forkserver" where available: a forked child of a process
    that runs torch or OpenMP threads can deadlock."""
    if executor is None or isinstance(executor, cf.Executor):
        yield executor
        return
    workers = workers or available_cores()
    if executor == "threads":
        pool = cf.ThreadPoolExecutor(workers)
    else:
        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        pool = cf.ProcessPoolExecutor(workers, mp_context=ctx)
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _call(fn, args):
    # Positional only: a dask executor would consume keyword names such as `key` or `pure`.
    return fn(*args)


def submit(executor, fn, *args):
    """``executor.submit`` of ``fn(*args)``, as every unit is submitted (see `_call`)."""
    return executor.submit(_call, fn, args)


def run_units(units, executor, *, errors="raise", progress=False, desc="units", unit="unit",
              total=None):
    """Runs `units` (iterable of `Unit`) and yields ``(unit, result)`` in input order.

    executor None: each unit runs when the iteration reaches it (nothing is built ahead, the
    memory profile of a plain loop). Otherwise every unit is submitted at once, largest
    ``cost`` first (ties: input order), and the results are yielded in input order once all
    are in. errors="raise": the first failure (in completion order) cancels what has not
    started and raises; "collect": a failed unit yields a `UnitFailure` as its result.
    `total`: the number of units, for the progress bar of a lazy iterable.
    """
    if executor is None:
        bar = progress_bar(progress, total=total, desc=desc, unit=unit)
        for u in units:
            try:
                result = u.fn(*u.args)
            except Exception as err:
                if errors == "raise":
                    raise
                result = UnitFailure(u.key, err)
            bar.update(1)
            yield u, result
        bar.close()
        return
    units = list(units)
    order = sorted(range(len(units)), key=lambda j: (-units[j].cost, j))
    futures = {}
    for j in order:
        futures[submit(executor, units[j].fn, *units[j].args)] = j
    results = [None] * len(units)
    bar = progress_bar(progress, total=len(units), desc=desc, unit=unit)
    try:
        for fut in cf.as_completed(futures):
            j = futures[fut]
            try:
                results[j] = fut.result()
            except Exception as err:
                if errors == "raise":
                    for other in futures:
                        other.cancel()
                    raise
                results[j] = UnitFailure(units[j].key, err)
            bar.update(1)
    finally:
        bar.close()
    for j, u in enumerate(units):
        yield u, results[j]

