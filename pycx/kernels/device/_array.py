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

Devices: every torch/cupy call made here runs inside ``with on(x):``, which makes x's device
current for its duration. Torch follows a tensor's device by itself, but cupy allocates,
copies (``ndarray.copy``, ``concatenate``, ``asnumpy``) and launches reductions on the
*current* device and its stream; without the guard, data on cuda:0 while cuda:1 is current
would get buffers on cuda:1, kernels unordered with the caller's stream, or an illegal address
in a kernel handed those buffers.

torch and cupy are imported lazily: importing pycx never imports either.
"""
from __future__ import annotations

import contextlib

import numpy as np

from ..._build import cuda_module
from ..._validate import check_row_vector, describe, is_torch_tensor

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
    from ..._validate import is_device_array
    return x is not None and is_device_array(x)


def _library(x) -> str:
    return "torch" if is_torch_tensor(x) else "cupy"


def _device_index(x) -> int:
    """The device of a DeviceArray or of a raw CUDA tensor / cupy array."""
    if isinstance(x, DeviceArray):
        return x.device
    if is_torch_tensor(x):
        return x.device.index if x.device.index is not None else _torch().cuda.current_device()
    return int(x.device.id)


@contextlib.contextmanager
def on(x):
    """Makes the device of x (a DeviceArray or a raw device array) current inside the block,
    for the library of x; the previous device is current again after it."""
    lib = x.lib if isinstance(x, DeviceArray) else _library(x)
    guard = _torch().cuda.device if lib == "torch" else _cupy().cuda.Device
    with guard(_device_index(x)):
        yield


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
            from ..._build import gpu_reason
            problem = gpu_reason(module.probe_devices())
            if problem is not None:
                reason = f"no usable CUDA device: {problem}"
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
    with on(like):
        return int(_cupy().cuda.get_current_stream().ptr)


def _lib_dtype(lib: str, dtype: str):
    if lib == "torch":
        torch = _torch()
        return {"uint64": torch.int64}.get(dtype) or getattr(torch, dtype)
    return np.dtype(dtype)


def empty(like: DeviceArray, shape, dtype: str):
    """A new device array on like's device, by like's library. dtype "uint64" gives int64
    under torch (same bits, see the module docstring)."""
    shape = tuple(int(s) for s in shape)
    with on(like):
        if like.lib == "torch":
            return _torch().empty(shape, dtype=_lib_dtype("torch", dtype), device=f"cuda:{like.device}")
        return _cupy().empty(shape, dtype=np.dtype(dtype))


def zeros(like: DeviceArray, shape, dtype: str):
    out = empty(like, shape, dtype)
    with on(like):
        out[...] = 0  # a device kernel on the device's current stream, for torch and cupy alike
    return out


def address(x) -> int:
    return int(x.__cuda_array_interface__["data"][0]) if x is not None else 0


def to_device(like: DeviceArray, values, dtype: str):
    """``values`` (host array or device array of like's library) as a contiguous device array
    of ``dtype`` on like's device. Host data is copied up once; this is for small per-row
    arrays (weights, labels), an explicit conversion of their dtype for the kernel."""
    with on(like):
        if like.lib == "torch":
            torch = _torch()
            t = values if is_torch_tensor(values) else torch.as_tensor(np.asarray(values))
            return t.to(device=f"cuda:{like.device}", dtype=_lib_dtype("torch", dtype)).contiguous()
        cupy = _cupy()
        return cupy.ascontiguousarray(cupy.asarray(values, dtype=np.dtype(dtype)))


def to_host(x) -> np.ndarray:
    """A numpy copy of a device array (words of torch int64 come back as uint64 only where the
    caller views them so)."""
    if is_torch_tensor(x):
        return x.detach().cpu().numpy()
    with on(x):
        return _cupy().asnumpy(x)


def item(x) -> int:
    if is_torch_tensor(x):
        return int(x.item())
    with on(x):
        return int(x.get())


def copy(x):
    """A copy of a device array on its own device (cupy's copy() would use the current one)."""
    if is_torch_tensor(x):
        return x.clone()
    with on(x):
        return x.copy()


def _check_same_device(name: str, arr: DeviceArray, ref: DeviceArray, ref_name: str) -> None:
    if arr.lib != ref.lib or arr.device != ref.device:
        raise ValueError(f"argument '{name}' is a {arr.lib} array on cuda:{arr.device}, argument "
                         f"'{ref_name}' a {ref.lib} array on cuda:{ref.device}; they must match")


# -- shared by several ops ----------------------------------------------------------------------
def packed_words(name: str, p) -> DeviceArray:
    return DeviceArray(name, p.words)


def is_device_packed(p) -> bool:
    return is_device(getattr(p, "words", None))


def select_rows(words, rows):
    with on(words):
        selected = words[rows]
        if selected.ndim == 1:
            selected = selected[None, :]
        return selected.contiguous() if is_torch_tensor(selected) else _cupy().ascontiguousarray(selected)


def words_equal(a, b) -> bool:
    if is_device(a) and is_device(b):
        if _library(a) != _library(b) or tuple(a.shape) != tuple(b.shape):
            return False
        if _device_index(a) != _device_index(b):
            return False
        with on(a):
            if is_torch_tensor(a):
                return bool(_torch().equal(a, b))
            return bool(_cupy().array_equal(a, b))
    # One on the host: compare the bits there (uint64 view of either representation).
    ha = to_host(a) if is_device(a) else a
    hb = to_host(b) if is_device(b) else b
    return ha.shape == hb.shape and np.array_equal(ha.view(np.uint64), hb.view(np.uint64))


def host_words(words) -> np.ndarray:
    """Device words as a C-contiguous numpy uint64 array (a copy)."""
    return np.ascontiguousarray(to_host(words)).view(np.uint64)


def _device_weights(like: DeviceArray, weights, m: int):
    if is_device(weights):
        w = DeviceArray("weights", weights)
        _check_same_device("weights", w, like, "a")
    else:
        from ..._validate import as_host_array
        w = as_host_array("weights", weights)
    check_row_vector("weights", w, m, "iu", "non-negative integers", "weight")
    dw = to_device(like, weights, "float64")  # the kernel multiplies in float64
    if m:
        with on(like):
            smallest = float(dw.min().item())
        if smallest < 0:
            raise ValueError(f"argument 'weights' must be non-negative, got minimum {smallest:g}")
    return dw


def _device_labels(like: DeviceArray, name: str, labels, n: int):
    if is_device(labels):
        y = DeviceArray(name, labels)
        _check_same_device(name, y, like, "a")
    else:
        from ..._validate import as_host_array
        y = as_host_array(name, labels)
    check_row_vector(name, y, n, "iub", "integer class labels", "label")
    return to_device(like, labels, "int64")


def _dense_codes(like: DeviceArray, y):
    """Equality is all the kernel needs: labels become dense int64 codes, on the device."""
    with on(like):
        if like.lib == "torch":
            return _torch().unique(y, sorted=True, return_inverse=True)[1].to(_torch().int64).contiguous()
        cupy = _cupy()
        return cupy.unique(y, return_inverse=True)[1].astype(cupy.int64).reshape(-1)


def _concat(like: DeviceArray, xs):
    with on(like):
        if like.lib == "torch":
            return _torch().cat(xs)
        return _cupy().concatenate(xs)
