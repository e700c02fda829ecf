"""The k-means baseline's inputs (pycx/analysis/kmeans_inputs.py): the tap yields the data's
items unchanged and keeps exactly the first inputs, flattened to float32, as the array path
does."""
import numpy as np
import pytest

from pycx.analysis.kmeans_inputs import as_inputs, tap_inputs

torch = pytest.importorskip("torch")


def _batches():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(10, 2, 3, generator=g)
    y = torch.arange(10)
    return x, [(x[i:i + 4], y[i:i + 4]) for i in range(0, 10, 4)]  # 4, 4, 2 samples


def test_tap_yields_items_unchanged_and_keeps_the_first_inputs():
    x, batches = _batches()
    tap = tap_inputs(batches, limit=6)
    assert len(tap) == 3
    seen = list(tap)
    assert all(a is b for a, b in zip(seen, batches)) and len(seen) == 3
    want = x.reshape(10, -1).numpy()[:6]
    got = tap.inputs(10)
    assert got.dtype == np.float32 and np.array_equal(got, want)
    assert np.array_equal(tap.inputs(5), want[:5])
    assert tap.kept == 6  # the third batch was not copied


def test_unsized_data_gives_an_unsized_tap_and_array_equals_batches():
    x, batches = _batches()
    tap = tap_inputs(iter(batches), limit=100)
    assert not hasattr(tap, "__len__")
    assert sum(1 for _ in tap) == 3
    assert np.array_equal(tap.inputs(100), x.reshape(10, -1).numpy())
    assert np.array_equal(as_inputs(batches, 7), as_inputs(x, 7))
    assert np.array_equal(as_inputs(x.numpy().astype(np.float64), 7), as_inputs(x, 7))
    assert as_inputs(None, 3) is None and tap_inputs([], 3).inputs(3) is None
