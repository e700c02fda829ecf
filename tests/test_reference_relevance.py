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
    # Exactly +0.0 (prints as 0, not -0): one state, and one frequency for H[k].
    for h in (ref.resolution(single), ref.relevance(single), ref.relevance(distinct),
              *ref.profile_entropies([m], [1])):
        assert math.copysign(1.0, h) == 1.0


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
    # Fewer than three distinct frequencies: undefined (NaN), never an arbitrary number. (This
    # test encoded inf for "all equal k_min" and a finite value for one pair among singletons
    # before; docs/definitions.md §3 now defines both as undefined.)
    assert math.isnan(ref.beta_mle(np.ones(10, np.int64)))            # every sample alone
    assert math.isnan(ref.beta_mle(np.array([50])))                   # one state
    assert math.isnan(ref.beta_mle(np.array([1, 3, 3]), k_min=3))
    assert math.isnan(ref.beta_mle(np.array([1] * 1000 + [2])))       # two frequencies
    assert math.isnan(ref.beta_mle(np.array([2, 1])))
    assert math.isfinite(ref.beta_mle(np.array([1, 1, 1, 2, 3])))     # three: defined
    # The raw MLE keeps its limit: all frequencies at k_min -> a grows without bound.
    assert ref.power_law_exponent_mle(np.ones(10, np.int64)) == math.inf
    with pytest.raises(ValueError, match="no frequency >= k_min=5"):
        ref.beta_mle(np.array([1, 2]), k_min=5)
    with pytest.raises(ValueError, match="'k_min' must be >= 1"):
        ref.beta_mle(np.array([1, 2]), k_min=0)


def test_beta_least_squares_undefined_cases():
    assert math.isnan(ref.beta_least_squares(np.array([3, 3, 3])))    # one frequency
    assert math.isnan(ref.beta_least_squares(np.array([1, 1, 2])))    # two frequencies
    # Every state with its own count: m_k = 1 everywhere, the flat line's -1 is no estimate.
    assert math.isnan(ref.beta_least_squares(np.array([1, 2, 3, 5, 8])))


def test_beta_least_squares_of_an_exact_power_law():
    # m_k = 64 / k^2 at k = 1, 2, 4, 8: log m_k is exactly linear with slope -2 -> beta = 1.
    ks, m_k = [1, 2, 4, 8], [64, 16, 4, 1]
    counts = np.repeat(ks, m_k)
    assert ref.beta_least_squares(counts) == pytest.approx(1.0, abs=1e-12)


def test_beta_across_layers():
    np.testing.assert_allclose(ref.beta_across_layers([1.0, 2.0, 4.0], [1.0, 1.5, 1.0]),
                               [-0.5, 0.25])
    with pytest.raises(ValueError, match="same length"):
        ref.beta_across_layers([1.0, 2.0], [1.0])


# --------------------------------------------------------------------------- max relevance curve

def _brute_force_points(m):
    """(H[s], H[k]) of every frequency profile of M samples, from the partitions of M built
    here independently (every multiset of parts, ascending), and H[s], H[k] computed from the
    state counts by the definitions (eqs. 1-2)."""
    def parts(rest, smallest):
        if rest == 0:
            yield []
            return
        for p in range(smallest, rest + 1):
            for tail in parts(rest - p, p):
                yield [p] + tail
    return np.array([(ref.resolution(np.array(c)), ref.relevance(np.array(c)))
                     for c in parts(m, 1)])


def _brute_force_envelope_at(points, h, peak_h):
    """max{H[k]: H[s] <= h} left of the peak, max{H[k]: H[s] >= h} right of it."""
    left = points[:, 0] <= h + 1e-12 if h <= peak_h else points[:, 0] >= h - 1e-12
    return points[left, 1].max()


@pytest.mark.parametrize("m", [2, 3, 5, 8, 13, 21, 30, pytest.param(40, marks=pytest.mark.slow)])
def test_exact_curve_against_brute_force(m):
    pts = _brute_force_points(m)
    c = ref.max_relevance_curve(m)
    assert c.method == "enumeration" and c.feasible.all()
    # Every corner is a real profile's point (same formulas on the same counts: 1e-12).
    d = np.abs(pts[None, :, :] - np.column_stack([c.h_s, c.h_k])[:, None, :]).max(axis=2)
    assert d.min(axis=1).max() < 1e-12
    # At every corner the curve is the brute-force envelope, and no profile lies above the
    # interpolated curve anywhere (1e-12: rounding of equal entropies computed two ways).
    peak_h = pts[np.argmax(pts[:, 1]), 0]
    for h, v in zip(c.h_s, c.h_k):
        assert v == pytest.approx(_brute_force_envelope_at(pts, h, peak_h), abs=1e-12)
    assert (ref.curve_value(c, pts[:, 0]) >= pts[:, 1] - 1e-12).all()
    assert c.h_s[0] == 0.0 and c.h_k[0] == 0.0
    assert c.h_s[-1] == pytest.approx(math.log2(m), abs=1e-12) and c.h_k[-1] == 0.0
    assert len(pts) == {2: 2, 3: 3, 5: 7, 8: 22, 13: 101, 21: 792, 30: 5604, 40: 37338}[m]


