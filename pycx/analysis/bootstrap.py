"""Bootstrap intervals (issue 30 item 5, opt-in; not computed by `analyze`): the effective
dimension of per-patch float rows, and the resolution H[s] and relevance H[k] of per-sample
gate states, each recomputed on rows drawn with replacement (docs/definitions.md §2, §3).

The interval is the percentile interval of the bootstrap values at ``level``; ``estimate`` is
the value on the data as given. Resample b uses ``numpy.random.default_rng(seed)``'s b-th draw
of ``integers(0, M, M)``, so that a test can redo the resamples.

May import: numpy, the estimators, the reference, the base layer.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple, Tuple

import numpy as np
import numpy.typing as npt


class Interval(NamedTuple):
    """A value on the data as given, its bootstrap percentile interval and standard deviation."""

    estimate: float
    low: float
    high: float
    std: float
    n_boot: int
    level: float


def _options(n_boot, level, seed) -> None:
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 2:
        raise ValueError(f"argument 'n_boot' must be an integer >= 2, got {n_boot!r}")
    if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0.0 < level < 1.0:
        raise ValueError(f"argument 'level' must be a number in (0, 1), got {level!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"argument 'seed' must be a non-negative integer, got {seed!r}")


def _resamples(m: int, n_boot: int, seed: int):
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield rng.integers(0, m, m)


def _interval(estimate: float, values, n_boot: int, level: float) -> Interval:
    v = np.asarray(values, dtype=np.float64)
    low, high = np.quantile(v, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return Interval(float(estimate), float(low), float(high), float(v.std(ddof=1)), int(n_boot),
                    float(level))


def bootstrap_effective_dimension(rows: npt.ArrayLike, *, n_boot: int = 200,
                                  level: float = 0.95, seed: int = 0) -> Interval:
    """The effective dimension (`pycx.effective_dimension`) of float rows ``(M, C)`` (a
    layer's per-patch outputs) with a bootstrap interval over the rows.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((400, 3)) * [1.0, 1.0, 0.1]
    >>> iv = bootstrap_effective_dimension(x, n_boot=50)
    >>> iv.low <= iv.estimate <= iv.high, round(iv.estimate, 1)
    (True, 2.1)
    """
    from ..estimators.janik import effective_dimension

    _options(n_boot, level, seed)
    x = np.asarray(rows)
    if x.ndim != 2 or x.shape[0] < 2 or x.shape[1] == 0 or x.dtype.kind != "f":
        raise ValueError(f"argument 'rows' must be float rows (M, C) with M >= 2 and C >= 1, "
                         f"got shape {x.shape} dtype {x.dtype}")
    estimate = effective_dimension(x)
    values = [effective_dimension(x[i]) for i in _resamples(x.shape[0], n_boot, seed)]
    return _interval(estimate, values, n_boot, level)


def _state_ids(states) -> np.ndarray:
    s = np.asarray(states)
    if s.ndim == 1 and s.dtype.kind in "iub":
        return np.unique(s, return_inverse=True)[1].reshape(-1)
    if s.ndim == 2 and s.dtype.kind in "iub" and s.shape[1] > 0:
        return np.unique(s, axis=0, return_inverse=True)[1].reshape(-1)
    raise ValueError(f"argument 'states' must be per-sample states: integer ids (M,) or gate "
                     f"rows (M, bits) of bools or integers, got shape {s.shape} dtype {s.dtype}")


def bootstrap_resolution_relevance(states: npt.ArrayLike, *, n_boot: int = 200,
                                   level: float = 0.95, seed: int = 0
                                   ) -> Tuple[Interval, Interval]:
    """``(H[s], H[k])`` in bits (`pycx.resolution_relevance`, definitions §3) of per-sample
    states, each with a bootstrap interval over the samples. ``states``: one state id per
    sample ``(M,)``, or one gate row per sample ``(M, bits)``.

    >>> import numpy as np
    >>> s = np.random.default_rng(0).zipf(2.0, 500) % 50
    >>> hs, hk = bootstrap_resolution_relevance(s, n_boot=50)
    >>> hs.low <= hs.estimate <= hs.high, hk.low <= hk.estimate <= hk.high
    (True, True)
    """
    from ..reference.relevance import resolution_relevance

    _options(n_boot, level, seed)
    ids = _state_ids(states)
    if ids.shape[0] < 2:
        raise ValueError(f"argument 'states' needs at least 2 samples, got {ids.shape[0]}")
    n_states = int(ids.max()) + 1

    def entropies(sample_ids):
        counts = np.bincount(sample_ids, minlength=n_states)
        r = resolution_relevance(counts[counts > 0])
        return r.h_s, r.h_k

    estimate = entropies(ids)
    values = np.array([entropies(ids[i]) for i in _resamples(ids.shape[0], n_boot, seed)])
    return (_interval(estimate[0], values[:, 0], n_boot, level),
            _interval(estimate[1], values[:, 1], n_boot, level))
