"""Streaming (batched) population covariance for the effective dimension (docs/definitions.md §2).

`Covariance` keeps, per batch entry, the running ``(count, mean, M2)`` where ``M2`` is the
centred second moment; ``covariance() = M2 / count``. Each update is cut into row blocks. In one
pass over a block (C++: strided float32/float64 input read in place, converted to float64) the
rows are shifted by ``K``, the mean of the block's first ~1/16 rows, and the shifted sums ``d``
are accumulated; numpy's BLAS computes ``G = (X - K)^T (X - K)`` (``dsyrk`` for the unbatched
case); the block's mean is ``K + d/n`` and its M2 ``G - d d^T / n``, folded into the running
state with Chan et al.'s pairwise formula (C++, ``csrc/include/pycx/covariance_math.hpp``).
Raw ``E[xx] - E[x]E[x]`` is never formed: because ``K`` is the mean of some of the block's own
rows, the shifted product loses at most a factor ``1 + n/m`` (~17) of relative precision
against exact centring, whatever the offset or drift of the data (argument in
``csrc/include/pycx/covariance.hpp``), so a large common offset (1e6 + noise) costs no precision.
One pass instead of two (mean, then centre) is what keeps the update within 1.5x of the raw
product.

Why BLAS for the product: it is the bulk of the work (rows * dim^2 / 2 multiply-adds) and a
tuned ``dsyrk`` is what the speed goal is measured against; a hand-written kernel compiled with
baseline flags plus AVX2/AVX-512 variants would have to match OpenBLAS' packing and register
blocking to stay within the goal. Centring, dtype conversion, strides and the merge are ours.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import _cpu
from .._validate import (FLOAT_DTYPES, as_host_array, check_dtype, check_int, check_threads, describe,
                         is_device_array, is_torch_tensor)
from .device import _array as _device_array

# Target size (float64 elements) of one centred block: large enough that BLAS runs at full
# speed, small enough (8 MiB) that the block is still in cache when BLAS reads it.
_BLOCK_ELEMENTS = 1 << 20
_MIN_BLOCK_ROWS = 256


def _check_batch_shape(batch_shape) -> tuple:
    if isinstance(batch_shape, numbers.Integral) and not isinstance(batch_shape, bool):
        batch_shape = (batch_shape,)
    try:
        shape = tuple(batch_shape)
    except TypeError:
        raise TypeError(f"argument 'batch_shape' must be a tuple of integers, got "
                        f"{type(batch_shape).__name__}") from None
    return tuple(check_int(f"batch_shape[{i}]", s, minimum=0) for i, s in enumerate(shape))


_TINY = np.finfo(np.float64).tiny
_ROUNDING = 1e-12  # deviations below this fraction of the shift are its rounding error


def _check_squares(arr, gram, shift, sums, n) -> None:
    """Refuses a block whose second moments left the float64 range: an overflowing square
    (infinite or NaN products) or a block whose every deviation's square underflows (all
    variances subnormal or flushed to 0 while the deviations are not 0), either of which
    would turn into a silently wrong covariance. Deviations at the rounding level of the
    shift (constant rows whose block mean is off by an ulp) count as none."""
    if not np.isfinite(gram).all():
        raise ValueError(f"argument 'x': the squares of its deviations overflow float64 "
                         f"({describe(arr)}, largest |x| {float(np.abs(arr).max()):.3g}); "
                         "rescale the rows (the effective dimension does not depend on scale)")
    top = np.diagonal(gram, axis1=-2, axis2=-1).max(axis=-1)
    if not (top < _TINY).any():
        return
    spread = np.maximum(np.sqrt(top), np.abs(sums).max(axis=-1) / n)
    level = _ROUNDING * np.abs(shift).max(axis=-1)
    if ((top < _TINY) & (spread > level)).any():
        raise ValueError(f"argument 'x': the squares of its deviations underflow float64 "
                         f"({describe(arr)}, largest |x| {float(np.abs(arr).max()):.3g}); "
                         "rescale the rows (the effective dimension does not depend on scale)")


class Covariance:
    """Streaming population covariance of ``dim``-dimensional rows, one per batch entry.

    ``update(x)`` takes ``(rows, dim)`` (or ``(*batch_shape, rows, dim)``) float32/float64 rows
    (numpy or CPU torch tensors, read in place through their strides); ``merge(other)``
    combines accumulators filled elsewhere (threads, processes, machines). ``covariance()``
    is the population covariance (divided by ``count``) in float64.

    With ``batch_shape=(H, W)`` and updates of shape ``(H, W, N, C)`` this is the pixel-wise
    covariance (docs/definitions.md §2): one ``C x C`` covariance per spatial position, e.g. from an
    ``(N, C, H, W)`` output ``y`` via ``y.transpose(2, 3, 0, 1)`` (a view, no copy).

    >>> x = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 2.0]])
    >>> cov = Covariance(2).update(x[:1]).merge(Covariance(2).update(x[1:]))
    >>> cov.count, cov.covariance().tolist(), np.allclose(cov.covariance(), np.cov(x.T, bias=True))
    (4, [[1.0, 0.0], [0.0, 1.0]], True)
    """

    __slots__ = ("dim", "batch_shape", "count", "_mean", "_m2")

    def __init__(self, dim: int, batch_shape: tuple[int, ...] = ()) -> None:
        self.dim = check_int("dim", dim, minimum=1)
        self.batch_shape = _check_batch_shape(batch_shape)
        self.count = 0
        self._mean = np.zeros(self.batch_shape + (self.dim,))
        self._m2 = np.zeros(self.batch_shape + (self.dim, self.dim))

    # -- accumulation ------------------------------------------------------------------
    def _check_rows(self, x) -> np.ndarray:
        if is_torch_tensor(x) and str(x.dtype) in ("torch.float16", "torch.bfloat16"):
            x = x.detach().float()  # mixed-precision outputs: exact in float32 (one copy)
        arr = as_host_array("x", x)
        if arr.dtype == np.float16:
            arr = arr.astype(np.float32)
        check_dtype("x", arr, FLOAT_DTYPES)
        want = self.batch_shape + ("rows", self.dim)
        if (arr.ndim != len(self.batch_shape) + 2 or arr.shape[:-2] != self.batch_shape
                or arr.shape[-1] != self.dim):
            raise ValueError(f"argument 'x' must have shape {want} (batch_shape + (rows, dim)), "
                             f"got {describe(arr)}")
        if any(s % arr.itemsize for s in arr.strides):
            raise ValueError(f"argument 'x' has strides {arr.strides} that are not multiples of its "
                             "item size; pass np.ascontiguousarray(x)")
        return arr

    def update(self, x, *, threads: int | None = None) -> "Covariance":
        """Adds the rows of ``x`` (float16/bfloat16 are widened to float32, exactly); an
        update with zero rows changes nothing. NaN or infinite
        values, and rows whose squared deviations overflow (or all underflow) float64, raise
        ValueError and leave the accumulator unchanged. ``threads`` (default 1)
        is for the centring only; the product uses numpy's BLAS threads. Returns self."""
        if is_device_array(x):  # GPU rows: the state moves to their device and is updated there
            check_threads(threads)
            from .device import covariance as device_covariance
            device_covariance.covariance_update_into(self, x)
            return self
        if _device_array.is_device(self._mean):
            raise ValueError(f"argument 'x' is a host array but this accumulator's state is on a GPU "
                             f"({describe(x)}); pass device rows or merge into a host accumulator")
        arr = self._check_rows(x)
        # One thread by default for the centring and merges: the product (the bulk of the work)
        # runs on BLAS' own thread pool, and alternating it with an OpenMP pool on the same
        # cores makes each wait on the other's spinning threads (measured: 3-8x slower on 2 cores).
        nthreads = check_threads(threads) or 1
        rows = arr.shape[-2]
        batch = int(np.prod(self.batch_shape, dtype=np.int64))
        if rows == 0 or batch == 0:
            if batch == 0:
                self.count += rows
            return self
        block = min(rows, max(_MIN_BLOCK_ROWS, _BLOCK_ELEMENTS // (batch * self.dim)))
        scratch = np.empty(batch * block * self.dim)
        block_shift = np.empty((batch, self.dim))
        block_sums = np.empty((batch, self.dim))
        block_gram = np.empty((batch, self.dim, self.dim))
        # The update is accumulated apart and merged at the end, so a bad value found in a
        # later block leaves the accumulator as it was.
        count = 0
        mean = np.zeros((batch, self.dim))
        m2 = np.zeros((batch, self.dim, self.dim))
        for row0 in range(0, rows, block):
            n = min(block, rows - row0)
            shifted = scratch[: batch * n * self.dim].reshape(batch, n, self.dim)
            if not _cpu.covariance_shift(arr, row0, n, shifted, block_shift, block_sums, nthreads):
                bad = "NaN" if np.isnan(arr).any() else "infinite values (or values whose sum overflows)"
                raise ValueError(f"argument 'x' contains {bad} ({describe(arr)})")
            with np.errstate(over="ignore", invalid="ignore"):  # checked just below
                if batch == 1:
                    s = shifted[0]
                    np.matmul(s.T, s, out=block_gram[0])  # numpy runs dsyrk for a.T @ a
                else:
                    np.matmul(shifted.transpose(0, 2, 1), shifted, out=block_gram)
            _check_squares(arr, block_gram, block_shift, block_sums, n)
            if count == 0:
                # The first block is the state itself: mean K + d/n, M2 G - n o o^T with
                # o = d/n. Not through the merge, whose 0 * delta^2 is NaN once the squared
                # mean (not the spread) overflows, e.g. rows near 1e160.
                o = block_sums / n
                mean[...] = block_shift + o
                m2[...] = block_gram - n * (o[:, :, None] * o[:, None, :])
            else:
                _cpu.covariance_merge_shifted(mean, m2, count, block_shift, block_sums,
                                              block_gram, n, nthreads)
            count += n
        self._merge_arrays(mean.reshape(self._mean.shape), m2.reshape(self._m2.shape), count, nthreads)
        return self

    def _merge_arrays(self, mean, m2, count, threads=1) -> None:
        # The merge adds n1 n2 / n (mean difference)^2, which can overflow where neither
        # part did: then the accumulator is restored and the merge refused.
        if count == 0:
            return
        old_mean, old_m2 = self._mean.copy(), self._m2.copy()
        if self.count == 0:  # a copy: the formula's 0 * delta^2 is NaN once delta^2 overflows
            self._mean[...], self._m2[...] = mean, m2
        else:
            _cpu.covariance_merge(self._mean, self._m2, self.count, mean, m2, count, threads)
        if not (np.isfinite(self._m2).all() and np.isfinite(self._mean).all()):
            self._mean[...], self._m2[...] = old_mean, old_m2
            raise ValueError("the merged second moments overflow float64 (the rows' means lie "
                             "too far apart); rescale the rows first")
        self.count += count

    def merge(self, other: "Covariance") -> "Covariance":
        """Adds the rows accumulated by ``other`` (same ``dim`` and ``batch_shape``): the result
        equals one accumulator fed all rows (up to rounding). Returns self."""
        if not isinstance(other, Covariance):
            raise TypeError(f"argument 'other' must be a Covariance, got {type(other).__name__}")
        if other.dim != self.dim or other.batch_shape != self.batch_shape:
            raise ValueError(f"argument 'other' has dim={other.dim}, batch_shape={other.batch_shape}; "
                             f"expected dim={self.dim}, batch_shape={self.batch_shape}")
        if _device_array.is_device(self._mean) or _device_array.is_device(other._mean):
            from .device import covariance as device_covariance
            device_covariance.covariance_merge_into(self, other)  # moves other's state to self's side
            return self
        mean, m2 = other._mean, other._m2
        if other is self:  # the merge updates in place; it must not read what it writes
            mean, m2 = mean.copy(), m2.copy()
        self._merge_arrays(mean, m2, other.count)
        return self

    # -- results -----------------------------------------------------------------------
    @property
    def mean(self) -> np.ndarray:
        """``(*batch_shape, dim)`` float64 mean of the rows seen (a copy; on the GPU when the
        state is)."""
        return _device_array.copy(self._mean) if _device_array.is_device(self._mean) else self._mean.copy()

    def covariance(self) -> np.ndarray:
        """``(*batch_shape, dim, dim)`` float64 population covariance (M2 / count), on the GPU
        when the state is."""
        if self.count == 0:
            raise ValueError("Covariance.covariance(): no rows have been added (count == 0)")
        return self._m2 / self.count

    # -- persistence -------------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain numpy arrays (e.g. for ``np.savez``); `from_dict` restores the accumulator."""
        return {"dim": np.int64(self.dim), "batch_shape": np.asarray(self.batch_shape, np.int64),
                "count": np.int64(self.count), "mean": self._host(self._mean), "m2": self._host(self._m2)}

    @staticmethod
    def _host(state) -> np.ndarray:
        return _device_array.to_host(state) if _device_array.is_device(state) else state.copy()

    @classmethod
    def from_dict(cls, d) -> "Covariance":
        try:
            dim, batch_shape, count, mean, m2 = (d[k] for k in ("dim", "batch_shape", "count", "mean", "m2"))
        except KeyError as e:
            raise ValueError(f"argument 'd' lacks the key {e.args[0]!r} of Covariance.to_dict()") from None
        out = cls(int(np.asarray(dim)), tuple(int(s) for s in np.asarray(batch_shape).reshape(-1)))
        out.count = check_int("count", int(np.asarray(count)), minimum=0)
        mean = np.asarray(mean)
        m2 = np.asarray(m2)
        if mean.shape != out._mean.shape or m2.shape != out._m2.shape:
            raise ValueError(f"argument 'd': mean/m2 have shapes {mean.shape}/{m2.shape}, expected "
                             f"{out._mean.shape}/{out._m2.shape}")
        out._mean[...] = mean
        out._m2[...] = m2
        return out

    @classmethod
    def from_moments(cls, count: int, mean, m2, batch_shape: tuple[int, ...] = ()) -> "Covariance":
        """An accumulator holding given population moments: ``count`` rows, their ``mean``
        ``(*batch_shape, dim)`` and centred second moment ``m2`` ``(*batch_shape, dim, dim)``
        (the sum of the rows' centred outer products), float32/float64, read as float64.
        What a caller that reduced its rows elsewhere (e.g. in torch) hands over, without a
        round trip through `to_dict`.

        >>> cov = Covariance.from_moments(4, np.array([1.0, 1.0]), np.diag([4.0, 4.0]))
        >>> cov.count, cov.covariance().tolist()
        (4, [[1.0, 0.0], [0.0, 1.0]])
        """
        batch_shape = _check_batch_shape(batch_shape)
        count = check_int("count", count, minimum=0)
        mean = as_host_array("mean", mean)
        m2 = as_host_array("m2", m2)
        check_dtype("mean", mean, FLOAT_DTYPES)
        check_dtype("m2", m2, FLOAT_DTYPES)
        k = len(batch_shape)
        if mean.ndim != k + 1 or mean.shape[:k] != batch_shape or mean.shape[-1] < 1:
            raise ValueError(f"argument 'mean' must have shape {batch_shape + ('dim',)} "
                             f"(batch_shape + (dim,)), got {describe(mean)}")
        dim = int(mean.shape[-1])
        if m2.shape != batch_shape + (dim, dim):
            raise ValueError(f"argument 'm2' must have shape {batch_shape + (dim, dim)} "
                             f"(batch_shape + (dim, dim)), got {describe(m2)}")
        out = cls(dim, batch_shape)
        out.count = count
        out._mean[...] = mean
        out._m2[...] = m2
        return out

    def __repr__(self) -> str:
        return f"Covariance(dim={self.dim}, batch_shape={self.batch_shape}, count={self.count})"
