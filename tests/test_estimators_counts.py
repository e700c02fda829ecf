"""Plug-in and Miller–Madow entropies from state counts (definitions §5.2) against the reference."""
import numpy as np
import pytest

import pycx
from pycx.reference import entropy as ref

# Same float64 formula on the same counts, summed in another order: a few ulps.
TOL = dict(rtol=1e-12, atol=1e-12)


def cases(rng):
    yield (rng.random((500, 12)) < 0.3).astype(np.uint8)
    yield (rng.random((1, 5)) < 0.5).astype(np.uint8)          # one row
    yield np.zeros((40, 70), dtype=bool)                        # one state, 2 words
    yield np.eye(33, dtype=np.float64)                          # all distinct
    protos = (rng.random((3, 200)) < 0.5).astype(np.int32)
    yield protos[rng.integers(0, 3, 300)]


def test_match_reference(rng):
    for z in cases(rng):
        for fn, rfn in ((pycx.plugin_entropy, ref.plugin_entropy),
                        (pycx.miller_madow_entropy, ref.miller_madow_entropy)):
            np.testing.assert_allclose(fn(z).entropy, rfn(z), **TOL)
            np.testing.assert_allclose(fn(pycx.pack_bits(z)).entropy, rfn(z), **TOL)
            np.testing.assert_allclose(fn(z, base=np.e).entropy, rfn(z, base=np.e), **TOL)


def test_counts_and_state_counts_input(rng):
    z = (rng.random((300, 6)) < 0.4).astype(np.uint8)
    counts = np.array([5, 0, 3, 1, 1, 12])
    np.testing.assert_allclose(pycx.plugin_entropy(counts).entropy, ref.plugin_entropy(counts), **TOL)
    r = pycx.miller_madow_entropy(counts)
    assert (r.n_rows, r.n_states) == (22, 5)
    sc = pycx.state_counts(pycx.pack_bits(z))
    assert pycx.plugin_entropy(sc).entropy == pytest.approx(ref.plugin_entropy(z), rel=1e-12)


def test_independent_units_plugin_matches_truth_at_small_width(rng):
    p = np.array([0.1, 0.3, 0.5, 0.7, 0.2, 0.45])
    z = (rng.random((200000, 6)) < p).astype(np.uint8)
    truth = float(np.sum(ref.h2(p)))
    # 64 states, 200,000 rows: plug-in bias (S-1)/(2M ln 2) ~ 2e-4 bits, noise ~3e-3 bits.
    assert abs(pycx.plugin_entropy(z).entropy - truth) < 0.01
    assert abs(pycx.miller_madow_entropy(z).entropy - truth) < 0.01


def test_bad_input():
    with pytest.raises(ValueError, match="0/1"):
        pycx.plugin_entropy(np.full((3, 3), 2))
    with pytest.raises(ValueError, match="non-negative"):
        pycx.plugin_entropy(np.array([3, -1]))
    with pytest.raises(ValueError, match="no samples"):
        pycx.miller_madow_entropy(np.array([0, 0]))
    with pytest.raises(TypeError, match="integer"):
        pycx.plugin_entropy(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="row"):
        pycx.plugin_entropy(np.zeros((0, 4), np.uint8))
    with pytest.raises(ValueError, match="method"):
        pycx.entropy(np.zeros((3, 3), np.uint8), method="nsbx")


def _exact_plugin_bits(counts):
    """Reference: H = log2 M - sum k log2 k / M with Python ints and math.log2 (no overflow)."""
    import math
    ks = [int(k) for k in counts if int(k) > 0]
    m = sum(ks)
    return math.log2(m) - sum(k * math.log2(k) for k in ks) / m, m


@pytest.mark.parametrize("counts", [
    np.array([2**63, 2**63], np.uint64),                      # each >= 2**63 (was dropped)
    np.array([2**64 - 1, 1, 2**63, 0], np.uint64),
    np.array([2**62, 2**62, 2**62], np.int64),                 # total overflows int64 (was NaN)
    np.array([2**63 - 1] * 5 + [7], np.int64),
])
def test_huge_counts_are_summed_exactly(counts):
    # Issue 13.7.
    want, m = _exact_plugin_bits(counts)
    r = pycx.plugin_entropy(counts)
    assert r.n_rows == m and r.n_states == int((counts > 0).sum())
    # float64 probabilities from the exact total: a few ulps of log2(S) bits.
    assert r.entropy == pytest.approx(want, rel=1e-12, abs=1e-12)
    mm = pycx.miller_madow_entropy(counts)
    assert mm.n_rows == m
    assert mm.entropy == pytest.approx(want + (r.n_states - 1) / (2 * m * np.log(2)), rel=1e-12, abs=1e-12)
