"""pack_bits vs ``np.packbits(x > t, axis=1)`` on float32 (1e7 values). Goal: >= 3x."""
import numpy as np
import pytest

import pycx

X = np.random.default_rng(0).standard_normal((10_000, 1_000)).astype(np.float32)


@pytest.mark.benchmark(group="pack_bits float32 10000x1000")
def test_pack_bits_numpy(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark(lambda: np.packbits(X > 0.0, axis=1))


@pytest.mark.benchmark(group="pack_bits float32 10000x1000")
def test_pack_bits_pycx(benchmark):
    benchmark.extra_info.update(role="pycx", goal=3.0, simd=pycx.simd_level())
    benchmark(pycx.pack_bits, X, 0.0)


NCHW = np.random.default_rng(1).standard_normal((500, 64, 16, 16)).astype(np.float32)


@pytest.mark.benchmark(group="pack_per_patch float32 500x64x16x16")
def test_pack_per_patch_numpy(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark(lambda: np.packbits(NCHW.transpose(0, 2, 3, 1).reshape(-1, 64) > 0.0, axis=1))


@pytest.mark.benchmark(group="pack_per_patch float32 500x64x16x16")
def test_pack_per_patch_pycx(benchmark):
    benchmark.extra_info.update(role="pycx", simd=pycx.simd_level())
    benchmark(pycx.pack_per_patch, NCHW, 0.0)
