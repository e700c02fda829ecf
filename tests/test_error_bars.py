"""Issue 30 item 5: the chain rule's per-fold estimates and their spread (xgb's
``fold_entropies``, the report's complexity_lo / _hi / _fold_std), the KDE bootstrap, and
`bootstrap_intervals` writing every interval into a report's columns."""
import numpy as np
import pytest

from pycx.analysis.bootstrap import (bootstrap_effective_dimension, bootstrap_intervals,
                                     bootstrap_kde_entropy, bootstrap_resolution_relevance)
from pycx.estimators.xgb import xgb_entropy


def _folds(n, folds, seed):
    """The estimator's split redone: SeedSequence(seed).spawn(2)[0] shuffles the rows."""
    perm = np.random.default_rng(np.random.SeedSequence(seed).spawn(2)[0]).permutation(n)
    return [np.sort(p) for p in np.array_split(perm, folds)]


def _h2(p):
    return 0.0 if p in (0.0, 1.0) else float(-p * np.log2(p) - (1 - p) * np.log2(1 - p))


@pytest.mark.parametrize("dedup", [True, False])
def test_fold_entropies_equal_the_laplace_rates_written_out(dedup):
    """Columns 1 and 2 are constant in every training fold, so each fold's terms are the
    Laplace rate's log-loss, written out here in numpy: column 1 is 1 exactly on fold B's
    rows (train A: all 0, test B: all 1; and the reverse), column 2 is always 0."""
    n, seed = 101, 5  # odd: folds of 51 and 50 rows
    rng = np.random.default_rng(0)
    a, b = _folds(n, 2, seed)
    z = np.zeros((n, 3), np.uint8)
    z[:, 0] = rng.random(n) < 0.3
    z[b, 1] = 1
    r = xgb_entropy(z, n_estimators=3, seed=seed, dedup=dedup, backend="native")
    first = _h2(z[:, 0].mean())
    expected = []
    for test, train in ((a, b), (b, a)):
        nt = len(train)
        ones1 = z[train, 1].sum()
        p1 = (ones1 + 0.5) / (nt + 1)          # rate of column 1 learnt on the training fold
        p2 = 0.5 / (nt + 1)                    # column 2: never 1
        y1 = z[test, 1]
        loss1 = -np.where(y1 == 1, np.log2(p1), np.log2(1 - p1)).sum()
        loss2 = -np.log2(1 - p2) * len(test)
        expected.append(first + (loss1 + loss2) / len(test))
    # the same log2 terms summed in another order: rounding only
    np.testing.assert_allclose(r.fold_entropies, expected, rtol=1e-12)
    # the estimate is the fold-size-weighted mean of the per-fold estimates
    assert r.entropy == pytest.approx(np.average(expected, weights=[len(a), len(b)]), rel=1e-12)


@pytest.mark.parametrize("kw", [{}, {"folds": 3}, {"executor": "threads"}])
def test_fold_entropies_average_to_the_estimate_with_real_fits(kw):
    z = (np.random.default_rng(1).random((300, 5)) < 0.35).astype(np.uint8)
    z[:, 3] ^= z[:, 1]  # something to learn
    r = xgb_entropy(z, n_estimators=5, backend="native", **kw)
    sizes = [len(f) for f in _folds(300, r.settings["folds"], 0)]
    assert len(r.fold_entropies) == r.settings["folds"]
    # the same per-row log-losses, grouped by fold before summing: rounding only
    assert np.average(r.fold_entropies, weights=sizes) == pytest.approx(r.entropy, rel=1e-12)
    assert np.ptp(r.fold_entropies) > 0


def test_report_carries_the_fold_spread():
    torch = pytest.importorskip("torch")
    import pycx

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 7), torch.nn.ReLU())
    cap = pycx.capture(model, [torch.randn(240, 6)], progress=False)
    rep = pycx.analyze(cap, metrics=["janik"], kmeans=False, progress=False,
                       estimators={"complexity": {"method": "xgb", "n_estimators": 5,
                                                  "backend": "native"}})
    row = rep.rows[0]
    direct = xgb_entropy(cap["1"].per_patch, n_estimators=5, backend="native", seed=0)
    assert row["complexity"] == direct.entropy
    assert row["complexity_lo"] == direct.fold_entropies.min()
    assert row["complexity_hi"] == direct.fold_entropies.max()
    assert row["complexity_fold_std"] == pytest.approx(np.std(direct.fold_entropies, ddof=1),
                                                       rel=1e-12)
    assert row["complexity_lo"] <= row["complexity"] <= row["complexity_hi"]
    # A count estimator has no folds: no interval.
    plug = pycx.analyze(cap, metrics=["janik"], kmeans=False, progress=False,
                        estimators="plugin").rows[0]
    assert np.isnan(plug["complexity_lo"]) and np.isnan(plug["complexity_fold_std"])


