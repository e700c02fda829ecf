"""Resolution, relevance, beta, classification error and the maximal relevance curve
(docs/definitions.md §3) against the numpy reference."""
import numpy as np
import pytest

import pycx
from pycx.reference import relevance as ref
from pycx.reference.state_counts import state_counts as ref_state_counts

# Same float64 formulas on the same counts (the counts are integers, equal exactly).
TOL = dict(rtol=1e-12, atol=1e-12)


def cases(rng):
    protos = (rng.random((30, 20)) < 0.5).astype(np.uint8)
    zipf = rng.zipf(1.8, 2000) % 30
    yield protos[zipf]                                     # heavy-tailed state frequencies
    yield (rng.random((200, 70)) < 0.5).astype(np.uint8)  # all distinct
    yield np.zeros((50, 3), dtype=np.uint8)                # one state
    yield (rng.random((1, 4)) < 0.5).astype(np.uint8)      # one sample


def test_matches_reference(rng):
    for z in cases(rng):
        labels = rng.integers(0, 4, z.shape[0])
        got = pycx.resolution_relevance(z, labels)
        sc = ref_state_counts(z)
        counts = sc.counts
        want = ref.resolution_relevance(counts)
        np.testing.assert_allclose([got.h_s, got.h_k, got.h_s_normalized, got.h_k_normalized],
                                   list(want[:4]), **TOL)
        k, m_k = np.unique(counts, return_counts=True)
        np.testing.assert_array_equal(got.k, k)
        np.testing.assert_array_equal(got.m_k, m_k)
        assert got.n_samples == z.shape[0] and got.n_states == counts.size
        np.testing.assert_allclose(got.beta_mle, ref.beta_mle(counts), **TOL)
        np.testing.assert_allclose(got.beta_least_squares, ref.beta_least_squares(counts),
                                   **TOL, equal_nan=True)
        np.testing.assert_allclose(got.classification_error,
                                   ref.classification_error(z, labels), **TOL)
        assert pycx.resolution_relevance(pycx.pack_bits(z)).classification_error is None


def test_k_min_and_to_dict(rng):
    z = (rng.random((3000, 10)) < 0.2).astype(np.uint8)
    got = pycx.resolution_relevance(z, k_min=3)
    counts = ref_state_counts(z).counts
    np.testing.assert_allclose(got.beta_mle, ref.beta_mle(counts, 3), **TOL)
    assert got.to_dict()["settings"] == {"k_min": 3}


def test_max_relevance_curve_matches_reference():
    for m in (30, 200, 1000):
        got = pycx.max_relevance_curve(m)
        want = ref.max_relevance_curve(m)
        assert got.method == want.method and got.n_samples == m
        np.testing.assert_array_equal(got.feasible, want.feasible)
        np.testing.assert_allclose(got.h_s, want.h_s, **TOL)
        np.testing.assert_allclose(got.h_k, want.h_k, **TOL)
        np.testing.assert_allclose(got.h_k_normalized, want.h_k_normalized, **TOL)
        np.testing.assert_allclose(got.at([0.5, 2.0]), ref.curve_value(want, [0.5, 2.0]), **TOL)
    # The cache hands out copies: changing one result does not change the next.
    a = pycx.max_relevance_curve(30)
    a.h_k[:] = 0
    assert pycx.max_relevance_curve(30).h_k.max() > 0


def test_undefined_betas_are_nan():
    # One state, every sample alone, two frequencies: beta undefined (issue: 0.110 / 0.119
    # and -1.0 were returned before).
    one = np.zeros((20, 5), np.uint8)
    alone = np.eye(16, dtype=np.uint8)
    two = np.vstack([np.eye(8, dtype=np.uint8), np.zeros((3, 8), np.uint8)])
    for z in (one, alone, two):
        r = pycx.resolution_relevance(z)
        assert np.isnan(r.beta_mle) and np.isnan(r.beta_least_squares)


def test_bad_input(rng):
    z = (rng.random((10, 4)) < 0.5).astype(np.uint8)
    with pytest.raises(ValueError, match="labels"):
        pycx.resolution_relevance(z, np.zeros(11, dtype=int))
    with pytest.raises(TypeError, match="labels"):
        pycx.resolution_relevance(z, np.zeros(10))
    with pytest.raises(ValueError, match="0/1"):
        pycx.resolution_relevance(z - 1)
    with pytest.raises(ValueError, match="k_min"):
        pycx.resolution_relevance(z, k_min=0)
    with pytest.raises(ValueError, match="n_samples"):
        pycx.max_relevance_curve(1)
    with pytest.raises(ValueError, match="method"):
        pycx.max_relevance_curve(10, method="beta")
