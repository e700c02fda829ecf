import os

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import pycx

# The SIMD-level fixture is deliberately shared by all examples of a property test (it only
# selects which kernel runs), so hypothesis' function-scoped-fixture check does not apply.
# CI runs derandomized so a red run can be reproduced; locally examples vary run to run.
settings.register_profile(
    "pycx", deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
    derandomize=bool(os.environ.get("CI")))
settings.load_profile("pycx")


def pytest_report_header(config):
    info = pycx.build_info()
    return [f"pycx {info['version']} from {os.path.dirname(pycx.__file__)}",
            "pycx build_info: " + ", ".join(f"{k}={v}" for k, v in info.items())]


@pytest.fixture(params=pycx.supported_simd_levels())
def simd_level(request):
    """Runs a test once per SIMD level this CPU supports (scalar, avx2, avx512)."""
    with pycx.use_simd(request.param):
        yield request.param


def pytest_collection_modifyitems(config, items):
    """GPU tests: skipped (with the CUDA reason) where no GPU is usable, unless the runner
    sets PYCX_EXPECT_GPU=1, in which case they run and fail loudly."""
    if os.environ.get("PYCX_EXPECT_GPU") == "1":
        return
    info = pycx.build_info()
    if info["gpu_usable"]:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {info['gpu_reason']}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
