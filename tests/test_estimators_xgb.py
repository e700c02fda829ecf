"""Classifier chain-rule entropy (docs/definitions.md §5.1): dedup vs plain fits, an independent
XGBClassifier chain, ground-truth distributions, orders, degenerate folds, bad input."""
import sys

import numpy as np
import pytest

import pycx
from pycx.estimators import xgb_rows

xgboost = pytest.importorskip("xgboost")


def h2(p):
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.where((p == 0) | (p == 1), 0.0, out)


def markov_chain(rng, n_rows, n_units, flip):
    """z_0 ~ Bernoulli(1/2), z_i = z_{i-1} xor Bernoulli(flip): H = 1 + (C-1) h2(flip)."""
    z = np.zeros((n_rows, n_units), dtype=np.uint8)
    z[:, 0] = rng.random(n_rows) < 0.5
    for i in range(1, n_units):
        z[:, i] = z[:, i - 1] ^ (rng.random(n_rows) < flip)
    return z


def low_entropy_gates(rng, n_rows, n_units, n_prototypes=6, flip=0.01):
    protos = (rng.random((n_prototypes, n_units)) < 0.5).astype(np.uint8)
    z = protos[rng.integers(0, n_prototypes, n_rows)]
    return z ^ (rng.random(z.shape) < flip).astype(np.uint8)


@pytest.mark.parametrize("folds", [2, 3])
@pytest.mark.parametrize("order", ["natural", "greedy"])
def test_dedup_equals_plain_fit(rng, folds, order):
    z = low_entropy_gates(rng, 3000, 8)
    kw = dict(folds=folds, n_estimators=15, order=order, seed=3)
    fast = pycx.xgb_entropy(z, dedup=True, **kw)
    plain = pycx.xgb_entropy(z, dedup=False, **kw)
    np.testing.assert_array_equal(fast.order, plain.order)
    # Weighted and repeated rows give the same gradient sums up to float32 rounding of the
    # per-row gradients inside XGBoost: ~1e-7 relative on predictions, 1e-6 bits per term.
    np.testing.assert_allclose(fast.terms, plain.terms, rtol=0, atol=1e-6)


def test_matches_an_independent_xgbclassifier_chain(rng):
    """The documented procedure written out with sklearn-style XGBClassifier: seeded fold split
    over the original rows (shared by all columns), plain fits, clipped log-loss."""
    z = low_entropy_gates(rng, 1200, 5, flip=0.05)
    seed, folds, eps = 7, 2, 1e-6
    got = pycx.xgb_entropy(z, folds=folds, n_estimators=10, seed=seed, eps=eps)

    fold_ss, _ = np.random.SeedSequence(seed).spawn(2)
    parts = np.array_split(np.random.default_rng(fold_ss).permutation(z.shape[0]), folds)
    want = [h2(z[:, 0].mean())]
    for i in range(1, z.shape[1]):
        loss = 0.0
        for f in range(folds):
            test = np.sort(parts[f])
            train = np.sort(np.concatenate([parts[g] for g in range(folds) if g != f]))
            clf = xgboost.XGBClassifier(n_estimators=10, max_depth=3, learning_rate=0.1,
                                        tree_method="hist", random_state=seed, n_jobs=1)
            clf.fit(z[train, :i], z[train, i])
            p = np.clip(clf.predict_proba(z[test, :i])[:, 1].astype(np.float64), eps, 1 - eps)
            y = z[test, i]
            loss += -(y * np.log2(p) + (1 - y) * np.log2(1 - p)).sum()
        want.append(loss / z.shape[0])
    # Same trees; the only difference is float32 prediction rounding (1e-7 relative).
    np.testing.assert_allclose(got.terms, want, rtol=0, atol=1e-6)


def test_packed_and_unpacked_input_agree(rng):
    z = low_entropy_gates(rng, 800, 70)[:, :67]  # more than one 64-bit word per row
    a = pycx.xgb_entropy(z, n_estimators=3)
    b = pycx.xgb_entropy(pycx.pack_bits(z), n_estimators=3)
    c = pycx.xgb_entropy(z.astype(bool), n_estimators=3)
    assert a.entropy == b.entropy == c.entropy


# --- ground truth --------------------------------------------------------------------------

@pytest.mark.parametrize("case", ["independent", "markov"])
def test_chain_rule_is_an_upper_bound_close_to_the_truth(rng, case):
    n_rows, n_units = 20000, 8
    if case == "independent":
        p = np.linspace(0.05, 0.6, n_units)
        z = (rng.random((n_rows, n_units)) < p).astype(np.uint8)
        truth = float(np.sum(h2(p)))
    else:
        z = markov_chain(rng, n_rows, n_units, flip=0.1)
        truth = 1.0 + (n_units - 1) * h2(0.1)
    r = pycx.xgb_entropy(z)  # paper 000 settings
    # Lower side: the out-of-fold loss is an upper bound up to sampling noise, ~0.006 bits
    # per term at 20,000 rows (std of a per-row loss ~0.9 bits / sqrt(M)); 0.03 covers 8.
    # Upper side: with 10,000 training rows and these simple conditionals the classifiers are
    # near the truth; 100 rounds at rate 0.1 leave ~1e-3 bits per term of under-fitting.
    assert truth - 0.03 <= r.entropy <= truth + 0.05, (r.entropy, truth)


