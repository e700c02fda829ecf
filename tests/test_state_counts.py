"""pycx.state_counts against the numpy reference (pycx.reference.state_counts): exact equality."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycx
from pycx.kernels.state_counts import state_counts as state_counts_impl
from pycx.reference import state_counts as ref


def check_against_reference(bits, labels=None, **kwargs):
    packed = pycx.pack_bits(bits)
    got = state_counts_impl(packed, labels, **kwargs)
    want = ref.state_counts(bits)
    np.testing.assert_array_equal(got.states.unpack(), want.states)
    assert got.states.n_bits == bits.shape[1]
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_array_equal(got.inverse, want.inverse)
    assert got.counts.dtype == np.int64 and got.inverse.dtype == np.int64
    for a, b in zip(got.degeneracy(), ref.degeneracy(want.counts)):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == np.int64
    if labels is not None:
        for a, b in zip(got.label_counts(), ref.label_counts(want.inverse, labels, want.counts.size)):
            np.testing.assert_array_equal(a, b)
    return got


@st.composite
def gate_rows(draw):
    """Rows drawn from a small pool of base rows (duplicates), some of which differ from a pool
    row only in their last bit or last word (adversarial near-duplicates)."""
    rows = draw(st.integers(1, 60))
    width = draw(st.sampled_from([1, 5, 63, 64, 65, 130, 500]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2, (draw(st.integers(1, 8)), width), dtype=np.uint8)
    near = pool.copy()
    near[:, -1] ^= 1                                   # last bit flipped
    tweak = pool.copy()
    tweak[:, (width - 1) // 64 * 64] ^= 1              # first bit of the last word flipped
    candidates = np.concatenate([pool, near, tweak])
    return candidates[rng.integers(0, len(candidates), rows)], rng.integers(-1, 3, rows)


@settings(max_examples=60, deadline=None)
@given(data=gate_rows(), weak=st.sampled_from([0, 0, 1, 3]))
def test_matches_reference(data, weak):
    bits, labels = data
    # weak > 0 keeps only that many hash bits: nearly every row collides with every other in
    # the hash, so only the full-row comparison keeps the states apart.
    check_against_reference(bits, labels, _weak_hash_bits=weak)


@pytest.mark.parametrize("weak", [0, 1])
def test_forced_hash_collisions_on_wide_adversarial_rows(rng, weak):
    # 300 distinct rows of 500 bits differing only in bits of the last word.
    bits = np.zeros((300, 500), np.uint8)
    bits[:, 0] = 1
    bits[np.arange(300), 490 - np.arange(300) % 50] = 1
    bits[np.arange(300), 499] = np.arange(300) // 50 % 2
    bits[np.arange(300), 440] = np.arange(300) // 100 % 2
    bits = np.concatenate([bits, bits[::-1]])
    got = check_against_reference(bits, _weak_hash_bits=weak)
    assert got.n_states == len(np.unique(bits, axis=0))


@pytest.mark.parametrize("width", [1, 64, 100])
def test_all_equal_and_all_distinct_rows(width):
    check_against_reference(np.ones((50, width), np.uint8))
    check_against_reference(np.zeros((50, width), np.uint8))
    distinct = ((np.arange(2 ** min(width, 12))[:, None] >> np.arange(width)) & 1).astype(np.uint8)
    got = check_against_reference(distinct)
    assert np.all(got.counts == 1)


def test_single_row():
    got = check_against_reference(np.array([[1, 0, 1]], np.uint8), labels=np.array([7]))
    assert got.n_states == 1 and got.label_counts()[1].tolist() == [[1]]


def test_partitioned_tables(rng):
    # Insertion split over hash partitions (forced here; by default only for huge inputs): ids
    # must still follow first occurrence exactly, with heavy duplication and distinct rows mixed.
    pool = rng.integers(0, 2, (3000, 70), dtype=np.uint8)
    bits = pool[rng.integers(0, 3000, 50000)]
    for threads in (1, 2, 3):
        check_against_reference(bits, rng.integers(0, 10, 50000), threads=threads, _partition_min_rows=0)
    check_against_reference(bits, threads=2, _weak_hash_bits=40, _partition_min_rows=0)
    check_against_reference(bits[:5], threads=3, _weak_hash_bits=2, _partition_min_rows=0)


def test_zero_rows_and_zero_width():
    empty = pycx.state_counts(pycx.pack_bits(np.zeros((0, 10), np.uint8)))
    assert empty.n_states == 0 and empty.states.shape == (0, 10)
    assert [a.size for a in empty.degeneracy()] == [0, 0]
    no_bits = pycx.state_counts(pycx.PackedBits(np.zeros((4, 0), np.uint64), 0))
    assert no_bits.counts.tolist() == [4] and no_bits.inverse.tolist() == [0, 0, 0, 0]


def test_label_counts_given_late_and_missing(rng):
    bits = rng.integers(0, 2, (40, 3), dtype=np.uint8)
    labels = rng.integers(0, 4, 40)
    got = pycx.state_counts(pycx.pack_bits(bits))
    with pytest.raises(ValueError, match="no labels"):
        got.label_counts()
    want = ref.state_counts(bits)
    classes, table = got.label_counts(labels)
    ref_classes, ref_table = ref.label_counts(want.inverse, labels, want.counts.size)
    np.testing.assert_array_equal(classes, ref_classes)
    np.testing.assert_array_equal(table, ref_table)


def test_bad_input():
    packed = pycx.pack_bits(np.zeros((5, 3), np.uint8))
    with pytest.raises(TypeError, match="PackedBits"):
        pycx.state_counts("01")
    with pytest.raises(TypeError, match="dtype"):  # raw words are not 0/1 gates
        pycx.state_counts(np.zeros((5, 1), np.uint64))
    with pytest.raises(ValueError, match="0/1"):
        pycx.state_counts(np.full((5, 2), 2, np.uint8))
    with pytest.raises(ValueError, match="threads"):
        pycx.state_counts(packed, threads=2**31)
    with pytest.raises(ValueError, match="one label per row"):
        pycx.state_counts(packed, labels=np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="integer class labels"):
        pycx.state_counts(packed, labels=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match="threads"):
        pycx.state_counts(packed, threads=0)


def _unique_reference(words):
    """np.unique of the packed rows, renumbered by first occurrence (the kernel's order)."""
    _, first, inverse, counts = np.unique(words, axis=0, return_index=True, return_inverse=True,
                                          return_counts=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return words[first[order]], counts[order], rank[inverse.reshape(-1)]


def check_against_unique(words, n_bits, **kwargs):
    got = state_counts_impl(pycx.PackedBits(words, n_bits), **kwargs)
    states, counts, inverse = _unique_reference(words)
    np.testing.assert_array_equal(got.states.words, states)
    np.testing.assert_array_equal(got.counts, counts)
    np.testing.assert_array_equal(got.inverse, inverse)


@pytest.mark.parametrize("threads, n_rows", [(1, 65537), (1, 200_000), (2, 131_073), (2, 300_000)])
def test_more_distinct_states_than_the_first_table_holds(rng, threads, n_rows):
    # Issue 13.1: the table grows past 2 * 65,536 slots per partition while rows are being
    # inserted; the state id of the new row must not be read from the old (freed) slots.
    # Before the fix this segfaulted (65,537 distinct rows on one thread, 131,073 on two).
    words = np.arange(n_rows, dtype=np.uint64)[:, None]
    words = words[rng.permutation(n_rows)]
    words = np.concatenate([words, words[: n_rows // 3]])  # duplicates after growth too
    check_against_unique(words, 64, threads=threads, _partition_min_rows=0 if threads > 1 else -1)
    check_against_unique(words & np.uint64((1 << 17) - 1), 17, threads=threads)


def test_zero_one_arrays_are_packed_first(rng):
    # Issue 13.15: 0/1 arrays are accepted as the README says of the kernels.
    bits = rng.integers(0, 2, (200, 70), dtype=np.uint8)
    want = ref.state_counts(bits)
    for arr in (bits, bits.astype(bool), bits.astype(np.float32), bits.astype(np.int64), bits.tolist()):
        got = pycx.state_counts(arr)
        np.testing.assert_array_equal(got.states.unpack(), want.states)
        np.testing.assert_array_equal(got.counts, want.counts)
        np.testing.assert_array_equal(got.inverse, want.inverse)


def test_labels_of_any_integer_dtype_and_strings_stay_distinct(rng):
    # Issue 13.6 (label side): classes compare as values, never through an int64 cast.
    bits = rng.integers(0, 2, (30, 3), dtype=np.uint8)
    packed = pycx.pack_bits(bits)
    want = ref.state_counts(bits)
    codes = rng.integers(0, 3, 30)
    for labels in (np.array([2**64 - 1, 0, 2**63], np.uint64)[codes],
                   np.array(["cat", "dog", "cow"])[codes], np.array([-1, 0, 1], np.int8)[codes]):
        classes, table = pycx.state_counts(packed, labels).label_counts()
        assert classes.dtype == labels.dtype and classes.size == 3
        for c, cls in enumerate(classes):
            np.testing.assert_array_equal(table[:, c], np.bincount(want.inverse[labels == cls],
                                                                    minlength=want.counts.size))


# --------------------------------------------- the trusted core (issue 29: validate once)

def test_core_equals_the_reference_and_the_public_kernel(rng):
    """`_state_counts_core` (what the estimators call on rows they built) gives the reference's
    states, counts and inverse, and the public kernel's arrays bit for bit, at every thread
    count and with the test knobs (weak hash, partitioned tables)."""
    from pycx._validate import check_labels, check_threads
    from pycx.kernels.state_counts import _state_counts_core

    for width in (1, 63, 64, 65, 200):
        pool = rng.integers(0, 2, (25, width), dtype=np.uint8)
        bits = pool[rng.integers(0, 25, 3000)]
        packed = pycx.pack_bits(bits)
        labels = np.array(["cat", "dog", "emu"])[rng.integers(0, 3, 3000)]
        want = ref.state_counts(bits)
        for threads, weak, part in ((None, 0, -1), (1, 0, -1), (2, 0, 0), (2, 2, 0), (1, 1, -1)):
            got = _state_counts_core(packed, check_labels("labels", labels, 3000),
                                     check_threads(threads), weak, part)
            np.testing.assert_array_equal(got.states.unpack(), want.states)
            np.testing.assert_array_equal(got.counts, want.counts)
            np.testing.assert_array_equal(got.inverse, want.inverse)
            for a, b in zip(got.label_counts(), ref.label_counts(want.inverse, labels,
                                                                 want.counts.size)):
                np.testing.assert_array_equal(a, b)
            public = pycx.state_counts(packed, labels, threads, _weak_hash_bits=weak,
                                       _partition_min_rows=part)
            assert public.states == got.states
            for a, b in ((public.counts, got.counts), (public.inverse, got.inverse),
                         (public.labels, got.labels)):
                assert a.dtype == b.dtype and np.array_equal(a, b)
    empty = _state_counts_core(pycx.pack_bits(np.zeros((0, 3), np.uint8)))
    assert empty.n_states == 0 and empty.inverse.shape == (0,)


def test_public_kernel_still_refuses_bad_input_with_named_arguments():
    """The checks live at the boundary: the public kernel names the argument, its shape and
    dtype; the core it calls never sees such input."""
    packed = pycx.pack_bits(np.zeros((5, 3), np.uint8))
    with pytest.raises(TypeError, match=r"argument 'packed' must be PackedBits .* got str"):
        pycx.state_counts("01")
    with pytest.raises(TypeError, match=r"'packed'.*uint64"):
        pycx.state_counts(np.zeros((5, 1), np.uint64))
    with pytest.raises(ValueError, match=r"'packed'.*0/1"):
        pycx.state_counts(np.full((5, 2), 2, np.uint8))
    with pytest.raises(ValueError, match=r"'labels'.*\(4,\)"):
        pycx.state_counts(packed, labels=np.zeros(4, np.int64))
    with pytest.raises(TypeError, match=r"'labels'.*float32"):
        pycx.state_counts(packed, labels=np.zeros(5, np.float32))
    with pytest.raises(ValueError, match=r"'labels'"):
        pycx.state_counts(packed, labels=np.zeros((5, 1), np.int64))
    for bad in (0, -1, 2**31):
        with pytest.raises(ValueError, match="'threads'"):
            pycx.state_counts(packed, threads=bad)
    with pytest.raises(TypeError, match="'threads'"):
        pycx.state_counts(packed, threads=1.5)
    with pytest.raises(ValueError, match="no labels"):
        pycx.state_counts(packed).label_counts()


def test_estimators_count_states_through_the_core(monkeypatch):
    """Failed before: the count, relevance, KDE and XGBoost estimators (and the plug-in of the
    concatenated layers) called the public kernel on rows they had just packed or checked,
    so its checks ran a second time. Now the public kernel is not called at all (it is made to
    raise here), and the values are those of the public kernel."""
    import pycx.kernels.state_counts as module

    rng = np.random.default_rng(7)
    z = (rng.random((300, 24)) < 0.2).astype(np.uint8)
    y = np.array(["a", "b", "c"])[rng.integers(0, 3, 300)]
    packed = pycx.pack_bits(z)
    methods = ("plugin", "miller_madow", "nsb", "kde", "xgb")
    want = {m: pycx.entropy(packed, method=m).entropy for m in methods}
    want_rr = pycx.resolution_relevance(z, labels=y)
    want_kde = pycx.kde_entropy(z, labels=y, alpha=0.05)

    def public(*args, **kwargs):
        raise AssertionError("an estimator called the public state_counts")

    monkeypatch.setattr(module, "state_counts", public)
    monkeypatch.setattr(pycx, "state_counts", public, raising=False)
    for m in methods:
        assert pycx.entropy(packed, method=m).entropy == want[m]
    rr = pycx.resolution_relevance(z, labels=y)
    assert (rr.h_s, rr.h_k, rr.classification_error) == (want_rr.h_s, want_rr.h_k,
                                                         want_rr.classification_error)
    kde = pycx.kde_entropy(z, labels=y, alpha=0.05)
    assert (kde.entropy, kde.conditional_entropy) == (want_kde.entropy,
                                                      want_kde.conditional_entropy)
    pycx.kde_total_correlation(z, alpha=0.05)


def test_analysis_counts_states_through_the_core(monkeypatch):
    """Failed before: the KDE group's plug-in of the concatenated layers and the bootstrap
    intervals called the public kernel on a capture's rows (pycx packed them)."""
    torch = pytest.importorskip("torch")
    import pycx.kernels.state_counts as module
    from pycx.analysis.bootstrap import bootstrap_intervals

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.ReLU(), torch.nn.Linear(12, 8),
                                torch.nn.ReLU())
    x = torch.randn(120, 6, generator=torch.Generator().manual_seed(1))
    y = np.array(["a", "b"])[np.random.default_rng(2).integers(0, 2, 120)]
    cap = pycx.capture(model, [x[:60], x[60:]], progress=False)
    kwargs = dict(metrics=["relevance", "kde"], labels=y, progress=False, kmeans=False)
    want = pycx.analyze(cap, **kwargs)
    want_iv = bootstrap_intervals(want, cap, n_boot=5).rows

    def public(*args, **kwargs):
        raise AssertionError("the analysis called the public state_counts")

    monkeypatch.setattr(module, "state_counts", public)
    got = pycx.analyze(cap, **kwargs)
    cols = ("plugin_h_concat", "kde_h_concat", "h_s", "h_k", "classification_error")
    assert [[r[c] for c in cols] for r in got.rows] == [[r[c] for c in cols] for r in want.rows]
    got_iv = bootstrap_intervals(got, cap, n_boot=5).rows
    assert [(r["h_s_lo"], r["h_s_hi"]) for r in got_iv] == [(r["h_s_lo"], r["h_s_hi"])
                                                          for r in want_iv]
