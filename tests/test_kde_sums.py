import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycx
from pycx.reference import kde_sums as ref

# Kernel sums are sums of <= n positive terms added in a different order than numpy's, and the
# kernel table (C exp) may differ from np.exp in the last ulp: relative errors are a few ulps
# times log(n), far below 1e-12. Any real defect (a wrong distance changes K by a factor
# exp(-1 / (2 s2))) is many orders of magnitude larger.
RTOL = 1e-12

# Widths around word boundaries (the tail word is partial), a few multi-word rows, and rows
# wide enough (> 64 words) to be swept in several word chunks per tile.
WIDTHS = [1, 2, 63, 64, 65, 127, 130, 200, 513, 4161]


@st.composite
def gate_rows(draw, n_rows, n_bits):
    """0/1 rows with heavy duplicates, all-zero and all-one rows mixed in."""
    kind = draw(st.sampled_from(["random", "duplicates", "constant", "sparse"]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if kind == "random":
        x = rng.integers(0, 2, (n_rows, n_bits))
    elif kind == "duplicates":
        pool = rng.integers(0, 2, (draw(st.integers(1, 3)), n_bits))
        x = pool[rng.integers(0, len(pool), n_rows)]
    elif kind == "constant":
        x = np.where(rng.integers(0, 2, (n_rows, 1)) == 1, 1, 0) * np.ones((1, n_bits), np.int64)
    else:
        x = (rng.random((n_rows, n_bits)) < 0.05).astype(np.int64)
    return x.astype(np.uint8)


sizes = st.tuples(st.integers(1, 45), st.integers(1, 45), st.sampled_from(WIDTHS))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), size=sizes, weighted=st.booleans(), labelled=st.booleans(),
       alpha=st.sampled_from([0.01, 0.04, 1.0]))
def test_kde_sums_a_b_matches_reference(simd_level, data, size, weighted, labelled, alpha):
    n, m, d = size
    x = data.draw(gate_rows(n, d))
    y = data.draw(gate_rows(m, d))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    kw = {"s2": alpha * d}
    if weighted:
        kw["weights"] = rng.integers(0, 5, m)
    if labelled:
        kw["labels"] = rng.integers(0, 3, n)
        kw["b_labels"] = rng.integers(0, 3, m)
    got = pycx.kde_sums(pycx.pack_bits(x), pycx.pack_bits(y), **kw)
    want = ref.kde_sums(x, y, **kw)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    if labelled:
        np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)
    else:
        assert got.same_label is None


@settings(max_examples=40, deadline=None)
@given(data=st.data(), n=st.integers(1, 90), d=st.sampled_from(WIDTHS), weighted=st.booleans(),
       labelled=st.booleans())
def test_kde_sums_symmetric_matches_reference(simd_level, data, n, d, weighted, labelled):
    # n up to 90 crosses several register blocks, so blocks on and off the diagonal occur.
    x = data.draw(gate_rows(n, d))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    kw = {"s2": 0.02 * d}
    if weighted:
        kw["weights"] = rng.integers(0, 4, n)
    if labelled:
        kw["labels"] = rng.integers(-2, 2, n)
    got = pycx.kde_sums(pycx.pack_bits(x), **kw)
    want = ref.kde_sums(x, **kw)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    if labelled:
        np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)


def test_kde_sums_symmetric_over_many_tiles(simd_level, rng):
    # Rows enough for several tiles per side (tiles are at most 512 rows), with duplicates.
    x = rng.integers(0, 2, (300, 40)).astype(np.uint8)[rng.integers(0, 300, 1100)]
    w = rng.integers(0, 3, 1100)
    y = rng.integers(0, 4, 1100)
    got = pycx.kde_sums(pycx.pack_bits(x), s2=2.0, weights=w, labels=y, threads=2)
    want = ref.kde_sums(x, s2=2.0, weights=w, labels=y)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)


