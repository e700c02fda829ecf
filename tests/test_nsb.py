"""NSB entropy (definitions §5.2) against the numpy reference, an independent scipy integration,
and ground truth on uniform and Zipf-distributed states."""
import math

import numpy as np
import pytest
import scipy.integrate
import scipy.special

from pycx.estimators.nsb import nsb_entropy
from pycx.reference import nsb as ref


def _scipy_nsb(counts, k):
    """NSB in bits by adaptive quadrature (scipy.integrate.quad) over log kappa, with
    scipy.special's gammaln / digamma / polygamma: written from the formulas, independently
    of pycx's grids and series."""
    c = np.asarray(counts, dtype=np.float64)
    n, s = c.sum(), c.size

    def log_post(x):
        kappa = math.exp(x)
        beta = kappa / k
        prior = math.log(kappa) + math.log(scipy.special.polygamma(1, kappa + 1)
                                           - scipy.special.polygamma(1, beta + 1) / k)
        ev = (scipy.special.gammaln(kappa) - scipy.special.gammaln(n + kappa)
              + (scipy.special.gammaln(c + beta) - scipy.special.gammaln(beta)).sum())
        return prior + ev

    def mean_h(x):
        kappa = math.exp(x)
        beta = kappa / k
        return (scipy.special.digamma(n + kappa + 1)
                - ((c + beta) * scipy.special.digamma(c + beta + 1)).sum() / (n + kappa)
                - (k - s) * beta * scipy.special.digamma(beta + 1) / (n + kappa))

    xs = np.linspace(math.log(1e-6), math.log(1e10 * max(k, n)), 3000)
    lp = np.array([log_post(x) for x in xs])
    peak, top = xs[np.argmax(lp)], lp.max()
    inside = xs[lp > top - 60]
    lo, hi = inside[0] - 0.1, inside[-1] + 0.1

    def w(x):
        return math.exp(log_post(x) - top)

    opts = dict(points=[peak], limit=400, epsabs=0, epsrel=1e-9)
    z = scipy.integrate.quad(w, lo, hi, **opts)[0]
    num = scipy.integrate.quad(lambda x: w(x) * mean_h(x), lo, hi, **opts)[0]
    return num / z / math.log(2)


def _draw(rng, p, n):
    x = rng.choice(p.size, size=n, p=p)
    counts = np.bincount(x)
    return counts[counts > 0]


CASES = [(np.array([3, 1, 1, 2, 1]), 16), (np.array([5, 5, 5, 5]), 4),
         (np.array([40, 7, 3, 1, 1, 1]), 1000), (np.array([1] * 30 + [2, 2, 3]), 2.0 ** 40)]


@pytest.mark.filterwarnings("ignore::scipy.integrate.IntegrationWarning")
@pytest.mark.parametrize("counts,k", CASES)
def test_matches_scipy_integration_and_reference(counts, k):
    want = _scipy_nsb(counts, k)
    got = nsb_entropy(counts, alphabet_size=k)
    # 1e-7 relative: the trapezoid rule on 600 points of a smooth, peaked integrand against
    # adaptive quadrature at 1e-9 (measured agreement ~1e-9).
    assert got.entropy == pytest.approx(want, rel=1e-7)
    # The reference (loops, finer grids) agrees to the same quadrature error.
    assert ref.nsb_entropy(counts, k) == pytest.approx(want, rel=1e-7)


def test_special_functions_against_scipy():
    xs = np.array([1e-12, 1e-5, 0.3, 1.0, 2.5, 9.99, 10.0, 57.0, 1e6])
    for x in xs:
        # 1e-13 relative (absolute near psi's zero): recurrence + 6-term series at x >= 10.
        assert ref.digamma(x) == pytest.approx(scipy.special.digamma(x), rel=1e-13, abs=1e-13)
        assert ref.trigamma(x) == pytest.approx(scipy.special.polygamma(1, x), rel=1e-13)


def test_ground_truth_uniform_undersampled():
    # K = 1000 equally likely states, N = 200 samples (N/K = 0.2): the plug-in misses ~2.5
    # bits; NSB is within 0.3 bits of log2 K on every seed (its posterior sd here is ~0.12 bits;
    # 0.3 = 2.5 sd).
    k = 1000
    rng = np.random.default_rng(7)
    p = np.full(k, 1.0 / k)
    for _ in range(5):
        r = nsb_entropy(_draw(rng, p, 200), alphabet_size=k)
        assert abs(r.entropy - math.log2(k)) < 0.3
        assert math.log2(k) - r.plugin > 2.0


def test_ground_truth_zipf():
    # Zipf states p_i ∝ 1/i over K = 2000, N = 500: the entropy is far from uniform's.
    # NSB's flat-in-entropy prior is only approximately right for such a law; it still cuts
    # the plug-in's bias by more than half on average over seeds (measured: plug-in -1.1 bits,
    # NSB within 0.4 bits).
    k = 2000
    p = 1.0 / np.arange(1, k + 1)
    p /= p.sum()
    truth = float(-(p * np.log2(p)).sum())
    rng = np.random.default_rng(3)
    nsb_err, plug_err = [], []
    for _ in range(6):
        r = nsb_entropy(_draw(rng, p, 500), alphabet_size=k)
        nsb_err.append(r.entropy - truth)
        plug_err.append(r.plugin - truth)
    assert abs(np.mean(nsb_err)) < 0.5 * abs(np.mean(plug_err))
    assert max(abs(e) for e in nsb_err) < 0.6


def test_well_sampled_limit_is_the_plugin():
    # N >> K: every estimator converges; NSB and the plug-in differ by the O(K/N) bias only
    # (K / (2 N ln 2) = 0.0036 bits here).
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.ones(10))
    counts = _draw(rng, p, 2000)
    r = nsb_entropy(counts, alphabet_size=10)
    assert abs(r.entropy - r.plugin) < 0.01
    assert r.entropy >= r.plugin  # the plug-in is biased low


def test_gate_rows_and_units():
    rng = np.random.default_rng(0)
    z = (rng.random((300, 6)) < 0.3).astype(np.uint8)
    r = nsb_entropy(z)
    counts = np.unique(z, axis=0, return_counts=True)[1]
    assert r.alphabet_size == 64.0 and r.n_rows == 300 and r.n_states == counts.size
    np.testing.assert_allclose(r.entropy, nsb_entropy(counts, alphabet_size=64).entropy,
                               rtol=1e-12)  # same counts, same arithmetic
    nats = nsb_entropy(z, base=math.e)
    assert nats.entropy == pytest.approx(r.entropy * math.log(2), rel=1e-12)


def test_bad_input():
    with pytest.raises(ValueError, match="alphabet_size' is required"):
        nsb_entropy(np.array([1, 2, 3]))
    with pytest.raises(ValueError, match="at least the number of observed states"):
        nsb_entropy(np.array([1, 2, 3]), alphabet_size=2)
    with pytest.raises(TypeError, match="integer counts"):
        nsb_entropy(np.array([1.5, 2.0]), alphabet_size=4)
    with pytest.raises(ValueError, match="no samples"):
        nsb_entropy(np.array([0, 0]), alphabet_size=4)
    with pytest.raises(ValueError, match="beyond float range"):
        nsb_entropy(np.zeros((3, 1200), np.uint8))
    with pytest.raises(ValueError, match="base"):
        nsb_entropy(np.array([1, 2]), alphabet_size=4, base=1)
