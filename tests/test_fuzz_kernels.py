"""Fuzzing every array kernel over dtypes, shapes and memory layouts (issue 13, "Done when").

Each example either returns what the numpy definition gives or raises ValueError/TypeError;
nothing else (no other exception, no crash, no silent wrong answer). Inputs that are valid by
the documented contract (native byte order, an accepted dtype, the right number of dimensions,
no NaN) must give a result, so a fix cannot hide behind a blanket error.

A crash would take the test process down (and so fail the run); the kernels' fixes (the
state-table growth, immutable PackedBits, the padding re-check, the threads cap) are what the
examples here exercise. Examples stay small: hypothesis explores layouts, not sizes (the sizes
are tests/test_stress.py's).
"""
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

import pycx
from pycx.reference import covariance as ref_cov
from pycx.reference import kde_sums as ref_kde
from pycx.reference import state_counts as ref_sc

ACCEPTED_GATE = [np.float32, np.float64, np.float16, np.bool_, np.uint8, np.int8, np.int16, np.int32,
                 np.int64]
OTHER = [np.uint16, np.uint32, np.uint64, np.complex64, np.dtype("U2"), np.dtype("O"),
         np.dtype(">f4"), np.dtype(">i4"), np.dtype("M8[s]")]
EXPECTED_ERRORS = (ValueError, TypeError)


def _values(draw, dtype, size):
    dt = np.dtype(dtype)
    if dt.kind == "f":
        pool = [0.0, -0.0, 1.0, -1.0, 0.5, 0.25, 1e-8, 3e38 if dt.itemsize >= 4 else 6e4]
        if draw(st.integers(0, 4)) == 0:  # non-finite values in one example of five
            pool += [np.inf, -np.inf, np.nan]
        vals = draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size))
        return np.array(vals, dtype=np.float64).astype(dt)
    if dt.kind == "b":
        return np.array(draw(st.lists(st.booleans(), min_size=size, max_size=size)), dtype=dt)
    if dt.kind in "iu":
        lo = -3 if dt.kind == "i" else 0
        return np.array(draw(st.lists(st.integers(lo, 3), min_size=size, max_size=size))).astype(dt)
    if dt.kind == "c":
        return np.zeros(size, dt)
    if dt.kind == "M":
        return np.zeros(size, dt)
    return np.array(draw(st.lists(st.sampled_from(["0", "1", "a"]), min_size=size, max_size=size)), dtype=dt)


@st.composite
def arrays(draw, ndims=(0, 1, 2, 3, 4), dtypes=None, max_dim=6):
    """An array in one of several layouts: C or Fortran order, a strided slice, reversed,
    transposed, misaligned (odd byte offset), read-only, broadcast (stride 0)."""
    dtype = draw(st.sampled_from(dtypes or (ACCEPTED_GATE + OTHER)))
    ndim = draw(st.sampled_from(ndims))
    shape = tuple(draw(st.lists(st.integers(0, max_dim), min_size=ndim, max_size=ndim)))
    layout = draw(st.sampled_from(["c", "f", "step", "reversed", "transposed", "misaligned",
                                   "readonly", "broadcast"]))
    size = int(np.prod(shape, dtype=np.int64))
    x = _values(draw, dtype, size).reshape(shape)
    if layout == "f":
        x = np.asfortranarray(x)
    elif layout == "step" and ndim:
        axis = draw(st.integers(0, ndim - 1))
        big = np.repeat(x, 2, axis=axis)
        x = big[(slice(None),) * axis + (slice(None, None, 2),)]
    elif layout == "reversed" and ndim:
        x = np.flip(np.flip(x).copy())  # the same values through negative strides
    elif layout == "transposed" and ndim >= 2:
        x = np.ascontiguousarray(np.swapaxes(x, 0, 1)).swapaxes(0, 1)
    elif layout == "misaligned" and x.dtype.kind != "O" and x.itemsize > 1:
        buf = np.zeros(x.nbytes + 1, np.uint8)
        y = np.frombuffer(buf[1:].data, dtype=x.dtype, count=size).reshape(shape)
        y[...] = x
        x = y
    elif layout == "readonly":
        x = x.copy()
        x.flags.writeable = False
    elif layout == "broadcast" and ndim and shape[0]:
        x = np.broadcast_to(x[:1], shape)
    return x


