"""Bit-packing of gate states (docs/definitions.md §1): `pack_bits`, the two layouts of an
``(N, C, H, W)`` output, and concatenation of several layers' bits."""
from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Sequence

import numpy as np

from .. import _cpu
from .._validate import (GATE_DTYPES, as_host_array, check_dtype, check_ndim, check_threads,
                         describe, is_device_array, is_torch_tensor)
from ._threads import threads_for
from .device import _array as _device_array
from .packed import PackedBits

if TYPE_CHECKING:
    import numpy.typing as npt
    import torch

# Input bytes (and, for concat_bits, output words) below which the default runs on one
# thread: ~0.2-0.3 ms of single-threaded work (measured, AVX-512: 4 MiB of float32 rows pack in
# 0.18 ms, NCHW patches in 0.3 ms; 32k output words concatenate in 0.25 ms). See _threads.py.
_MIN_PARALLEL_BYTES = 1 << 22
_MIN_PARALLEL_WORDS = 1 << 15

# Half-precision gates are widened to float32 (exact: every float16/bfloat16 value is a
# float32 value), the threshold rounded to the input's precision first, so that the bits are
# those of comparing in the input's own dtype. One copy of the input, the price of a dtype
# the compiled packers do not have.
_HALF_TORCH = ("torch.float16", "torch.bfloat16")


def _device():
    # Imported on first GPU call: the device adapter is only needed for device arrays.
    from .device import pack_bits as device_pack_bits
    return device_pack_bits


def _check_threshold(x: np.ndarray, threshold) -> float:
    _check_threshold_type(threshold)
    if x.dtype.kind != "f" and threshold != 0:
        raise ValueError(f"argument 'threshold' applies to float input only; {x.dtype} input "
                         "is packed as bit = (x != 0)")
    if np.isnan(threshold):
        raise ValueError("argument 'threshold' must not be NaN")
    return float(threshold)


def _gate_array(name: str, x, threshold=0.0):
    """(array, threshold): half-precision input (numpy float16, torch float16/bfloat16) comes
    back as float32 with the threshold rounded to the input's precision."""
    if is_torch_tensor(x) and str(x.dtype) in _HALF_TORCH and x.device.type == "cpu":
        import torch  # only reached with a torch tensor in hand
        _check_threshold_type(threshold)
        t = float(torch.tensor(float(threshold), dtype=x.dtype).float())
        return as_host_array(name, x.detach().float()), t
    arr = as_host_array(name, x)
    if arr.dtype == np.float16:
        _check_threshold_type(threshold)
        return arr.astype(np.float32), float(np.float16(threshold))
    check_dtype(name, arr, GATE_DTYPES + (np.dtype(np.float16),),
                "floats are thresholded, bool/integers mean bit = x != 0")
    return arr, threshold


def _check_threshold_type(threshold) -> None:
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
        raise TypeError(f"argument 'threshold' must be a real number, got {type(threshold).__name__}")


def _raise_nan(name: str, arr: np.ndarray):
    raise ValueError(f"argument '{name}' contains NaN ({describe(arr)}); a NaN has no gate state")


def pack_bits(x: "npt.ArrayLike | torch.Tensor", threshold: float = 0.0, *,
              threads: int | None = None) -> PackedBits:
    """Packs a 2-D array of gates, one row per sample, into a `PackedBits`.

    Float input (float32/float64): bit = ``x > threshold`` (the threshold is compared in the
    input's dtype, as numpy does). bool/uint8/int input: bit = ``x != 0``. One pass, no
    temporary bool array. NaN is an error. A 1-D array is one row.

    Rows may be strided (e.g. a slice ``x[::2]``); if the columns are not contiguous the array
    is copied once (``np.ascontiguousarray``) before packing.

    >>> p = pack_bits(np.array([[0.5, -1.0, 2.0], [0.0, 0.1, -0.2]]))      # bit = x > 0
    >>> p.n_rows, p.n_bits, p.unpack().tolist(), p.words.tolist()        # bit j of a row: 2**j
    (2, 3, [[1, 0, 1], [0, 1, 0]], [[5], [2]])
    >>> pack_bits(np.array([0.5, -1.0, 2.0]), threshold=1.0).unpack().tolist()
    [[0, 0, 1]]
    """
    if is_device_array(x):  # CUDA tensor / cupy array: packed on its device (threads unused)
        check_threads(threads)
        return PackedBits(*_device().pack_bits(x, threshold, _check_threshold), _trusted=True)
    arr, threshold = _gate_array("x", x, threshold)
    if arr.ndim == 1:
        arr = arr[None, :]
    check_ndim("x", arr, 2)
    t = _check_threshold(arr, threshold)
    return _pack_rows_core(arr, t, check_threads(threads))


def _pack_rows_core(arr: np.ndarray, threshold: float = 0.0, nthreads: int = 0) -> PackedBits:
    """`pack_bits` of an array already checked (the trusted core the estimators call on the
    0/1 arrays they validated; `pack_bits` validates, then calls it): ``arr`` a 2-D numpy
    array of a gate dtype (float32/float64, integers, bool; not float16), ``threshold`` a
    float (0 for non-float input), ``nthreads`` as `pycx._validate.check_threads` returns it
    (0: the default). The kernel's NaN flag still raises (it costs nothing).

    >>> _pack_rows_core(np.array([[1, 0, 1]], dtype=np.uint8)).words.tolist()
    [[5]]
    """
    nthreads = threads_for(nthreads, arr.nbytes, _MIN_PARALLEL_BYTES)
    if arr.shape[1] > 1 and arr.strides[1] != arr.itemsize or arr.strides[0] % arr.itemsize:
        arr = np.ascontiguousarray(arr)  # documented: columns must be contiguous
    words, saw_nan = _cpu.pack_rows(arr, threshold, nthreads)
    if saw_nan:
        _raise_nan("x", arr)
    return PackedBits(words, arr.shape[1], _trusted=True)


