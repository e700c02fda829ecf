"""GPU routing of the public kernels: device arrays in, the computation on their device.

A CUDA torch tensor or a cupy array is read through ``__cuda_array_interface__`` (address,
shape, strides, dtype); nothing is copied to the host. Outputs are allocated here with the
input's own library (``torch.empty`` on the tensor's device, ``cupy.empty``) and their
addresses handed to ``pycx._cuda`` with the caller's current stream, so the extension never
links torch or cupy and the work is ordered with the caller's own kernels. Results stay on the
device; only sizes (and flags: NaN seen, number of states) come back, which synchronises.

Packed words on the device: ``PackedBits.words`` is a ``(n_rows, n_words)`` C-contiguous
device array of 64-bit words: ``torch.int64`` for torch (torch's uint64 supports almost no
operations; the bits are the same, read as two's complement) and ``cupy.uint64`` for cupy.

torch and cupy are imported lazily: importing pycx never imports either.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .._build import cuda_module
if TYPE_CHECKING:  # annotations only: packed.py imports this module lazily
    from ..packed import PackedBits

from .._validate import GATE_DTYPES, check_dtype, check_row_vector, describe, is_torch_tensor

# -- the device array's description -------------------------------------------------------------
class DeviceArray:
    """What the kernels need of a device array: library, address, shape, element strides,
    numpy dtype, device index. ``shape``/``dtype`` make `describe` work on it."""

    __slots__ = ("obj", "lib", "ptr", "shape", "strides", "dtype", "device")

    def __init__(self, name: str, x):
        if is_torch_tensor(x):
            self.lib = "torch"
            x = x.detach()  # the interface refuses tensors that require grad
            if x.is_conj() or x.is_neg():
                raise TypeError(f"argument '{name}': conjugate/negative-bit tensors are not supported")
            self.device = x.device.index if x.device.index is not None else _torch().cuda.current_device()
        elif type(x).__module__.split(".")[0] == "cupy":
            self.lib = "cupy"
            self.device = int(x.device.id)
        else:
            raise TypeError(f"argument '{name}' is a device array of type {type(x).__name__}; pycx "
                            "accepts CUDA torch tensors and cupy arrays")
        cai = x.__cuda_array_interface__
        self.obj = x
        self.ptr = int(cai["data"][0])
        self.shape = tuple(int(s) for s in cai["shape"])
        self.dtype = np.dtype(cai["typestr"])
        if cai.get("strides") is None:  # C-contiguous
            strides, step = [], 1
            for s in reversed(self.shape):
                strides.append(step)
                step *= max(s, 1)
            self.strides = tuple(reversed(strides))
        else:
            item = self.dtype.itemsize
            if any(s % item for s in cai["strides"]):
                raise ValueError(f"argument '{name}' has byte strides {tuple(cai['strides'])} that are "
                                 f"not multiples of its item size ({describe(self)})")
            self.strides = tuple(int(s) // item for s in cai["strides"])

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


def _torch():
    import torch
    return torch


def _cupy():
    import cupy
    return cupy


def is_device(x) -> bool:
    from .._validate import is_device_array
    return x is not None and is_device_array(x)


def _library(x) -> str:
    return "torch" if is_torch_tensor(x) else "cupy"


# -- the CUDA module ------------------------------------------------------------------------------
_probe_cache: dict = {}


def cuda_kernels(name: str = "x"):
    """The `pycx._cuda` module, or RuntimeError saying why GPU input cannot be processed."""
    if "module" not in _probe_cache:
        reason = None
        try:
            module = cuda_module()
        except ImportError as exc:
            module, reason = None, f"pycx._cuda failed to import: {exc}"
        if module is None and reason is None:
            reason = "pycx._cuda was not built (no nvcc at build time or PYCX_CUDA=OFF)"
        if module is not None:
            probe = module.probe_devices()
            if probe["device_count"] <= 0:
                reason = f"no usable CUDA device: {probe['error'] or 'none visible'}"
        _probe_cache["module"] = module if reason is None else None
        _probe_cache["reason"] = reason
    if _probe_cache["module"] is None:
        raise RuntimeError(f"argument '{name}' is a GPU array, but pycx cannot run GPU kernels here: "
                           f"{_probe_cache['reason']}")
    return _probe_cache["module"]


# -- allocation and streams, with the input's library ---------------------------------------------
def stream_of(like: DeviceArray) -> int:
    """The caller's current stream on the input's device (a cudaStream_t as an integer)."""
    if like.lib == "torch":
        torch = _torch()
        return int(torch.cuda.current_stream(like.device).cuda_stream)
    cupy = _cupy()
    with cupy.cuda.Device(like.device):
        return int(cupy.cuda.get_current_stream().ptr)


def _lib_dtype(lib: str, dtype: str):
    if lib == "torch":
        torch = _torch()
        return {"uint64": torch.int64}.get(dtype) or getattr(torch, dtype)
    return np.dtype(dtype)


def empty(like: DeviceArray, shape, dtype: str):
    """A new device array on like's device, by like's library. dtype "uint64" gives int64
    under torch (same bits, see the module docstring)."""
    shape = tuple(int(s) for s in shape)
    if like.lib == "torch":
        torch = _torch()
        return torch.empty(shape, dtype=_lib_dtype("torch", dtype), device=f"cuda:{like.device}")
    cupy = _cupy()
    with cupy.cuda.Device(like.device):
        return cupy.empty(shape, dtype=np.dtype(dtype))


def zeros(like: DeviceArray, shape, dtype: str):
    out = empty(like, shape, dtype)
    out[...] = 0  # a device kernel on the current stream, for torch and cupy alike
    return out


def address(x) -> int:
    return int(x.__cuda_array_interface__["data"][0]) if x is not None else 0


def to_device(like: DeviceArray, values, dtype: str):
    """``values`` (host array or device array of like's library) as a contiguous device array
    of ``dtype`` on like's device. Host data is copied up once; this is for small per-row
    arrays (weights, labels), an explicit conversion of their dtype for the kernel."""
    if like.lib == "torch":
        torch = _torch()
        t = values if is_torch_tensor(values) else torch.as_tensor(np.asarray(values))
        return t.to(device=f"cuda:{like.device}", dtype=_lib_dtype("torch", dtype)).contiguous()
    cupy = _cupy()
    with cupy.cuda.Device(like.device):
        return cupy.ascontiguousarray(cupy.asarray(values, dtype=np.dtype(dtype)))


def to_host(x) -> np.ndarray:
    """A numpy copy of a device array (words of torch int64 come back as uint64 only where the
    caller views them so)."""
    if is_torch_tensor(x):
        return x.detach().cpu().numpy()
    return _cupy().asnumpy(x)


def item(x) -> int:
    return int(x.item()) if is_torch_tensor(x) else int(x.get())


def copy(x):
    return x.clone() if is_torch_tensor(x) else x.copy()


def _check_same_device(name: str, arr: DeviceArray, ref: DeviceArray, ref_name: str) -> None:
    if arr.lib != ref.lib or arr.device != ref.device:
        raise ValueError(f"argument '{name}' is a {arr.lib} array on cuda:{arr.device}, argument "
                         f"'{ref_name}' a {ref.lib} array on cuda:{ref.device}; they must match")


# -- bit-packing ----------------------------------------------------------------------------------
def _gate_device_array(name: str, x) -> DeviceArray:
    arr = DeviceArray(name, x)
    check_dtype(name, arr, GATE_DTYPES, "floats are thresholded, bool/integers mean bit = x != 0")
    return arr


def _pack(arr: DeviceArray, name: str, threshold: float, N, C, H, W, s_n, s_c, s_h, s_w):
    from ..packed import PackedBits
    cuda = cuda_kernels(name)
    out = empty(arr, (N * H * W, (C + 63) // 64), "uint64")
    if N * H * W * C == 0:  # the output is empty too
        return PackedBits(out, C, _trusted=True)
    floating = arr.dtype.kind == "f"
    flag = zeros(arr, (1,), "int32") if floating else None
    cuda.pack_patches(str(arr.dtype), arr.ptr, N, C, H, W, s_n, s_c, s_h, s_w, threshold,
                      address(out), address(flag), arr.device, stream_of(arr))
    if floating and item(flag):
        raise ValueError(f"argument '{name}' contains NaN ({describe(arr)}); a NaN has no gate state")
    return PackedBits(out, C, _trusted=True)


def pack_bits(x, threshold: float, check_threshold) -> "PackedBits":
    arr = _gate_device_array("x", x)
    if arr.ndim == 1:
        arr.shape, arr.strides = (1,) + arr.shape, (0,) + arr.strides
    if arr.ndim != 2:
        raise ValueError(f"argument 'x' must be 1-D or 2-D, got {describe(arr)}")
    t = check_threshold(arr, threshold)
    n, d = arr.shape
    return _pack(arr, "x", t, n, d, 1, 1, arr.strides[0], arr.strides[1], 0, 0)


def pack_per_sample(x, threshold: float, check_threshold) -> "PackedBits":
    arr = _gate_device_array("x", x)
    if arr.ndim < 2:
        raise ValueError(f"argument 'x' must have a sample axis and at least one more, got {describe(arr)}")
    cuda_kernels("x")  # before reshape, which may copy on the device
    flat = x.reshape(arr.shape[0], -1)  # a view when possible, else a device copy (as numpy)
    return pack_bits(flat, threshold, check_threshold)


def pack_per_patch(x, threshold: float, check_threshold) -> "PackedBits":
    arr = _gate_device_array("x", x)
    if arr.ndim == 2:
        return pack_bits(x, threshold, check_threshold)
    if arr.ndim != 4:
        raise ValueError(f"argument 'x' must be 2-D or 4-D, got {describe(arr)}")
    t = check_threshold(arr, threshold)
    N, C, H, W = arr.shape
    s_n, s_c, s_h, s_w = arr.strides
    return _pack(arr, "x", t, N, C, H, W, s_n, s_c, s_h, s_w)


def packed_words(name: str, p) -> DeviceArray:
    return DeviceArray(name, p.words)


def is_device_packed(p) -> bool:
    return is_device(getattr(p, "words", None))


def concat_bits(parts) -> "PackedBits":
    from ..packed import PackedBits
    arrays = [packed_words(f"parts[{i}]", p) for i, p in enumerate(parts)]
    for i, a in enumerate(arrays[1:], 1):
        _check_same_device(f"parts[{i}]", a, arrays[0], "parts[0]")
    total = sum(p.n_bits for p in parts)
    n_rows = parts[0].n_rows
    cuda = cuda_kernels("parts")
    out = empty(arrays[0], (n_rows, (total + 63) // 64), "uint64")
    cuda.concat_bits([a.ptr for a in arrays], [p.n_bits for p in parts], n_rows, address(out),
                     arrays[0].device, stream_of(arrays[0]))
    return PackedBits(out, total, _trusted=True)


def unpack(p) -> object:
    """(n_rows, n_bits) uint8 0/1 on the words' device."""
    words = packed_words("words", p)
    cuda = cuda_kernels("words")
    out = empty(words, (p.n_rows, p.n_bits), "uint8")
    cuda.unpack_bits(words.ptr, p.n_rows, p.n_bits, address(out), words.device, stream_of(words))
    return out


def select_rows(words, rows):
    selected = words[rows]
    if selected.ndim == 1:
        selected = selected[None, :]
    return selected.contiguous() if is_torch_tensor(selected) else _cupy().ascontiguousarray(selected)


def words_equal(a, b) -> bool:
    if is_device(a) and is_device(b):
        if _library(a) != _library(b) or tuple(a.shape) != tuple(b.shape):
            return False
        if is_torch_tensor(a):
            return a.device == b.device and bool(_torch().equal(a, b))
        return bool(_cupy().array_equal(a, b))
    # One on the host: compare the bits there (uint64 view of either representation).
    ha = to_host(a) if is_device(a) else a
    hb = to_host(b) if is_device(b) else b
    return ha.shape == hb.shape and np.array_equal(ha.view(np.uint64), hb.view(np.uint64))


def packed_to_host(p) -> "PackedBits":
    from ..packed import PackedBits
    return PackedBits(np.ascontiguousarray(to_host(p.words)).view(np.uint64), p.n_bits, _trusted=True)


# -- Hamming KDE sums -----------------------------------------------------------------------------
def _check_pair(a, b):
    if not is_device_packed(a) or (b is not None and not is_device_packed(b)):
        raise ValueError("arguments 'a' and 'b' must both be on the GPU or both on the host")
    wa = packed_words("a", a)
    wb = None
    if b is not None:
        wb = packed_words("b", b)
        _check_same_device("b", wb, wa, "a")
    return wa, wb


def _device_weights(like: DeviceArray, weights, m: int):
    if is_device(weights):
        w = DeviceArray("weights", weights)
        _check_same_device("weights", w, like, "a")
    else:
        from .._validate import as_host_array
        w = as_host_array("weights", weights)
    check_row_vector("weights", w, m, "iu", "non-negative integers", "weight")
    dw = to_device(like, weights, "float64")  # the kernel multiplies in float64
    if m and float(dw.min().item()) < 0:
        raise ValueError(f"argument 'weights' must be non-negative, got minimum {dw.min().item()}")
    return dw


def _device_labels(like: DeviceArray, name: str, labels, n: int):
    if is_device(labels):
        y = DeviceArray(name, labels)
        _check_same_device(name, y, like, "a")
    else:
        from .._validate import as_host_array
        y = as_host_array(name, labels)
    check_row_vector(name, y, n, "iub", "integer class labels", "label")
    return to_device(like, labels, "int64")


def _dense_codes(like: DeviceArray, y):
    """Equality is all the kernel needs: labels become dense int64 codes, on the device."""
    if like.lib == "torch":
        return _torch().unique(y, sorted=True, return_inverse=True)[1].to(_torch().int64).contiguous()
    cupy = _cupy()
    with cupy.cuda.Device(like.device):
        return cupy.unique(y, return_inverse=True)[1].astype(cupy.int64).reshape(-1)


def _concat(like: DeviceArray, xs):
    if like.lib == "torch":
        return _torch().cat(xs)
    return _cupy().concatenate(xs)


def kde_sums(a, b, s2: float, weights, labels, b_labels):
    """(total, same_label or None) on the device; arguments validated as on the CPU."""
    wa, wb = _check_pair(a, b)
    m = a.n_rows if b is None else b.n_rows
    w = None if weights is None else _device_weights(wa, weights, m)
    la = lb = None
    if labels is None:
        if b_labels is not None:
            raise ValueError("argument 'b_labels' needs 'labels' (the labels of the rows of A)")
    else:
        ya = _device_labels(wa, "labels", labels, a.n_rows)
        if b is None:
            if b_labels is not None:
                raise ValueError("argument 'b_labels' is only used when 'b' is given")
            la = _dense_codes(wa, ya)
        else:
            if b_labels is None:
                raise ValueError("argument 'b_labels' is required with 'labels' when 'b' is given")
            yb = _device_labels(wa, "b_labels", b_labels, m)
            codes = _dense_codes(wa, _concat(wa, [ya, yb]))
            la, lb = codes[: a.n_rows], codes[a.n_rows:]  # contiguous slices of a 1-D array
    cuda = cuda_kernels("a")
    total = empty(wa, (a.n_rows,), "float64")
    same = empty(wa, (a.n_rows,), "float64") if la is not None else None
    cuda.kde_sums(wa.ptr, a.n_rows, 0 if wb is None else wb.ptr, m, a.n_bits, s2, address(w),
                  address(la), address(lb), address(total), address(same), wa.device, stream_of(wa))
    return total, same


def hamming_distances(a, b):
    wa, wb = _check_pair(a, b)
    m = a.n_rows if b is None else b.n_rows
    cuda = cuda_kernels("a")
    out = empty(wa, (a.n_rows, m), "int32")
    cuda.hamming_distances(wa.ptr, a.n_rows, 0 if wb is None else wb.ptr, m, a.n_bits,
                           address(out), wa.device, stream_of(wa))
    return out


# -- state counts ---------------------------------------------------------------------------------
def state_counts(packed, labels, *, force_exact_sort: bool = False):
    """(states PackedBits, counts, inverse, labels) on the device, states in order of first
    occurrence (as the CPU kernel numbers them)."""
    from ..packed import PackedBits
    words = packed_words("packed", packed)
    n = packed.n_rows
    y = None if labels is None else _device_labels(words, "labels", labels, n)
    cuda = cuda_kernels("packed")
    inverse = empty(words, (n,), "int64")
    counts = empty(words, (n,), "int64")
    first = empty(words, (n,), "int64")
    stream = stream_of(words)
    n_states = cuda.state_counts(words.ptr, n, packed.n_words, address(inverse), address(counts),
                                 address(first), bool(force_exact_sort), words.device, stream)
    states = empty(words, (n_states, packed.n_words), "uint64")
    cuda.gather_rows(words.ptr, packed.n_words, address(first), n_states, address(states),
                     words.device, stream)
    counts = copy(counts[:n_states])  # a compact copy: the buffer was sized for n rows
    return PackedBits(states, packed.n_bits, _trusted=True), counts, inverse, y


def degeneracy(counts):
    """(k, m_k) of device counts, on the device (both int64, k ascending)."""
    c = DeviceArray("counts", counts)
    if c.dtype != np.dtype(np.int64) or c.ndim != 1:
        raise TypeError(f"argument 'counts' must be 1-D int64, got {describe(c)}")
    counts = to_device(c, counts, "int64")  # contiguous
    cuda = cuda_kernels("counts")
    k = empty(c, (c.shape[0],), "int64")
    m_k = empty(c, (c.shape[0],), "int64")
    runs = cuda.degeneracy(address(counts), c.shape[0], address(k), address(m_k), c.device, stream_of(c))
    return copy(k[:runs]), copy(m_k[:runs])


def label_counts(inverse, labels, n_states: int):
    """(classes, table) on the device: table[s, c] = rows of state s with label classes[c]."""
    inv = DeviceArray("inverse", inverse)
    n = inv.shape[0]
    y = _device_labels(inv, "labels", labels, n)
    cuda = cuda_kernels("labels")
    stream = stream_of(inv)
    classes = empty(inv, (n,), "int64")
    n_classes = cuda.unique_labels(address(y), n, address(classes), inv.device, stream)
    classes = copy(classes[:n_classes])
    table = empty(inv, (n_states, n_classes), "int64")
    inverse = to_device(inv, inverse, "int64")
    cuda.label_table(address(inverse), address(y), n, address(classes), n_classes, n_states,
                     address(table), inv.device, stream)
    return classes, table


# -- covariance -----------------------------------------------------------------------------------
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
