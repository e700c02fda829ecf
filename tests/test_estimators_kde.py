"""KDE entropy, H(Sigma|Y), I(X;Sigma;Y) and total correlation (definitions §4) against the numpy
reference, on random and adversarial inputs; bandwidth defaults; bad input."""
import numpy as np
import pytest

import pycx
from pycx.reference import kde as ref

# The fast path sums the same float64 kernel terms over distinct states instead of rows (a
# different summation order) and the bandwidth's V may differ in the last bit: ~1e-15
# relative per sum, far below 1e-10 after the logarithms and means.
TOL = dict(rtol=1e-10, atol=1e-10)


def gate_cases(rng):
    yield "random", (rng.random((120, 37)) < 0.3).astype(np.uint8)
    protos = (rng.random((5, 130)) < 0.5).astype(np.uint8)  # duplicates, 3 words per row
    yield "prototypes", protos[rng.integers(0, 5, 90)] ^ (rng.random((90, 130)) < 0.02)
    yield "one row", (rng.random((1, 10)) < 0.5).astype(np.uint8)
    z = np.zeros((40, 64), np.uint8)
    z[::3] = 1
    yield "two states", z
    yield "all constant", np.ones((25, 9), np.uint8)
    yield "float input", (rng.random((30, 65)) < 0.5).astype(np.float32)


@pytest.mark.parametrize("bandwidth", ["var", "d"])
def test_entropy_matches_reference(rng, bandwidth):
    for name, z in gate_cases(rng):
        labels = rng.integers(0, 3, z.shape[0])
        got = pycx.kde_entropy(z, alpha=0.05, bandwidth=bandwidth, labels=labels)
        s2 = ref.kde_bandwidth(z, 0.05, mode=bandwidth)
        np.testing.assert_allclose(got.s2, s2, rtol=1e-14, err_msg=name)
        np.testing.assert_allclose(got.entropy, ref.kde_entropy(z, s2), **TOL, err_msg=name)
        np.testing.assert_allclose(got.conditional_entropy,
                                   ref.kde_conditional_entropy(z, labels, s2), **TOL, err_msg=name)
        np.testing.assert_allclose(got.mutual_information,
                                   ref.kde_mutual_information(z, labels, s2), **TOL, err_msg=name)
        packed = pycx.kde_entropy(pycx.pack_bits(z), alpha=0.05, bandwidth=bandwidth)
        np.testing.assert_allclose(packed.entropy, got.entropy, **TOL)
        assert packed.conditional_entropy is None


def spawned_synthetic_rows(gates, seed):
    """The documented synthetic draw, written out in numpy: uniforms from
    ``default_rng(SeedSequence(seed, spawn_key=(0x54434B44,)))``, bit i = ``u < p_i``."""
    g = np.asarray(gates)
    p = g.astype(np.float64).mean(axis=0)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0x54434B44,)))
    return (rng.random(g.shape) < p).astype(np.uint8)


@pytest.fixture
def ref_spawned(monkeypatch):
    # The reference's TC with the synthetic stream of the spawn key (issue 13, item 10).
    monkeypatch.setattr(ref, "synthetic_independent_rows", spawned_synthetic_rows)
    return ref


@pytest.mark.parametrize("leave_one_out", [True, False])
@pytest.mark.parametrize("alpha", [0.01, 0.3, 1e-4])
def test_total_correlation_matches_reference(rng, alpha, leave_one_out, ref_spawned):
    # alpha = 1e-4: kernels between distinct rows underflow, exercising the log-space path.
    for name, z in gate_cases(rng):
        if z.shape[0] < 2 and leave_one_out:
            continue
        got = pycx.kde_total_correlation(z, alpha=alpha, seed=11, leave_one_out=leave_one_out)
        s2 = ref.kde_bandwidth(z, alpha, mode="d")  # the default bandwidth (definitions §4, changed)
        want = ref_spawned.kde_total_correlation(z, s2, seed=11, leave_one_out=leave_one_out)
        np.testing.assert_allclose(got.total_correlation, want, **TOL, err_msg=name)
        assert got.settings["leave_one_out"] is leave_one_out


