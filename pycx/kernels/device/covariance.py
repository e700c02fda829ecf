"""Device adapter of `pycx.kernels.covariance`: streaming covariance moments on the GPU.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..._validate import describe
from ._array import (DeviceArray, _check_same_device, _cupy, address, copy, cuda_kernels, is_device, on, stream_of, to_device, to_host)


class CovarianceState(NamedTuple):
    mean: object
    m2: object


def covariance_rows(x, batch_shape: tuple, dim: int) -> DeviceArray:
    arr = DeviceArray("x", x)
    if arr.dtype.kind != "f" or arr.dtype.itemsize not in (4, 8):
        raise TypeError(f"argument 'x' must have dtype in [float32, float64], got {describe(arr)}")
    want = batch_shape + ("rows", dim)
    if arr.ndim != len(batch_shape) + 2 or arr.shape[:-2] != batch_shape or arr.shape[-1] != dim:
        raise ValueError(f"argument 'x' must have shape {want} (batch_shape + (rows, dim)), got {describe(arr)}")
    return arr


def batch_offsets(arr: DeviceArray) -> list:
    """Element offsets of every batch entry (C order of the leading axes)."""
    offsets = [0]
    for size, stride in zip(arr.shape[:-2], arr.strides[:-2]):
        offsets = [base + i * stride for base in offsets for i in range(size)]
    return offsets


def covariance_state_on(like: DeviceArray, mean, m2) -> CovarianceState:
    """New device arrays (float64, contiguous) holding a state kept on the host or the device
    (never the same memory: the state is updated in place)."""
    return CovarianceState(copy(to_device(like, mean, "float64")), copy(to_device(like, m2, "float64")))


def covariance_update(state: CovarianceState, count: int, arr: DeviceArray) -> bool:
    """Folds the rows of arr into the device state (in place). False if a mean is not finite."""
    cuda = cuda_kernels("x")
    n, dim = arr.shape[-2], arr.shape[-1]
    offsets = batch_offsets(arr)
    if n == 0 or not offsets:
        return True
    return cuda.covariance_update(arr.dtype == np.float64, arr.ptr, offsets, n, dim,
                                  arr.strides[-2], arr.strides[-1], count, address(state.mean),
                                  address(state.m2), arr.device, stream_of(arr))


def covariance_merge(state: CovarianceState, count: int, other: CovarianceState, other_count: int,
                     dim: int) -> None:
    like = DeviceArray("mean", state.mean)
    B = like.size // dim if dim else 0
    cuda = cuda_kernels("mean")
    cuda.covariance_merge(B, dim, count, address(state.mean), address(state.m2), other_count,
                          address(other.mean), address(other.m2), like.device, stream_of(like))


def covariance_update_into(cov, x) -> None:
    """`Covariance.update` for device rows: the state moves to (or stays on) x's device and is
    updated there; a non-finite update raises and leaves the values unchanged."""
    arr = covariance_rows(x, cov.batch_shape, cov.dim)
    cuda_kernels("x")  # before the state moves
    if not is_device(cov._mean):
        cov._mean, cov._m2 = covariance_state_on(arr, cov._mean, cov._m2)
    else:
        _check_same_device("x", arr, DeviceArray("state", cov._mean), "the accumulator's state")
    if not covariance_update(CovarianceState(cov._mean, cov._m2), cov.count, arr):
        with on(arr):
            nan = bool(x.isnan().any().item()) if arr.lib == "torch" else bool(_cupy().isnan(x).any().get())
        bad = "NaN" if nan else "infinite values (or values whose sum overflows)"
        raise ValueError(f"argument 'x' contains {bad} ({describe(arr)})")
    cov.count += arr.shape[-2]


def covariance_merge_into(cov, other) -> None:
    """`Covariance.merge` when either state is on a GPU: other's state moves to cov's side."""
    if is_device(cov._mean):
        like = DeviceArray("state", cov._mean)
        theirs = covariance_state_on(like, other._mean, other._m2)  # a fresh copy, even of cov
        covariance_merge(CovarianceState(cov._mean, cov._m2), cov.count, theirs, other.count, cov.dim)
        cov.count += other.count
    else:
        cov._merge_arrays(to_host(other._mean), to_host(other._m2), other.count)
