"""The native booster (pycx.kernels.boost_fit, xgb_entropy(backend="native")) against XGBoost
itself, the independent implementation of the same algorithm; bad input."""
import numpy as np
import pytest

import pycx
from pycx.kernels.boost_fit import fit_predict

xgb = pytest.importorskip("xgboost")

PARAMS = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 3, "eta": 0.1,
          "nthread": 1, "verbosity": 0, "seed": 0}


def xgboost_predict(x, y, w, xt, rounds, max_depth=3, eta=0.1):
    params = {**PARAMS, "max_depth": max_depth, "eta": eta}
    booster = xgb.train(params, xgb.DMatrix(x, label=y, weight=w, nthread=1),
                        num_boost_round=rounds)
    return booster.predict(xgb.DMatrix(xt, nthread=1))


def native_predict(x, y, w, xt, rounds, max_depth=3, eta=0.1):
    return fit_predict(pycx.pack_bits(x).words, x.shape[1], y.astype(np.float32),
                       w.astype(np.float32), pycx.pack_bits(xt).words, rounds=rounds,
                       max_depth=max_depth, eta=eta)


def random_case(rng):
    n, f = int(rng.integers(5, 1500)), int(rng.integers(1, 140))  # 1 to 3 words per row
    x = (rng.random((n, f)) < rng.random()).astype(np.uint8)
    y = (x[:, 0] ^ (rng.random(n) < rng.random())).astype(np.uint8)
    w = rng.integers(1, 6, n).astype(np.float64)
    xt = (rng.random((200, f)) < 0.5).astype(np.uint8)
    return x, y, w, xt


def test_predictions_are_xgboosts_bit_for_bit_in_almost_every_fit():
    """Same trees, same float arithmetic: identical probabilities. Measured: 988 of 1,000
    random fits (195-200 per 200); the others differ where two splits' gains agree to float
    rounding (XGBoost's gain arithmetic is not reproduced to the last bit). 95% is the bound:
    a wrong base score, gradient, leaf weight, sigmoid or histogram changes almost every
    fit's probabilities, a near-tie rule about 1-2% of them."""
    rng = np.random.default_rng(11)
    same = total = 0
    for _ in range(120):
        x, y, w, xt = random_case(rng)
        if y.min() == y.max():
            continue
        rounds = int(rng.integers(1, 40))
        depth = int(rng.integers(1, 5))
        want = xgboost_predict(x, y, w, xt, rounds, depth)
        got = native_predict(x, y, w, xt, rounds, depth)
        assert got.dtype == np.float32 and got.shape == want.shape
        total += 1
        same += bool(np.array_equal(got, want))
    assert total >= 100 and same >= 0.95 * total, (same, total)


def test_chain_rule_estimate_equals_xgboosts():
    """On gate-like rows (noisy copies of a few prototypes, as trained layers give) the chain
    rule through the native booster equals XGBoost's term for term (measured: also every term
    of the ResNet-56 layers in docs/decisions.md)."""
    rng = np.random.default_rng(3)
    protos = rng.random((12, 24)) < 0.5
    z = protos[rng.integers(0, 12, 3000)] ^ (rng.random((3000, 24)) < 0.05)
    a = pycx.xgb_entropy(z, n_estimators=40, threads=1)
    b = pycx.xgb_entropy(z, n_estimators=40, backend="native")
    assert b.settings["backend"] == "native"
    same = np.sum(a.terms == b.terms)
    assert same >= 0.9 * z.shape[1], (same, np.abs(a.terms - b.terms).max())
    assert abs(a.entropy - b.entropy) <= 1e-3 * a.entropy


def test_native_backend_on_executors_is_bit_identical_to_its_sequential_loop():
    z = np.random.default_rng(4).random((800, 10)) < 0.3
    seq = pycx.xgb_entropy(z, n_estimators=20, backend="native")
    pool = pycx.xgb_entropy(z, n_estimators=20, backend="native", executor="threads")
    assert seq.entropy == pool.entropy and np.array_equal(seq.terms, pool.terms)


def test_learning_rate_and_depth_reach_the_kernel():
    rng = np.random.default_rng(6)
    x = (rng.random((400, 3)) < 0.5).astype(np.uint8)  # 3 features: no near-tied splits
    y = (x[:, 0] ^ x[:, 1] ^ (rng.random(400) < 0.2)).astype(np.uint8)
    w = rng.integers(1, 4, 400).astype(np.float64)
    for depth, eta in ((1, 0.05), (2, 0.3), (4, 0.1)):
        got = native_predict(x, y, w, x, 15, max_depth=depth, eta=eta)
        assert np.array_equal(got, xgboost_predict(x, y, w, x, 15, max_depth=depth, eta=eta))
    assert not np.array_equal(native_predict(x, y, w, x, 15, max_depth=1, eta=0.05),
                              native_predict(x, y, w, x, 15, max_depth=2, eta=0.05))