def test_synthetic_stream_differs_from_a_plain_draw_with_the_same_seed():
    # Gate data drawn the common way with seed 0 used to be the synthetic rows themselves
    # (TC of independent bits about -20 bits here, -83 in the report): with the spawned
    # stream it is sampling noise. Bound: leave-one-out TC of 500 independent rows has noise
    # of a few tenths of a bit (0.1 with seed 1); 1 bit is a wide margin, 20 far outside it.
    z = (np.random.default_rng(0).random((500, 64)) < 0.5).astype(np.uint8)
    assert abs(pycx.kde_total_correlation(z, seed=0).total_correlation) < 1.0
    # The rows it uses are the documented ones (also past one chunk of 4096 rows).
    from pycx.estimators.kde import _synthetic_rows
    big = np.tile(z, (10, 1))
    assert _synthetic_rows(big.mean(axis=0), 5000, 3) == pycx.pack_bits(spawned_synthetic_rows(big, 3))


def test_synthetic_rows_from_raw_words_equal_the_uniform_draw():
    """The rows are formed by integer compares of the generator's raw words: the same bits
    as ``random((n, d)) < p`` for rates at the edges (0, 1, below 2^-53, exact binary
    fractions, just below 1) and across the chunks of rows (d large: few rows per chunk)."""
    from pycx.estimators.kde import _synthetic_rows, synthetic_rng

    p = np.random.default_rng(2).random(20000)
    p[:6] = [0.0, 1.0, 2.0 ** -60, 0.5, 0.25, np.nextafter(1.0, 0.0)]
    want = synthetic_rng(7).random((600, p.size)) < p
    assert _synthetic_rows(p, 600, 7) == pycx.pack_bits(want)


def test_leave_one_out_must_be_a_bool(rng):
    z = (rng.random((10, 5)) < 0.5).astype(np.uint8)
    with pytest.raises(TypeError, match="'leave_one_out' must be a bool"):
        pycx.kde_total_correlation(z, leave_one_out=1)
    one = pycx.kde_total_correlation(z[:1], leave_one_out=False)
    assert one.n_rows == 1 and np.isfinite(one.total_correlation)


def test_entropy_bounds_and_plugin_limit(rng):
    z = (rng.random((200, 30)) < 0.5).astype(np.uint8)
    h = pycx.kde_entropy(z, alpha=0.01).entropy
    assert 0 <= h <= np.log2(200) + 1e-12
    # A vanishing bandwidth leaves only identical rows in each sum: the plug-in entropy.
    protos = z[:4][rng.integers(0, 4, 200)]
    np.testing.assert_allclose(pycx.kde_entropy(protos, alpha=1e-6).entropy,
                               pycx.plugin_entropy(protos).entropy, rtol=1e-9)


def test_independent_units_have_small_total_correlation(rng):
    z = (rng.random((600, 40)) < 0.5).astype(np.uint8)
    # definitions §4: leave-one-out gives about 0 for independent units (sampling noise ~0.3 bits).
    assert abs(pycx.kde_total_correlation(z, alpha=0.04).total_correlation) < 1.0


def test_alpha_defaults_by_layer_kind(rng):
    out = (rng.random((20, 3, 4, 4)) < 0.5).astype(np.uint8)
    conv = pycx.kde_entropy(out)
    assert conv.alpha == 0.04 and conv.settings["layer"] == "conv" and conv.n_units == 48
    flat = out.reshape(20, -1)
    assert pycx.kde_entropy(flat).alpha == 0.01
    assert pycx.kde_entropy(flat, layer="conv").alpha == 0.04
    assert pycx.kde_entropy(flat, alpha=0.2, layer="conv").alpha == 0.2
    np.testing.assert_allclose(pycx.kde_entropy(flat, layer="conv").entropy, conv.entropy, rtol=1e-14)
    d = conv.to_dict()
    # The default is V = d (definitions §4, changed from "var"): s2 = alpha * number of gate bits.
    assert d["s2"] == conv.s2 == 0.04 * 48 and d["settings"]["bandwidth"] == "d"


