"""The fused gate-sampler step (pycx.kernels.gate_mh) against the numpy reference
(pycx.reference.gate_mh): the same hash gives both the same uniforms, so flips and acceptances
compare one by one, at every SIMD level, over awkward shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pycx.kernels import gate_mh
from pycx.reference import gate_mh as ref

# Where the kernel's float32 sigmoid (error < 1e-7) and the exact one straddle a uniform, the
# two may decide a flip differently: units with |u - p| below this are not compared.
AMBIGUOUS = 1e-5


def make(rng, L, n, d, dtype, g_scale=3.0):
    s = (rng.random((L, n, d)) < 0.4).astype(dtype)
    g = rng.normal(0, g_scale, (L, n, d)).astype(dtype)
    lp = rng.normal(0, 2, (L, d)).astype(dtype)
    nhi = (-0.5 / rng.uniform(0.05, 2.0, L)).astype(dtype)
    return s, g, lp, nhi


def run_propose(s, g, lp, nhi, seed, counter, threads=None):
    L, n, d = s.shape
    s_new, move, part = np.empty_like(s), np.empty_like(s), np.empty((L, n), s.dtype)
    gate_mh.propose(s, g, lp, nhi, seed, counter, s_new, move, part, threads=threads)
    return s_new, move, part


@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 4), n=st.integers(1, 40), d=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**64 - 1),
       counter=st.integers(0, 2**40))
def test_propose_matches_reference(simd_level, L, n, d, dtype, seed, counter):
    rng = np.random.default_rng([L, n, d])
    s, g, lp, nhi = make(rng, L, n, d, dtype)
    s_new, move, part = run_propose(s, g, lp, nhi, seed, counter)
    r_new, r_move, r_part, u, p = ref.propose(s, g, lp, nhi, seed, counter, dtype)
    sure = np.abs(u - p) >= AMBIGUOUS
    np.testing.assert_array_equal(s_new[sure], r_new[sure])
    np.testing.assert_array_equal(move[sure], r_move[sure])
    assert set(np.unique(s_new)) <= {0.0, 1.0}
    np.testing.assert_array_equal(s_new - s, move)
    if sure.all():
        # float32: d terms of size <= 30 + |logit p| summed in float32 (~1e-6 relative each)
        tol = 2e-5 * (d + 1) if dtype == np.float32 else 1e-9 * (d + 1)
        np.testing.assert_allclose(part, r_part, rtol=0, atol=tol)


@settings(max_examples=40, deadline=None)
@given(L=st.integers(1, 4), n=st.integers(1, 40), d=st.integers(1, 70),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**64 - 1))
def test_accept_matches_reference(simd_level, L, n, d, dtype, seed):
    rng = np.random.default_rng([L, n, d, 1])
    s, g, lp, nhi = make(rng, L, n, d, dtype)
    s_new, move, part = run_propose(s, g, lp, nhi, seed, 0)
    g_new = rng.normal(0, 3, (L, n, d)).astype(dtype)
    f = rng.normal(0, 1, (L, n)).astype(dtype)
    f_new = (f + rng.normal(0, 1, (L, n))).astype(dtype)
    expect = ref.accept(s, g, f, s_new, g_new, f_new, move, part, lp, nhi, seed, 1)
    s2, g2, f2, counts = s.copy(), g.copy(), f.copy(), np.zeros(L, np.int64)
    gate_mh.accept(s2, g2, f2, s_new, g_new, f_new, move, part, lp, nhi, seed, 1, counts)
    _, _, _, _, take, log_ratio, log_u = expect
    # the reverse sum is float32 in the kernel: decisions within 1e-3 of the threshold may differ
    sure = np.abs(log_ratio - log_u) >= (1e-3 if dtype == np.float32 else 1e-9)
    kernel_take = (s2 == s_new).all(-1) & (g2 == g_new).all(-1) & (f2 == f_new)
    np.testing.assert_array_equal(kernel_take[sure], take[sure])
    rows_kept = ~kernel_take
    np.testing.assert_array_equal(s2[rows_kept], s[rows_kept])
    np.testing.assert_array_equal(f2[rows_kept], f[rows_kept])
    np.testing.assert_array_equal(counts, kernel_take.sum(1))


def test_result_does_not_depend_on_threads_or_level():
    import pycx
    rng = np.random.default_rng(5)
    s, g, lp, nhi = make(rng, 3, 700, 129, np.float32)  # above the parallel threshold: 2 threads run
    outs = []
    for level in pycx.supported_simd_levels():
        with pycx.use_simd(level):
            for threads in (1, 2):
                outs.append(run_propose(s, g, lp, nhi, 11, 3, threads=threads))
    for s_new, move, part in outs[1:]:
        # the flips: the same hash on every level; the sums: float32 order follows the width
        agree = (s_new == outs[0][0]).mean()
        assert agree > 0.9999, agree
        np.testing.assert_allclose(part, outs[0][2], atol=1e-3)


def test_uniforms_are_uniform_and_independent():
    """The hash's uniforms: mean, variance and neighbour correlation over a million draws
    (1e6 draws: standard errors 2.9e-4 for the mean, 3e-4 for the correlation; 5 sigma)."""
    keys = ref.row_keys(123, 7, 1000)
    u = ref.unit_uniforms(keys, 1000, np.float32)
    assert abs(u.mean() - 0.5) < 1.5e-3
    assert abs(u.var() - 1 / 12) < 1e-3
    assert abs(np.corrcoef(u[:, :-1].ravel(), u[:, 1:].ravel())[0, 1]) < 1.5e-3
    assert abs(np.corrcoef(u[:-1].ravel(), u[1:].ravel())[0, 1]) < 1.5e-3
    v = ref.unit_uniforms(ref.row_keys(123, 8, 1000), 1000, np.float32)  # next counter
    assert abs(np.corrcoef(u.ravel(), v.ravel())[0, 1]) < 1.5e-3


def test_extreme_logits_stay_finite(simd_level):
    # gradients of 1e6: logits clamp at +-30, so exp never overflows and the ratio is finite
    rng = np.random.default_rng(0)
    s, g, lp, nhi = make(rng, 2, 8, 16, np.float32)
    g = (np.sign(g) * 1e6).astype(np.float32)
    s_new, move, part = run_propose(s, g, lp, nhi, 1, 0)
    assert np.isfinite(part).all()
    r_new, _, r_part, _, _ = ref.propose(s, g, lp, nhi, 1, 0)
    np.testing.assert_array_equal(s_new, r_new)
    # 16 float32 terms of size ~30 that cancel: absolute error ~16 * 30 * 6e-8
    np.testing.assert_allclose(part, r_part, rtol=0, atol=1e-4)


def test_chain_matches_the_functions():
    rng = np.random.default_rng(2)
    s, g, lp, nhi = make(rng, 2, 10, 9, np.float64)
    f = rng.normal(size=(2, 10))
    s1, g1, f1 = s.copy(), g.copy(), f.copy()
    chain = gate_mh.Chain(s1, g1, f1, lp, nhi, seed=9)
    chain.propose(4)
    s_new, move, part = run_propose(s, g, lp, nhi, 9, 4)
    np.testing.assert_array_equal(chain.s_new, s_new)
    g_new, f_new = rng.normal(size=g.shape), rng.normal(size=f.shape)
    counts = chain.accept(g_new, f_new, 5)
    c2 = np.zeros(2, np.int64)
    gate_mh.accept(s, g, f, s_new, g_new, f_new, move, part, lp, nhi, 9, 5, c2)
    np.testing.assert_array_equal(counts, c2)
    np.testing.assert_array_equal(s1, s)
    np.testing.assert_array_equal(g1, g)


def test_bad_input():
    s = np.zeros((2, 3, 4), np.float32)
    g, lp, nhi = np.zeros_like(s), np.zeros((2, 4), np.float32), np.zeros(2, np.float32)
    out = np.empty_like(s), np.empty_like(s), np.empty((2, 3), np.float32)
    with pytest.raises(ValueError, match="argument 's'"):
        gate_mh.propose(s[0], g, lp, nhi, 0, 0, *out)
    with pytest.raises(ValueError, match="argument 's'"):
        gate_mh.propose(s.astype(np.float16), g, lp, nhi, 0, 0, *out)
    with pytest.raises(ValueError, match="argument 'g'.*float32.*\\(2, 3, 4\\)"):
        gate_mh.propose(s, g.astype(np.float64), lp, nhi, 0, 0, *out)
    with pytest.raises(ValueError, match="argument 'logit_p'"):
        gate_mh.propose(s, g, lp[:, :3], nhi, 0, 0, *out)
    with pytest.raises(ValueError, match="argument 'move'"):
        gate_mh.propose(s, g, lp, nhi, 0, 0, out[0], np.empty((2, 4, 3), np.float32), out[2])
    with pytest.raises(ValueError, match="argument 's_new'"):
        gate_mh.propose(s, g, lp, nhi, 0, 0, np.asfortranarray(out[0]), out[1], out[2])
    ro = np.empty_like(s)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="'s_new' must be writable"):
        gate_mh.propose(s, g, lp, nhi, 0, 0, ro, out[1], out[2])
    f = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match="'accepted'"):
        gate_mh.accept(s, g, f, out[0], g, f, out[1], out[2], lp, nhi, 0, 1, np.zeros(2, np.int32))
    with pytest.raises(ValueError, match="argument 'threads'"):
        gate_mh.propose(s, g, lp, nhi, 0, 0, *out, threads=0)
    chain = gate_mh.Chain(s, g, f, lp, nhi, seed=0)
    with pytest.raises(ValueError, match="argument 'g_new'"):
        chain.accept(g[:, :2], f, 1)
