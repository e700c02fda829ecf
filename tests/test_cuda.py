"""The CUDA kernels (pycx._cuda) against the CPU kernels and the numpy reference.

Tests marked ``gpu`` run on CUDA torch tensors (and cupy arrays when cupy is installed); they
are skipped without a usable GPU (conftest), or fail when PYCX_EXPECT_GPU=1. With
PYCX_EXPECT_GPU=1 cupy is required too (a missing cupy fails instead of silently dropping
half of the cases) and no test of this file may skip, except ``multi_gpu`` ones on a machine
with one GPU (reported as skipped, with the reason). The tests at the end run everywhere:
import, the module's functions, clean rejection of device input; the ``no_gpu`` ones only
where no GPU is usable.
"""
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycx
from pyrun import run_python
from pycx.kernels.device import _array as _device
from pycx.kernels.device import state_counts as device_state_counts
from pycx.reference import covariance as ref_cov
from pycx.reference import kde_sums as ref_kde
from pycx.reference import pack_bits as ref_pack
from pycx.reference import state_counts as ref_counts

gpu = pytest.mark.gpu


def _libraries():
    if os.environ.get("PYCX_EXPECT_GPU") == "1":
        return ["torch", "cupy"]  # both must be there (dev() then fails loudly without cupy)
    libs = ["torch"]
    try:
        import cupy  # noqa: F401
        libs.append("cupy")
    except ImportError:
        pass
    return libs


@pytest.fixture(params=_libraries())
def lib(request):
    return request.param


def dev(x: np.ndarray, lib: str):
    """A device copy of a host array, made by `lib`."""
    if lib == "torch":
        import torch
        return torch.as_tensor(np.ascontiguousarray(x)).cuda()
    import cupy
    return cupy.asarray(x)


def host(x) -> np.ndarray:
    return _device.to_host(x)


def host_words(p) -> np.ndarray:
    assert p.is_device
    return np.ascontiguousarray(host(p.words)).view(np.uint64)


def assert_on_device(x, lib):
    if lib == "torch":
        assert x.device.type == "cuda"
    else:
        assert type(x).__module__.startswith("cupy")