def test_mixture_of_prototypes_against_exact_entropy(rng):
    n_units, flip, weights = 10, 0.03, np.array([0.4, 0.3, 0.2, 0.1])
    protos = (rng.random((4, n_units)) < 0.5).astype(np.uint8)
    # Exact entropy by enumerating all 2^10 states.
    states = ((np.arange(2 ** n_units)[:, None] >> np.arange(n_units)) & 1).astype(np.uint8)
    mismatches = (states[:, None, :] != protos[None]).sum(axis=2)
    probs = (weights * flip ** mismatches * (1 - flip) ** (n_units - mismatches)).sum(axis=1)
    truth = float(-(probs * np.log2(probs)).sum())
    z = protos[rng.choice(4, size=30000, p=weights)]
    z ^= (rng.random(z.shape) < flip).astype(np.uint8)
    r = pycx.xgb_entropy(z)
    # Depth-3 trees must recover a 4-component mixture from the prefix: harder than a chain,
    # so the bound sits higher (measured ~0.05 bits above); noise as above (~0.03).
    assert truth - 0.03 <= r.entropy <= truth + 0.15, (r.entropy, truth)
    # With 30,000 rows and ~200 likely states the plug-in is within its small-sample bias.
    assert abs(pycx.plugin_entropy(z).entropy - truth) < 0.05


# --- options ------------------------------------------------------------------------------

def test_orders(rng):
    z = markov_chain(rng, 2000, 6, flip=0.2)[:, [3, 0, 5, 1, 4, 2]]
    r1 = pycx.xgb_entropy(z, order="random", n_estimators=2, seed=5)
    r2 = pycx.xgb_entropy(z, order="random", n_estimators=2, seed=5)
    assert sorted(r1.order) == list(range(6)) and np.array_equal(r1.order, r2.order)
    explicit = pycx.xgb_entropy(z, order=r1.order, n_estimators=2, seed=5)
    assert explicit.entropy == r1.entropy and explicit.settings["order"] == "explicit"
    greedy = pycx.xgb_entropy(z, order="greedy", n_estimators=2)
    # Along a chain every next unit is a neighbour of one already chosen: the order visits
    # the chain's positions as one contiguous growing interval.
    chain_pos = np.array([3, 0, 5, 1, 4, 2])[greedy.order]
    for k in range(1, 6):
        assert chain_pos[: k + 1].max() - chain_pos[: k + 1].min() == k
    with pytest.raises(ValueError, match="order"):
        pycx.xgb_entropy(z, order=[0, 1, 2, 3, 4, 4])
    with pytest.raises(ValueError, match="order"):
        pycx.xgb_entropy(z, order="sorted")


def test_degenerate_training_fold_uses_laplace_rate(rng):
    z = (rng.random((101, 3)) < 0.5).astype(np.uint8)
    z[:, 1] = 0  # a constant unit: every training fold has one class
    r = pycx.xgb_entropy(z, folds=2, n_estimators=2)
    sizes = [len(p) for p in np.array_split(np.arange(101), 2)]
    want = 0.0
    for f in range(2):
        n_train = 101 - sizes[f]
        p1 = 0.5 / (n_train + 1)
        want += -sizes[f] * np.log2(1 - p1)
    # Exact arithmetic on a few float64 terms.
    assert r.terms[1] == pytest.approx(want / 101, rel=1e-12)
    assert r.n_degenerate == 2 and r.terms[0] == pytest.approx(h2(z[:, 0].mean()), rel=1e-12)


def test_result_fields(rng):
    z = low_entropy_gates(rng, 500, 4)
    r = pycx.xgb_entropy(z, n_estimators=2, seed=1)
    d = r.to_dict()
    assert d["settings"]["n_estimators"] == 2 and d["settings"]["seed"] == 1
    assert d["entropy"] == pytest.approx(sum(d["terms"]))
    assert r.per_unit == pytest.approx(r.entropy / 4)
    assert pycx.entropy(z, n_estimators=2, seed=1).entropy == r.entropy


# --- bad input ----------------------------------------------------------------------------

def test_bad_input():
    z = np.zeros((10, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="0/1"):
        pycx.xgb_entropy(z + 2)
    with pytest.raises(ValueError, match="0/1"):
        pycx.xgb_entropy(np.full((10, 3), 0.5))
    with pytest.raises(ValueError, match="folds"):
        pycx.xgb_entropy(z[:2], folds=3)
    with pytest.raises(ValueError, match="row"):
        pycx.xgb_entropy(z[:1])
    with pytest.raises(ValueError, match="folds"):
        pycx.xgb_entropy(z, folds=1)
    with pytest.raises(ValueError, match="eps"):
        pycx.xgb_entropy(z, eps=0.7)
    with pytest.raises(ValueError, match="eps"):
        pycx.xgb_entropy(z, eps=-1.0)
    with pytest.raises(ValueError, match="2-D"):
        pycx.xgb_entropy(np.zeros(5, dtype=np.uint8))


def test_missing_xgboost_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "xgboost", None)  # makes `import xgboost` raise
    with pytest.raises(ImportError, match=r'pip install "pycx\[xgboost\]"'):
        pycx.xgb_entropy(np.zeros((10, 3), dtype=np.uint8))


