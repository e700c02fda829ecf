"""Bootstrap intervals (issue 30 item 5): each resample redone here and its value computed
directly (numpy eigenvalues; H[s] and H[k] written out from the state counts)."""
import numpy as np
import pytest

from pycx.analysis.bootstrap import bootstrap_effective_dimension, bootstrap_resolution_relevance


def _resamples(m, n_boot, seed):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, m, m) for _ in range(n_boot)]


def _ed(x):
    lam = np.clip(np.linalg.eigvalsh(np.cov(x, rowvar=False, bias=True)), 0, None)
    q = lam[lam > 0] / lam.sum()
    return float(np.exp(-(q * np.log(q)).sum()))


def _hs_hk(rows):
    _, k = np.unique(rows, axis=0, return_counts=True)
    m = k.sum()
    hs = -np.sum(k / m * np.log2(k / m))
    kk, mk = np.unique(k, return_counts=True)
    hk = -np.sum(kk * mk / m * np.log2(kk * mk / m))
    return hs, hk


def _check(iv, estimate, values, level):
    lo, hi = np.quantile(values, [(1 - level) / 2, (1 + level) / 2])
    # eigenvalues of the same covariance computed two ways (scaled by a power of two, or not)
    # agree to ~1e-12 relative; 1e-9 leaves room
    assert iv.estimate == pytest.approx(estimate, rel=1e-9)
    assert iv.low == pytest.approx(lo, rel=1e-9) and iv.high == pytest.approx(hi, rel=1e-9)
    assert iv.std == pytest.approx(np.std(values, ddof=1), rel=1e-6)
    assert iv.low <= iv.high


def test_effective_dimension_interval_equals_direct_resamples():
    x = np.random.default_rng(1).standard_normal((300, 5)) * [3.0, 1.0, 1.0, 0.5, 0.1]
    iv = bootstrap_effective_dimension(x, n_boot=40, level=0.9, seed=7)
    values = [_ed(x[i]) for i in _resamples(300, 40, 7)]
    _check(iv, _ed(x), values, 0.9)
    assert (iv.n_boot, iv.level) == (40, 0.9)


@pytest.mark.parametrize("as_rows", [False, True])
def test_resolution_relevance_intervals_equal_direct_resamples(as_rows):
    ids = np.random.default_rng(2).zipf(1.8, 400) % 60
    states = ((ids[:, None] >> np.arange(6)) & 1).astype(bool) if as_rows else ids
    hs, hk = bootstrap_resolution_relevance(states, n_boot=30, seed=3)
    rows = ids[:, None]
    values = np.array([_hs_hk(rows[i]) for i in _resamples(400, 30, 3)])
    est = _hs_hk(rows)
    # exact arithmetic of the same counts: differences are rounding only
    _check(hs, est[0], values[:, 0], 0.95)
    _check(hk, est[1], values[:, 1], 0.95)


def test_seeded_and_validated():
    x = np.random.default_rng(0).standard_normal((50, 3))
    assert bootstrap_effective_dimension(x, n_boot=5) == bootstrap_effective_dimension(x, n_boot=5)
    for kw, name in [({"n_boot": 1}, "n_boot"), ({"level": 1.0}, "level"), ({"seed": -1}, "seed")]:
        with pytest.raises(ValueError, match=f"argument '{name}'"):
            bootstrap_effective_dimension(x, **kw)
    with pytest.raises(ValueError, match="argument 'rows'"):
        bootstrap_effective_dimension(x.astype(int))
    with pytest.raises(ValueError, match="argument 'states'"):
        bootstrap_resolution_relevance(np.zeros((4, 2, 2), int))
