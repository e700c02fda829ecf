"""`build_info()`: what this installation was built with and what it can use now."""
from __future__ import annotations

import importlib
import importlib.util


def cuda_module():
    """Imports pycx._cuda on first use (never at `import pycx`). Returns None if not built."""
    if importlib.util.find_spec("pycx._cuda") is None:
        return None
    return importlib.import_module("pycx._cuda")


def _cuda_version(v: int) -> str:
    """13000 -> "13.0" (the encoding of cudaRuntimeGetVersion / cudaDriverGetVersion)."""
    return f"{v // 1000}.{(v % 1000) // 10}"


def gpu_reason(probe: dict) -> str | None:
    """Why no GPU is usable, from `pycx._cuda.probe_devices()`; None when one is. A driver older
    than the CUDA runtime pycx._cuda was built with is named as such: torch (with its own,
    older runtime) may still see the GPU, so nothing else would point at it.

    >>> gpu_reason({"device_count": 0, "error": "cudaErrorInsufficientDriver: ...",
    ...             "runtime_version": 13000, "driver_version": 12080})[:48]
    'the NVIDIA driver supports CUDA 12.8, but pycx._'
    """
    if probe["device_count"] > 0:
        return None  # (a newer minor runtime on an older driver of the same major version works)
    runtime, driver = probe.get("runtime_version", 0), probe.get("driver_version", 0)
    if driver and runtime and driver < runtime:
        return (f"the NVIDIA driver supports CUDA {_cuda_version(driver)}, but pycx._cuda was built "
                f"with CUDA {_cuda_version(runtime)}: update the driver, or rebuild pycx with an nvcc "
                f"of CUDA {_cuda_version(driver)} or older ({probe['error'] or 'no device'})")
    if not driver:
        return f"no NVIDIA driver found ({probe['error'] or 'no device'})"
    return probe["error"] or "no CUDA device is visible"


def build_info() -> dict:
    """Version, compiler, SIMD levels (compiled, supported, selected), thread count, and the
    CUDA module's state: compiled or not, the CUDA runtime it links and the driver's CUDA
    version, and whether a GPU is usable (if not, why).

    >>> info = build_info()
    >>> info["gpu_usable"] or bool(info["gpu_reason"])  # an unusable GPU always says why
    True
    """
    from . import _cpu

    info = {
        "version": _cpu.version,
        "compiler": _cpu.compiler,
        "simd_compiled": list(_cpu.compiled_simd_levels()),
        "simd_supported": list(_cpu.supported_simd_levels()),
        "simd_selected": _cpu.simd_level(),
        "threads": _cpu.max_threads(),
        "cuda_compiled": False,
        "cuda_architectures": None,
        "cuda_runtime_version": None,
        "cuda_driver_version": None,
        "gpu_usable": False,
        "gpu_count": 0,
        "gpu_name": None,
        "gpu_compute_capability": None,
        "gpu_reason": None,
    }
    try:
        cuda = cuda_module()
    except ImportError as exc:  # built but cannot load (e.g. no driver library)
        info["cuda_compiled"] = True
        info["gpu_reason"] = f"pycx._cuda failed to import: {exc}"
        return info
    if cuda is None:
        info["gpu_reason"] = "pycx._cuda was not built (no nvcc at build time or PYCX_CUDA=OFF)"
        return info
    info["cuda_compiled"] = True
    info["cuda_architectures"] = cuda.architectures
    probe = cuda.probe_devices()
    if probe["runtime_version"]:
        info["cuda_runtime_version"] = _cuda_version(probe["runtime_version"])
    if probe["driver_version"]:
        info["cuda_driver_version"] = _cuda_version(probe["driver_version"])
    info["gpu_reason"] = gpu_reason(probe)
    info["gpu_usable"] = info["gpu_reason"] is None
    info["gpu_count"] = probe["device_count"]
    info["gpu_name"] = probe["name"] or None
    info["gpu_compute_capability"] = probe["compute_capability"] or None
    return info