@pytest.mark.parametrize("d", [5000, 20000])
def test_kde_sums_wide_rows_over_many_tiles(simd_level, rng, d):
    # Wide rows are swept in word chunks, tile by tile; 150 rows make several 64-row tiles.
    x = rng.integers(0, 2, (150, d)).astype(np.uint8)
    x[10:20] = x[0]  # duplicates
    y = rng.integers(0, 2, (70, d)).astype(np.uint8)
    labels, b_labels = rng.integers(0, 3, 150), rng.integers(0, 3, 70)
    w, wb = rng.integers(0, 3, 150), rng.integers(0, 3, 70)
    kw = {"s2": 0.01 * d}
    got = pycx.kde_sums(pycx.pack_bits(x), s2=0.01 * d, weights=w, labels=labels)
    want = ref.kde_sums(x, s2=0.01 * d, weights=w, labels=labels)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)
    got = pycx.kde_sums(pycx.pack_bits(x), pycx.pack_bits(y), weights=wb, labels=labels,
                        b_labels=b_labels, **kw)
    want = ref.kde_sums(x, y, weights=wb, labels=labels, b_labels=b_labels, **kw)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)
    np.testing.assert_array_equal(pycx.hamming_distances(pycx.pack_bits(x), pycx.pack_bits(y)),
                                  ref.hamming_distances(x, y))


def test_symmetric_equals_a_against_itself(simd_level, rng):
    # Using the symmetry (each pair once, added to both rows) changes nothing.
    x = pycx.pack_bits(rng.integers(0, 2, (77, 150)))
    w = rng.integers(0, 3, 77)
    np.testing.assert_allclose(pycx.kde_sums(x, s2=3.0, weights=w).total,
                               pycx.kde_sums(x, x, s2=3.0, weights=w).total, rtol=RTOL)


def test_weights_are_multiplicities(simd_level, rng):
    # Deduplicated rows with their counts give the sums of the full rows.
    x = rng.integers(0, 2, (60, 70)).astype(np.uint8)[rng.integers(0, 60, 200)]
    unique, inverse, counts = np.unique(x, axis=0, return_inverse=True, return_counts=True)
    full = pycx.kde_sums(pycx.pack_bits(x), s2=1.5).total
    dedup = pycx.kde_sums(pycx.pack_bits(unique), s2=1.5, weights=counts).total
    np.testing.assert_allclose(dedup[inverse.reshape(-1)], full, rtol=RTOL)


def test_constant_rows_have_known_sums(simd_level):
    d, s2 = 130, 5.0
    x = np.vstack([np.zeros((3, d)), np.ones((2, d))]).astype(np.uint8)
    total = pycx.kde_sums(pycx.pack_bits(x), s2=s2).total
    far = np.exp(-d / (2 * s2))
    np.testing.assert_allclose(total, [3 + 2 * far] * 3 + [2 + 3 * far] * 2, rtol=RTOL)


@settings(max_examples=30, deadline=None)
@given(data=st.data(), size=sizes, symmetric=st.booleans())
def test_hamming_distances_exact(simd_level, data, size, symmetric):
    n, m, d = size
    x = data.draw(gate_rows(n, d))
    y = x if symmetric else data.draw(gate_rows(m, d))
    got = pycx.hamming_distances(pycx.pack_bits(x), None if symmetric else pycx.pack_bits(y))
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got, ref.hamming_distances(x, y))


def test_empty_inputs():
    empty = pycx.PackedBits(np.zeros((0, 2), np.uint64), 100)
    some = pycx.pack_bits(np.ones((3, 100), np.uint8))
    assert pycx.kde_sums(empty, s2=1.0).total.shape == (0,)
    assert pycx.kde_sums(empty, some, s2=1.0).total.shape == (0,)
    np.testing.assert_array_equal(pycx.kde_sums(some, empty, s2=1.0).total, np.zeros(3))
    got = pycx.kde_sums(some, empty, s2=1.0, labels=[0, 1, 1], b_labels=np.zeros(0, np.int64))
    np.testing.assert_array_equal(got.same_label, np.zeros(3))
    assert pycx.hamming_distances(some, empty).shape == (3, 0)
    # Zero-width rows: every distance is 0, every kernel value 1.
    nobits = pycx.PackedBits(np.zeros((4, 0), np.uint64), 0)
    np.testing.assert_array_equal(pycx.kde_sums(nobits, s2=1.0).total, np.full(4, 4.0))


def test_zero_weights_and_threads(rng):
    x = pycx.pack_bits(rng.integers(0, 2, (50, 100)))
    np.testing.assert_array_equal(pycx.kde_sums(x, s2=1.0, weights=np.zeros(50, np.int64)).total,
                                  np.zeros(50))
    one = pycx.kde_sums(x, s2=4.0, threads=1).total
    np.testing.assert_allclose(pycx.kde_sums(x, s2=4.0, threads=2).total, one, rtol=RTOL)


def test_xor_popcount_peak_is_positive():
    rate = pycx._cpu.xor_popcount_peak(0.01, 1)
    assert np.isfinite(rate) and rate > 1e6


