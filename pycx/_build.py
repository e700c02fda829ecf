"""`build_info()`: what this installation was built with and what it can use now."""
from __future__ import annotations

import importlib
import importlib.util


def cuda_module():
    """Imports pycx._cuda on first use (never at `import pycx`). Returns None if not built."""
    if importlib.util.find_spec("pycx._cuda") is None:
        return None
    return importlib.import_module("pycx._cuda")


def build_info() -> dict:
    """Version, compiler, SIMD levels (compiled, supported, selected), thread count, and the
    CUDA module's state: compiled or not, and whether a GPU is usable (if not, why)."""
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
        "gpu_usable": False,
        "gpu_name": None,
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
    info["gpu_usable"] = probe["device_count"] > 0
    info["gpu_name"] = probe["name"] or None
    info["gpu_reason"] = probe["error"] or None
    return info