def random_gates(rng, n, d, dtype, dup_fraction=0.3):
    """Floats in [-1, 1) (thresholded at 0) or 0/1 integers; some rows duplicated, one all-zero."""
    x = rng.uniform(-1, 1, (n, d))
    if n > 2:
        x[rng.integers(0, n, n // 3)] = x[0]
        x[1] = -1.0  # an all-zero gate row
    if np.dtype(dtype).kind == "f":
        return x.astype(dtype)
    return (x > 0).astype(dtype)


# -- bit-packing --------------------------------------------------------------------------------
@gpu
@settings(max_examples=30)
@given(n=st.integers(1, 70), d=st.sampled_from([1, 5, 31, 32, 63, 64, 65, 127, 200, 1000]),
       dtype=st.sampled_from(["float32", "float64", "bool", "uint8", "int8", "int32", "int64"]),
       seed=st.integers(0, 2**31))
def test_pack_bits_rows_match_cpu_and_reference(n, d, dtype, seed):
    rng = np.random.default_rng(seed)
    x = random_gates(rng, n, d, dtype)
    for lib in _libraries():
        got = pycx.pack_bits(dev(x, lib))
        assert_on_device(got.words, lib)
        assert got.n_bits == d and got.n_rows == n
        np.testing.assert_array_equal(host_words(got), pycx.pack_bits(x).words)
        np.testing.assert_array_equal(host_words(got), ref_pack.pack_bits(x))


@gpu
def test_pack_bits_threshold_strides_and_1d(rng, lib):
    x = rng.uniform(-1, 1, (40, 150)).astype(np.float32)
    d = dev(x, lib)
    np.testing.assert_array_equal(host_words(pycx.pack_bits(d, 0.25)), ref_pack.pack_bits(x, 0.25))
    # Strided rows and non-contiguous columns are read in place.
    np.testing.assert_array_equal(host_words(pycx.pack_bits(d[::3])), ref_pack.pack_bits(x[::3]))
    np.testing.assert_array_equal(host_words(pycx.pack_bits(d.T)), ref_pack.pack_bits(x.T))
    np.testing.assert_array_equal(host_words(pycx.pack_bits(d[5])), ref_pack.pack_bits(x[5:6]))


@gpu
def test_pack_bits_nan_and_bad_input(lib):
    x = np.zeros((3, 70), np.float64)
    x[2, 66] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pycx.pack_bits(dev(x, lib))
    with pytest.raises(TypeError, match="dtype"):
        pycx.pack_bits(dev(np.zeros((2, 3), np.float16), lib))
    with pytest.raises(ValueError, match="threshold"):
        pycx.pack_bits(dev(np.zeros((2, 3), np.uint8), lib), 0.5)


@gpu
@pytest.mark.parametrize("shape", [(2, 3, 5, 7), (3, 64, 4, 4), (2, 70, 3, 5), (1, 130, 1, 1)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "uint8"])
def test_pack_per_patch_and_per_sample(rng, shape, dtype):
    import torch
    x = rng.uniform(-1, 1, shape)
    x = x.astype(dtype) if dtype != "uint8" else (x > 0).astype(dtype)
    t = torch.as_tensor(x).cuda()
    want = ref_pack.pack_bits(ref_pack.per_patch_rows(x))
    stored_nhcw = torch.as_tensor(np.ascontiguousarray(x.transpose(0, 2, 1, 3))).cuda().permute(0, 2, 1, 3)
    for variant in (t, t.contiguous(memory_format=torch.channels_last), stored_nhcw):
        got = pycx.pack_per_patch(variant)
        np.testing.assert_array_equal(host_words(got), want)
        np.testing.assert_array_equal(host_words(got), pycx.pack_per_patch(x).words)
    got = pycx.pack_per_sample(t)
    np.testing.assert_array_equal(host_words(got), ref_pack.pack_bits(ref_pack.per_sample_rows(x)))


@gpu
def test_packed_bits_on_device(rng, lib):
    x = random_gates(rng, 33, 100, "float32")
    p = pycx.pack_bits(dev(x, lib))
    q = pycx.pack_bits(x)
    u = p.unpack()
    assert_on_device(u, lib)
    np.testing.assert_array_equal(host(u), q.unpack())
    assert p == q and q == p and p == pycx.pack_bits(dev(x, lib))
    np.testing.assert_array_equal(host_words(p[3:9]), q[3:9].words)
    np.testing.assert_array_equal(host_words(p[7]), q[7].words)
    assert p.to_host() == q and p.shape == q.shape and p.nbytes == q.nbytes
    if lib == "torch":
        import torch
        assert p.words.dtype == torch.int64  # documented: torch words are int64 bit patterns
    parts = [pycx.pack_bits(dev(random_gates(rng, 33, d, "float32"), lib)) for d in (3, 64, 70)]
    np.testing.assert_array_equal(host_words(pycx.concat_bits(parts)),
                                  pycx.concat_bits([r.to_host() for r in parts]).words)


STREAM_CHECK = """
import numpy as np, torch, pycx
from pycx.reference import kde_sums as ref_kde, pack_bits as ref_pack
rng = np.random.default_rng(7)
host = (rng.random((2000, 300)) < 0.5).astype(np.uint8)
src = torch.as_tensor(host).cuda()
x = torch.zeros_like(src)
torch.cuda.synchronize()
side = torch.cuda.Stream()
with torch.cuda.stream(side):
    # Everything below is queued on `side` behind a ~25 ms spin, with no synchronisation in
    # between (uint8 gates: no NaN flag to read back; no weights or labels): a kernel on any
    # other stream would run before the copy lands and see zeros.
    torch.cuda._sleep(50_000_000)
    x.copy_(src)
    p = pycx.pack_bits(x)
    total = pycx.kde_sums(p, s2=10.0).total
    dist = pycx.hamming_distances(p[:50])
side.synchronize()
words = np.ascontiguousarray(p.words.cpu().numpy()).view(np.uint64)
np.testing.assert_array_equal(words, ref_pack.pack_bits(host))
np.testing.assert_allclose(total.cpu().numpy(), ref_kde.kde_sums(host, s2=10.0).total, rtol=1e-10)
np.testing.assert_array_equal(dist.cpu().numpy(), ref_kde.hamming_distances(host[:50], host[:50]))
print("stream ok")
"""


@gpu
def test_current_stream_is_used():
    import torch
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.zeros(3, 5, device="cuda")
        assert _device.stream_of(_device.DeviceArray("x", x)) == side.cuda_stream
    if os.environ.get("CUDA_LAUNCH_BLOCKING") == "1":
        # Blocking launches would hide a wrong stream: check in a process without them.
        env = {k: v for k, v in os.environ.items() if k != "CUDA_LAUNCH_BLOCKING"}
        out = run_python(["-c", STREAM_CHECK], env=env)
        assert out.returncode == 0 and "stream ok" in out.stdout, out.stderr
    else:
        exec(compile(STREAM_CHECK, "STREAM_CHECK", "exec"), {})


# -- Hamming distances and KDE sums ------------------------------------------------------------
# Tolerance: the device table uses CUDA's exp (within 1 ulp of glibc's) and the sums are added
# in another order (tiles, atomics): a relative error of a few n * 1e-16.
RTOL = 1e-10


@gpu
@pytest.mark.parametrize("n,m,d", [(1, 1, 1), (1, 5, 70), (37, 50, 64), (150, 70, 130),
                                   (200, 90, 2100), (65, 129, 1000)])
def test_kde_sums_match(rng, lib, n, m, d):
    a = (rng.random((n, d)) < 0.3).astype(np.uint8)
    b = (rng.random((m, d)) < 0.3).astype(np.uint8)
    if n > 2:
        a[n // 2] = a[0]
        a[1] = 0
    if m > 2:
        b[0] = a[0]
    pa = pycx.pack_bits(a)
    da, db = pycx.pack_bits(dev(a, lib)), pycx.pack_bits(dev(b, lib))
    s2 = 0.04 * d
    weights = rng.integers(0, 4, n)
    labels = rng.integers(0, 3, n)
    b_weights = rng.integers(0, 4, m)
    b_labels = rng.integers(-1, 2, m)
    # Symmetric, with weights and labels (given on the host and on the device).
    got = pycx.kde_sums(da, s2=s2, weights=dev(weights, lib), labels=labels)
    cpu = pycx.kde_sums(pa, s2=s2, weights=weights, labels=labels)
    ref = ref_kde.kde_sums(a, s2=s2, weights=weights, labels=labels)
    assert_on_device(got.total, lib)
    np.testing.assert_allclose(host(got.total), cpu.total, rtol=RTOL)
    np.testing.assert_allclose(host(got.total), ref.total, rtol=RTOL)
    np.testing.assert_allclose(host(got.same_label), ref.same_label, rtol=RTOL)
    # Plain symmetric sums.
    got = pycx.kde_sums(da, s2=s2)
    assert got.same_label is None
    np.testing.assert_allclose(host(got.total), ref_kde.kde_sums(a, s2=s2).total, rtol=RTOL)
    # A x B.
    got = pycx.kde_sums(da, db, s2=s2, weights=b_weights, labels=dev(labels, lib), b_labels=b_labels)
    ref = ref_kde.kde_sums(a, b, s2=s2, weights=b_weights, labels=labels, b_labels=b_labels)
    np.testing.assert_allclose(host(got.total), ref.total, rtol=RTOL)
    np.testing.assert_allclose(host(got.same_label), ref.same_label, rtol=RTOL)
    # Distances: exact.
    dist = pycx.hamming_distances(da, db)
    assert_on_device(dist, lib)
    np.testing.assert_array_equal(host(dist), ref_kde.hamming_distances(a, b))
    np.testing.assert_array_equal(host(pycx.hamming_distances(da)), pycx.hamming_distances(pa))


@gpu
@pytest.mark.parametrize("n,m,d", [(5, 0, 70), (0, 5, 70), (0, 0, 70), (7, 3, 0), (3, 7, 0),
                                   (4, 0, 0), (0, 4, 0)])
def test_kde_sums_edge_shapes(rng, lib, n, m, d):
    # An empty B or zero-width rows have device address 0: B must still be B (zeros, or all-one
    # kernels over m rows), never A, and nothing may be written past the (n, m) outputs.
    import torch
    a = (rng.random((n, d)) < 0.5).astype(np.uint8)
    b = (rng.random((m, d)) < 0.5).astype(np.uint8)
    da, db = pycx.pack_bits(dev(a, lib)), pycx.pack_bits(dev(b, lib))
    kw = {"s2": 3.0, "weights": rng.integers(1, 4, m), "labels": rng.integers(0, 2, n),
          "b_labels": rng.integers(0, 2, m)}
    got, ref = pycx.kde_sums(da, db, **kw), ref_kde.kde_sums(a, b, **kw)
    assert tuple(got.total.shape) == tuple(got.same_label.shape) == (n,)
    np.testing.assert_allclose(host(got.total), ref.total, rtol=RTOL)
    np.testing.assert_allclose(host(got.same_label), ref.same_label, rtol=RTOL)
    dist = pycx.hamming_distances(da, db)
    assert tuple(dist.shape) == (n, m)
    np.testing.assert_array_equal(host(dist), ref_kde.hamming_distances(a, b))
    w = rng.integers(1, 4, n)
    got = pycx.kde_sums(da, s2=3.0, weights=w)
    np.testing.assert_allclose(host(got.total), ref_kde.kde_sums(a, s2=3.0, weights=w).total, rtol=RTOL)
    np.testing.assert_array_equal(host(pycx.hamming_distances(da)), ref_kde.hamming_distances(a, a))
    torch.cuda.synchronize()  # an illegal address would surface here, in this test


@gpu
@pytest.mark.parametrize("d", [70, 2100])  # table in shared memory / in global memory
def test_kde_sums_ignore_stray_padding_bits(rng, lib, d):
    # Words that break the layout (bits set past n_bits, only possible through _trusted) must
    # not reach past the kernel table: the kernels mask the last word.
    a = (rng.random((40, d)) < 0.3).astype(np.uint8)
    b = (rng.random((30, d)) < 0.3).astype(np.uint8)
    dirty = []
    for x in (a, b):
        words = ref_pack.pack_bits(x).copy()
        words[:, -1] |= ~np.uint64((1 << (d % 64)) - 1)  # every padding bit set
        dirty.append(pycx.PackedBits(dev(words.view(np.int64) if lib == "torch" else words, lib),
                                     d, _trusted=True))
    da, db = dirty
    np.testing.assert_allclose(host(pycx.kde_sums(da, s2=0.04 * d).total),
                               ref_kde.kde_sums(a, s2=0.04 * d).total, rtol=RTOL)
    np.testing.assert_allclose(host(pycx.kde_sums(da, db, s2=0.04 * d).total),
                               ref_kde.kde_sums(a, b, s2=0.04 * d).total, rtol=RTOL)
    np.testing.assert_array_equal(host(pycx.hamming_distances(da, db)), ref_kde.hamming_distances(a, b))


@gpu
def test_kde_sums_rejects_mixed_and_bad_weights(rng, lib):
    a = (rng.random((5, 10)) < 0.5).astype(np.uint8)
    da = pycx.pack_bits(dev(a, lib))
    with pytest.raises(ValueError, match="both on the GPU"):
        pycx.kde_sums(da, pycx.pack_bits(a), s2=1.0)
    with pytest.raises(ValueError, match="non-negative"):
        pycx.kde_sums(da, s2=1.0, weights=np.array([1, 2, -1, 0, 1]))
    with pytest.raises(TypeError, match="integers"):
        pycx.kde_sums(da, s2=1.0, weights=np.ones(5))


# -- state counts -------------------------------------------------------------------------------
@gpu
@settings(max_examples=25)
@given(rows=st.integers(1, 400), width=st.sampled_from([1, 5, 63, 64, 65, 130, 500]),
       seed=st.integers(0, 2**31), exact=st.booleans())
def test_state_counts_match(rows, width, seed, exact):
    rng = np.random.default_rng(seed)
    pool = rng.integers(0, 2, (rng.integers(1, 9), width), dtype=np.uint8)
    pool[0] = 0  # the all-zero state
    near = pool.copy()
    near[:, -1] ^= 1  # differs from a pool row in the last bit only
    bits = np.concatenate([pool, near])[rng.integers(0, 2 * len(pool), rows)]
    labels = rng.integers(0, 4, rows)
    want = ref_counts.state_counts(bits)
    for lib in _libraries():
        got = pycx.state_counts(pycx.pack_bits(dev(bits, lib)), labels,
                                _weak_hash_bits=1 if exact else 0)  # 1 hash bit: collisions, then the exact re-sort
        assert_on_device(got.counts, lib)
        np.testing.assert_array_equal(host(got.states.unpack()), want.states)
        np.testing.assert_array_equal(host(got.counts), want.counts)
        np.testing.assert_array_equal(host(got.inverse), want.inverse)
        for g, w in zip(got.degeneracy(), ref_counts.degeneracy(want.counts)):
            np.testing.assert_array_equal(host(g), w)
        for g, w in zip(got.label_counts(), ref_counts.label_counts(want.inverse, labels, want.counts.size)):
            np.testing.assert_array_equal(host(g), w)


@gpu
@pytest.mark.parametrize("path", ["hash", "weak_hash", "exact"])
@pytest.mark.parametrize("width", [5, 64, 130])
def test_state_counts_hash_collisions_and_exact_sort(rng, lib, path, width):
    # "weak_hash" keeps 1 hash bit, so with >= 3 distinct states two of them share a hash
    # (pigeonhole): the hash pass, its collision flag and the exact re-sort all run. "exact"
    # skips the hash pass.
    pool = rng.integers(0, 2, (12, width), dtype=np.uint8)
    pool[0] = 0
    pool[1] = pool[2]
    pool[1, -1] ^= 1  # two states that differ in the last bit only
    bits = pool[rng.integers(0, len(pool), 500)]
    want = ref_counts.state_counts(bits)
    assert want.counts.size >= 3
    kwargs = {"hash": {}, "weak_hash": {"hash_bits": 1}, "exact": {"force_exact_sort": True}}[path]
    states, counts, inverse, _ = device_state_counts.state_counts(pycx.pack_bits(dev(bits, lib)),
                                                                  None, **kwargs)
    np.testing.assert_array_equal(_device.host_words(states), ref_pack.pack_bits(want.states))
    np.testing.assert_array_equal(host(counts), want.counts)
    np.testing.assert_array_equal(host(inverse), want.inverse)


@gpu
def test_state_counts_many_rows_match_cpu(rng, lib):
    bits = rng.integers(0, 2, (20000, 12), dtype=np.uint8)  # ~4096 states, large counts
    got = pycx.state_counts(pycx.pack_bits(dev(bits, lib)))
    cpu = pycx.state_counts(pycx.pack_bits(bits))
    np.testing.assert_array_equal(host_words(got.states), cpu.states.words)
    np.testing.assert_array_equal(host(got.counts), cpu.counts)
    np.testing.assert_array_equal(host(got.inverse), cpu.inverse)


# -- covariance ---------------------------------------------------------------------------------
# Tolerance: float64 sums in another order than numpy's (per-update centring, tiled products,
# Chan merges): relative errors of ~1e-14 on well-conditioned data; 1e-9 leaves room.
@gpu
@pytest.mark.parametrize("batch_shape", [(), (3,), (2, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_covariance_batched_matches_cpu_and_reference(rng, lib, batch_shape, dtype):
    dim = 19
    chunks = [(rng.normal(size=batch_shape + (n, dim)) * 3 + 1e3).astype(dtype) for n in (1, 40, 257)]
    gpu_acc = pycx.Covariance(dim, batch_shape)
    cpu_acc = pycx.Covariance(dim, batch_shape)
    for c in chunks:
        gpu_acc.update(dev(c, lib))
        cpu_acc.update(c)
    assert gpu_acc.count == cpu_acc.count
    assert_on_device(gpu_acc.covariance(), lib)
    mean, cov = ref_cov.covariance(np.concatenate(chunks, axis=-2))
    np.testing.assert_allclose(host(gpu_acc.covariance()), cov, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(host(gpu_acc.mean), mean, rtol=1e-12)
    np.testing.assert_allclose(host(gpu_acc.covariance()), cpu_acc.covariance(), rtol=1e-9, atol=1e-9)


@gpu
def test_covariance_strided_pixels_and_merges(rng, lib):
    import torch
    y = rng.normal(size=(50, 6, 4, 5))  # (N, C, H, W) -> per-pixel covariance over N
    t = torch.as_tensor(y).cuda() if lib == "torch" else dev(y, lib)
    view = t.permute(2, 3, 0, 1) if lib == "torch" else t.transpose(2, 3, 0, 1)  # strided view
    acc = pycx.Covariance(6, (4, 5)).update(view)
    _, cov = ref_cov.covariance(y.transpose(2, 3, 0, 1))
    np.testing.assert_allclose(host(acc.covariance()), cov, rtol=1e-9, atol=1e-12)
    # GPU + CPU accumulators, merged both ways.
    a, b = rng.normal(size=(30, 8)), rng.normal(size=(45, 8)) + 2
    _, want = ref_cov.covariance(np.concatenate([a, b]))
    on_gpu = pycx.Covariance(8).update(dev(a, lib))
    on_cpu = pycx.Covariance(8).update(b)
    merged_gpu = pycx.Covariance.from_dict(on_gpu.to_dict())  # host copy of a GPU state
    np.testing.assert_allclose(merged_gpu.merge(on_cpu).covariance(), want, rtol=1e-9)
    np.testing.assert_allclose(host(on_gpu.merge(on_cpu).covariance()), want, rtol=1e-9)
    on_cpu2 = pycx.Covariance(8).update(b)
    np.testing.assert_allclose(on_cpu2.merge(pycx.Covariance(8).update(dev(a, lib))).covariance(), want, rtol=1e-9)
    before = host(on_gpu.covariance())
    bad = a.copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        on_gpu.update(dev(bad, lib))
    np.testing.assert_array_equal(host(on_gpu.covariance()), before)
    doubled = pycx.Covariance(8).update(dev(a, lib))
    doubled.merge(doubled)  # self-merge: twice the same rows, same covariance
    np.testing.assert_allclose(host(doubled.covariance()), ref_cov.covariance(a)[1], rtol=1e-9)


# -- several GPUs -------------------------------------------------------------------------------
@gpu
@pytest.mark.multi_gpu
def test_inputs_on_a_device_other_than_the_current_one(rng, lib):
    # Data on cuda:0 while cuda:1 is current: every allocation, copy and library call must
    # follow the data (results on cuda:0, right values), not the current device.
    import contextlib
    import torch
    if torch.cuda.device_count() < 2:
        pytest.skip(f"needs 2 GPUs, {torch.cuda.device_count()} visible")
    gates = random_gates(rng, 300, 100, "float32")
    bits = (gates > 0).astype(np.uint8)
    labels, b_labels = rng.integers(0, 3, 300), rng.integers(0, 3, 120)
    weights = rng.integers(0, 3, 120)
    rows = rng.normal(size=(80, 7))
    x, y, r = dev(gates, lib), dev(gates[:120], lib), dev(rows, lib)  # on cuda:0
    with contextlib.ExitStack() as stack:
        stack.enter_context(torch.cuda.device(1))
        if lib == "cupy":
            import cupy
            stack.enter_context(cupy.cuda.Device(1))
        p, q = pycx.pack_bits(x), pycx.pack_bits(y)
        sums = pycx.kde_sums(p, q, s2=4.0, weights=weights, labels=dev(labels, lib),
                             b_labels=b_labels)
        counts = pycx.state_counts(p, labels)
        degeneracy = counts.degeneracy()
        label_table = counts.label_counts()
        part = p[3:9]
        acc = pycx.Covariance(7).update(r)
        acc.merge(pycx.Covariance(7).update(r))
        cov = acc.covariance()
    outputs = [p.words, sums.total, sums.same_label, counts.counts, counts.inverse,
               counts.states.words, *degeneracy, *label_table, part.words, cov]
    for out in outputs:
        assert _device.DeviceArray("out", out).device == 0
    np.testing.assert_array_equal(host_words(p), ref_pack.pack_bits(gates))
    np.testing.assert_array_equal(host_words(part), ref_pack.pack_bits(gates[3:9]))
    want = ref_kde.kde_sums(bits, bits[:120], s2=4.0, weights=weights, labels=labels,
                            b_labels=b_labels)
    np.testing.assert_allclose(host(sums.total), want.total, rtol=RTOL)
    np.testing.assert_allclose(host(sums.same_label), want.same_label, rtol=RTOL)
    ref = ref_counts.state_counts(bits)
    np.testing.assert_array_equal(host(counts.counts), ref.counts)
    np.testing.assert_array_equal(host(counts.inverse), ref.inverse)
    for g, w in zip(degeneracy, ref_counts.degeneracy(ref.counts)):
        np.testing.assert_array_equal(host(g), w)
    for g, w in zip(label_table, ref_counts.label_counts(ref.inverse, labels, ref.counts.size)):
        np.testing.assert_array_equal(host(g), w)
    np.testing.assert_allclose(host(cov), ref_cov.covariance(np.concatenate([rows, rows]))[1],
                               rtol=1e-9, atol=1e-12)


# -- everywhere (no GPU needed) ------------------------------------------------------------------
def test_import_does_not_load_torch_or_the_cuda_module():
    code = ("import sys, pycx, pycx.kernels.device._array; "
            "print('torch' in sys.modules, 'cupy' in sys.modules, 'pycx._cuda' in sys.modules)")
    out = run_python(["-c", code], check=True)
    assert out.stdout.split() == ["False", "False", "False"]


EXPECTED_FUNCTIONS = {"probe_devices", "pack_patches", "concat_bits", "unpack_bits", "kde_sums",
                      "hamming_distances", "state_counts", "gather_rows", "degeneracy",
                      "unique_labels", "label_table", "covariance_update", "covariance_merge"}


def test_cuda_module_exposes_its_functions():
    info = pycx.build_info()
    if not info["cuda_compiled"]:
        pytest.skip(f"pycx._cuda not built: {info['gpu_reason']}")
    from pycx._build import cuda_module
    cuda = cuda_module()
    assert EXPECTED_FUNCTIONS <= set(dir(cuda))
    assert isinstance(cuda.architectures, str) and cuda.architectures


def test_gpu_reason_names_an_old_driver_and_a_missing_one():
    from pycx._build import gpu_reason
    old = {"device_count": 0, "error": "cudaErrorInsufficientDriver: CUDA driver version is "
           "insufficient for CUDA runtime version", "runtime_version": 13000, "driver_version": 12040}
    reason = gpu_reason(old)
    assert "driver supports CUDA 12.4" in reason and "built with CUDA 13.0" in reason
    assert "cudaErrorInsufficientDriver" in reason
    assert "no NVIDIA driver" in gpu_reason(dict(old, driver_version=0))
    assert gpu_reason(dict(old, driver_version=13000, error="")) == "no CUDA device is visible"
    assert gpu_reason(dict(old, device_count=1, driver_version=13000, error="")) is None


class _FakeCupyArray:
    """Quacks like a cupy array (module name, interface, device id) without any GPU memory."""

    def __init__(self, shape, typestr):
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0, False),
                                         "version": 3, "strides": None}
        self.shape = shape
        self.dtype = np.dtype(typestr)

        class _Device:
            id = 0
        self.device = _Device()


_FakeCupyArray.__module__ = "cupy._fake"


@pytest.mark.no_gpu
def test_device_arrays_rejected_cleanly_without_a_gpu():
    reason = pycx.build_info()["gpu_reason"]
    x = _FakeCupyArray((4, 70), "<f4")
    for call in (pycx.pack_bits, pycx.pack_per_patch, pycx.pack_per_sample):
        with pytest.raises(RuntimeError, match="cannot run GPU kernels") as info:
            call(x)
        assert reason in str(info.value)
    with pytest.raises(RuntimeError, match="cannot run GPU kernels"):
        pycx.Covariance(70).update(x)


def test_device_validation_before_any_gpu_call():
    # dtype and shape errors come first, with the usual messages, GPU or not.
    with pytest.raises(TypeError, match="dtype"):
        pycx.pack_bits(_FakeCupyArray((4, 70), "<f2"))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        pycx.pack_bits(_FakeCupyArray((4, 70, 2), "<f4"))
    with pytest.raises(ValueError, match="threshold"):
        pycx.pack_bits(_FakeCupyArray((4, 70), "|u1"), 0.5)
    with pytest.raises(ValueError, match="shape"):
        pycx.Covariance(5).update(_FakeCupyArray((4, 70), "<f8"))


def test_unknown_device_array_types_are_refused():
    class Other:
        __cuda_array_interface__ = {"shape": (2, 2), "typestr": "<f4", "data": (0, False), "version": 3}
    with pytest.raises(TypeError, match="torch tensors and cupy arrays"):
        pycx.pack_bits(Other())


@pytest.mark.no_gpu
def test_gpu_benchmark_fails_without_a_gpu(tmp_path):
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_bench.py"
    out = run_python([str(script), "--json", str(tmp_path / "out.json")], cwd=tmp_path)
    assert out.returncode == 1 and "no usable GPU" in out.stderr
    assert not (tmp_path / "out.json").exists()


def test_gpu_benchmark_extrapolates_baselines():
    import importlib.util
    import pathlib
    script = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_bench.py"
    spec = importlib.util.spec_from_file_location("gpu_bench", script)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    # A quadratic "baseline" that stops doubling at 4 units: extrapolated with exponent ~2.
    sleep = lambda k: __import__("time").sleep(1e-3 * k * k)  # noqa: E731
    got = bench.scaled_baseline(sleep, full_size=64, start=1, budget=0.1)
    assert got["extrapolated"] and got["measured_size"] < 64
    assert 1.5 < got["scaling_exponent"] < 2.5
    assert got["seconds"] > got["measured_seconds"] * (64 / got["measured_size"]) ** 1.5
    assert not bench.scaled_baseline(lambda k: None, full_size=8, start=1, budget=10)["extrapolated"]
