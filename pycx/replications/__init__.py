"""Replications of the papers' experiments, one module per figure.

Owns: the registry (`available`, `run`) and the findings format (`pycx.replications.findings`).
May import: anything below the CLI (analysis, estimators, capture, models, datasets, train,
report); never `pycx.cli`.

A replication is a module ``pycx/replications/<firstauthor><year>_<figure>.py`` (the name
``<firstauthor><year>-<figure>`` on the command line: ``pycx replicate song2018-fig2``). It
defines ``TITLE`` (one line), ``PAPER`` (the paper it replicates), ``RULES`` (its claims,
each a `findings.Rule` with a stable key and its verdict rule, written before the full run) and
``run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict``, which writes its figures
and ``findings.json`` into ``out`` and returns the findings dict (see `findings.make_findings`).
Modules are discovered by name, so adding one needs no edit here.
"""
from __future__ import annotations

import importlib
import pkgutil
import time
from pathlib import Path


# Largest base seed: replications derive their seeds by adding run and layer numbers, and
# torch's generators take at most 2^64 - 1, so half the range is left for those offsets.
MAX_SEED = 2 ** 63 - 1


def _module_name(name: str) -> str:
    return name.replace("-", "_")


def available() -> list:
    """Names of the replications shipped with pycx, sorted.

    >>> isinstance(available(), list)
    True
    """
    here = Path(__file__).parent
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules([str(here)])
                  if not m.name.startswith("_") and m.name != "findings")


def describe(name: str) -> str:
    """The one-line title of replication `name`."""
    return _load(name).TITLE


def _load(name: str):
    if not isinstance(name, str) or name not in available():
        raise ValueError(f"name: unknown replication {name!r}; available: {', '.join(available())}")
    return importlib.import_module(f"{__name__}.{_module_name(name)}")


def run(name: str, *, quick: bool = False, out=None, seed: int = 0,
        progress: bool = True) -> dict:
    """Runs replication `name`, writes its figures and ``findings.json`` into `out` (default
    ``replication-<name>``) and returns the findings dict."""
    from .._validate import check_int
    from .findings import check_claims, write_findings
    module = _load(name)
    seed = check_int("seed", seed, minimum=0)
    if seed > MAX_SEED:
        raise ValueError(f"argument 'seed' must be <= 2^63 - 1 ({MAX_SEED}), got {seed}")
    out = Path(out if out is not None else f"replication-{name}")
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result = module.run(out, quick=bool(quick), seed=int(seed), progress=bool(progress))
    # Every verdict must be the one its rule computes from the claim's measured values.
    check_claims(result["claims"], module.RULES)
    result.setdefault("wall_time_s", round(time.perf_counter() - start, 2))
    # Rewritten so that findings.json always carries the run's wall time.
    write_findings(out, result)
    return result


__all__ = ["MAX_SEED", "available", "describe", "run"]
