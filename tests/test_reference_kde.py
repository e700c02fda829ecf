import math

import numpy as np
import pytest

from pycx.reference import kde as ref
from pycx.reference.entropy import h2, plugin_entropy
from pycx.reference.kde_sums import kde_sums


def _markov_chain(rng, n, d, flip=0.05):
    """Rows whose unit i copies unit i-1 except for rare flips: strongly coupled units."""
    x = np.zeros((n, d), np.uint8)
    x[:, 0] = rng.random(n) < 0.5
    for i in range(1, d):
        x[:, i] = x[:, i - 1] ^ (rng.random(n) < flip)
    return x


def test_default_alpha_and_bandwidth():
    assert ref.default_alpha(4) == 0.04 and ref.default_alpha(3) == 0.04
    assert ref.default_alpha(2) == 0.01
    g = np.array([[1, 1, 0], [0, 0, 0], [1, 0, 0], [0, 0, 0]], np.uint8)
    # p = (1/2, 1/4, 0): V = 1/4 + 3/16.
    assert ref.kde_bandwidth(g, 0.04) == pytest.approx(0.04 * (0.25 + 0.1875), rel=1e-15)
    assert ref.kde_bandwidth(g, 0.04, mode="d") == pytest.approx(0.12, rel=1e-15)
    assert ref.kde_bandwidth(np.ones((3, 5), bool), 0.01) == 0.0
    assert ref.layer_sum_entropy(g) == pytest.approx(1.0 + h2(0.25), abs=1e-15)


def test_kde_entropy_of_identical_rows_is_zero():
    g = np.tile(np.array([[1, 0, 1, 1, 0]], np.uint8), (7, 1))
    for s2 in [0.0, 1e-3, 0.5, 100.0]:
        assert ref.kde_entropy(g, s2) == 0.0


def test_kde_entropy_of_far_apart_rows_is_log2_n():
    n = 8
    g = np.eye(n, dtype=np.uint8)  # pairwise Hamming distance 2
    # s2 = 0.01: off-diagonal kernel exp(-100) ~ 4e-44, so H = log2 n - O(1e-43).
    assert ref.kde_entropy(g, 0.01) == pytest.approx(math.log2(n), abs=1e-12)
    assert ref.kde_entropy(g, 0.0) == math.log2(n)
    # Extremely small s2: exp underflows to 0 but the log-space sums stay exact.
    assert ref.kde_entropy(g, 1e-300) == pytest.approx(math.log2(n), abs=1e-12)
    # Very wide kernel: every K ~ 1, H ~ 0 (K = 1 - h/(2 s2) + ..., h <= 2).
    assert 0.0 <= ref.kde_entropy(g, 1e12) < 1e-11


def test_kde_entropy_by_hand_and_zero_bandwidth_limit(rng):
    # Two rows at distance 1, s2 = 1/2: K_01 = e^-1, H = -log2((1 + e^-1)/2).
    g = np.array([[0, 0], [1, 0]], np.uint8)
    assert ref.kde_entropy(g, 0.5) == pytest.approx(-math.log2((1 + math.exp(-1)) / 2), abs=1e-15)
    # s2 -> 0: K = 1[rows equal], so H is the plug-in entropy of the rows.
    x = (rng.random((60, 3)) < 0.3).astype(np.uint8)
    # 1e-12: a mean of 60 logs of exact count ratios against a sum of S terms.
    assert ref.kde_entropy(x, 0.0) == pytest.approx(plugin_entropy(x), abs=1e-12)
    assert ref.kde_entropy(x, 1e-6) == pytest.approx(plugin_entropy(x), abs=1e-12)


def test_kde_conditional_entropy_and_mutual_information(rng):
    # Two classes, identical rows inside each, far apart between: H = 1, H|Y = 0, I = 1.
    g = np.array([[1, 1, 1, 1]] * 3 + [[0, 0, 0, 0]] * 3, np.uint8)
    y = np.array([5, 5, 5, 9, 9, 9])
    assert ref.kde_entropy(g, 0.01) == pytest.approx(1.0, abs=1e-12)
    assert ref.kde_conditional_entropy(g, y, 0.01) == 0.0
    assert ref.kde_mutual_information(g, y, 0.01) == pytest.approx(1.0, abs=1e-12)
    # One class: conditioning changes nothing. Singleton classes: each H is 0.
    x = (rng.random((30, 12)) < 0.5).astype(np.uint8)
    assert ref.kde_conditional_entropy(x, np.zeros(30, np.int64), 0.3) == pytest.approx(
        ref.kde_entropy(x, 0.3), abs=1e-14)
    assert ref.kde_conditional_entropy(x, np.arange(30), 0.3) == 0.0


def test_conditional_entropy_equals_the_same_label_kernel_sum_form(rng):
    # The form a fast path uses: -(1/n) sum_j log2( same_label_sum_j / n_{y_j} ).
    x = (rng.random((50, 20)) < 0.4).astype(np.uint8)
    y = rng.integers(0, 4, 50)
    s2 = ref.kde_bandwidth(x, 0.04)
    sums = kde_sums(x, s2=s2, labels=y)
    class_sizes = np.bincount(y)[y]
    expected = -np.mean(np.log2(sums.same_label / class_sizes))
    # 1e-12: the same ~2500 kernel values summed in two orders.
    assert ref.kde_conditional_entropy(x, y, s2) == pytest.approx(expected, abs=1e-12)
    assert ref.kde_entropy(x, s2) == pytest.approx(-np.mean(np.log2(sums.total / 50)), abs=1e-12)


