import itertools

import numpy as np
import pytest

from pycx.reference import janik as ref
from pycx.reference.entropy import h2, plugin_entropy


def _random_rotation(rng, c):
    q, r = np.linalg.qr(rng.standard_normal((c, c)))
    return q * np.sign(np.diag(r))


def test_unit_entropies_and_linearity_by_hand():
    z = np.array([[1, 0, 1], [1, 0, 0], [1, 0, 1], [1, 0, 0]], np.uint8)
    np.testing.assert_array_equal(ref.unit_rates(z), [1.0, 0.0, 0.5])
    np.testing.assert_array_equal(ref.unit_entropies(z), [0.0, 0.0, 1.0])
    assert ref.linearity(z) == 0.5
    assert ref.linearity(z.astype(bool)) == 0.5
    assert ref.complexity_per_neuron(6.0, 3) == 2.0


def test_ntc_is_zero_for_independent_units_with_exact_entropies():
    # Every combination of a rate-1/4 unit, a rate-1/2 unit and a rate-3/4 unit once:
    # empirically independent, so the plug-in joint entropy is the sum of unit entropies.
    z = np.array(list(itertools.product([0, 0, 0, 1], [0, 1], [0, 1, 1, 1])), np.uint8)
    h = plugin_entropy(z)
    assert h == pytest.approx(2 * h2(0.25) + 1.0, abs=1e-14)
    # 1e-14: the two sides differ only in the order of ~100 roundings of O(1) terms.
    assert abs(ref.normalized_total_correlation(z, h)) < 1e-14


def test_ntc_of_copied_units_and_of_constant_units():
    bit = np.array([0, 1, 0, 1, 1, 0], np.uint8)
    z = np.stack([bit, bit, bit], axis=1)
    # Three copies: sum of unit entropies 3, joint 1 -> (3 - 1) / 3.
    assert ref.normalized_total_correlation(z, plugin_entropy(z)) == pytest.approx(2 / 3, abs=1e-15)
    # Denominator 0 (every unit constant) -> 0 by definition.
    assert ref.normalized_total_correlation(np.ones((4, 3), np.uint8), 0.0) == 0.0


@pytest.mark.parametrize("k", [1, 2, 5, 8])
def test_effective_dimension_of_k_equal_eigenvalues_is_k(rng, k):
    c = 8
    rot = _random_rotation(rng, c)
    lam = np.zeros(c)
    lam[:k] = 2.5
    cov = (rot * lam) @ rot.T
    cov = (cov + cov.T) / 2
    # 1e-10: eigenvalues of a rotated diagonal matrix carry ~1e-15 errors; exp/log amplify
    # them by at most C.
    assert ref.effective_dimension_from_covariance(cov) == pytest.approx(k, abs=1e-10)
    assert ref.effective_dimension(cov, is_covariance=True) == pytest.approx(k, abs=1e-10)


def test_effective_dimension_from_data(rng):
    direction = rng.standard_normal(6)
    rank_one = rng.standard_normal((50, 1)) * direction + 3.0
    # 1e-6: the rank-1 covariance's zero eigenvalues come out as +-1e-15 * scale, and clipped
    # positive ones contribute q ln q of order 1e-14.
    assert ref.effective_dimension_from_data(rank_one) == pytest.approx(1.0, abs=1e-6)
    assert ref.effective_dimension(rank_one) == pytest.approx(1.0, abs=1e-6)
    # Zero total variance -> 0 (docs/definitions.md §2 decision).
    assert ref.effective_dimension_from_data(np.full((10, 4), 7.0)) == 0.0
    assert ref.effective_dimension_from_covariance(np.zeros((3, 3))) == 0.0
    # Two orthogonal directions with equal variance: dimension 2 exactly.
    x = np.array([[1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]], np.float64)
    assert ref.effective_dimension_from_data(x) == pytest.approx(2.0, abs=1e-12)
    # Float32 input is accepted and widened to float64.
    assert ref.effective_dimension_from_data(x.astype(np.float32)) == pytest.approx(2.0, abs=1e-12)


def test_effective_dimension_clips_negative_eigenvalues():
    cov = np.diag([1.0, 1.0, -0.5])
    assert ref.effective_dimension_from_covariance(cov) == pytest.approx(2.0, abs=1e-12)


