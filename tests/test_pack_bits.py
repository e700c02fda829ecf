import pickle

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import pycx
from pycx.reference import pack_bits as ref

GATE_DTYPES = [np.float32, np.float64, np.bool_, np.uint8, np.int8, np.int16, np.int32, np.int64]


def gate_arrays(dtype, shape):
    if np.dtype(dtype).kind == "f":
        # Small integers mixed in so that values equal to the threshold occur.
        elements = st.one_of(st.floats(-3, 3, width=np.dtype(dtype).itemsize * 8),
                             st.sampled_from([0.0, -0.0, 0.5]))
    elif dtype == np.bool_:
        elements = st.booleans()
    else:
        elements = st.integers(-2, 2) if np.dtype(dtype).kind == "i" else st.integers(0, 2)
    return hnp.arrays(dtype, shape, elements=elements)


shapes_2d = st.tuples(st.integers(1, 9), st.integers(0, 300))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), dtype=st.sampled_from(GATE_DTYPES), shape=shapes_2d)
def test_pack_bits_matches_reference(simd_level, data, dtype, shape):
    x = data.draw(gate_arrays(dtype, shape))
    threshold = 0.5 if np.dtype(dtype).kind == "f" else 0
    packed = pycx.pack_bits(x, threshold)
    np.testing.assert_array_equal(packed.words, ref.pack_bits(x, threshold))
    np.testing.assert_array_equal(packed.unpack(), ref.gate_bits(x, threshold))
    assert packed.shape == shape


@pytest.mark.parametrize("d", [1, 63, 64, 65, 127, 128, 1000, 4099])
@pytest.mark.parametrize("fill", ["zeros", "ones", "random"])
def test_pack_bits_widths_and_constant_rows(simd_level, rng, d, fill):
    x = {"zeros": np.zeros((3, d), np.float32), "ones": np.ones((3, d), np.float32),
         "random": rng.standard_normal((3, d)).astype(np.float32)}[fill]
    np.testing.assert_array_equal(pycx.pack_bits(x).words, ref.pack_bits(x))
    # The padding of the last word stays zero even for all-one rows.
    assert pycx.PackedBits(pycx.pack_bits(x).words, d).n_bits == d


def test_pack_bits_negative_threshold_tail(simd_level):
    # Masked vector tails must not report lanes past the row end as "> threshold".
    x = np.zeros((2, 70), np.float32)
    np.testing.assert_array_equal(pycx.pack_bits(x, -1.0).unpack(), np.ones((2, 70), np.uint8))


def test_pack_bits_strided_rows_without_copy(rng):
    x = rng.standard_normal((20, 130))
    np.testing.assert_array_equal(pycx.pack_bits(x[::3]).words, ref.pack_bits(x[::3]))
    np.testing.assert_array_equal(pycx.pack_bits(x[:, ::2]).words, ref.pack_bits(x[:, ::2]))
    np.testing.assert_array_equal(pycx.pack_bits(x.T).words, ref.pack_bits(x.T))


@settings(max_examples=40, deadline=None)
@given(data=st.data(), dtype=st.sampled_from([np.float32, np.float64, np.bool_, np.int32]),
       shape=st.tuples(st.integers(1, 4), st.integers(1, 140), st.integers(1, 5), st.integers(1, 5)),
       channels_last=st.booleans())
def test_pack_per_patch_matches_reference(simd_level, data, dtype, shape, channels_last):
    x = data.draw(gate_arrays(dtype, shape))
    if channels_last:  # same values, NHWC memory: must be read in place through strides
        x = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    packed = pycx.pack_per_patch(x)
    np.testing.assert_array_equal(packed.unpack(), ref.per_patch_rows(x))
    np.testing.assert_array_equal(packed.words, ref.pack_bits(ref.per_patch_rows(x)))


def test_pack_per_sample_matches_reference(rng):
    x = rng.standard_normal((5, 3, 7, 7)).astype(np.float32)
    np.testing.assert_array_equal(pycx.pack_per_sample(x).unpack(), ref.per_sample_rows(x))
    # A linear layer: both layouts coincide.
    z = rng.standard_normal((6, 10))
    assert pycx.pack_per_patch(z) == pycx.pack_per_sample(z)


@settings(max_examples=40, deadline=None)
@given(widths=st.lists(st.integers(0, 200), min_size=1, max_size=5), n=st.integers(0, 6),
       seed=st.integers(0, 2**32 - 1))
def test_concat_bits_matches_reference(widths, n, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.integers(0, 2, (n, w), dtype=np.uint8) for w in widths]
    packed = pycx.concat_bits([pycx.pack_bits(p) for p in parts])
    expected = np.concatenate(parts, axis=1)
    assert packed.shape == expected.shape
    np.testing.assert_array_equal(packed.words, ref.pack_bits(expected))