@pytest.fixture
def packed(rng):
    return pycx.pack_bits(rng.integers(0, 2, (4, 70))), pycx.pack_bits(rng.integers(0, 2, (3, 70)))


@pytest.mark.parametrize("kwargs, error, match", [
    ({"s2": 0.0}, ValueError, "'s2'"),
    ({"s2": -1.0}, ValueError, "'s2'"),
    ({"s2": float("inf")}, ValueError, "'s2'"),
    ({"s2": float("nan")}, ValueError, "'s2'"),
    ({"s2": "1"}, TypeError, "'s2'"),
    ({"s2": 1.0, "weights": np.ones(3)}, TypeError, "'weights'"),
    ({"s2": 1.0, "weights": np.ones(4, np.int64)}, ValueError, "'weights'"),
    ({"s2": 1.0, "weights": np.array([1, -1, 1])}, ValueError, "'weights'"),
    ({"s2": 1.0, "weights": np.ones((3, 1), np.int64)}, ValueError, "'weights'"),
    ({"s2": 1.0, "labels": [0, 1, 0, 1]}, ValueError, "'b_labels'"),
    ({"s2": 1.0, "labels": [0, 1, 0], "b_labels": [0, 1, 1]}, ValueError, "'labels'"),
    ({"s2": 1.0, "labels": [0.5, 1, 0, 1], "b_labels": [0, 1, 1]}, TypeError, "'labels'"),
    ({"s2": 1.0, "labels": [0, 1, 0, 1], "b_labels": [0, 1]}, ValueError, "'b_labels'"),
    ({"s2": 1.0, "b_labels": [0, 1, 1]}, ValueError, "'b_labels'"),
    ({"s2": 1.0, "threads": 0}, ValueError, "'threads'"),
])
def test_kde_sums_rejects_bad_arguments(packed, kwargs, error, match):
    a, b = packed
    with pytest.raises(error, match=match):
        pycx.kde_sums(a, b, **kwargs)


def test_bad_operands(packed, rng):
    a, b = packed
    with pytest.raises(TypeError, match="'a'"):
        pycx.kde_sums(a.unpack(), s2=1.0)
    with pytest.raises(TypeError, match="'b'"):
        pycx.hamming_distances(a, b.words)
    other = pycx.pack_bits(rng.integers(0, 2, (3, 71)))
    with pytest.raises(ValueError, match="n_bits"):
        pycx.kde_sums(a, other, s2=1.0)
    with pytest.raises(ValueError, match="n_bits"):
        pycx.hamming_distances(a, other)
    with pytest.raises(ValueError, match="'b_labels'"):
        pycx.kde_sums(a, s2=1.0, labels=[0, 0, 1, 1], b_labels=[0, 0, 1, 1])
    with pytest.raises(TypeError, match="'s2'"):
        pycx.kde_sums(a)  # s2 is required


# Edge shapes: empty A or B and zero-width rows (n_bits == 0), with n < m and n > m so that a
# B mistaken for A (its rows or its row count) would show. B = A is the explicit b=None, never
# "B has no data": an empty B gives zeros, zero-width rows all-ones kernels.
EDGE_SHAPES = [(5, 0, 70), (0, 5, 70), (0, 0, 70), (7, 3, 0), (3, 7, 0), (4, 0, 0), (0, 4, 0),
               (6, 2, 64)]


@pytest.mark.parametrize("n,m,d", EDGE_SHAPES)
def test_kde_sums_edge_shapes_match_reference(simd_level, n, m, d):
    rng = np.random.default_rng(n * 100 + m * 10 + d)
    x = rng.integers(0, 2, (n, d)).astype(np.uint8)
    y = rng.integers(0, 2, (m, d)).astype(np.uint8)
    px, py = pycx.pack_bits(x), pycx.pack_bits(y)
    kw = {"s2": 3.0, "weights": rng.integers(1, 4, m), "labels": rng.integers(0, 2, n),
          "b_labels": rng.integers(0, 2, m)}
    got, want = pycx.kde_sums(px, py, **kw), ref.kde_sums(x, y, **kw)
    assert got.total.shape == got.same_label.shape == (n,)
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)
    if m == 0:
        np.testing.assert_array_equal(got.total, np.zeros(n))  # exact: nothing was added
    dist = pycx.hamming_distances(px, py)
    assert dist.shape == (n, m) and dist.dtype == np.int32
    np.testing.assert_array_equal(dist, ref.hamming_distances(x, y))
    # Symmetric, also with zero-width rows (every kernel value is exactly 1).
    w = rng.integers(1, 4, n)
    got = pycx.kde_sums(px, s2=3.0, weights=w, labels=kw["labels"])
    want = ref.kde_sums(x, s2=3.0, weights=w, labels=kw["labels"])
    np.testing.assert_allclose(got.total, want.total, rtol=RTOL)
    np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)
    if d == 0:
        np.testing.assert_array_equal(got.total, np.full(n, float(w.sum())))
    np.testing.assert_array_equal(pycx.hamming_distances(px), ref.hamming_distances(x, x))


