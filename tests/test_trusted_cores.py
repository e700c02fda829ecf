"""Validation once, for real (issue 29): the estimators call the kernels' private trusted cores
(`_pack_rows_core`, `_kde_sums_core`, `_hamming_distances_core`) on rows they built, so an
array is checked where it enters and never again; each core gives its public kernel's values
bit for bit."""
import numpy as np
import pytest

import pycx
import pycx._validate as validate
import pycx.estimators._common as common
import pycx.kernels.kde_sums as ks
import pycx.kernels.pack_bits as pb
from pycx.kernels.kde_sums import _hamming_distances_core, _kde_sums_core
from pycx.estimators.kde import kde_concat_profile
from pycx.kernels.pack_bits import _pack_rows_core


def _count(monkeypatch, module, name, calls, key=None):
    real = getattr(module, name)

    def counted(*args, **kwargs):
        k = key(*args) if key else name
        calls[k] = calls.get(k, 0) + 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)


def test_kde_estimators_check_each_array_once(monkeypatch):
    """Failed before: on the CPU path of kde_entropy the gate dtype was checked twice (the
    estimator, then pack_bits), s2 and the weights once per kernel call, and the O(rows)
    padding scan ran on every kernel call, on arrays pycx itself had just built."""
    calls = {}
    for module in (common, pb):
        _count(monkeypatch, module, "check_dtype", calls, key=lambda name, *a: f"dtype {name}")
    _count(monkeypatch, ks, "check_positive", calls, key=lambda name, *a: f"positive {name}")
    _count(monkeypatch, ks, "check_weights", calls)
    _count(monkeypatch, ks, "check_padding", calls)
    _count(monkeypatch, common, "check_padding", calls, key=lambda name, *a: f"padding {name}")
    rng = np.random.default_rng(0)
    z = (rng.random((200, 70)) < 0.3).astype(np.uint8)
    y = rng.integers(0, 3, 200)
    pycx.kde_entropy(z, labels=y, alpha=0.05)
    pycx.kde_total_correlation(z, alpha=0.05)
    assert calls == {"dtype gates": 2}, calls
    calls.clear()
    pycx.kde_entropy(pycx.pack_bits(z), labels=y, alpha=0.05)
    kde_concat_profile([pycx.pack_bits(z[:, :30]), pycx.pack_bits(z[:, 30:])], tile_rows=64)
    # The user's PackedBits: one padding scan each where they enter, none in the kernels.
    assert calls == {"dtype x": 3, "padding gates": 1, "padding parts[0]": 1,
                     "padding parts[1]": 1}, calls
    # The public kernels still check everything themselves.
    calls.clear()
    pycx.kde_sums(pycx.pack_bits(z), s2=1.0, weights=np.ones(200, np.int64))
    assert calls == {"dtype x": 1, "positive s2": 1, "check_weights": 1, "check_padding": 1}


def test_a_users_packed_bits_with_stray_padding_are_refused_by_every_estimator():
    """Failed before for the count estimators: words written after packing gave silently
    wrong counts (a set padding bit makes equal rows differ)."""
    words = np.zeros((6, 1), np.uint64)
    words[:, 0] = [1, 1, 1, 2, 2, 2]
    p = pycx.PackedBits(words, 3)
    assert pycx.entropy(p, method="plugin").entropy == 1.0
    words[0, 0] |= np.uint64(1 << 5)  # a padding bit, written through the caller's array
    for method in ("plugin", "miller_madow", "nsb", "kde", "xgb"):
        with pytest.raises(ValueError, match="'gates(_or_counts)?' has bits set past n_bits=3"):
            pycx.entropy(p, method=method)
    with pytest.raises(ValueError, match="'a' has bits set past"):
        pycx.kde_sums(p, s2=1.0)


def test_cores_equal_their_public_kernels_bit_for_bit():
    rng = np.random.default_rng(1)
    for d, dtype in ((7, np.uint8), (64, np.bool_), (130, np.float32), (65, np.int64)):
        z = (rng.random((150, d)) < 0.4).astype(dtype)
        a = pycx.pack_bits(z)
        assert a == _pack_rows_core(z) and pycx.pack_bits(z[::2]) == _pack_rows_core(z[::2])
        b = pycx.pack_bits((rng.random((40, d)) < 0.4).astype(np.uint8))
        w = rng.integers(0, 5, 40)
        y, yb = rng.integers(0, 3, 150), rng.integers(0, 3, 40)
        for threads in (None, 1, 2):
            n = validate.check_threads(threads)
            want = pycx.kde_sums(a, b, s2=0.3 * d, weights=w, labels=y, b_labels=yb,
                                 threads=threads)
            got = _kde_sums_core(a, b, 0.3 * d, w.astype(np.float64), y, yb, n)
            assert np.array_equal(want.total, got.total)
            assert np.array_equal(want.same_label, got.same_label)
            want = pycx.kde_sums(a, s2=0.3 * d, weights=rng.integers(1, 3, 150), threads=threads)
            assert want.same_label is None
            assert np.array_equal(pycx.hamming_distances(a, b, threads=threads),
                                  _hamming_distances_core(a, b, n))
            assert np.array_equal(pycx.hamming_distances(a), _hamming_distances_core(a, None))
