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


@pytest.fixture(scope="module")
def one_torch_thread():
    """Torch on one thread for a module of tiny-model tests: on a busy 2-core machine a second
    thread only adds synchronisation (10x slower)."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(params=pycx.supported_simd_levels())
def simd_level(request):
    """Runs a test once per SIMD level this CPU supports (scalar, avx2, avx512)."""
    with pycx.use_simd(request.param):
        yield request.param


EXPECT_GPU = os.environ.get("PYCX_EXPECT_GPU") == "1"


def pytest_configure(config):
    config.addinivalue_line("markers", "no_gpu: checks the behaviour without a usable GPU "
                            "(skipped where one is usable)")
    config.addinivalue_line("markers", "multi_gpu: needs two GPUs; its skip on a machine with "
                            "one is reported, never turned into a failure")


def pytest_collection_modifyitems(config, items):
    """GPU tests: skipped (with the CUDA reason) where no GPU is usable, unless the runner
    sets PYCX_EXPECT_GPU=1, in which case they run and fail loudly. ``no_gpu`` tests are the
    opposite: skipped where a GPU is usable."""
    info = pycx.build_info()
    if info["gpu_usable"]:
        skip = pytest.mark.skip(reason="a GPU is usable here (no_gpu test)")
        for item in items:
            if "no_gpu" in item.keywords:
                item.add_marker(skip)
        return
    if EXPECT_GPU:
        return
    skip = pytest.mark.skip(reason=f"no usable GPU: {info['gpu_reason']}")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def _must_not_skip(item) -> bool:
    """With PYCX_EXPECT_GPU=1, a skipped GPU test (a ``gpu`` test, or any test of
    test_cuda.py other than the ``no_gpu`` ones) is a failure: a device check never passes by
    skipping (a missing CUDA module, cupy or device included). Exempt: ``no_gpu`` tests, and
    ``multi_gpu`` ones (a one-GPU machine cannot run them; pytest -rA lists the skip)."""
    if not EXPECT_GPU or "no_gpu" in item.keywords or "multi_gpu" in item.keywords:
        return False
    return "gpu" in item.keywords or item.path.name == "test_cuda.py"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _must_not_skip(item) and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped under PYCX_EXPECT_GPU=1 (a GPU test must run): {reason}"


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
