import math

import numpy as np
import pytest
import scipy.optimize
import scipy.special

from pycx.reference import relevance as ref
from pycx.reference.state_counts import state_counts


# --------------------------------------------------------------------------- H[s], H[k]

def test_all_distinct_and_all_equal_states():
    m = 64
    distinct = np.ones(m, np.int64)
    assert ref.resolution(distinct) == pytest.approx(6.0, abs=1e-14)
    assert ref.relevance(distinct) == 0.0
    assert ref.resolution(distinct, normalized=True) == pytest.approx(1.0, abs=1e-14)
    single = np.array([m])
    assert ref.resolution(single) == 0.0 and ref.relevance(single) == 0.0


def test_resolution_relevance_by_hand():
    # k_s = (2, 1, 1), M = 4: H[s] = 1.5; q_1 = 1*2/4, q_2 = 2*1/4 -> H[k] = 1.
    r = ref.resolution_relevance(np.array([2, 1, 1]))
    assert r == (1.5, 1.0, 0.75, 0.5, 4)
    rows = np.array([[0, 1], [1, 1], [0, 1], [0, 0]], np.uint8)
    assert ref.resolution_relevance(state_counts(rows).counts) == r
    # M = 1: log2 M = 0 and the normalised values are defined as 0.
    assert ref.resolution_relevance(np.array([1])) == (0.0, 0.0, 0.0, 0.0, 1)


# --------------------------------------------------------------------------- Hurwitz zeta

@pytest.mark.parametrize("s", [1.0001, 1.05, 1.5, 2.0, 3.7, 10.0, 25.0, 80.0])
@pytest.mark.parametrize("q", [0.5, 1.0, 2.0, 7.5, 100.0, 1e4])
def test_hurwitz_zeta_matches_scipy(s, q):
    expected = scipy.special.zeta(s, q)
    if expected == 0.0:  # scipy underflows for huge q**-s; nothing to compare
        pytest.skip("scipy underflows here")
    # 1e-12: both are accurate to a few ulps; the direct sum adds ~100 rounded terms.
    assert ref.hurwitz_zeta(s, q) == pytest.approx(expected, rel=1e-12)


def test_hurwitz_zeta_broadcasts_and_validates():
    out = ref.hurwitz_zeta(np.array([2.0, 4.0]), 1.0)
    np.testing.assert_allclose(out, [math.pi ** 2 / 6, math.pi ** 4 / 90], rtol=1e-13)
    with pytest.raises(ValueError, match="'s' must be > 1"):
        ref.hurwitz_zeta(1.0, 1.0)
    with pytest.raises(ValueError, match="'q' must be > 0"):
        ref.hurwitz_zeta(2.0, 0.0)


# --------------------------------------------------------------------------- beta

def _power_law_sample(rng, a, n, k_min=1, k_max=1_000_000):
    """Inverse-CDF draws from P(k) ∝ k^-a on k_min..k_max. The mass cut off above k_max is
    below 5e-5 for the exponents used here (4e-5 at a = 1.7), so the bias it causes is far
    below the estimator's spread."""
    k = np.arange(k_min, k_max + 1, dtype=np.float64)
    pmf = k ** -a
    cdf = np.cumsum(pmf) / pmf.sum()
    draws = np.searchsorted(cdf, rng.random(n), side="right") + k_min
    return np.minimum(draws, k_max).astype(np.int64), k, pmf / pmf.sum()


@pytest.mark.parametrize("a,k_min", [(2.5, 1), (2.0, 3), (1.7, 1)])
def test_beta_mle_recovers_a_known_exponent(a, k_min):
    rng = np.random.default_rng(2024)
    n = 20_000
    sample, k, pmf = _power_law_sample(rng, a, n, k_min)
    # The power law is an exponential family in a with statistic -ln k, so the Fisher
    # information per draw is Var(ln k) and the MLE's standard deviation 1/sqrt(n Var).
    mean_log = (pmf * np.log(k)).sum()
    sd = 1.0 / math.sqrt(n * ((pmf * (np.log(k) - mean_log) ** 2).sum()))
    assert abs(ref.beta_mle(sample, k_min=k_min) - (a - 1.0)) < 5 * sd
    assert abs(ref.power_law_exponent_mle(sample, k_min) - a) < 5 * sd


