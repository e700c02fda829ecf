"""Stress suite (issue 13): sizes the other tests never reach. ``-m slow``; runs in CI.

* `state_counts` on 5,000,000 rows of 30 and 64 bits, mostly distinct, on 1 and 2 threads,
  against ``np.unique`` (the state table grows to millions of slots, partitions included).
* More than 65,536 distinct states (the size at which the table first grows; it crashed
  there before the fix) through every estimator built on `state_counts`, against numpy or a
  closed form: plug-in, Miller-Madow, resolution/relevance, the KDE entropy (deduplicated
  states) and the XGBoost chain rule's dedup path.

Measured on the 2-core CI-sized machine (loaded): about 2 minutes in all.
"""
import math

import numpy as np
import pytest

import pycx
from pycx.reference import relevance as ref_relevance

pytestmark = pytest.mark.slow

N_ROWS = 5_000_000
CUBE_BITS = 17  # 131,072 distinct states: twice the size at which the table first grows


def _first_occurrence_unique(values: np.ndarray):
    """(counts, inverse) of 1-D values, states numbered by first occurrence (the kernel's
    order), from np.unique."""
    _, first, inverse, counts = np.unique(values, return_index=True, return_inverse=True,
                                          return_counts=True)
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return counts[order], rank[inverse.reshape(-1)], first[order]


@pytest.fixture(scope="module", params=[30, 64])
def many_rows(request):
    """5,000,000 one-word rows of `bits` random bits (30 bits: ~12,000 birthday duplicates;
    64 bits: all distinct, so 10% of the rows are repeated copies), and the np.unique answer."""
    bits = request.param
    rng = np.random.default_rng(bits)
    fresh = N_ROWS - (N_ROWS // 10 if bits == 64 else 0)
    values = rng.integers(0, 2**bits, fresh, dtype=np.uint64, endpoint=False) if bits < 64 else \
        rng.integers(0, 2**64 - 1, fresh, dtype=np.uint64, endpoint=True)
    if fresh < N_ROWS:
        values = np.concatenate([values, values[rng.integers(0, fresh, N_ROWS - fresh)]])
        values = values[rng.permutation(N_ROWS)]
    return bits, values, _first_occurrence_unique(values)


@pytest.mark.parametrize("threads", [1, 2])
def test_state_counts_of_five_million_rows(many_rows, threads):
    bits, values, (counts, inverse, first) = many_rows
    got = pycx.state_counts(pycx.PackedBits(values[:, None], bits), threads=threads)
    assert got.n_states == counts.size > 4_000_000  # mostly distinct
    np.testing.assert_array_equal(got.counts, counts)
    np.testing.assert_array_equal(got.inverse, inverse)
    np.testing.assert_array_equal(got.states.words[:, 0], values[first])


@pytest.fixture(scope="module")
def cube_twice():
    """Every state of the 17-bit hypercube twice, plus 5,000 more copies of 50 states, in a
    shuffled order: 131,072 distinct states, known counts."""
    rng = np.random.default_rng(17)
    cube = np.arange(2**CUBE_BITS, dtype=np.uint64)
    values = np.concatenate([cube, cube, rng.choice(cube[:50], 5000)])
    values = values[rng.permutation(values.size)]
    return pycx.PackedBits(values[:, None].copy(), CUBE_BITS), values


def test_count_estimators_past_65536_states(cube_twice):
    packed, values = cube_twice
    counts, _, _ = _first_occurrence_unique(values)
    assert counts.size == 2**CUBE_BITS
    p = counts / values.size
    plugin = float(-(p * np.log2(p)).sum())
    # Same float64 terms, summed in another order: a few ulps of 17 bits.
    assert pycx.plugin_entropy(packed).entropy == pytest.approx(plugin, rel=1e-12)
    mm = pycx.miller_madow_entropy(packed)
    assert mm.n_states == counts.size
    assert mm.entropy == pytest.approx(plugin + (counts.size - 1) / (2 * values.size * math.log(2)), rel=1e-12)
    rr = pycx.resolution_relevance(packed, labels=(values % 3).astype(np.int64))
    want = ref_relevance.resolution_relevance(counts)
    assert rr.n_states == counts.size
    assert rr.h_s == pytest.approx(want.h_s, rel=1e-12) and rr.h_k == pytest.approx(want.h_k, rel=1e-12)
    # Every state but the 50 holds 2 rows; labels are a function of the state: no error.
    assert rr.classification_error == 0.0


def test_kde_entropy_of_the_hypercube_past_65536_states():
    # Every state of the 17-bit hypercube twice: every row's kernel sum is exactly
    # 2 (1 + q)^17 with q = exp(-1 / (2 s2)), so H = 17 (1 - log2(1 + q)) bits (definitions §4, eq. 2).
    cube = np.arange(2**CUBE_BITS, dtype=np.uint64)
    packed = pycx.PackedBits(np.concatenate([cube, cube])[:, None].copy(), CUBE_BITS)
    r = pycx.kde_entropy(packed, alpha=0.1, bandwidth="d")
    assert r.n_states == 2**CUBE_BITS
    q = math.exp(-1.0 / (2.0 * r.s2))
    # Float64 sums of 131,072 terms (relative error ~1e-13) inside a log: ~1e-12 bits.
    assert r.entropy == pytest.approx(CUBE_BITS * (1.0 - math.log2(1.0 + q)), abs=1e-9)


def test_xgb_entropy_dedup_path_past_65536_states():
    pytest.importorskip("xgboost")
    # Uniform independent bits: the chain rule's truth is 17 bits; each column's classifier can
    # only learn noise, so the cross-fitted estimate sits a little above 17 (held-out log loss).
    cube = np.arange(2**CUBE_BITS, dtype=np.uint64)
    packed = pycx.PackedBits(np.concatenate([cube, cube])[:, None].copy(), CUBE_BITS)
    r = pycx.xgb_entropy(packed, n_estimators=5, dedup=True, seed=0)
    # Measured 17.0009 bits: 5 shallow trees on 65,536+ distinct rows per fold overfit random
    # labels by ~5e-5 bits per column; the held-out noise is ~1e-3 bits in all.
    assert CUBE_BITS - 0.01 < r.entropy < CUBE_BITS + 0.1