def pack_per_sample(x: "npt.ArrayLike | torch.Tensor", threshold: float = 0.0, *,
                    threads: int | None = None) -> PackedBits:
    """Per-sample layout (docs/definitions.md §1): one row per sample holding all of its gates in C
    order (``C*H*W`` bits for an ``(N, C, H, W)`` output). No copy for contiguous input.

    >>> x = np.array([[[[1.0, -1.0]], [[-1.0, 2.0]]]])            # (N, C, H, W) = (1, 2, 1, 2)
    >>> pack_per_sample(x).unpack().tolist()                     # x[0].ravel() > 0
    [[1, 0, 0, 1]]
    """
    if is_device_array(x):  # CUDA tensor / cupy array: packed on its device (threads unused)
        check_threads(threads)
        return PackedBits(*_device().pack_per_sample(x, threshold, _check_threshold), _trusted=True)
    arr, threshold = _gate_array("x", x, threshold)
    if arr.ndim < 2:
        raise ValueError(f"argument 'x' must have a sample axis and at least one more, got {describe(arr)}")
    # The row width is given explicitly: reshape(0, -1) is ambiguous for an empty batch.
    flat = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:], dtype=np.int64)))  # a view when contiguous
    return pack_bits(flat, threshold, threads=threads)


def pack_per_patch(x: "npt.ArrayLike | torch.Tensor", threshold: float = 0.0, *,
                   threads: int | None = None) -> PackedBits:
    """Per-patch layout (docs/definitions.md §1, paper 000 eq. 1): for an ``(N, C, H, W)`` output,
    ``N*H*W`` rows of ``C`` gates, row ``n*H*W + h*W + w`` = ``x[n, :, h, w]``. Any strides
    (channels-last tensors included) are read in place, without a copy. An ``(N, C)`` input
    (a linear layer) gives the same rows as `pack_bits`.

    >>> x = np.array([[[[1.0, -1.0], [2.0, 0.0]], [[-1.0, 1.0], [3.0, 0.0]]]])   # (1, 2, 2, 2)
    >>> pack_per_patch(x).unpack().tolist()        # row h*W + w: x[0, :, h, w] > 0
    [[1, 0], [0, 1], [1, 1], [0, 0]]
    """
    if is_device_array(x):  # CUDA tensor / cupy array: packed on its device (threads unused)
        check_threads(threads)
        return PackedBits(*_device().pack_per_patch(x, threshold, _check_threshold), _trusted=True)
    arr, threshold = _gate_array("x", x, threshold)
    check_ndim("x", arr, (2, 4))
    if arr.ndim == 2:
        return pack_bits(arr, threshold, threads=threads)
    t = _check_threshold(arr, threshold)
    nthreads = threads_for(check_threads(threads), arr.nbytes, _MIN_PARALLEL_BYTES)
    if any(s % arr.itemsize for s in arr.strides):
        arr = np.ascontiguousarray(arr)
    words, saw_nan = _cpu.pack_patches(arr, t, nthreads)
    if saw_nan:
        _raise_nan("x", arr)
    return PackedBits(words, arr.shape[1], _trusted=True)


def concat_bits(parts: Sequence[PackedBits], *, threads: int | None = None) -> PackedBits:
    """Concatenates several layers' per-sample bits along the bit axis (row ``r`` of the
    result is row ``r`` of each part, one after another).

    >>> a = pack_bits(np.array([[1, 0], [0, 1]], dtype=np.uint8))
    >>> b = pack_bits(np.array([[1], [0]], dtype=np.uint8))
    >>> concat_bits([a, b]).unpack().tolist()
    [[1, 0, 1], [0, 1, 0]]
    """
    parts = list(parts)
    if not parts:
        raise ValueError("argument 'parts' must hold at least one PackedBits, got an empty sequence")
    for i, p in enumerate(parts):
        if not isinstance(p, PackedBits):
            raise TypeError(f"argument 'parts[{i}]' must be PackedBits, got {type(p).__name__}")
        if p.n_rows != parts[0].n_rows:
            raise ValueError(f"argument 'parts[{i}]' has {p.n_rows} rows, parts[0] has {parts[0].n_rows}")
    on_device = [_device_array.is_device_packed(p) for p in parts]
    if any(on_device):
        if not all(on_device):
            raise ValueError("argument 'parts' mixes GPU and host PackedBits; move them to one side")
        return PackedBits(*_device().concat_bits(parts), _trusted=True)
    n_bits = sum(p.n_bits for p in parts)
    nthreads = threads_for(check_threads(threads), parts[0].n_rows * (n_bits // 64 + 1), _MIN_PARALLEL_WORDS)
    words = _cpu.concat_bits([p.words for p in parts], [p.n_bits for p in parts], nthreads)
    return PackedBits(words, n_bits, _trusted=True)