def _accepted(x) -> bool:
    return x.dtype in [np.dtype(d) for d in ACCEPTED_GATE]


def _gates(x, threshold):
    """The numpy definition of the gate bits: x > threshold in x's dtype, x != 0 otherwise."""
    if x.dtype.kind == "f":
        return (x > x.dtype.type(threshold)).astype(np.uint8)
    return (x != 0).astype(np.uint8)


def _has_nan(x) -> bool:
    return x.dtype.kind == "f" and bool(np.isnan(x).any())


def _check(call, want, must_succeed):
    """``want()`` is the numpy answer; the call must equal it or raise ValueError/TypeError
    (and, when the input is valid, it must not raise)."""
    try:
        got = call()
    except EXPECTED_ERRORS as e:
        assert not must_succeed, f"a valid input was refused: {e}"
        event(f"refused: {type(e).__name__}")
        return
    event("computed")
    np.testing.assert_array_equal(got, want())


@settings(max_examples=300, deadline=None)
@given(x=arrays(ndims=(0, 1, 2, 2, 2, 3)), threshold=st.sampled_from([0.0, 0.5, -1.0, 1e-8]),
       threads=st.sampled_from([None, 1, 2]))
def test_pack_bits(x, threshold, threads):
    if x.dtype.kind != "f":
        threshold = 0.0
    valid = _accepted(x) and x.ndim in (1, 2) and not _has_nan(x)
    rows = x.reshape(1, -1) if x.ndim == 1 else x
    _check(lambda: pycx.pack_bits(x, threshold, threads=threads).unpack(), lambda: _gates(rows, threshold), valid)


@settings(max_examples=300, deadline=None)
@given(x=arrays(), threshold=st.sampled_from([0.0, 0.5]), threads=st.sampled_from([None, 1, 2]))
def test_pack_per_sample_and_per_patch(x, threshold, threads):
    if x.dtype.kind != "f":
        threshold = 0.0
    ok = _accepted(x) and not _has_nan(x)
    _check(lambda: pycx.pack_per_sample(x, threshold, threads=threads).unpack(),
           lambda: _gates(x.reshape(x.shape[0], int(np.prod(x.shape[1:], dtype=np.int64))), threshold),
           ok and x.ndim >= 2)

    def patch_ref():
        if x.ndim == 2:
            return _gates(x, threshold)
        n, c, h, w = x.shape
        return _gates(np.transpose(x, (0, 2, 3, 1)).reshape(n * h * w, c), threshold)
    _check(lambda: pycx.pack_per_patch(x, threshold, threads=threads).unpack(), patch_ref,
           ok and x.ndim in (2, 4))


@st.composite
def gate_rows(draw, max_rows=12):
    """0/1 rows with duplicates (few base rows), any width across word boundaries."""
    rows = draw(st.integers(0, max_rows))
    width = draw(st.sampled_from([0, 1, 7, 63, 64, 65, 129]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2, (draw(st.integers(1, 4)), width), dtype=np.uint8)
    return pool[rng.integers(0, pool.shape[0], rows)]


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(gate_rows(), min_size=1, max_size=4), threads=st.sampled_from([None, 1, 2]))
def test_concat_bits(parts, threads):
    packed = [pycx.pack_bits(p) for p in parts]
    same_rows = len({p.shape[0] for p in parts}) == 1
    _check(lambda: pycx.concat_bits(packed, threads=threads).unpack(),
           lambda: np.concatenate(parts, axis=1), same_rows)


