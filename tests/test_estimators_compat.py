"""Drop-in adapters (pycx.compat): the information-plane KDE bounds against the formulas
written out densely, the ml-entropy histogram estimators, calculate_HofKS."""
import math

import numpy as np
import pytest

import pycx
from pycx.compat import ibsgd, mlentropy, relevance
from pycx.reference import entropy as ref_entropy
from pycx.reference import relevance as ref_relevance


def dense_kl(x, var):
    """Kolchinsky–Tracey KL upper bound with the full N x N distance matrix (nats)."""
    x = x.astype(np.float64)
    n, d = x.shape
    dist = ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)
    logits = -dist / (2 * var)
    top = logits.max(axis=1)
    lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
    return d / 2 + d / 2 * math.log(2 * math.pi * var) + math.log(n) - lse.mean()


def test_ibsgd_bounds_match_dense_formula(rng, monkeypatch):
    x = rng.normal(size=(150, 7))
    # Distances by GEMM vs by differences: ~1e-13 relative, summed over 150 rows.
    np.testing.assert_allclose(ibsgd.entropy_estimator_kl(x, 0.05), dense_kl(x, 0.05), rtol=1e-10)
    np.testing.assert_allclose(ibsgd.entropy_estimator_bd(x, 0.05),
                               dense_kl(x, 0.2) + 3.5 * math.log(0.25), rtol=1e-10)
    monkeypatch.setattr(ibsgd, "_TILE_ELEMENTS", 1000)  # several tiles of 6 rows
    np.testing.assert_allclose(ibsgd.entropy_estimator_kl(x, 0.05), dense_kl(x, 0.05), rtol=1e-10)
    assert ibsgd.kde_condentropy(x, 0.05) == pytest.approx(3.5 * (math.log(2 * math.pi * 0.05) + 1))


def test_ibsgd_binary_path_equals_float_path(rng):
    protos = (rng.random((4, 90)) < 0.5).astype(np.uint8)
    z = protos[rng.integers(0, 4, 120)] ^ (rng.random((120, 90)) < 0.05).astype(np.uint8)
    for var in (0.5, 3.0):
        want = dense_kl(z.astype(np.float64), var)
        # Hamming kernel sums over distinct rows vs float distances: ~1e-14 relative.
        np.testing.assert_allclose(ibsgd.entropy_estimator_kl(z, var), want, rtol=1e-10)
        np.testing.assert_allclose(ibsgd.entropy_estimator_kl(pycx.pack_bits(z), var), want, rtol=1e-10)
        np.testing.assert_allclose(ibsgd.entropy_estimator_kl(z.astype(np.float32), var), want, rtol=1e-10)
    with pytest.raises(ValueError, match="var"):
        ibsgd.entropy_estimator_kl(z, -1.0)


def test_histogram_estimators(rng):
    z = (rng.random((400, 9)) < 0.3).astype(np.uint8)
    np.testing.assert_allclose(mlentropy.entropy_histogram(z, "ml"), ref_entropy.plugin_entropy(z), rtol=1e-12)
    np.testing.assert_allclose(mlentropy.entropy_histogram(z, "miller-madow"),
                               ref_entropy.miller_madow_entropy(z), rtol=1e-12)
    from scipy.special import digamma
    counts = np.unique(z, axis=0, return_counts=True)[1].astype(np.float64)
    n = counts.sum()
    g = digamma(counts) + 0.5 * (-1.0) ** counts * (digamma((counts + 1) / 2) - digamma(counts / 2))
    np.testing.assert_allclose(mlentropy.entropy_histogram(z, "grassberger"),
                               (np.log(n) - (counts * g).sum() / n) / np.log(2), rtol=1e-12)
    # All estimators land near the plug-in on well-sampled data (400 rows, <= 512 states).
    for method in ("chao-shen", "james-stein"):
        assert abs(mlentropy.entropy_histogram(z, method) - mlentropy.entropy_histogram(z)) < 1.5
    assert mlentropy.entropy_histogram(np.eye(5, dtype=np.uint8), "chao-shen") > 0
    with pytest.raises(ValueError, match="method"):
        mlentropy.entropy_histogram(z, "nsb")


def test_entropy_xgb_adapter(rng, capsys):
    z = (rng.random((600, 4)) < 0.4).astype(np.uint8)
    bits = mlentropy.entropy_xgb(z, n_splits=2, n_estimators=5, compare=2)
    printed = capsys.readouterr().out.strip().splitlines()
    assert len(printed) == 4 and printed[0].startswith("1 ") and "[" in printed[1]
    want = pycx.xgb_entropy(z, folds=2, n_estimators=5, max_depth=6, learning_rate=0.3, eps=1e-8)
    assert bits == want.entropy
    nats = mlentropy.entropy_xgb(z.reshape(600, 2, 2), n_splits=2, n_estimators=5, verbose=False,
                                 base2=False)
    assert nats == pytest.approx(bits * math.log(2), rel=1e-12)


def test_calculate_hofks():
    ks = [5, 1, 1, 2, 0, 3, 1]
    hk, hs = relevance.calculate_HofKS(ks)
    want = ref_relevance.resolution_relevance(np.array([5, 1, 1, 2, 3, 1]))
    assert (hk, hs) == pytest.approx((want.h_k_normalized, want.h_s_normalized), rel=1e-12)
    assert relevance.calculate_HofKS([1]) == (0.0, 0.0)


# ------------------------------------------------------------ xgb device (issue 13, item 12)

