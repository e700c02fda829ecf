"""Small inputs with the default thread count (issue 13.13): every array kernel called on a
tiny input with ``threads=None`` must stay within 2x of the same call with ``threads=1``
(goal: speed-up >= 0.5 against the single-thread baseline). Before the work thresholds of
``pycx/kernels/_threads.py`` the default woke every OpenMP thread: packing 1000 x 8 floats took
0.6-12 ms on a loaded machine against 6 us on one thread.

Large inputs: the default against an explicit ``threads=os.cpu_count()`` (what the default
did before), recorded without a goal: above the thresholds nothing changed (ratio ~1 on an
idle machine; a loaded one makes the multi-threaded side noisy).

Run: ``pytest benchmarks/bench_small_inputs.py --benchmark-enable``.
"""
import os

import numpy as np
import pytest

import pycx

RNG = np.random.default_rng(0)
CORES = os.cpu_count() or 1


def _packed(rows, bits):
    return pycx.pack_bits(RNG.standard_normal((rows, bits)))


SMALL_ROWS = RNG.standard_normal((1000, 8)).astype(np.float32)
SMALL_NCHW = RNG.standard_normal((4, 8, 4, 4)).astype(np.float32)
SMALL_A, SMALL_B = _packed(200, 100), _packed(300, 100)
SMALL_PARTS = [_packed(1000, 70), _packed(1000, 30)]

# name -> call(threads); one small-input case per array kernel.
SMALL = {
    "pack_bits 1000x8": lambda t: pycx.pack_bits(SMALL_ROWS, threads=t),
    "pack_per_sample 4x8x4x4": lambda t: pycx.pack_per_sample(SMALL_NCHW, threads=t),
    "pack_per_patch 4x8x4x4": lambda t: pycx.pack_per_patch(SMALL_NCHW, threads=t),
    "concat_bits 1000x(70+30)": lambda t: pycx.concat_bits(SMALL_PARTS, threads=t),
    "state_counts 200x100": lambda t: pycx.state_counts(SMALL_A, threads=t),
    "kde_sums 200x200x100": lambda t: pycx.kde_sums(SMALL_A, s2=5.0, threads=t),
    "kde_sums 200x300x100": lambda t: pycx.kde_sums(SMALL_A, SMALL_B, s2=5.0, threads=t),
    "hamming_distances 200x300x100": lambda t: pycx.hamming_distances(SMALL_A, SMALL_B, threads=t),
}

LARGE_ROWS = RNG.standard_normal((20_000, 1_000)).astype(np.float32)  # 80 MB
LARGE_A = _packed(3000, 256)
LARGE = {
    "pack_bits 20000x1000": lambda t: pycx.pack_bits(LARGE_ROWS, threads=t),
    "kde_sums 3000x3000x256": lambda t: pycx.kde_sums(LARGE_A, s2=20.0, threads=t),
}


@pytest.mark.parametrize("name", list(SMALL))
@pytest.mark.parametrize("role", ["baseline", "pycx"])
def test_small_input(benchmark, name, role):
    benchmark.group = f"small {name}"
    if role == "baseline":
        benchmark.extra_info["role"] = "baseline"
        benchmark(SMALL[name], 1)
    else:
        benchmark.extra_info.update(role="pycx", goal=0.5)
        benchmark(SMALL[name], None)


@pytest.mark.parametrize("name", list(LARGE))
@pytest.mark.parametrize("role", ["baseline", "pycx"])
def test_large_input_unchanged(benchmark, name, role):
    benchmark.group = f"large {name}"
    if role == "baseline":
        benchmark.extra_info["role"] = "baseline"
        benchmark(LARGE[name], CORES)
    else:
        benchmark.extra_info.update(role="pycx", cores=CORES)
        benchmark(LARGE[name], None)