def test_bad_input(rng):
    z = (rng.random((10, 5)) < 0.5).astype(np.uint8)
    for alpha in (-0.1, float("nan"), 0.0):
        with pytest.raises(ValueError, match="alpha"):
            pycx.kde_entropy(z, alpha=alpha)
        with pytest.raises(ValueError, match="alpha"):
            pycx.kde_total_correlation(z, alpha=alpha)
    with pytest.raises(ValueError, match="labels"):
        pycx.kde_entropy(z, labels=np.zeros(9, dtype=int))
    with pytest.raises(ValueError, match="0/1"):
        pycx.kde_entropy(z * 3)
    with pytest.raises(ValueError, match="row"):
        pycx.kde_total_correlation(z[:1])
    with pytest.raises(ValueError, match="bandwidth"):
        pycx.kde_entropy(z, bandwidth="silverman")
    with pytest.raises(ValueError, match="layer"):
        pycx.kde_entropy(z, layer="attention")
    assert pycx.entropy(z, method="kde", alpha=0.1).entropy == pycx.kde_entropy(z, alpha=0.1).entropy


def test_saturation_flags_on_constructed_cases(rng):
    # Saturated: 64 rows far apart (random 200-bit rows, Hamming distance ~100) at a narrow
    # kernel: every state alone, H = log2 n to within 1e-20, I(X;S;Y) = H(Y) exactly.
    far = (rng.random((64, 200)) < 0.5).astype(np.uint8)
    labels = np.repeat(np.arange(4), 16)
    r = pycx.kde_entropy(far, alpha=0.001, labels=labels)
    assert r.max_entropy == 6.0 and r.entropy > 6.0 - 1e-9 and r.saturated
    assert r.label_entropy == pytest.approx(2.0, abs=1e-15)
    assert r.mutual_information_saturated
    # Not saturated: 4 prototypes with 2% bit noise share their kernel mass, H well below
    # log2 n; labels independent of the prototype leave I(X;S;Y) far below H(Y).
    protos = (rng.random((4, 200)) < 0.5).astype(np.uint8)
    near = protos[np.arange(64) % 4] ^ (rng.random((64, 200)) < 0.02)
    r = pycx.kde_entropy(near, labels=labels)
    assert r.entropy < 6.0 - 1.0 and not r.saturated
    assert r.mutual_information < 1.0 and r.mutual_information_saturated is False
    assert pycx.kde_entropy(near).mutual_information_saturated is None
    # The threshold is 0.01 bits: just inside and just outside, from the reference value.
    s2 = ref.kde_bandwidth(near, 0.01, mode="d")
    h = ref.kde_entropy(near, s2)
    assert pycx.kde_entropy(near).saturated == (h >= 6.0 - 0.01)


def test_default_bandwidth_is_d(rng):
    z = (rng.random((50, 30)) < 0.2).astype(np.uint8)
    np.testing.assert_allclose(pycx.kde_entropy(z).entropy,
                               ref.kde_entropy(z, ref.kde_bandwidth(z, 0.01, mode="d")), **TOL)
    assert pycx.kde_entropy(z, bandwidth="var").s2 == pytest.approx(
        ref.kde_bandwidth(z, 0.01, mode="var"), rel=1e-14)


def test_one_state_entropy_is_plus_zero():
    # A single state: H = 0 exactly, as +0.0 (a -0.0 printed as "-0" in reports).
    r = pycx.kde_entropy(np.ones((20, 7), np.uint8), labels=np.arange(20) % 2)
    assert r.entropy == 0.0 and np.copysign(1.0, r.entropy) == 1.0
    assert np.copysign(1.0, r.conditional_entropy) == 1.0