def test_xgb_cuda_without_a_gpu_is_refused(rng, monkeypatch):
    xgb = pytest.importorskip("xgboost")
    from pycx.estimators import xgb_boosters

    z = (rng.random((30, 3)) < 0.5).astype(np.uint8)
    if not xgb.build_info().get("USE_CUDA", False):
        # XGBoost would warn and fit on the CPU: refused instead, saying why.
        with pytest.raises(ValueError, match=r"argument 'device' is 'cuda'.*no CUDA support"):
            pycx.xgb_entropy(z, device="cuda")
        with pytest.raises(ValueError, match="no CUDA support"):
            mlentropy.entropy_xgb(z, gpu=True, verbose=False)

    class CudaBuildNoGpu:
        """A CUDA build of XGBoost on a machine without a GPU: it warns and trains on the CPU."""
        DMatrix = staticmethod(lambda *a, **k: None)

        @staticmethod
        def build_info():
            return {"USE_CUDA": True}

        @staticmethod
        def train(params, data, rounds):
            import warnings
            warnings.warn("WARNING: context.cc:207: Device is changed from GPU to CPU as we "
                          "couldn't find any available GPU on the system.")

    with pytest.raises(ValueError, match="no usable GPU.*Device is changed from GPU to CPU"):
        xgb_boosters.check_cuda_device(CudaBuildNoGpu(), "cuda")


# --------------------------------------------- adapters take what the originals take (item 14)

def test_entropy_histogram_takes_base2(rng):
    z = (rng.random((300, 6)) < 0.4).astype(np.uint8)
    for method in ("ml", "miller-madow", "grassberger", "chao-shen", "james-stein"):
        bits = mlentropy.entropy_histogram(z, method)
        assert mlentropy.entropy_histogram(z, method, base2=True) == bits
        # nats = bits * ln 2: one multiplication, so to the last bits of a float
        assert mlentropy.entropy_histogram(z, method=method, base2=False) == pytest.approx(
            bits * math.log(2), rel=1e-15)
    assert mlentropy.entropy_histogram(z, base2=False) == pytest.approx(
        ref_entropy.plugin_entropy(z) * math.log(2), rel=1e-12)
    with pytest.raises(TypeError, match="base2"):
        mlentropy.entropy_histogram(z, "ml", 2)


def test_entropy_xgb_prints_in_the_unit_it_returns(rng, capsys):
    z = (rng.random((400, 3)) < 0.4).astype(np.uint8)
    nats = mlentropy.entropy_xgb(z, n_splits=2, n_estimators=5, base2=False, compare=3)
    lines = capsys.readouterr().out.strip().splitlines()
    # The last cumulative value printed (3 decimals) is the value returned, in nats.
    assert float(lines[-1].split()[1]) == pytest.approx(nats, abs=5e-4)
    direct = float(lines[-1].split("[")[1].rstrip("]")) * 3
    assert direct == pytest.approx(
        mlentropy.entropy_histogram(z, "grassberger", base2=False), abs=5e-5 * 3)


def test_calculate_hofks_takes_float_and_bool_counts():
    ks = [5, 1, 1, 2, 0, 3, 1]
    want = relevance.calculate_HofKS(ks)
    assert relevance.calculate_HofKS(np.array(ks, dtype=np.float64)) == want
    assert relevance.calculate_HofKS([float(k) for k in ks]) == want
    assert relevance.calculate_HofKS(np.array(ks, dtype=np.float32)) == want
    # bool counts are 0/1 counts: three states seen once each
    assert relevance.calculate_HofKS(np.array([True, False, True, True])) == \
        relevance.calculate_HofKS([1, 0, 1, 1])
    with pytest.raises(ValueError, match="whole-number"):
        relevance.calculate_HofKS([1.5, 2.0])
    with pytest.raises(ValueError, match="whole-number"):
        relevance.calculate_HofKS([np.nan, 2.0])


def test_ibsgd_only_0_1_input_takes_the_binary_path(rng):
    # Integers other than 0/1 are activations (the original computes float distances);
    # before they were refused as "not 0/1".
    x = rng.integers(-3, 6, (80, 5))
    for dtype in (np.int64, np.uint8 if x.min() >= 0 else np.int8, np.int16):
        xi = x.astype(dtype)
        np.testing.assert_allclose(ibsgd.entropy_estimator_kl(xi, 0.7),
                                   dense_kl(xi.astype(np.float64), 0.7), rtol=1e-10)
    b = (rng.random((60, 8)) < 0.5)
    for given in (b, b.astype(np.int32), b.astype(np.uint64)):
        np.testing.assert_allclose(ibsgd.entropy_estimator_kl(given, 0.4),
                                   dense_kl(b.astype(np.float64), 0.4), rtol=1e-10)


def test_ibsgd_float_path_merges_duplicate_rows(rng):
    # 600 rows of 7 distinct float rows: the weighted sums over distinct rows must equal
    # the dense formula over all rows (GEMM vs differences: ~1e-13 relative).
    protos = rng.normal(size=(7, 5))
    x = protos[rng.integers(0, 7, 600)]
    for var in (0.05, 2.0):
        np.testing.assert_allclose(ibsgd.entropy_estimator_kl(x, var), dense_kl(x, var), rtol=1e-10)
        np.testing.assert_allclose(ibsgd.entropy_estimator_bd(x, var),
                                   dense_kl(x, 4 * var) + 2.5 * math.log(0.25), rtol=1e-10)
    # Tiles: more distinct rows than one tile holds (2**17 elements / 3000 = 43 rows).
    big = rng.normal(size=(3000, 3)) * 0.1
    np.testing.assert_allclose(ibsgd.entropy_estimator_kl(big, 0.01), dense_kl(big, 0.01),
                               rtol=1e-10)
