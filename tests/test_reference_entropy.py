import itertools
import math

import numpy as np
import pytest

from pycx.reference import entropy as ref


def test_h2_closed_forms():
    assert ref.h2(0.5) == 1.0
    assert ref.h2(0.0) == 0.0 and ref.h2(1.0) == 0.0
    # h2(1/4) = 2 - (3/4) log2 3; 1e-15: a few roundings of O(1) values.
    assert abs(ref.h2(0.25) - (2 - 0.75 * math.log2(3))) < 1e-15
    np.testing.assert_allclose(ref.h2(np.array([0.1, 0.9, 0.0])),
                               [ref.h2(0.1), ref.h2(0.1), 0.0], rtol=0, atol=1e-15)
    assert abs(ref.h2(0.5, base=math.e) - math.log(2)) < 1e-15


def test_plugin_entropy_of_counts_and_of_rows_agree():
    assert ref.plugin_entropy(np.array([1, 1, 1, 1])) == 2.0
    assert ref.plugin_entropy(np.array([5])) == 0.0
    # Zero counts are states never seen: they change nothing.
    assert ref.plugin_entropy(np.array([2, 0, 2])) == 1.0
    rows = np.array([[0, 1], [0, 1], [1, 1], [0, 0]], np.uint8)
    assert ref.plugin_entropy(rows) == ref.plugin_entropy(np.array([2, 1, 1])) == 1.5
    assert abs(ref.plugin_entropy(np.array([2, 1, 1]), base=4) - 0.75) < 1e-15


def test_plugin_entropy_of_independent_fair_bits_is_the_bit_count(rng):
    m, d = 200_000, 4
    bits = rng.random((m, d)) < 0.5
    # At the uniform distribution the plug-in estimate's bias is -(S-1)/(2 M ln 2) = 5.4e-5
    # bits and its standard deviation is O(S/M) (the linear term vanishes there), so 1e-3
    # is more than ten times both.
    assert abs(ref.plugin_entropy(bits) - d) < 1e-3
    assert abs(ref.miller_madow_entropy(bits) - d) < 1e-3


def test_miller_madow_correction():
    counts = np.array([3, 1, 1, 0])
    expected = ref.plugin_entropy(counts) + (3 - 1) / (2 * 5 * math.log(2))
    assert ref.miller_madow_entropy(counts) == pytest.approx(expected, rel=1e-15)
    assert ref.miller_madow_entropy(np.array([7])) == 0.0


def test_total_correlation_identity_with_plugin_entropies(rng):
    # H + TC = sum_i h2(p_i) (definitions §4 eq. 6) holds exactly for the empirical distribution;
    # TC is computed independently as a KL divergence. 1e-12: sums of ~100 O(1) terms.
    for _ in range(5):
        x = (rng.random((300, 6)) < rng.random(6)).astype(np.uint8)
        x[:, 3] = x[:, 0] ^ x[:, 1]  # some dependence
        c_l = ref.h2(x.mean(axis=0)).sum()
        assert ref.plugin_entropy(x) + ref.plugin_total_correlation(x) == pytest.approx(c_l, abs=1e-12)


def test_total_correlation_of_a_product_design_is_zero():
    # All combinations of columns with rates 1/4 and 1/2: empirically exactly independent.
    x = np.array(list(itertools.product([0, 0, 0, 1], [0, 1], [1])), np.uint8)
    assert abs(ref.plugin_total_correlation(x)) < 1e-15
    assert ref.plugin_entropy(x) == pytest.approx(ref.h2(0.25) + 1.0, abs=1e-15)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"'p' must lie in \[0, 1\]"):
        ref.h2(1.5)
    with pytest.raises(ValueError, match="'p' contains NaN"):
        ref.h2(np.array([0.5, np.nan]))
    with pytest.raises(TypeError, match="'p' must hold probabilities"):
        ref.h2(np.array(["a"]))
    with pytest.raises(ValueError, match="'base' must not be 1"):
        ref.plugin_entropy(np.array([1, 2]), base=1)
    with pytest.raises(TypeError, match="'counts_or_bits' must hold integer counts"):
        ref.plugin_entropy(np.array([0.5, 0.5]))
    with pytest.raises(ValueError, match="'counts_or_bits' must be non-negative"):
        ref.plugin_entropy(np.array([3, -1]))
    with pytest.raises(ValueError, match="'counts_or_bits' has no counts"):
        ref.plugin_entropy(np.array([], np.int64))
    with pytest.raises(ValueError, match="'counts_or_bits' must have a positive total"):
        ref.miller_madow_entropy(np.array([0, 0]))
    with pytest.raises(ValueError, match="'counts_or_bits' must be 1-D counts or 2-D"):
        ref.plugin_entropy(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="'counts_or_bits' must hold only 0/1"):
        ref.plugin_entropy(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="'counts_or_bits' contains NaN"):
        ref.plugin_entropy(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="'counts_or_bits' must have at least 1 row"):
        ref.plugin_entropy(np.zeros((0, 3), np.uint8))
    with pytest.raises(TypeError, match="'bits' must have dtype in"):
        ref.plugin_total_correlation(np.array([["0", "1"]]))