@pytest.mark.parametrize("m", [12, 25, pytest.param(40, marks=pytest.mark.slow)])
@pytest.mark.parametrize("method", ["lagrange", "dual"])
def test_large_m_methods_bound_every_profile(m, method):
    pts = _brute_force_points(m)
    c = ref.max_relevance_curve(m, method=method)
    # An upper bound on every profile (1e-12: rounding), never below the exact envelope.
    assert (ref.curve_value(c, pts[:, 0]) >= pts[:, 1] - 1e-12).all()
    exact = ref.max_relevance_curve(m, method="enumeration")
    xs = np.linspace(0.0, math.log2(m), 400)
    excess = ref.curve_value(c, xs) - ref.curve_value(exact, xs)
    assert excess.min() >= -1e-12
    # Documented error (docs/decisions.md): between its corners the exact envelope is a chord,
    # the bound the hull of the lines; measured max gaps 0.274 / 0.131 / 0.085 bits at
    # M = 12 / 25 / 40 (lagrange; dual within 0.005 of it), shrinking about as 3.4 / M.
    assert excess.max() < 4.0 / m
    # "feasible" corners are real profiles.
    for h, v in zip(c.h_s[c.feasible], c.h_k[c.feasible]):
        assert np.abs(pts - [h, v]).max(axis=1).min() < 1e-9
    if method == "lagrange":
        assert c.feasible.sum() >= 5


def test_curve_respects_the_sample_bounds():
    for m in (100, 450, 2000):
        c = ref.max_relevance_curve(m)
        assert c.method == ("lagrange" if m <= 300 else "dual")
        # H[k] <= H[s] (k_s is a function of s), and the peak near log2 sqrt(2M) + O(1).
        assert (c.h_k <= c.h_s + 1e-12).all()
        assert c.h_k.max() <= math.log2(math.sqrt(2 * m)) + 1.0
        assert 0.45 < c.h_k_normalized.max() < 0.6
        assert np.all(np.diff(c.h_s) > 0)
        assert c.h_s[-1] == pytest.approx(math.log2(m)) and c.h_k[-1] == pytest.approx(0, abs=1e-9)


def test_dual_bound_is_close_to_the_exact_programme():
    exact, dual = (ref.max_relevance_curve(200, method=meth) for meth in ("lagrange", "dual"))
    xs = np.linspace(0.0, math.log2(200), 500)
    gap = ref.curve_value(dual, xs) - ref.curve_value(exact, xs)
    # The dual lines are bounds on the exact ones (>= up to rounding); measured gap at
    # M = 450: at most 0.0144 bits.
    assert gap.min() > -1e-9 and gap.max() < 0.03


def test_observed_states_lie_below_the_max_relevance_curve(rng):
    m = 300
    c = ref.max_relevance_curve(m)
    for n_states in [3, 20, 100, 250]:
        weights = rng.dirichlet(np.full(n_states, 0.3))
        labels = rng.choice(n_states, size=m, p=weights)
        counts = np.bincount(labels)
        counts = counts[counts > 0]
        r = ref.resolution_relevance(counts)
        # Any sample's profile is one of the profiles the curve bounds (1e-12: rounding).
        assert r.h_k <= ref.curve_value(c, r.h_s) + 1e-12


def test_profile_helpers():
    assert ref.profile_entropies([2, 1], [1, 2]) == pytest.approx((1.5, 1.0), abs=1e-15)
    assert sorted(ref.frequency_profiles(4)) == sorted(
        [((4,), (1,)), ((3, 1), (1, 1)), ((2,), (2,)), ((2, 1), (1, 2)), ((1,), (4,))])
    with pytest.raises(ValueError, match="not n_samples=5"):
        ref.profile_entropies([2], [2], 5)


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
    # Undefined rather than an arbitrary first layer (the zipf case raised before).
    assert ref.zipf_layer(np.array([np.nan, np.inf])) is None
    # Layers with H[k] = 0 are skipped: every sample alone (log2 M, 0) or one state (0, 0).
    assert ref.critical_layer([(8.0, 0.0), (5.0, 1.0), (8.0, 0.0)]) == 1
    assert ref.critical_layer([(8.0, 0.0), (8.0, 0.0)]) is None
    assert "own state" in ref.why_no_critical_layer([(8.0, 0.0), (8.0, 0.0)])
    assert "one state" in ref.why_no_critical_layer([(0.0, 0.0)])
    assert ref.why_no_critical_layer([(5.0, 1.0)]) == ""
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
    with pytest.raises(ValueError, match="'method' must be one of"):
        ref.max_relevance_curve(10, method="relaxed")
    with pytest.raises(ValueError, match="too large"):
        ref.max_relevance_curve(100, method="enumeration")
