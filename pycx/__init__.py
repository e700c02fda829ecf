"""pycx: fast complexity metrics of neural networks.

``import pycx`` is cheap: it loads numpy and the CPU kernels only. torch, the CUDA module and
the GPU are touched only when a function that needs them is called.
"""
from __future__ import annotations

from contextlib import contextmanager

from . import _cpu
from ._build import build_info
from .kernels.pack_bits import concat_bits, pack_bits, pack_per_patch, pack_per_sample
from .packed import PackedBits

__version__ = _cpu.version


def simd_level() -> str:
    """The SIMD level the CPU kernels use now: "scalar", "avx2" or "avx512"."""
    return _cpu.simd_level()


def set_simd_level(name: str) -> None:
    """Forces a SIMD level ("scalar", "avx2", "avx512" or "auto"); the environment variable
    PYCX_SIMD does the same at import. Raises ValueError if this CPU lacks it."""
    _cpu.set_simd_level(name)


def supported_simd_levels() -> list:
    """Levels this build has code for and this CPU can run, lowest first."""
    return list(_cpu.supported_simd_levels())


@contextmanager
def use_simd(name: str):
    """Context manager: run the enclosed kernels at SIMD level `name`."""
    previous = _cpu.simd_level()
    _cpu.set_simd_level(name)
    try:
        yield
    finally:
        _cpu.set_simd_level(previous)


__all__ = [
    "PackedBits", "build_info", "concat_bits", "pack_bits", "pack_per_patch", "pack_per_sample",
    "set_simd_level", "simd_level", "supported_simd_levels", "use_simd",
]
