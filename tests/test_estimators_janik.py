"""Unit entropies, linearity, normalized total correlation, effective dimension (definitions §2)
against the numpy reference."""
import numpy as np
import pytest

import pycx
from pycx.reference import janik as ref
from pycx.reference.covariance import covariance as ref_covariance

# Means of 0/1 columns are exact ratios of integers in both paths; eigenvalues and the
# entropy over them are LAPACK float64 on matrices equal to ~1e-15: 1e-10 is generous.
TOL = dict(rtol=1e-10, atol=1e-12)


def gate_cases(rng):
    yield (rng.random((300, 17)) < 0.3).astype(np.uint8)
    yield (rng.random((1, 70)) < 0.5)                         # one row, bool, 2 words
    yield np.zeros((20, 5), dtype=np.float32)                 # every unit constant
    yield np.ones((20, 64), dtype=np.int64)


def test_gate_metrics_match_reference(rng):
    for z in gate_cases(rng):
        for given in (z, pycx.pack_bits(z)):
            np.testing.assert_allclose(pycx.unit_entropies(given), ref.unit_entropies(z), **TOL)
            np.testing.assert_allclose(pycx.linearity(given), ref.linearity(z), **TOL)
            for h in (0.0, 1.5):
                np.testing.assert_allclose(pycx.normalized_total_correlation(given, h),
                                           ref.normalized_total_correlation(z, h), **TOL)


def test_ntc_takes_an_estimator_result(rng):
    z = (rng.random((400, 6)) < 0.5).astype(np.uint8)
    result = pycx.plugin_entropy(z)
    assert pycx.normalized_total_correlation(z, result) == pytest.approx(
        ref.normalized_total_correlation(z, result.entropy), rel=1e-12)


def test_effective_dimension_matches_reference(rng):
    x = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8)) + 1e3
    cov = ref.covariance(x)[1]
    want = ref.effective_dimension(x)
    np.testing.assert_allclose(pycx.effective_dimension(x), want, **TOL)
    np.testing.assert_allclose(pycx.effective_dimension(x.astype(np.float32)),
                               ref.effective_dimension(x.astype(np.float32)), rtol=1e-6)
    np.testing.assert_allclose(pycx.effective_dimension(cov, is_covariance=True), want, **TOL)
    acc = pycx.Covariance(8)
    acc.update(x)
    # The accumulator merges blocks (Chan et al.): covariance equal to ~1e-13 relative.
    np.testing.assert_allclose(pycx.effective_dimension(acc), want, rtol=1e-9)
    assert pycx.effective_dimension(np.zeros((10, 3))) == 0.0
    assert pycx.effective_dimension(np.ones((1, 4))) == 0.0


def test_effective_dimension_map_matches_reference(rng):
    out = rng.normal(size=(50, 4, 3, 5))
    out[:, :, 0, 0] = 0.0  # a position with zero variance -> 0
    covs = ref.pixel_covariances(out)
    want = ref.effective_dimension_map(covs)
    np.testing.assert_allclose(pycx.effective_dimension_map(covs), want, **TOL)
    assert pycx.effective_dimension_map(covs)[0, 0] == 0.0
    acc = pycx.Covariance(4, batch_shape=(3, 5))
    acc.update(out.transpose(2, 3, 0, 1))
    np.testing.assert_allclose(pycx.effective_dimension_map(acc), want, rtol=1e-9)


def test_bad_input(rng):
    with pytest.raises(ValueError, match="0/1"):
        pycx.linearity(np.array([[0, 2]]))
    with pytest.raises(ValueError, match="row"):
        pycx.unit_entropies(np.zeros((0, 3), np.uint8))
    with pytest.raises(ValueError, match="joint_entropy"):
        pycx.normalized_total_correlation(np.zeros((3, 3), np.uint8), float("nan"))
    with pytest.raises(ValueError, match="symmetric"):
        pycx.effective_dimension(np.array([[1.0, 2.0], [0.0, 1.0]]), is_covariance=True)
    with pytest.raises(ValueError, match="NaN"):
        pycx.effective_dimension(np.array([[1.0, np.nan], [0.0, 1.0]]))
    with pytest.raises(TypeError, match="dtype"):
        pycx.effective_dimension(np.ones((4, 3), dtype=np.int64))
    with pytest.raises(ValueError, match="square"):
        pycx.effective_dimension_map(np.ones((2, 3, 4)))


@pytest.mark.parametrize("scale", [1e-170, 1e-300, 1e200, 1e300])
def test_effective_dimension_is_scale_free(rng, scale):
    # Ground truth: the reference on the unscaled data; scaling every value by the same
    # factor leaves the eigenvalue proportions, and so the value, unchanged. Before the
    # normalisation 1e-170 gave 0 and 1e200 a LinAlgError. 1e-9: the scaled data differ
    # from the unscaled by one rounding per value (the factor is not a power of two).
    x = rng.standard_normal((400, 5)) * [3.0, 1.0, 1.0, 0.2, 0.0]
    want = ref.effective_dimension(x)
    assert pycx.effective_dimension(x * scale) == pytest.approx(want, rel=1e-9)
    _, c = ref_covariance(x)
    assert pycx.effective_dimension(c * scale ** 0.5, is_covariance=True) \
        == pytest.approx(want, rel=1e-9)
    np.testing.assert_allclose(pycx.effective_dimension_map(np.stack([c, c * 1e-300, c * 1e300])),
                               want, rtol=1e-9)


def test_non_psd_and_non_finite_covariances_are_errors(rng):
    x = rng.standard_normal((200, 4))
    _, c = ref_covariance(x)
    for bad in (-c, c - 2.0 * np.eye(4) * np.linalg.eigvalsh(c).max()):
        with pytest.raises(ValueError, match="not positive semi-definite"):
            pycx.effective_dimension(bad, is_covariance=True)
    with pytest.raises(ValueError, match=r"not positive semi-definite \(matrix \(1,\)\)"):
        pycx.effective_dimension_map(np.stack([c, -c]))
    # Rounding-level negative eigenvalues (a rank-deficient covariance) are not errors.
    rank2 = x[:, :2] @ rng.standard_normal((2, 4))
    _, c2 = ref_covariance(rank2)
    assert np.linalg.eigvalsh(c2).min() <= 1e-14
    assert pycx.effective_dimension(c2, is_covariance=True) == pytest.approx(
        ref.effective_dimension(rank2), rel=1e-9)
    acc = pycx.Covariance(4).update(x)
    acc._m2[0, 0] = np.inf  # damaged state (e.g. restored from a bad file)
    with pytest.raises(ValueError, match="not finite"):
        pycx.effective_dimension(acc)