# --- concurrent fits (executor=) -----------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(), dict(folds=3, order="greedy"), dict(dedup=False),
                                dict(order="random", seed=4)])
def test_concurrent_fits_are_bit_identical_to_the_sequential_loop(rng, kw):
    """executor=None is the sequential loop (one fit after another, the code path before
    executors existed); every executor must reproduce it bit for bit for the same seed."""
    import concurrent.futures as cf

    z = low_entropy_gates(rng, 1500, 12, flip=0.05)
    z[:, 5] = 0  # a constant unit: Laplace-rate folds on the concurrent path too
    want = pycx.xgb_entropy(z, n_estimators=4, **kw)
    assert want.n_degenerate >= 2
    with cf.ThreadPoolExecutor(2) as pool:
        got = [pycx.xgb_entropy(z, n_estimators=4, executor=pool, **kw),
               pycx.xgb_entropy(z, n_estimators=4, executor="threads", **kw)]
    for g in got:
        np.testing.assert_array_equal(g.terms, want.terms)  # exact: same fits, same sums
        np.testing.assert_array_equal(g.order, want.order)
        assert g.entropy == want.entropy
        assert (g.n_fits, g.n_degenerate) == (want.n_fits, want.n_degenerate)


@pytest.mark.slow
def test_concurrent_fits_in_processes_are_bit_identical(rng):
    z = low_entropy_gates(rng, 1500, 10, flip=0.05)
    want = pycx.xgb_entropy(z, n_estimators=4)
    got = pycx.xgb_entropy(z, n_estimators=4, executor="processes")  # fold rows shipped packed
    np.testing.assert_array_equal(got.terms, want.terms)


def test_fold_rows_ship_as_packed_bits(rng):
    import pickle

    z = low_entropy_gates(rng, 2000, 300, flip=0.2)
    groups = xgb_rows.PrefixGroups(z, np.ones(z.shape[0], dtype=np.int64))
    payload = pickle.dumps(groups)
    # 300 bits per row travel as 38 bytes (+ 16 bytes of count and first difference), not 300.
    assert len(payload) < groups.bits.shape[0] * (38 + 16) + 4096
    back = pickle.loads(payload)
    np.testing.assert_array_equal(back.bits, groups.bits)
    for i in (1, 150, 299):
        for a, b in zip(back.column(i), groups.column(i)):
            np.testing.assert_array_equal(a, b)


def test_inplace_prediction_equals_dmatrix_prediction():
    """The fits predict the test rows with ``inplace_predict`` (no DMatrix): the same
    probabilities, bit for bit, as the DMatrix path the estimate was defined with, on
    weighted points, a strided view (dedup=False slices columns) and 1 or 2 threads."""
    import xgboost as xgb

    from pycx.estimators.xgb_boosters import predict as _predict

    rng = np.random.default_rng(4)
    bits = (rng.random((3000, 41)) < 0.4).astype(np.uint8)
    bits[:, 40] = bits[:, 3] ^ bits[:, 7] ^ (rng.random(3000) < 0.1)
    x, y = bits[:, :40], bits[:, 40]  # a strided view
    w = rng.integers(1, 5, 3000).astype(np.float64)
    for nthread in (1, 2):
        booster = xgb.train({"objective": "binary:logistic", "tree_method": "hist",
                             "max_depth": 3, "eta": 0.1, "seed": 0, "verbosity": 0,
                             "nthread": nthread},
                            xgb.DMatrix(x, label=y, weight=w, nthread=nthread),
                            num_boost_round=40)
        want = booster.predict(xgb.DMatrix(x[::-1], nthread=nthread))
        got = _predict(xgb, booster, x[::-1], nthread, "cpu")
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_fit_is_xgb_train_byte_for_byte():
    """The chain's fits run the boosting rounds themselves (`_fit`): the model must be the
    one ``xgb.train`` makes with the same parameters."""
    import xgboost as xgb

    from pycx.estimators.xgb_boosters import fit as _fit

    rng = np.random.default_rng(5)
    x = (rng.random((500, 9)) < 0.5).astype(np.uint8)
    y = (x[:, 0] ^ (rng.random(500) < 0.2)).astype(np.uint8)
    w = rng.integers(1, 4, 500).astype(np.float64)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": 3,
              "eta": 0.1, "seed": 3, "verbosity": 0, "device": "cpu", "min_child_weight": 2}
    want = xgb.train({**params, "nthread": 1}, xgb.DMatrix(x, label=y, weight=w, nthread=1),
                     num_boost_round=25)
    got = _fit(xgb, x, y, w, params, 25, 1)
    assert got.save_raw() == want.save_raw()
    assert got.num_boosted_rounds() == 25