def test_torch_tensor_is_read_without_copy():
    torch = pytest.importorskip("torch")
    t = torch.randn(4, 100)
    np.testing.assert_array_equal(pycx.pack_bits(t).unpack(), (t.numpy() > 0).astype(np.uint8))
    nchw = torch.randn(2, 5, 3, 3).to(memory_format=torch.channels_last)
    np.testing.assert_array_equal(pycx.pack_per_patch(nchw).unpack(), ref.per_patch_rows(nchw.numpy()))


def test_empty_input_gives_empty_result():
    assert pycx.pack_bits(np.zeros((0, 10), np.float32)).shape == (0, 10)
    assert pycx.pack_bits(np.zeros((3, 0), np.float32)).words.shape == (3, 0)
    assert pycx.pack_per_patch(np.zeros((0, 4, 2, 2))).shape == (0, 4)


@pytest.mark.parametrize("bad, exc, words", [
    (np.zeros((2, 3), np.uint32), TypeError, "dtype"),
    (np.zeros((2, 3), np.complex64), TypeError, "dtype"),
    (np.zeros((2, 3, 4)), ValueError, "2-D"),
    ("not an array", TypeError, "dtype"),
])
def test_pack_bits_bad_input(bad, exc, words):
    with pytest.raises(exc, match=words) as info:
        pycx.pack_bits(bad)
    assert "'x'" in str(info.value)


def test_pack_bits_nan_is_an_error(simd_level):
    x = np.zeros((3, 100), np.float32)
    x[2, 77] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pycx.pack_bits(x)
    with pytest.raises(ValueError, match="NaN"):
        pycx.pack_per_patch(np.full((1, 2, 2, 2), np.nan))


def test_pack_bits_threshold_rules():
    with pytest.raises(ValueError, match="threshold"):
        pycx.pack_bits(np.zeros((2, 2), np.int32), threshold=1.0)
    with pytest.raises(ValueError, match="threshold"):
        pycx.pack_bits(np.zeros((2, 2)), threshold=float("nan"))


def test_packed_bits_validation():
    with pytest.raises(ValueError, match="padding"):
        pycx.PackedBits(np.full((1, 1), 2**63, np.uint64), 3)
    with pytest.raises(ValueError, match="words per row"):
        pycx.PackedBits(np.zeros((1, 2), np.uint64), 3)
    with pytest.raises(TypeError, match="dtype"):
        pycx.PackedBits(np.zeros((1, 1), np.int64), 3)


def test_concat_bits_bad_input():
    a = pycx.pack_bits(np.ones((2, 3)))
    with pytest.raises(ValueError, match="rows"):
        pycx.concat_bits([a, pycx.pack_bits(np.ones((3, 3)))])
    with pytest.raises(ValueError, match="empty"):
        pycx.concat_bits([])


def _layouts(x):
    """The same (N, C, H, W) values in the three memory layouts pack_per_patch handles
    differently: NCHW planes (bit-block transpose), channels-last (rows already contiguous),
    and other strides (generic loop)."""
    nhwc = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    padded = np.zeros(x.shape[:3] + (2 * x.shape[3],), x.dtype)
    padded[..., ::2] = x
    return {"nchw": np.ascontiguousarray(x), "nhwc": nhwc, "strided": padded[..., ::2]}