def test_bad_input():
    rng = np.random.default_rng(0)
    words = pycx.pack_bits(rng.random((20, 5)) < 0.5).words
    y = np.tile(np.float32([0, 1]), 10)
    w = np.ones(20, np.float32)
    with pytest.raises(ValueError, match="'train' must be a C-contiguous uint64"):
        fit_predict(words.astype(np.int64), 5, y, w, words)
    with pytest.raises(ValueError, match=r"'test' must be .* shape \(rows, 1\)"):
        fit_predict(words, 5, y, w, np.zeros((3, 2), np.uint64))
    with pytest.raises(ValueError, match="'n_features' is 65 but the rows hold 64 bits"):
        fit_predict(words, 65, y, w, words)
    with pytest.raises(ValueError, match="'label' must be a C-contiguous float32"):
        fit_predict(words, 5, y.astype(np.float64), w, words)
    with pytest.raises(ValueError, match="0s and 1s, both"):
        fit_predict(words, 5, np.zeros(20, np.float32), w, words)
    with pytest.raises(ValueError, match="'weight' must be finite and > 0"):
        fit_predict(words, 5, y, np.zeros(20, np.float32), words)
    with pytest.raises(ValueError, match="'max_depth'"):
        fit_predict(words, 5, y, w, words, max_depth=0)
    z = rng.random((50, 4)) < 0.5
    with pytest.raises(ValueError, match="backend='native' runs on the CPU"):
        pycx.xgb_entropy(z, backend="native", device="cuda")
    with pytest.raises(ValueError, match="implements XGBoost's defaults only"):
        pycx.xgb_entropy(z, backend="native", xgb_params={"min_child_weight": 2})
    with pytest.raises(ValueError, match="'backend' must be one of"):
        pycx.xgb_entropy(z, backend="lightgbm")


@pytest.mark.parametrize("level", pycx.supported_simd_levels())
def test_every_simd_level_gives_the_same_predictions(level):
    """The histogram loops of every ISA add the same terms in the same order: equal bits."""
    rng = np.random.default_rng(8)
    x = (rng.random((700, 150)) < 0.4).astype(np.uint8)  # 3 words, a partial last block
    y = (x[:, 3] ^ (rng.random(700) < 0.3)).astype(np.uint8)
    w = rng.integers(1, 5, 700).astype(np.float64)
    want = native_predict(x, y, w, x, 25)
    with pycx.use_simd(level):
        assert np.array_equal(native_predict(x, y, w, x, 25), want)


# ---- the documented agreement, kept true by a seeded fuzz (issue 32, item 5) ----

def chain_case(rng):
    """A random chain-rule case: independent units at random rates, noisy copies of a few
    prototypes with Zipf-skewed frequencies (as trained gate rows), or units copying an
    earlier one through noise."""
    n, u = int(rng.integers(20, 600)), int(rng.integers(2, 10))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        z = rng.random((n, u)) < rng.random(u)
    elif kind == 1:
        k = int(rng.integers(2, 20))
        protos = rng.random((k, u)) < 0.5
        p = 1.0 / np.arange(1, k + 1) ** rng.uniform(0.5, 2.0)
        z = protos[rng.choice(k, n, p=p / p.sum())] ^ (rng.random((n, u)) < rng.uniform(0, 0.2))
    else:
        z = rng.random((n, u)) < 0.5
        for j in range(1, u):
            z[:, j] = z[:, int(rng.integers(0, j))] ^ (rng.random(n) < rng.uniform(0, 0.3))
    return z, int(rng.integers(5, 60)), int(rng.integers(2, 4))


@pytest.mark.slow
def test_native_estimates_stay_within_the_documented_bound_of_xgboosts():
    """docs/decisions.md ("The agreement to rely on"): within 0.01 bits and 1e-3 of the
    estimate, at least 85% identical. Measured over 1,000 cases of this generator: 970
    identical, the largest difference 0.0023 bits (issue 32's own fuzz: 0.0098). A wrong
    gradient, leaf or base score moves almost every estimate and by far more."""
    rng = np.random.default_rng(32)
    diffs, rel = [], []
    for _ in range(300):
        z, rounds, folds = chain_case(rng)
        a = pycx.xgb_entropy(z, n_estimators=rounds, folds=folds, threads=1).entropy
        b = pycx.xgb_entropy(z, n_estimators=rounds, folds=folds, backend="native").entropy
        diffs.append(abs(a - b))
        rel.append(abs(a - b) / max(a, 1e-12))
    diffs = np.array(diffs)
    assert np.mean(diffs == 0) >= 0.85, np.mean(diffs == 0)
    assert diffs.max() <= 0.01 and max(rel) <= 1e-3, (diffs.max(), max(rel))