def test_synthetic_rows_follow_the_documented_draw():
    x = np.array([[1, 0, 1], [1, 1, 0], [1, 0, 0], [1, 0, 0]], np.uint8)
    p = x.mean(axis=0)
    stream = np.random.default_rng(np.random.SeedSequence(7, spawn_key=(0x54434B44,)))
    expected = (stream.random((4, 3)) < p).astype(np.uint8)
    np.testing.assert_array_equal(ref.synthetic_independent_rows(x, 7), expected)
    # Rate-1 and rate-0 units are reproduced exactly.
    many = ref.synthetic_independent_rows(np.tile(x, (50, 1)), 1)
    assert many[:, 0].all()


def test_total_correlation_equals_its_kernel_sum_form(rng):
    x = _markov_chain(rng, 80, 24)
    s2 = ref.kde_bandwidth(x, 0.04)
    n = x.shape[0]
    synthetic = ref.synthetic_independent_rows(x, 3)
    own = kde_sums(x, s2=s2).total
    cross = kde_sums(x, synthetic, s2=s2).total
    loo = np.mean(np.log2(((own - 1.0) / (n - 1)) / (cross / n)))
    printed = np.mean(np.log2((own / n) / (cross / n)))
    # 1e-10: log-space and direct sums of the same kernel values; kernel values here are
    # not below ~1e-100, so no underflow separates the two.
    assert ref.kde_total_correlation(x, s2, 3) == pytest.approx(loo, abs=1e-10)
    assert ref.kde_total_correlation(x, s2, 3, leave_one_out=False) == pytest.approx(printed, abs=1e-10)


def test_total_correlation_of_constant_rows_is_zero():
    # Rates are 0/1, so the synthetic rows equal the data rows and every kernel value is 1.
    g = np.tile(np.array([[1, 0, 0, 1]], np.uint8), (5, 1))
    assert ref.kde_total_correlation(g, 0.1, 0) == 0.0
    assert ref.kde_total_correlation(g, 0.0, 0) == 0.0


def test_total_correlation_separates_independent_from_coupled_units():
    rng = np.random.default_rng(1000)
    n, d = 400, 30
    independent = (rng.random((n, d)) < rng.uniform(0.1, 0.9, d)).astype(np.uint8)
    coupled = _markov_chain(rng, n, d)
    tc_independent = ref.kde_total_correlation(independent, ref.kde_bandwidth(independent, 0.01), 5)
    tc_coupled = ref.kde_total_correlation(coupled, ref.kde_bandwidth(coupled, 0.01), 5)
    # Over 20 data seeds the independent estimate had mean -0.1 and sd 0.4 bits at this n, d
    # and alpha: 2 bits is 5 sd. The chain's true TC is 30 - 1 - 29 h2(0.05) = 20.7 bits;
    # leave-one-out overestimates it (about 66 here).
    assert abs(tc_independent) < 2.0
    assert tc_coupled > 20.0


def test_bad_inputs_name_the_argument():
    g = np.array([[0, 1], [1, 1]], np.uint8)
    with pytest.raises(ValueError, match="'gates' must be 2-D"):
        ref.kde_entropy(np.zeros(4, np.uint8), 0.1)
    with pytest.raises(TypeError, match="'gates' must have dtype in"):
        ref.kde_entropy(np.array([["0", "1"]]), 0.1)
    with pytest.raises(ValueError, match="'gates' contains NaN"):
        ref.kde_entropy(np.array([[0.0, np.nan]]), 0.1)
    with pytest.raises(ValueError, match="'gates' must hold only 0/1"):
        ref.kde_bandwidth(np.array([[0, 2]]), 0.04)
    with pytest.raises(ValueError, match="'gates' must have at least 1 row"):
        ref.kde_entropy(np.zeros((0, 4), np.uint8), 0.1)
    with pytest.raises(ValueError, match="'gates' must have at least 2 row"):
        ref.kde_total_correlation(g[:1], 0.1, 0)
    with pytest.raises(ValueError, match="'labels' must have one label per row"):
        ref.kde_conditional_entropy(g, np.array([0, 1, 1]), 0.1)
    with pytest.raises(TypeError, match="'labels' must hold integer class labels"):
        ref.kde_mutual_information(g, np.array([0.5, 1.0]), 0.1)
    with pytest.raises(ValueError, match="'s2' must be a finite non-negative"):
        ref.kde_entropy(g, -1.0)
    with pytest.raises(ValueError, match="'alpha' must be a finite positive"):
        ref.kde_bandwidth(g, 0.0)
    with pytest.raises(ValueError, match="'mode' must be one of"):
        ref.kde_bandwidth(g, 0.04, mode="D")
    with pytest.raises(ValueError, match="'seed' must be >= 0"):
        ref.kde_total_correlation(g, 0.1, -1)
    with pytest.raises(TypeError, match="'seed' must be an integer"):
        ref.synthetic_independent_rows(g, 1.5)
    with pytest.raises(ValueError, match="'output_ndim' must be >= 2"):
        ref.default_alpha(1)
    with pytest.raises(TypeError, match="'leave_one_out' must be a bool"):
        ref.kde_total_correlation(g, 0.1, 0, leave_one_out=1)