@pytest.mark.parametrize("C", [1, 3, 64, 65, 130])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8])
def test_pack_per_patch_layouts_with_full_and_partial_blocks(simd_level, rng, C, dtype):
    # H*W = 144 positions: two full 64-position blocks and a partial one.
    x = rng.standard_normal((2, C, 16, 9)).astype(dtype) if dtype != np.uint8 else \
        rng.integers(0, 2, (2, C, 16, 9)).astype(dtype)
    want = ref.pack_bits(ref.per_patch_rows(x))
    for name, arr in _layouts(x).items():
        np.testing.assert_array_equal(pycx.pack_per_patch(arr).words, want, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_found_at_every_position_of_a_word(simd_level, dtype):
    # The full-word paths check NaN two vectors at a time; every lane of both must count.
    for j in range(0, 128, 7):
        x = np.zeros((2, 128), dtype)
        x[1, j] = np.nan
        with pytest.raises(ValueError, match="NaN"):
            pycx.pack_bits(x)
        y = np.zeros((1, 70, 8, 9), dtype)
        y[0, j % 70, j % 8, j % 9] = np.nan
        for name, arr in _layouts(y).items():
            with pytest.raises(ValueError, match="NaN"):
                pycx.pack_per_patch(arr)


def test_packed_bits_is_immutable():
    # Issue 13.2: reassigning n_bits or words used to let the kernels read past the buffer
    # (p.n_bits = 10**9; hamming_distances(p) segfaulted).
    given = np.array([[5], [3]], dtype=np.uint64)
    p = pycx.PackedBits(given, 3)
    for name, value in (("n_bits", 10**9), ("words", np.zeros((2, 100), np.uint64)), ("other", 1)):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(p, name, value)
    with pytest.raises(AttributeError, match="immutable"):
        del p.n_bits
    with pytest.raises(ValueError, match="read-only"):
        p.words[0, 0] = 7
    assert given.flags.writeable and np.shares_memory(p.words, given)  # a view, not a copy
    np.testing.assert_array_equal(pycx.hamming_distances(p), [[0, 2], [2, 0]])
    packed = pycx.pack_bits(np.ones((3, 5)))
    assert not packed.words.flags.writeable
    clone = pickle.loads(pickle.dumps(packed))
    assert clone == packed and not clone.words.flags.writeable


def test_pack_per_sample_of_an_empty_batch():
    # Issue 13.12: reshape(0, -1) raised a numpy error for zero samples.
    p = pycx.pack_per_sample(np.zeros((0, 3, 4, 5), np.float32))
    assert p.shape == (0, 60) and p.words.shape == (0, 1)
    assert pycx.pack_per_sample(np.zeros((0, 0, 7))).shape == (0, 0)


def test_capture_of_an_empty_batch_adds_nothing():
    # Issue 13.12: an empty batch in the stream raised an IndexError (values[0, 0]).
    torch = pytest.importorskip("torch")
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 3, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(27, 4), torch.nn.ReLU())
    x = torch.randn(5, 1, 5, 5)
    for kwargs in ({}, {"pixel_covariance": True, "covariance_positions": 2}):
        with_empty = pycx.capture(model, [x[:0], x, x[:0]], progress=False, **kwargs)
        plain = pycx.capture(model, [x], progress=False, **kwargs)
        assert with_empty.n_samples == 5
        for name in plain.names:
            a, b = with_empty[name], plain[name]
            assert a.per_sample == b.per_sample
            for cov in ("covariance", "pixel_covariance"):
                if getattr(b, cov) is None:
                    assert getattr(a, cov) is None
                    continue
                # The same rows in the same order: the same sums, up to rounding.
                np.testing.assert_allclose(getattr(a, cov).covariance(), getattr(b, cov).covariance(),
                                           rtol=1e-12, atol=1e-12)
    assert pycx.capture(model, [x[:0]], progress=False).n_samples == 0


@pytest.mark.parametrize("threads", [2**31, 2**63, 10**6])
def test_too_many_threads_is_a_clear_error(threads):
    # Issue 13.12: threads >= 2**31 gave a pybind11 signature dump.
    with pytest.raises(ValueError, match="argument 'threads' must be <= 1024"):
        pycx.pack_bits(np.zeros((2, 3)), threads=threads)
    with pytest.raises(ValueError, match="argument 'threads'"):
        pycx.hamming_distances(pycx.pack_bits(np.zeros((2, 3))), threads=threads)


def test_half_precision_gates_are_packed_in_their_own_precision():
    # Issue 13.11: bfloat16/float16 tensors raised torch's "unsupported ScalarType".
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.normal(size=(7, 45)).astype(np.float32)
    x[0, :5] = [0.1, 0.0, -0.0, 0.100006, 0.25]
    for threshold in (0.0, 0.1, -0.3):
        for dtype in (torch.float16, torch.bfloat16):
            t = torch.from_numpy(x).to(dtype)
            want = (t > threshold).numpy().astype(np.uint8)  # torch compares in the tensor's dtype
            np.testing.assert_array_equal(pycx.pack_bits(t, threshold).unpack(), want)
            nchw = t[:6].reshape(2, 3, 9, 5)
            np.testing.assert_array_equal(pycx.pack_per_patch(nchw, threshold).unpack(),
                                          ref.per_patch_rows((nchw > threshold).numpy()))
        h = x.astype(np.float16)
        np.testing.assert_array_equal(pycx.pack_bits(h, threshold).unpack(), (h > threshold).astype(np.uint8))
    cov = pycx.Covariance(45).update(torch.from_numpy(x).to(torch.bfloat16))
    want = torch.from_numpy(x).to(torch.bfloat16).double().numpy()
    np.testing.assert_allclose(cov.covariance(), np.cov(want.T, bias=True), rtol=1e-9, atol=1e-12)  # float64 sums of exact values
    with pytest.raises(TypeError, match="argument 'x'"):
        pycx.pack_bits(torch.zeros(2, 3, dtype=torch.complex64))


def test_small_inputs_run_on_one_thread_by_default(monkeypatch):
    # Issue 13.13: the default thread count is 1 below the work threshold, all cores (0)
    # above it; an explicit threads= is always obeyed.
    from pycx.kernels import pack_bits as mod
    seen = []
    real = mod._cpu.pack_rows
    monkeypatch.setattr(mod._cpu, "pack_rows", lambda x, t, n: seen.append(n) or real(x, t, n))
    small = np.zeros((1000, 8), np.float32)
    big = np.zeros((mod._MIN_PARALLEL_BYTES // 4 // 64 + 1, 64), np.float32)
    pycx.pack_bits(small)
    pycx.pack_bits(small, threads=2)
    pycx.pack_bits(big)
    pycx.pack_bits(big, threads=1)
    assert seen == [1, 2, 0, 1]