label_arrays = st.sampled_from([np.int64, np.uint64, np.int8, np.bool_, "U3", np.float32, np.uint32])


def _labels(rng, n, dtype):
    codes = rng.integers(0, 3, n)
    dt = np.dtype(dtype)
    if dt.kind == "U":
        return np.array(["x", "yy", "zzz"])[codes]
    if dt == np.uint64:
        return np.array([2**64 - 1, 0, 2**63], np.uint64)[codes]
    if dt == np.int64:
        return np.array([-1, 0, -2**63], np.int64)[codes]
    return codes.astype(dt)


def _label_ok(y) -> bool:
    return y is None or y.dtype.kind in "iubU"


@settings(max_examples=200, deadline=None)
@given(bits=gate_rows(max_rows=40), as_array=st.booleans(), ldtype=label_arrays,
       threads=st.sampled_from([None, 1, 2]), weak=st.sampled_from([0, 0, 2]))
def test_state_counts(bits, as_array, ldtype, threads, weak):
    from pycx.kernels.state_counts import state_counts
    y = _labels(np.random.default_rng(bits.size), bits.shape[0], ldtype)
    arg = bits if as_array else pycx.pack_bits(bits)
    want = ref_sc.state_counts(bits)
    try:
        got = state_counts(arg, y, threads=threads, _weak_hash_bits=weak)
    except EXPECTED_ERRORS:
        assert not _label_ok(y)
        return
    assert _label_ok(y)
    np.testing.assert_array_equal(got.states.unpack(), want.states)
    np.testing.assert_array_equal(got.counts, want.counts)
    np.testing.assert_array_equal(got.inverse, want.inverse)
    classes, table = got.label_counts()
    want_classes, want_table = ref_sc.label_counts(want.inverse, y, want.counts.size)
    np.testing.assert_array_equal(classes, want_classes)
    np.testing.assert_array_equal(table, want_table)


@settings(max_examples=200, deadline=None)
@given(a=gate_rows(), b=st.none() | gate_rows(), s2=st.sampled_from([0.7, 3.0, 2.0, 0.7, 0.0, -1.0, np.nan, np.inf]),
       wdtype=st.sampled_from([None, None, np.int64, np.uint8, np.uint64, np.float64]),
       ldtype=st.none() | label_arrays, threads=st.sampled_from([None, 1, 2]))
def test_kde_sums_and_hamming(a, b, s2, wdtype, ldtype, threads):
    rng = np.random.default_rng(a.size + 7)
    m = a.shape[0] if b is None else b.shape[0]
    w = None if wdtype is None else rng.integers(0, 3, m).astype(wdtype)
    la = None if ldtype is None else _labels(rng, a.shape[0], ldtype)
    lb = None if ldtype is None or b is None else _labels(rng, m, ldtype)
    pa, pb = pycx.pack_bits(a), None if b is None else pycx.pack_bits(b)
    same_width = b is None or a.shape[1] == b.shape[1]
    valid = (same_width and np.isfinite(s2) and s2 > 0 and (w is None or w.dtype.kind in "iu")
             and _label_ok(la) and _label_ok(lb))
    try:
        got = pycx.kde_sums(pa, pb, s2=s2, weights=w, labels=la, b_labels=lb, threads=threads)
    except EXPECTED_ERRORS:
        assert not valid, "a valid input was refused"
        event("kde refused")
    else:
        event("kde computed")
        want = ref_kde.kde_sums(a, b, s2=s2, weights=w, labels=la, b_labels=lb)
        # Same float64 terms summed in another order (tiles, threads): a few ulps per sum.
        np.testing.assert_allclose(got.total, want.total, rtol=1e-12, atol=1e-300)
        if la is not None:
            np.testing.assert_allclose(got.same_label, want.same_label, rtol=1e-12, atol=1e-300)
    _check(lambda: pycx.hamming_distances(pa, pb, threads=threads),
           lambda: ref_kde.hamming_distances(a, b), same_width)