@pytest.mark.slow
def test_large_weights_mostly_give_xgboosts_predictions():
    """Weights of 1e4-1e7 (dedup weights of heavily repeated rows): 177 of 200 fits identical
    measured (issue 32: 163 of 198); 75% is the bound (a wrong weighting changes them all)."""
    rng = np.random.default_rng(5)
    same = total = 0
    for _ in range(200):
        n, f = int(rng.integers(5, 500)), int(rng.integers(1, 40))
        x = (rng.random((n, f)) < rng.random()).astype(np.uint8)
        y = (x[:, 0] ^ (rng.random(n) < rng.random())).astype(np.uint8)
        if y.min() == y.max():
            continue
        w = (10.0 ** rng.uniform(4, 7, n)).astype(np.float32)
        xt = (rng.random((100, f)) < 0.5).astype(np.uint8)
        rounds = int(rng.integers(1, 40))
        total += 1
        same += bool(np.array_equal(native_predict(x, y, w, xt, rounds),
                                    xgboost_predict(x, y, w, xt, rounds)))
    assert total >= 150 and same >= 0.75 * total, (same, total)


@pytest.mark.slow
def test_dedup_stays_within_the_documented_bound_of_the_plain_fit():
    """docs/decisions.md ("Dedup"): at most 1e-3 bits per term (float32 rounding of the
    weighted gradients; measured under 1e-6 here, 5.8e-4 in issue 32's fuzz). A wrong weight
    or a lost row moves terms by far more."""
    rng = np.random.default_rng(8)
    worst = 0.0
    for _ in range(40):
        n, u, k = int(rng.integers(200, 3000)), int(rng.integers(2, 8)), int(rng.integers(2, 12))
        protos = rng.random((k, u)) < 0.5
        p = 1.0 / np.arange(1, k + 1) ** rng.uniform(1.0, 3.0)   # skewed counts
        z = protos[rng.choice(k, n, p=p / p.sum())] ^ (rng.random((n, u)) < rng.uniform(0, 0.1))
        rounds = int(rng.integers(5, 60))
        a = pycx.xgb_entropy(z, n_estimators=rounds, threads=1, dedup=True)
        b = pycx.xgb_entropy(z, n_estimators=rounds, threads=1, dedup=False)
        worst = max(worst, float(np.abs(a.terms - b.terms).max()))
    assert worst <= 1e-3, worst


def test_native_fits_take_the_row_sets_packed_rows_without_packing_again(monkeypatch):
    """Failed before: every native fit unpacked its points' inputs and packed them again
    (pack_bits twice per fit); the row sets now pack their rows once and hand each fit the
    prefix words, which are the words pack_bits gives of those columns."""
    import pycx.kernels.pack_bits as pb
    from pycx.estimators import xgb_rows

    calls = {"pack_bits": 0, "_pack_rows_core": 0}
    for name in calls:
        real = getattr(pb, name)

        def counted(*a, _real=real, _name=name, **k):
            calls[_name] += 1
            return _real(*a, **k)

        monkeypatch.setattr(pb, name, counted)
    rng = np.random.default_rng(7)
    z = (rng.random((600, 70)) < 0.3).astype(np.uint8)
    z[:, 3] = z[:, 0] ^ z[:, 1]
    for dedup, folds in ((True, 2), (True, 3), (False, 2)):
        calls.update(pack_bits=0, _pack_rows_core=0)
        r = pycx.xgb_entropy(z, n_estimators=3, backend="native", dedup=dedup, folds=folds)
        assert r.n_fits > 100
        # the input's packing, then once per distinct row set (with two folds the test sets
        # are the training sets)
        assert calls["pack_bits"] == 0
        assert calls["_pack_rows_core"] <= 1 + 2 * folds, calls
    bits = z[:, :70]
    counts = np.ones(600, np.int64)
    for rows in (xgb_rows.PrefixGroups(bits, counts), xgb_rows.PlainRows(bits)):
        for i in (1, 5, 63, 64, 65, 69):
            x, y, w = rows.column(i)
            px, py, pw = rows.packed_column(i)
            assert px.dtype == np.uint64 and px.flags.c_contiguous
            assert np.array_equal(px, pycx.pack_bits(x).words)
            assert np.array_equal(py, y) and (w is None and pw is None or np.array_equal(pw, w))


def test_booster_is_chosen_by_argument_not_by_a_parameter():
    from pycx.estimators.xgb_boosters import NativeBooster, XGBoostBooster, make_booster

    kw = dict(n_estimators=3, max_depth=2, learning_rate=0.3, seed=1, device="cpu")
    native = make_booster("native", xgb_params=None, **kw)
    xgbb = make_booster("xgboost", xgb_params={"min_child_weight": 2}, **kw)
    assert isinstance(native, NativeBooster) and native.packed_inputs
    assert isinstance(xgbb, XGBoostBooster) and not xgbb.packed_inputs
    assert "backend" not in xgbb.params and xgbb.params["min_child_weight"] == 2
