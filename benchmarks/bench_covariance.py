"""Covariance.update vs one float64 ``X.T @ X`` (numpy/BLAS dsyrk) on the same 100000 x 256 rows.
Goal: at most 1.5x the time of the raw product, i.e. a speed-up >= 1/1.5 ~ 0.667, while
centring (stable) instead of accumulating raw moments."""
import numpy as np
import pytest

import pycx

X64 = np.random.default_rng(0).standard_normal((100_000, 256))
X32 = X64.astype(np.float32)
GROUP = "covariance 100000x256"


@pytest.mark.benchmark(group=GROUP)
def test_covariance_numpy_gram(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark(lambda: X64.T @ X64)


@pytest.mark.benchmark(group=GROUP)
def test_covariance_pycx_float64(benchmark):
    benchmark.extra_info.update(role="pycx", goal=1 / 1.5, dtype="float64")
    benchmark(lambda: pycx.Covariance(256).update(X64))


@pytest.mark.benchmark(group=GROUP)
def test_covariance_pycx_float32(benchmark):
    benchmark.extra_info.update(role="pycx", goal=1 / 1.5, dtype="float32")
    benchmark(lambda: pycx.Covariance(256).update(X32))


# Pixel-wise effective dimension: one 64 x 64 covariance per position of a 16 x 16 map.
NCHW = np.random.default_rng(1).standard_normal((500, 64, 16, 16)).astype(np.float32)
GROUP_MAP = "covariance per pixel 500x64x16x16"


@pytest.mark.benchmark(group=GROUP_MAP)
def test_covariance_map_numpy_two_pass(benchmark):
    benchmark.extra_info["role"] = "baseline"

    def two_pass():
        x = NCHW.transpose(2, 3, 0, 1).astype(np.float64)
        c = x - x.mean(axis=-2, keepdims=True)
        return np.swapaxes(c, -1, -2) @ c / x.shape[-2]
    benchmark(two_pass)


@pytest.mark.benchmark(group=GROUP_MAP)
def test_covariance_map_pycx(benchmark):
    benchmark.extra_info.update(role="pycx")
    benchmark(lambda: pycx.Covariance(64, (16, 16)).update(NCHW.transpose(2, 3, 0, 1)).covariance())