@settings(max_examples=200, deadline=None)
@given(x=arrays(ndims=(1, 2, 2, 2, 3, 4), dtypes=[np.float32, np.float64, np.float32, np.float64, np.float16,
                                          np.int64, np.dtype(">f8"), np.complex64]),
       batch=st.booleans())
def test_covariance_update(x, batch):
    dim = x.shape[-1] if x.ndim else 1
    batch_shape = x.shape[:-2] if batch and x.ndim >= 2 else ()
    try:
        cov = pycx.Covariance(dim, batch_shape)
    except EXPECTED_ERRORS:
        assert dim == 0
        return
    native = x.dtype in (np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.float16))
    valid = (native and x.ndim == len(batch_shape) + 2 and bool(np.isfinite(x).all())
             and float(np.abs(x).max(initial=0)) < 1e30)  # squares of 3e38 overflow: an error
    try:
        cov.update(x)
    except EXPECTED_ERRORS:
        assert not valid, "a valid input was refused"
        event("refused")
        return
    event("computed")
    assert native and x.ndim == len(batch_shape) + 2
    if x.shape[-2] == 0 or int(np.prod(batch_shape, dtype=np.int64)) == 0:
        assert cov.count == x.shape[-2]
        return
    _, want = ref_cov.covariance(x.astype(np.float64))
    # One-pass shifted sums against the two-pass definition: ~1e-12 absolute on values up to 1,
    # and both sides' rounding scales with the square of the values (rows of 3e38 give the
    # reference a "variance" of 1e45 from its rounded mean, where the kernel's exact shift gives 0).
    scale = max(1.0, float(np.abs(x).max(initial=0))) ** 2
    np.testing.assert_allclose(cov.covariance(), want, rtol=1e-9, atol=1e-9 * scale)


@settings(max_examples=100, deadline=None)
@given(words=arrays(ndims=(0, 1, 2, 3), dtypes=[np.uint64, np.int64, np.dtype(">u8"), np.uint32]),
       n_bits=st.sampled_from([0, 1, 3, 63, 64, 65, 200, -1]))
def test_packed_bits_constructor(words, n_bits):
    # Only a C-contiguous native uint64 array of the right width with zero padding is accepted.
    try:
        p = pycx.PackedBits(words, n_bits)
    except EXPECTED_ERRORS:
        return
    assert words.dtype == np.dtype(np.uint64) and words.ndim == 2 and words.flags.c_contiguous
    assert words.shape[1] == (n_bits + 63) // 64
    np.testing.assert_array_equal(p.unpack(), ref_sc_unpack(words, n_bits))
    np.testing.assert_array_equal(pycx.hamming_distances(p), ref_kde.hamming_distances(p.unpack()))


def ref_sc_unpack(words, n_bits):
    from pycx.reference.pack_bits import unpack_bits
    return unpack_bits(words, n_bits)


@pytest.mark.parametrize("threads", [0, -1, 2**31, 10**6, 1.0, True, "2"])
def test_bad_thread_counts_are_errors_in_every_kernel(threads):
    p = pycx.pack_bits(np.ones((3, 5)))
    calls = [lambda: pycx.pack_bits(np.ones((3, 5)), threads=threads),
             lambda: pycx.pack_per_patch(np.ones((1, 2, 2, 2)), threads=threads),
             lambda: pycx.concat_bits([p, p], threads=threads),
             lambda: pycx.state_counts(p, threads=threads),
             lambda: pycx.kde_sums(p, s2=1.0, threads=threads),
             lambda: pycx.hamming_distances(p, threads=threads),
             lambda: pycx.Covariance(2).update(np.ones((3, 2)), threads=threads)]
    for call in calls:
        with pytest.raises(EXPECTED_ERRORS, match="threads"):
            call()
