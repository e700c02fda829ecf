"""Hamming-kernel sums and distances vs the numpy reference. Goals: kde_sums >= 50x the
reference, and >= 70% of this machine's xor+popcount peak (register-blocked kernel on in-L1
data, all threads, measured in the same run).

The reference runs once per size (it takes tens of seconds) and in 1000-row chunks of A
against all of B: exactly the work of one call, without its n x n float64 temporaries.
"""
import numpy as np
import pytest

import pycx
from pycx.reference import kde_sums as ref

SIZES = [(2000, 16384), (10000, 1024)]
ALPHA = 0.01  # bandwidth s2 = alpha * d (docs/definitions.md §4, the option V = d)
_rng = np.random.default_rng(0)
_GATES = {size: (_rng.random(size) < 0.3).astype(np.uint8) for size in SIZES}
_PACKED = {size: pycx.pack_bits(x) for size, x in _GATES.items()}


def measured_peak() -> float:
    """64-bit word pairs xor+popcounted per second at peak, all threads (best of three, so
    that a moment of load on a shared machine does not flatter the fraction)."""
    return max(pycx._cpu.xor_popcount_peak(0.5, 0) for _ in range(3))


def reference_in_chunks(x, s2, chunk=1000):
    return np.concatenate([ref.kde_sums(x[i:i + chunk], x, s2=s2).total
                           for i in range(0, len(x), chunk)])


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"n{s[0]}-d{s[1]}")
def test_kde_sums_reference(benchmark, size):
    benchmark.group = f"kde_sums symmetric n={size[0]} d={size[1]}"
    benchmark.extra_info.update(role="baseline", method="numpy float64 BLAS, 1000-row chunks")
    benchmark.pedantic(reference_in_chunks, args=(_GATES[size], ALPHA * size[1]), rounds=1,
                       iterations=1)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"n{s[0]}-d{s[1]}")
def test_kde_sums_pycx(benchmark, size):
    n, d = size
    packed = _PACKED[size]
    benchmark.group = f"kde_sums symmetric n={n} d={d}"
    peak_before = measured_peak()
    benchmark.pedantic(pycx.kde_sums, args=(packed,), kwargs={"s2": ALPHA * d}, rounds=5,
                       iterations=1, warmup_rounds=1)
    peak = max(peak_before, measured_peak())
    if benchmark.stats is None:  # benchmarks disabled: a smoke run, nothing was timed
        return
    # Symmetric: n(n+1)/2 pairs of rows, each `words` word pairs.
    rate = n * (n + 1) / 2 * packed.n_words / benchmark.stats.stats.min
    benchmark.extra_info.update(role="pycx", goal=50.0, simd=pycx.simd_level(),
                                word_pairs_per_s=rate, peak_word_pairs_per_s=peak,
                                peak_fraction=rate / peak, peak_fraction_goal=0.7)


def test_xor_popcount_peak(benchmark):
    """The machine's peak rate alone (reported in extra_info; no baseline)."""
    benchmark.group = "xor+popcount peak"
    rate = benchmark.pedantic(pycx._cpu.xor_popcount_peak, args=(0.5, 0), rounds=3, iterations=1)
    benchmark.extra_info.update(simd=pycx.simd_level(), word_pairs_per_s=rate)


HAMMING_SIZE = (2000, 2048)
_HAMMING_GATES = (np.random.default_rng(1).random(HAMMING_SIZE) < 0.5).astype(np.uint8)
_HAMMING_PACKED = pycx.pack_bits(_HAMMING_GATES)


@pytest.mark.benchmark(group="hamming_distances n=2000 d=2048")
def test_hamming_distances_reference(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark.pedantic(ref.hamming_distances, args=(_HAMMING_GATES,), rounds=2, iterations=1)


@pytest.mark.benchmark(group="hamming_distances n=2000 d=2048")
def test_hamming_distances_pycx(benchmark):
    benchmark.extra_info.update(role="pycx", goal=20.0, simd=pycx.simd_level())
    benchmark(pycx.hamming_distances, _HAMMING_PACKED)