# ----------------------------------------------------------------------- concatenation profile

def profile_cases(rng):
    n = 70
    protos = (rng.random((4, 150)) < 0.5).astype(np.uint8)
    yield "random parts", [(rng.random((n, d)) < 0.3).astype(np.uint8) for d in (37, 64, 1, 130)]
    # duplicated rows in every part (the fast path never deduplicates; kde_entropy does)
    yield "duplicates", [protos[rng.integers(0, 4, n)][:, :d] for d in (150, 65, 3)]
    yield "constant last part", [(rng.random((n, 20)) < 0.5).astype(np.uint8),
                                 np.ones((n, 9), np.uint8)]
    yield "one part", [(rng.random((n, 12)) < 0.5).astype(np.uint8)]


@pytest.mark.parametrize("bandwidth", ["var", "d"])
@pytest.mark.parametrize("tile_rows", [1, 16, 256])
def test_concat_profile_matches_kde_entropy_of_each_suffix(rng, bandwidth, tile_rows):
    for name, parts in profile_cases(rng):
        kinds = ["conv" if i % 2 else "linear" for i in range(len(parts))]
        got = pycx.estimators.kde.kde_concat_profile(
            [pycx.pack_bits(p) for p in parts], layers=kinds, bandwidth=bandwidth,
            tile_rows=tile_rows)
        want = [pycx.kde_entropy(np.concatenate(parts[i:], axis=1), layer=kinds[i],
                                 bandwidth=bandwidth).entropy for i in range(len(parts))]
        # Sums over rows instead of distinct states: rounding only (see TOL).
        np.testing.assert_allclose(got, want, **TOL, err_msg=name)


def test_concat_profile_small_bandwidth_limit_and_alpha(rng):
    # every unit constant: V = 0 under bandwidth="var", K = 1[h = 0]
    parts = [np.ones((30, 5), np.uint8), np.zeros((30, 3), np.uint8)]
    got = pycx.estimators.kde.kde_concat_profile(parts, bandwidth="var")
    want = [pycx.kde_entropy(np.concatenate(parts[i:], axis=1), bandwidth="var").entropy
            for i in range(2)]
    np.testing.assert_allclose(got, want, **TOL)
    assert got.tolist() == [0.0, 0.0]
    z = [(rng.random((50, d)) < 0.4).astype(np.uint8) for d in (10, 30)]
    got = pycx.estimators.kde.kde_concat_profile(z, alpha=0.3)
    np.testing.assert_allclose(
        got, [pycx.kde_entropy(np.concatenate(z[i:], axis=1), alpha=0.3).entropy
              for i in range(2)], **TOL)


def test_concat_profile_bad_input(rng):
    from pycx.estimators.kde import kde_concat_profile

    a = (rng.random((10, 4)) < 0.5).astype(np.uint8)
    with pytest.raises(TypeError, match="'parts' must be a sequence"):
        kde_concat_profile(pycx.pack_bits(a))
    with pytest.raises(ValueError, match="'parts' is empty"):
        kde_concat_profile([])
    with pytest.raises(ValueError, match=r"'parts\[1\]' has 9 rows but parts\[0\] has 10"):
        kde_concat_profile([a, a[:9]])
    with pytest.raises(ValueError, match="one kind per part"):
        kde_concat_profile([a, a], layers=["conv"])
    with pytest.raises(ValueError, match=r"'layers\[0\]' must be one of"):
        kde_concat_profile([a], layers=["dense"])
    with pytest.raises(ValueError, match="'bandwidth'"):
        kde_concat_profile([a], bandwidth="silverman")
    with pytest.raises(ValueError, match="'alpha'"):
        kde_concat_profile([a], alpha=-1.0)
    with pytest.raises(ValueError, match=r"parts\[0\]"):
        kde_concat_profile([np.full((3, 2), 2, np.uint8)])
