"""The CUDA kernels (pycx._cuda) against the CPU kernels and the numpy reference.

Tests marked ``gpu`` run on CUDA torch tensors (and cupy arrays when cupy is installed); they
are skipped without a usable GPU (conftest), or fail when PYCX_EXPECT_GPU=1. The tests at the
end run everywhere: import, the module's functions, clean rejection of device input.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pycx
from pyrun import run_python
from pycx.kernels import _device
from pycx.reference import covariance as ref_cov
from pycx.reference import kde_sums as ref_kde
from pycx.reference import pack_bits as ref_pack
from pycx.reference import state_counts as ref_counts

gpu = pytest.mark.gpu


def _libraries():
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


@gpu
def test_current_stream_is_used():
    import torch
    side = torch.cuda.Stream()
    with torch.cuda.stream(side):
        x = torch.rand(2000, 300, device="cuda") - 0.5
        assert _device.stream_of(_device.DeviceArray("x", x)) == side.cuda_stream
        p = pycx.pack_bits(x)
        total = pycx.kde_sums(p, s2=10.0).total
    side.synchronize()
    host_x = x.cpu().numpy()
    np.testing.assert_array_equal(host_words(p), ref_pack.pack_bits(host_x))
    want = pycx.kde_sums(pycx.pack_bits(host_x), s2=10.0).total
    np.testing.assert_allclose(host(total), want, rtol=1e-10)  # see test_kde_sums_match


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
                                _weak_hash_bits=1 if exact else 0)  # 1: the exact-sort path
        assert_on_device(got.counts, lib)
        np.testing.assert_array_equal(host(got.states.unpack()), want.states)
        np.testing.assert_array_equal(host(got.counts), want.counts)
        np.testing.assert_array_equal(host(got.inverse), want.inverse)
        for g, w in zip(got.degeneracy(), ref_counts.degeneracy(want.counts)):
            np.testing.assert_array_equal(host(g), w)
        for g, w in zip(got.label_counts(), ref_counts.label_counts(want.inverse, labels, want.counts.size)):
            np.testing.assert_array_equal(host(g), w)


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


# -- everywhere (no GPU needed) ------------------------------------------------------------------
def test_import_does_not_load_torch_or_the_cuda_module():
    code = ("import sys, pycx, pycx.kernels._device; "
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


@pytest.mark.skipif(pycx.build_info()["gpu_usable"], reason="a GPU is usable here")
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


@pytest.mark.skipif(pycx.build_info()["gpu_usable"], reason="a GPU is usable here")
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
