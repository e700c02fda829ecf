"""Device adapter of `pycx.kernels.pack_bits`: packing, concatenation and unpacking on the GPU.

Returns raw device word arrays; the public op wraps them in `PackedBits`.
"""
from __future__ import annotations


from ..._validate import GATE_DTYPES, check_dtype, describe
from ._array import (DeviceArray, _check_same_device, address, cuda_kernels, empty, item, on, packed_words, stream_of, zeros)


def _gate_device_array(name: str, x) -> DeviceArray:
    arr = DeviceArray(name, x)
    check_dtype(name, arr, GATE_DTYPES, "floats are thresholded, bool/integers mean bit = x != 0")
    return arr


# Each returns (device words, n_bits); the public op wraps them in PackedBits.
def _pack(arr: DeviceArray, name: str, threshold: float, N, C, H, W, s_n, s_c, s_h, s_w):
    cuda = cuda_kernels(name)
    out = empty(arr, (N * H * W, (C + 63) // 64), "uint64")
    if N * H * W * C == 0:  # the output is empty too
        return out, C
    floating = arr.dtype.kind == "f"
    flag = zeros(arr, (1,), "int32") if floating else None
    cuda.pack_patches(str(arr.dtype), arr.ptr, N, C, H, W, s_n, s_c, s_h, s_w, threshold,
                      address(out), address(flag), arr.device, stream_of(arr))
    if floating and item(flag):
        raise ValueError(f"argument '{name}' contains NaN ({describe(arr)}); a NaN has no gate state")
    return out, C


def pack_bits(x, threshold: float, check_threshold) -> tuple:
    arr = _gate_device_array("x", x)
    if arr.ndim == 1:
        arr.shape, arr.strides = (1,) + arr.shape, (0,) + arr.strides
    if arr.ndim != 2:
        raise ValueError(f"argument 'x' must be 1-D or 2-D, got {describe(arr)}")
    t = check_threshold(arr, threshold)
    n, d = arr.shape
    return _pack(arr, "x", t, n, d, 1, 1, arr.strides[0], arr.strides[1], 0, 0)


def pack_per_sample(x, threshold: float, check_threshold) -> tuple:
    arr = _gate_device_array("x", x)
    if arr.ndim < 2:
        raise ValueError(f"argument 'x' must have a sample axis and at least one more, got {describe(arr)}")
    cuda_kernels("x")  # before reshape, which may copy on the device
    with on(arr):
        flat = x.reshape(arr.shape[0], -1)  # a view when possible, else a device copy (as numpy)
    return pack_bits(flat, threshold, check_threshold)


def pack_per_patch(x, threshold: float, check_threshold) -> tuple:
    arr = _gate_device_array("x", x)
    if arr.ndim == 2:
        return pack_bits(x, threshold, check_threshold)
    if arr.ndim != 4:
        raise ValueError(f"argument 'x' must be 2-D or 4-D, got {describe(arr)}")
    t = check_threshold(arr, threshold)
    N, C, H, W = arr.shape
    s_n, s_c, s_h, s_w = arr.strides
    return _pack(arr, "x", t, N, C, H, W, s_n, s_c, s_h, s_w)


def concat_bits(parts) -> tuple:
    arrays = [packed_words(f"parts[{i}]", p) for i, p in enumerate(parts)]
    for i, a in enumerate(arrays[1:], 1):
        _check_same_device(f"parts[{i}]", a, arrays[0], "parts[0]")
    total = sum(p.n_bits for p in parts)
    n_rows = parts[0].n_rows
    cuda = cuda_kernels("parts")
    out = empty(arrays[0], (n_rows, (total + 63) // 64), "uint64")
    cuda.concat_bits([a.ptr for a in arrays], [p.n_bits for p in parts], n_rows, address(out),
                     arrays[0].device, stream_of(arrays[0]))
    return out, total


def unpack(p) -> object:
    """(n_rows, n_bits) uint8 0/1 on the words' device."""
    words = packed_words("words", p)
    cuda = cuda_kernels("words")
    out = empty(words, (p.n_rows, p.n_bits), "uint8")
    cuda.unpack_bits(words.ptr, p.n_rows, p.n_bits, address(out), words.device, stream_of(words))
    return out