def test_effective_dimension_map_of_a_stack(rng):
    c = 4
    covs = np.zeros((2, 3, c, c))
    for (i, j), k in zip(itertools.product(range(2), range(3)), [0, 1, 2, 3, 4, 1]):
        covs[i, j] = np.diag([1.0] * k + [0.0] * (c - k))
    expected = np.array([[0, 1, 2], [3, 4, 1]], np.float64)
    np.testing.assert_allclose(ref.effective_dimension_map(covs), expected, atol=1e-12)
    assert ref.effective_dimension_map(covs[0, 2]).shape == ()


def test_pixel_covariances_give_the_pixelwise_map(rng):
    n, c, h, w = 40, 3, 2, 3
    x = rng.standard_normal((n, c, h, w))
    x[:, :, 0, 0] = 0.0                           # a dead position: dimension 0
    x[:, :, 1, 2] = x[:, :1, 1, 2] * [1, 2, 3]    # rank 1 there
    covs = ref.pixel_covariances(x)
    assert covs.shape == (h, w, c, c)
    np.testing.assert_allclose(covs[1, 1], np.cov(x[:, :, 1, 1].T, bias=True), atol=1e-12)
    dims = ref.effective_dimension_map(covs)
    assert dims[0, 0] == 0.0
    assert dims[1, 2] == pytest.approx(1.0, abs=1e-6)
    assert dims[0, 1] == pytest.approx(ref.effective_dimension_from_data(x[:, :, 0, 1]), abs=1e-12)


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match="'gates' must be 2-D"):
        ref.unit_entropies(np.zeros(5, np.uint8))
    with pytest.raises(ValueError, match="'gates' must hold only 0/1"):
        ref.linearity(np.array([[0, 3]]))
    with pytest.raises(ValueError, match="'gates' contains NaN"):
        ref.linearity(np.array([[0.0, np.nan]]))
    with pytest.raises(TypeError, match="'gates' must have dtype in"):
        ref.linearity(np.array([[0, 1]], np.complex128))
    with pytest.raises(ValueError, match="'gates' must have at least 1 row"):
        ref.unit_entropies(np.zeros((0, 3), np.uint8))
    with pytest.raises(ValueError, match="'gates' must have at least 1 unit"):
        ref.linearity(np.zeros((4, 0), np.uint8))
    with pytest.raises(ValueError, match="'joint_entropy' must be a finite non-negative"):
        ref.normalized_total_correlation(np.ones((2, 2), np.uint8), float("nan"))
    with pytest.raises(ValueError, match="'n_units' must be >= 1"):
        ref.complexity_per_neuron(1.0, 0)
    with pytest.raises(ValueError, match="'cov' must be symmetric"):
        ref.effective_dimension_from_covariance(np.array([[1.0, 0.5], [0.0, 1.0]]))
    with pytest.raises(ValueError, match=r"'cov' must be a \(\.\.\., C, C\) stack"):
        ref.effective_dimension_from_covariance(np.ones((2, 3)))
    with pytest.raises(ValueError, match="'cov' must be 2-D"):
        ref.effective_dimension_from_covariance(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="'cov' must have dtype in"):
        ref.effective_dimension_from_covariance(np.eye(2, dtype=np.int64))
    with pytest.raises(ValueError, match="'covariances' contains NaN"):
        ref.effective_dimension_map(np.full((2, 2, 2), np.nan))
    with pytest.raises(ValueError, match="'x' must be 2-D"):
        ref.effective_dimension_from_data(np.zeros((2, 2, 2)))
    with pytest.raises(ValueError, match="'x' has no rows"):
        ref.effective_dimension_from_data(np.zeros((0, 2)))
    with pytest.raises(ValueError, match="'x' contains infinite"):
        ref.effective_dimension_from_data(np.array([[1.0, np.inf]]))
    with pytest.raises(TypeError, match="'is_covariance' must be a bool"):
        ref.effective_dimension(np.eye(2), is_covariance="yes")
    with pytest.raises(ValueError, match="'outputs' must be 4-D"):
        ref.pixel_covariances(np.zeros((2, 3)))