def test_cpu_kernel_takes_symmetric_from_the_missing_b_not_from_an_empty_one():
    # The compiled kernel itself: an empty words array for B (here a 0 x 0 view, whose data
    # pointer numpy keeps non-null, and which a zero-copy import could make null) is B, not A.
    a = pycx.pack_bits(np.ones((3, 0), np.uint8)).words
    empty = np.zeros((0, 0), np.uint64)
    total, same = pycx._cpu.kde_sums(a, empty, 0, 1.0, None, None, None, 1)
    np.testing.assert_array_equal(total, np.zeros(3))
    assert same is None
    assert pycx._cpu.hamming_distances(a, empty, 0, 1).shape == (3, 0)
    total, _ = pycx._cpu.kde_sums(a, None, 0, 1.0, None, None, None, 1)
    np.testing.assert_array_equal(total, np.full(3, 3.0))  # B = A: 3 rows at distance 0


def test_labels_are_compared_as_values_not_as_int64():
    # Issue 13.6: labels were cast to int64, so uint64 2**64-1 and int64 -1 were one label.
    rng = np.random.default_rng(11)
    x = (rng.random((6, 9)) < 0.5).astype(np.uint8)
    y = (rng.random((5, 9)) < 0.5).astype(np.uint8)
    cases = [(np.array([2**64 - 1, 0, 2**63, 5, 5, 1], np.uint64), np.array([-1, 0, -2**63, 5, 1], np.int64)),
             (np.array(["a", "b", "a", "c", "b", "a"]), np.array(["a", "c", "d", "b", "b"])),
             (np.array([3, 1, 3, 2, 1, 1], np.int8), np.array([3, 3, 2, 9, 1], np.uint64))]
    for la, lb in cases:
        got = pycx.kde_sums(pycx.pack_bits(x), pycx.pack_bits(y), s2=2.0, labels=la, b_labels=lb)
        # Reference: numpy's == compares int64 with uint64 exactly (and strings as strings).
        want = ref.kde_sums(x, y, s2=2.0, labels=la, b_labels=lb)
        np.testing.assert_allclose(got.same_label, want.same_label, rtol=RTOL)
        got_sym = pycx.kde_sums(pycx.pack_bits(x), s2=2.0, labels=la)
        np.testing.assert_allclose(got_sym.same_label, ref.kde_sums(x, s2=2.0, labels=la).same_label, rtol=RTOL)
    la, lb = cases[0]
    got = pycx.kde_sums(pycx.pack_bits(x), pycx.pack_bits(y), s2=2.0, labels=la, b_labels=lb)
    assert got.same_label[0] == 0.0  # 2**64-1 has no partner in B (-1 is another label)


def test_words_changed_after_packing_cannot_read_past_the_kernel_table():
    # Issue 13.2: a PackedBits is immutable, but the caller still holds the array it gave;
    # padding bits written there would push Hamming distances past n_bits (the table's end).
    given = np.zeros((4, 1), np.uint64)
    p = pycx.PackedBits(given, 5)
    given[2, 0] = np.uint64(2**63)
    with pytest.raises(ValueError, match="padding"):
        pycx.kde_sums(p, s2=1.0)
    with pytest.raises(ValueError, match="argument 'b'.*padding"):
        pycx.kde_sums(pycx.pack_bits(np.zeros((2, 5))), p, s2=1.0)


def test_threaded_sums_are_reproducible():
    # The same call on two threads gives the same bits every time (static tile schedule); with
    # dynamic scheduling the grouping of the per-thread partial sums varied between calls.
    rng = np.random.default_rng(11)
    bits = rng.integers(0, 2, (600, 200), dtype=np.uint8)
    packed = pycx.pack_bits(bits)
    first = pycx.kde_sums(packed, s2=7.0, threads=2)
    for _ in range(15):
        again = pycx.kde_sums(packed, s2=7.0, threads=2)
        np.testing.assert_array_equal(again.total, first.total)
