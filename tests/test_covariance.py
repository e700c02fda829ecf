"""pycx.Covariance against the two-pass float64 reference (pycx.reference.covariance)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycx
from pycx.reference.covariance import covariance as ref_covariance


def assert_close(acc, x, rtol=1e-10):
    """Compare mean and covariance with the reference. Both are float64 and centre before
    multiplying; they differ only in summation order (blocked + Chan merge vs one pass), so the
    error is a few ulps of the accumulated magnitudes: rtol 1e-10 against the data's scale
    (max |x - mean|^2, max |x|) leaves a wide margin for rows up to ~1e5."""
    mean, cov = ref_covariance(x)
    x = x.astype(np.float64)
    scale = max(float(np.max(np.abs(x - mean[..., None, :]))) ** 2, 1e-300)
    np.testing.assert_allclose(acc.mean, mean, rtol=0, atol=rtol * max(float(np.max(np.abs(x))), 1e-300))
    np.testing.assert_allclose(acc.covariance(), cov, rtol=0, atol=rtol * scale)


batch_shapes = st.sampled_from([(), (1,), (3,), (2, 3)])


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 40), dim=st.integers(1, 20),
       batch_shape=batch_shapes, dtype=st.sampled_from([np.float32, np.float64]),
       offset=st.sampled_from([0.0, 1e3, 1e6]), splits=st.integers(1, 4))
def test_matches_reference(seed, rows, dim, batch_shape, dtype, offset, splits):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(batch_shape + (rows, dim)) + offset).astype(dtype)
    cov = pycx.Covariance(dim, batch_shape)
    # Several updates of unequal sizes must equal one update of all rows.
    cuts = np.sort(rng.integers(0, rows + 1, splits - 1))
    for part in np.split(x, cuts, axis=-2):
        cov.update(part)
    assert cov.count == rows
    assert_close(cov, x)


def test_single_row_and_dim_one():
    cov = pycx.Covariance(1).update(np.array([[2.5]]))
    assert cov.count == 1
    np.testing.assert_array_equal(cov.mean, [2.5])
    np.testing.assert_array_equal(cov.covariance(), [[0.0]])


def test_constant_columns_have_exactly_zero_variance():
    x = np.tile(np.array([[3.0, -7.25, 1e6]]), (1000, 1))
    x[:, 0] += np.random.default_rng(0).standard_normal(1000)
    cov = pycx.Covariance(3).update(x)
    # Centred values of a constant column are exactly 0, so its row/column must be exactly 0.
    c = cov.covariance()
    assert np.all(c[1:, :] == 0) and np.all(c[:, 1:] == 0)


def test_large_offset_is_stable_where_the_naive_formula_fails():
    rng = np.random.default_rng(1)
    noise = rng.standard_normal((20000, 4))
    x = noise + 1e6
    cov = pycx.Covariance(4)
    for part in np.array_split(x, 7):
        cov.update(part)
    exact = ref_covariance(noise)[1]  # shifting by a constant leaves the covariance unchanged
    # x - 1e6 is exact to ~1e-10 (ulp of 1e6), so the covariance is right to ~1e-9 absolute.
    np.testing.assert_allclose(cov.covariance(), exact, rtol=0, atol=1e-8)
    naive = x.T @ x / len(x) - np.outer(x.mean(0), x.mean(0))
    # E[xx] - E[x]E[x] loses everything below ulp(1e12) ~ 1e-4: the naive error is far larger.
    assert np.max(np.abs(naive - exact)) > 1e-6


def test_blocks_larger_than_one_chunk(rng):
    # More rows than one centring block (> 2^20 / dim): the in-update Chan merges run.
    x = rng.standard_normal((70000, 16)) * 5 + 100
    assert_close(pycx.Covariance(16).update(x), x)
    xb = rng.standard_normal((2, 40000, 16)).astype(np.float32)
    assert_close(pycx.Covariance(16, (2,)).update(xb), xb)


def test_drifting_data_whose_first_rows_are_unrepresentative(rng):
    # Each block is shifted by the mean of its first rows, not centred on its own mean. Here
    # those rows are far from the block mean: a slow ramp on a 1e6 offset, and a step column
    # whose first rows sit 1e3 below the rest, across several blocks (> 2^20 / dim rows each).
    rows, dim = 150_000, 4
    x = rng.standard_normal((rows, dim)) + 1e6
    x[:, 0] += np.linspace(0.0, 30.0, rows)
    x[:, 1] += np.where(np.arange(rows) % 65536 < 2000, -1e3, 0.0)
    x[:, 2] = 1e6 + 1e-3 * (x[:, 2] - 1e6)  # tiny spread on the offset: most cancellation-prone
    cov = pycx.Covariance(dim).update(x)
    # Reference on x - 1e6, which is exact (Sterbenz: x within a factor 2 of 1e6) and leaves
    # the covariance unchanged, so it does not suffer the offset's rounding itself.
    mean, exact = ref_covariance(x - 1e6)
    # Error bound of the shifted product: ~eps * (1 + rows_per_block / shift_rows) * G_jj, at
    # most ~17 ulps of the variance plus summation rounding (measured: ~5e-15 relative);
    # 1e-12 of sqrt(var_i var_j) leaves margin and is ~1e10 below the naive formula's error.
    sd = np.sqrt(np.diag(exact))
    err = np.abs(cov.covariance() - exact) / np.outer(sd, sd)
    assert err.max() < 1e-12, err.max()
    # Means: 1e6 + (block sums of 65536 rows), rounding ~ a few ulps of 1e6 (1.2e-10 each).
    np.testing.assert_allclose(cov.mean - 1e6, mean, rtol=0, atol=1e-8)
    naive = x.T @ x / rows - np.outer(x.mean(0), x.mean(0))
    assert (np.abs(naive - exact) / np.outer(sd, sd)).max() > 1e-6


def test_strided_and_transposed_input_read_in_place(rng):
    y = rng.standard_normal((30, 5, 4, 3))  # (N, C, H, W)
    per_pixel = y.transpose(2, 3, 0, 1)     # (H, W, N, C), a view
    cov = pycx.Covariance(5, (4, 3)).update(per_pixel)
    assert_close(cov, per_pixel)
    z = rng.standard_normal((50, 12))
    assert_close(pycx.Covariance(6).update(z[::2, ::2]), z[::2, ::2])
    assert_close(pycx.Covariance(50).update(z.T), z.T)


def test_torch_tensor_input():
    torch = pytest.importorskip("torch")
    t = torch.randn(100, 8, dtype=torch.float32)
    cov = pycx.Covariance(8).update(t)
    assert_close(cov, t.numpy())


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(1, 60), parts=st.integers(1, 5),
       batch_shape=batch_shapes)
def test_merge_of_split_data_equals_whole(seed, rows, parts, batch_shape):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(batch_shape + (rows, 5)) * 10 + 1e4
    accumulators = [pycx.Covariance(5, batch_shape) for _ in range(parts)]
    for i, part in enumerate(np.array_split(x, parts, axis=-2)):  # some parts may be empty
        accumulators[i].update(part)
    total = accumulators[0]
    for other in accumulators[1:]:
        total.merge(other)
    assert total.count == rows
    assert_close(total, x)


def test_merge_with_itself_doubles_the_rows(rng):
    x = rng.standard_normal((40, 3))
    cov = pycx.Covariance(3).update(x)
    cov.merge(cov)
    assert_close(cov, np.concatenate([x, x]))


def test_dict_round_trip(tmp_path, rng):
    x = rng.standard_normal((2, 25, 4))
    cov = pycx.Covariance(4, (2,)).update(x)
    np.savez(tmp_path / "cov.npz", **cov.to_dict())
    with np.load(tmp_path / "cov.npz") as f:
        back = pycx.Covariance.from_dict(f)
    assert back.count == 25 and back.batch_shape == (2,)
    np.testing.assert_array_equal(back.covariance(), cov.covariance())
    np.testing.assert_array_equal(back.mean, cov.mean)
    back.update(x)
    assert_close(back, np.concatenate([x, x], axis=1))
    with pytest.raises(ValueError, match="lacks the key"):
        pycx.Covariance.from_dict({"dim": 4})


def test_empty_update_is_a_no_op():
    cov = pycx.Covariance(3)
    cov.update(np.zeros((0, 3)))
    assert cov.count == 0
    with pytest.raises(ValueError, match="count == 0"):
        cov.covariance()


def test_bad_input():
    cov = pycx.Covariance(3, (2,))
    with pytest.raises(ValueError, match=r"batch_shape \+ \(rows, dim\)"):
        cov.update(np.zeros((2, 5, 4)))          # wrong dim
    with pytest.raises(ValueError, match="shape"):
        cov.update(np.zeros((3, 5, 3)))          # wrong batch shape
    with pytest.raises(ValueError, match="shape"):
        cov.update(np.zeros((5, 3)))             # batch axis missing
    with pytest.raises(TypeError, match="dtype"):
        cov.update(np.zeros((2, 5, 3), np.int64))
    x = np.zeros((2, 5, 3))
    x[1, 4, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        cov.update(x)
    x[1, 4, 2] = np.inf
    with pytest.raises(ValueError, match="infinite"):
        cov.update(x)
    assert cov.count == 0  # a rejected update changes nothing
    with pytest.raises(ValueError, match="expected dim=3"):
        cov.merge(pycx.Covariance(4, (2,)))
    with pytest.raises(TypeError, match="Covariance"):
        cov.merge(np.zeros(3))
    with pytest.raises(ValueError, match="dim"):
        pycx.Covariance(0)
    with pytest.raises(TypeError, match="batch_shape"):
        pycx.Covariance(3, batch_shape=2.5)


@pytest.mark.parametrize("batch_shape", [(), (2,)])
@pytest.mark.parametrize("scale, words", [(1e200, "overflow"), (1e-170, "underflow")])
def test_squares_out_of_float64_range_are_an_error(rng, batch_shape, scale, words):
    # 1e200: squares 1e400 overflow; 1e-170: squares 1e-340 are subnormal or 0. Either way
    # the covariance would be silently wrong (inf, or variance 0 with an effective
    # dimension of 0): refused, and the accumulator keeps what it had.
    cov = pycx.Covariance(3, batch_shape)
    good = rng.standard_normal(batch_shape + (50, 3))
    cov.update(good)
    before = cov.covariance().copy(), cov.count
    with pytest.raises(ValueError, match=f"argument 'x'.*{words}.*rescale"):
        cov.update(rng.standard_normal(batch_shape + (40, 3)) * scale)
    np.testing.assert_array_equal(cov.covariance(), before[0])
    assert cov.count == before[1]
    if words == "underflow":
        # Constant tiny rows (deviations only the rounding of the block mean) are fine.
        assert pycx.Covariance(3).update(np.full((1000, 3), scale)).covariance().max() < 1e-300


def test_merge_that_overflows_is_an_error(rng):
    # Each part is fine alone (spread 1e150: squares 1e300); their means differ by 2e155,
    # so the merge term n1 n2 / n * delta^2 ~ 15 * 4e310 overflows.
    a = pycx.Covariance(2).update(rng.standard_normal((30, 2)) * 1e150 + 1e155)
    b = pycx.Covariance(2).update(rng.standard_normal((30, 2)) * 1e150 - 1e155)
    before = a.covariance().copy()
    with pytest.raises(ValueError, match="overflow"):
        a.merge(b)
    np.testing.assert_array_equal(a.covariance(), before)
    assert a.count == 30


def test_from_moments_equals_the_accumulator_it_describes():
    Covariance = pycx.Covariance
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 40, 4))
    acc = Covariance(4, batch_shape=(3,)).update(x)
    state = acc.to_dict()
    got = Covariance.from_moments(acc.count, state["mean"], state["m2"], batch_shape=(3,))
    assert got.count == acc.count and got.batch_shape == (3,)
    np.testing.assert_array_equal(got.covariance(), acc.covariance())  # the same numbers
    np.testing.assert_array_equal(got.mean, acc.mean)


def test_from_moments_checks_its_arguments():
    Covariance = pycx.Covariance
    with pytest.raises(ValueError, match="argument 'm2' must have shape"):
        Covariance.from_moments(3, np.zeros(2), np.zeros((3, 3)))
    with pytest.raises(ValueError, match="argument 'mean' must have shape"):
        Covariance.from_moments(3, np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="argument 'count'"):
        Covariance.from_moments(-1, np.zeros(2), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="argument 'mean'"):
        Covariance.from_moments(3, np.zeros(2, np.int64), np.zeros((2, 2)))