# ------------------------------------------------------------------------- KDE bootstrap

def _kde_h(rows, alpha):
    """H(Σ) of definitions §4 written out: s2 = alpha * d, self term included."""
    d = rows.shape[1]
    h = (rows[:, None, :] != rows[None, :, :]).sum(-1)
    k = np.exp(-h / (2 * alpha * d))
    return float(-np.mean(np.log2(k.mean(axis=1))))


def test_kde_bootstrap_equals_the_resamples_redone():
    rows = (np.random.default_rng(3).random((120, 10)) < 0.3).astype(np.uint8)
    iv = bootstrap_kde_entropy(rows, n_boot=25, level=0.9, seed=4, alpha=0.05)
    rng = np.random.default_rng(4)
    values = [_kde_h(rows[rng.integers(0, 120, 120)], 0.05) for _ in range(25)]
    lo, hi = np.quantile(values, [0.05, 0.95])
    # the kernel sums in C++ (over distinct states, weighted) and in numpy (over rows):
    # float64 summation order only
    assert iv.estimate == pytest.approx(_kde_h(rows, 0.05), rel=1e-9)
    assert (iv.low, iv.high) == (pytest.approx(lo, rel=1e-9), pytest.approx(hi, rel=1e-9))
    assert iv.std == pytest.approx(np.std(values, ddof=1), rel=1e-6)
    with pytest.raises(ValueError, match="unknown option"):
        bootstrap_kde_entropy(rows, n_boot=2, labels=np.zeros(120))
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_kde_entropy(rows, n_boot=1)


# ---------------------------------------------------------------- intervals into a report

def test_bootstrap_intervals_fill_the_report_columns():
    torch = pytest.importorskip("torch")
    import pycx

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 4),
                                torch.nn.Tanh())
    x = torch.randn(200, 6)
    cap = pycx.capture(model, [x], progress=False)
    rep = pycx.analyze(cap, labels=torch.arange(200) % 3, metrics=["janik", "relevance", "kde"],
                       kmeans=False, progress=False, estimators="plugin")
    with torch.no_grad():
        h1 = torch.relu(model[0](x))
        outs = {"1": h1.numpy(), "3": torch.tanh(model[2](h1)).numpy()}
    out = bootstrap_intervals(rep, cap, outputs=outs, n_boot=20, seed=2)
    assert all(np.isnan(r.get("h_s_lo", np.nan)) for r in rep.rows)  # a copy: rep unchanged
    for r, (name, rec) in zip(out.rows, cap.layers.items()):
        states = rec.binary if rec.binary is not None else rec.per_sample
        bits = states.unpack()
        hs, hk = bootstrap_resolution_relevance(bits, n_boot=20, seed=2)
        assert (r["h_s_lo"], r["h_s_hi"], r["h_k_lo"], r["h_k_hi"]) == (
            hs.low, hs.high, hk.low, hk.high)
        ed = bootstrap_effective_dimension(outs[name].astype(np.float64), n_boot=20, seed=2)
        assert (r["effective_dimension_lo"], r["effective_dimension_hi"]) == (ed.low, ed.high)
        layer = "linear"
        kd = bootstrap_kde_entropy(rec.per_sample, n_boot=20, seed=2, layer=layer)
        assert (r["kde_h_lo"], r["kde_h_hi"]) == (kd.low, kd.high)
    # Not the capture the report analysed: refused, naming the layer.
    other = pycx.capture(model, [torch.randn(200, 6)], progress=False)
    with pytest.raises(ValueError, match="not the capture"):
        bootstrap_intervals(rep, other, n_boot=5)
    with pytest.raises(TypeError, match="argument 'capture'"):
        bootstrap_intervals(rep, rep, n_boot=5)