def test_beta_mle_maximises_the_likelihood_computed_with_scipy(rng):
    sample, _, _ = _power_law_sample(rng, 2.2, 500, k_min=2, k_max=10_000)
    sample = np.concatenate([sample, [1, 1]])  # below k_min: ignored
    x = sample[sample >= 2]

    def negative_loglik(a):
        return a * np.log(x).sum() + x.size * math.log(scipy.special.zeta(a, 2))

    best = scipy.optimize.minimize_scalar(negative_loglik, bounds=(1.0001, 10.0), method="bounded",
                                          options={"xatol": 1e-10})
    # 1e-6: the likelihood is flat at its maximum, so either search fixes a only to about
    # sqrt(machine epsilon) relative.
    assert ref.power_law_exponent_mle(sample, 2) == pytest.approx(best.x, abs=1e-6)


def test_beta_mle_edge_cases():
    # All frequencies equal k_min: the likelihood grows without bound.
    assert ref.beta_mle(np.ones(10, np.int64)) == math.inf
    assert ref.beta_mle(np.array([1, 3, 3]), k_min=3) == math.inf
    # One larger frequency among many singletons: a large but finite exponent.
    assert 5.0 < ref.beta_mle(np.array([1] * 1000 + [2])) < 50.0
    with pytest.raises(ValueError, match="no frequency >= k_min=5"):
        ref.beta_mle(np.array([1, 2]), k_min=5)
    with pytest.raises(ValueError, match="'k_min' must be >= 1"):
        ref.beta_mle(np.array([1, 2]), k_min=0)


def test_beta_least_squares_of_an_exact_power_law():
    # m_k = 64 / k^2 at k = 1, 2, 4, 8: log m_k is exactly linear with slope -2 -> beta = 1.
    ks, m_k = [1, 2, 4, 8], [64, 16, 4, 1]
    counts = np.repeat(ks, m_k)
    assert ref.beta_least_squares(counts) == pytest.approx(1.0, abs=1e-12)
    assert math.isnan(ref.beta_least_squares(np.array([3, 3, 3])))


def test_beta_across_layers():
    np.testing.assert_allclose(ref.beta_across_layers([1.0, 2.0, 4.0], [1.0, 1.5, 1.0]),
                               [-0.5, 0.25])
    with pytest.raises(ValueError, match="same length"):
        ref.beta_across_layers([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- max relevance curve

@pytest.mark.parametrize("m", [2, 3, 10, 1000])
def test_max_relevance_curve_shape(m):
    c = ref.max_relevance_curve(m)
    log2_m = math.log2(m)
    assert (c.h_s[0], c.h_k[0]) == (0.0, 0.0)
    assert (c.h_s[-1], c.h_k[-1]) == (log2_m, 0.0)
    assert (c.h_s_normalized[-1], c.h_k_normalized[-1]) == (1.0, 0.0)
    assert np.all(np.diff(c.betas) > 0)
    # H[s] increases with beta; H[k] rises to one peak (beta = 0, H[k] = log2 M) and falls.
    # 1e-12: flat stretches near the ends move by rounding only.
    assert np.all(np.diff(c.h_s) >= -1e-12)
    peak = int(np.argmax(c.h_k))
    assert 0 < peak < c.betas.size - 1 and c.betas[peak] == 0.0
    assert c.h_k[peak] == pytest.approx(log2_m, abs=1e-12)
    assert np.all(np.diff(c.h_k[:peak + 1]) >= -1e-12)
    assert np.all(np.diff(c.h_k[peak:]) <= 1e-12)
    assert c.h_s[peak] == pytest.approx(log2_m - np.log2(np.arange(1, m + 1)).mean(), abs=1e-12)


def test_max_relevance_curve_at_given_betas():
    # M = 2, beta = 1: q = (2/3, 1/3); H[k] = h2(1/3), H[s] = 1 - (1/3) log2 2 = 2/3.
    c = ref.max_relevance_curve(2, [1.0])
    assert c.h_k[0] == pytest.approx(-(2 / 3) * math.log2(2 / 3) - (1 / 3) * math.log2(1 / 3), abs=1e-15)
    assert c.h_s[0] == pytest.approx(2 / 3, abs=1e-15)


def _curve_h_k_at(m, h_s):
    """H[k] of the curve at a given H[s], by bisection on beta (H[s] increases with beta)."""
    lo, hi = -64.0 * m, 64.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if ref.max_relevance_curve(m, [mid]).h_s[0] < h_s:
            lo = mid
        else:
            hi = mid
    return ref.max_relevance_curve(m, [0.5 * (lo + hi)]).h_k[0]


def test_observed_states_lie_below_the_max_relevance_curve(rng):
    m = 300
    for n_states in [3, 20, 100, 250]:
        weights = rng.dirichlet(np.full(n_states, 0.3))
        labels = rng.choice(n_states, size=m, p=weights)
        counts = np.bincount(labels)
        counts = counts[counts > 0]
        r = ref.resolution_relevance(counts)
        # The sample's q_k = k m_k / M is feasible in the relaxation, so it cannot beat it;
        # 1e-9 covers the bisection's end point.
        assert r.h_k <= _curve_h_k_at(m, r.h_s) + 1e-9


# --------------------------------------------------------------------------- per-layer summaries

def test_classification_error_by_hand():
    # State 0 holds labels (1, 2): majority 1 correct; state 1 holds (3, 3, 4): 2 correct.
    assert ref.classification_error(np.array([0, 0, 1, 1, 1]), np.array([1, 2, 3, 3, 4])) == pytest.approx(0.4)
    # Any integer ids work; one state with labels (0, 0, 1) -> 1/3.
    assert ref.classification_error(np.array([-7, -7, -7]), np.array([0, 0, 1])) == pytest.approx(1 / 3)
    # Every sample in its own state: no error.
    assert ref.classification_error(np.arange(5), np.array([0, 1, 0, 1, 2])) == 0.0
    rows = np.array([[0, 1], [0, 1], [1, 1], [1, 1], [1, 1]], np.uint8)
    assert ref.classification_error(rows, np.array([1, 2, 3, 3, 4])) == pytest.approx(0.4)


def test_critical_and_zipf_layers():
    assert ref.critical_layer([(1.0, 2.0), (3.0, 1.0), (2.0, 2.5)]) == 2
    assert ref.zipf_layer(np.array([0.2, 1.3, np.nan, 0.9, np.inf])) == 3
    with pytest.raises(ValueError, match="no layer with a defined"):
        ref.zipf_layer(np.array([np.nan]))
    with pytest.raises(ValueError, match="'points' must be a non-empty sequence"):
        ref.critical_layer([1.0, 2.0])


def test_bad_inputs_name_the_argument():
    with pytest.raises(TypeError, match="'counts' must hold integer counts"):
        ref.resolution(np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="'counts' must be positive"):
        ref.relevance(np.array([2, 0, 1]))
    with pytest.raises(ValueError, match="'counts' must be 1-D"):
        ref.resolution(np.ones((2, 2), np.int64))
    with pytest.raises(ValueError, match="'counts' has no counts"):
        ref.resolution_relevance(np.array([], np.int64))
    with pytest.raises(ValueError, match="'labels' must have one label per row"):
        ref.classification_error(np.array([0, 1, 1]), np.array([0, 1]))
    with pytest.raises(TypeError, match="'labels' must hold integer class labels"):
        ref.classification_error(np.array([0, 1]), np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="'inverse_or_states' as 1-D must hold integer"):
        ref.classification_error(np.array([0.0, 1.0]), np.array([0, 1]))
    with pytest.raises(ValueError, match="'inverse_or_states' must hold only 0/1"):
        ref.classification_error(np.array([[0, 2], [1, 1]]), np.array([0, 1]))
    with pytest.raises(ValueError, match="'inverse_or_states' has no samples"):
        ref.classification_error(np.array([], np.int64), np.array([], np.int64))
    with pytest.raises(ValueError, match="'n_samples' must be >= 2"):
        ref.max_relevance_curve(1)
    with pytest.raises(ValueError, match="'betas' contains NaN"):
        ref.max_relevance_curve(10, [0.0, np.nan])
