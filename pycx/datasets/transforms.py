"""The graded tasks of Janik & Witaszczyk (paper 000, supplementary "Datasets") as torch transforms.

- `Colorize` (prefix C): a grey digit placed at a random offset in a ``size x size`` black square,
  multiplied by a random RGB colour with per-pixel colour noise;
- `Tear` (suffix _T8): the image cut into ``tile x tile`` tiles, shuffled and each rotated by a
  random multiple of 90 degrees, the same permutation and rotations for every image;
- `RandomLabels`: a dataset whose labels are replaced once by uniform random classes.

All three are deterministic given their seed, take a single image ``(H, W)`` / ``(C, H, W)`` or
a batch ``(N, C, H, W)``, and run with plain torch ops on the input's device. `Colorize` draws
its randomness per image from ``(seed, index)``, so the index of each image must be known: pass
it (``colorize(batch, indices)``), or wrap a dataset with `Transformed`, which passes
``__getitem__``'s index, or build the whole transformed dataset once with `materialize`.
"""
from __future__ import annotations

import operator
from typing import Optional

import numpy as np

from .._validate import check_device, check_int, check_positive, describe

__all__ = ["Colorize", "Tear", "RandomLabels", "Transformed", "materialize"]


def _check_seed(seed) -> int:
    seed = check_int("seed", seed, minimum=0)
    if seed > _MAX_SEED:
        raise ValueError(f"argument 'seed' must be <= 2^64 - 1, got {seed}")
    return seed


# Seeds are 64-bit: `Colorize` keys a Philox generator with ``[seed, index]`` as uint64.
_MAX_SEED = 2 ** 64 - 1


def _check_image(name: str, x, what: str = ""):
    """A float torch tensor of 2, 3 or 4 dimensions; returns (batch view (N, C, H, W), ndim)."""
    import torch

    if not isinstance(x, torch.Tensor):
        raise TypeError(f"argument '{name}' must be a torch tensor (H, W), (C, H, W) or "
                        f"(N, C, H, W), got {describe(x)}")
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"argument '{name}' must be an image (H, W) or (C, H, W) or a batch "
                         f"(N, C, H, W), got {x.ndim}-D ({describe(x)}){what}")
    if not x.is_floating_point():
        raise TypeError(f"argument '{name}' must have a floating dtype (images in [0, 1]), "
                        f"got {describe(x)}")
    if x.ndim == 2:
        return x[None, None], 2
    if x.ndim == 3:
        return x[None], 3
    return x, 4


# --------------------------------------------------------------------------------- Colorize

class Colorize:
    """Prefix C of paper 000: each grey image is upsampled by an integer factor (when it is
    small), placed at a uniformly random offset in a ``size x size`` black square and coloured:
    pixel value ``grey * clip(colour + noise, floor, 1)`` per channel, with one colour per image
    uniform in ``[colour_low, 1]^3`` and per-pixel noise ``N(0, noise)``. Pixels outside the
    digit stay 0, so the support of the output is exactly the embedded digit's.

    Offset, colour and noise of an image come from a counter-based generator keyed by
    ``(seed, index)`` (see `params`): they depend only on the seed and the image's index,
    never on the batch it is in.

    size: side of the output square (default 32, CIFAR's).
    upsample: integer factor applied to the input first; default ``max(1, (size - 4) // side)``
        (28x28 MNIST stays 28x28, 8x8 digits become 24x24), leaving room for the offset.
    colour_low, noise, floor: the colour model (defaults 0.25, 0.1, 0.05; see the decisions).

    Call with ``(image, index)`` for one grey image ``(H, W)`` or ``(1, H, W)`` (returns
    ``(3, size, size)``), or ``(batch, indices)`` for ``(N, 1, H, W)`` (returns
    ``(N, 3, size, size)``). `indices` may be an int sequence, a numpy array or a tensor.

    >>> import torch
    >>> c = Colorize(size=32, seed=0)
    >>> out = c(torch.ones(1, 28, 28), 7)
    >>> tuple(out.shape), bool(torch.equal(out, c(torch.ones(1, 28, 28), 7)))
    ((3, 32, 32), True)
    >>> int((out.sum(0) > 0).sum())  # the support: the 28x28 digit
    784
    """

    index_aware = True  # `Transformed` passes the item index

    def __init__(self, size: int = 32, seed: int = 0, *, upsample: Optional[int] = None,
                 colour_low: float = 0.25, noise: float = 0.1, floor: float = 0.05):
        self.size = check_int("size", size, minimum=1)
        self.seed = _check_seed(seed)
        self.upsample = None if upsample is None else check_int("upsample", upsample, minimum=1)
        self.colour_low = check_positive("colour_low", colour_low, allow_zero=True)
        if self.colour_low > 1:
            raise ValueError(f"argument 'colour_low' must be in [0, 1], got {colour_low!r}")
        self.noise = check_positive("noise", noise, allow_zero=True)
        self.floor = check_positive("floor", floor)
        if self.floor > 1:
            raise ValueError(f"argument 'floor' must be in (0, 1], got {floor!r}")

    def __repr__(self) -> str:
        return (f"Colorize(size={self.size}, seed={self.seed}, upsample={self.upsample}, "
                f"colour_low={self.colour_low}, noise={self.noise}, floor={self.floor})")

    def factor(self, side: int) -> int:
        """The upsampling factor used for input images of side `side`.

        >>> Colorize(size=32).factor(8), Colorize(size=32).factor(28)
        (3, 1)
        """
        return self._factor(check_int("side", side, minimum=1), "side")

    def _factor(self, side: int, name: str) -> int:
        k = self.upsample if self.upsample is not None else max(1, (self.size - 4) // side)
        if k * side > self.size:
            raise ValueError(f"argument '{name}': an image of side {side} upsampled by {k} "
                             f"({k * side} pixels) does not fit in size={self.size}, the "
                             "output square; choose a larger size or a smaller upsample")
        return k

    def params(self, indices, side: int):
        """The random draws of the images `indices` (input side `side`), as numpy arrays:
        offsets ``(n, 2)`` (dy, dx), colours ``(n, 3)``, noise ``(n, 3, s, s)`` float32 (s =
        the upsampled side). Image ``i`` uses its own counter-based generator,
        ``Generator(Philox(key=[seed, i]))``: five uniforms (offsets, colour), then the noise,
        so its draws do not depend on the batch.

        >>> offsets, colours, noise = Colorize(seed=0).params([0, 5], 8)
        >>> offsets.shape, colours.shape, noise.shape
        ((2, 2), (2, 3), (2, 3, 24, 24))
        """
        idx = _index_array(indices)
        s = self.factor(side) * side
        room = self.size - s
        offsets = np.empty((len(idx), 2), np.int64)
        colours = np.empty((len(idx), 3))
        noise = np.empty((len(idx), 3, s, s), np.float32)
        for k, i in enumerate(idx.tolist()):
            rng = np.random.Generator(np.random.Philox(key=np.array([self.seed, i], np.uint64)))
            u = rng.random(5)
            offsets[k] = np.minimum((u[:2] * (room + 1)).astype(np.int64), room)
            colours[k] = self.colour_low + (1.0 - self.colour_low) * u[2:]
            noise[k] = rng.standard_normal((3, s, s), dtype=np.float32)
        noise *= np.float32(self.noise)
        return offsets, colours, noise

    def __call__(self, images, indices):
        import torch

        batch, ndim = _check_image("images", images)
        n, c, h, w = batch.shape
        if c != 1:
            raise ValueError(f"argument 'images' must be grey (1 channel), got {describe(images)}")
        if h != w or h == 0:
            raise ValueError(f"argument 'images' must be square and non-empty, got "
                             f"{describe(images)}")
        idx = _check_indices(indices, n, single=ndim < 4)
        k = self._factor(h, "images")
        s = k * h
        grey = batch[:, 0]
        if k > 1:
            grey = grey.repeat_interleave(k, dim=1).repeat_interleave(k, dim=2)
        offsets, colours, noise = self.params(idx, h)
        factors = np.clip(colours[:, :, None, None].astype(np.float32) + noise,
                          np.float32(self.floor), np.float32(1.0))
        factors_t = torch.from_numpy(factors).to(device=batch.device, dtype=batch.dtype)
        coloured = grey[:, None] * factors_t  # (n, 3, s, s); 0 outside the digit
        out = batch.new_zeros((n, 3, self.size, self.size))
        if s == self.size:
            out.copy_(coloured)
        else:
            # One slice copy per image (cheaper than a scatter with four index tensors).
            for i, (dy, dx) in enumerate(offsets.tolist()):
                out[i, :, dy:dy + s, dx:dx + s] = coloured[i]
        return out if ndim == 4 else out[0]


# Image indices key a Philox generator as uint64 and are held as int64.
_MAX_INDEX = 2 ** 63 - 1


def _host_indices(indices) -> np.ndarray:
    try:
        import torch
        if isinstance(indices, torch.Tensor):
            indices = indices.detach().cpu().numpy()
    except ModuleNotFoundError:  # pragma: no cover - torch is required by the caller
        pass
    return np.asarray(indices)


def _checked_index_values(arr) -> np.ndarray:
    """int64 copy of an integer index array whose values are all in [0, 2^63 - 1]."""
    if arr.size and arr.dtype.kind not in "iu":
        raise TypeError(f"argument 'indices' must hold integers, got {describe(arr)}")
    if arr.size and (arr.min() < 0 or (arr.dtype.kind == "u" and arr.max() > _MAX_INDEX)):
        raise ValueError(f"argument 'indices' must be in [0, 2^63 - 1], got min "
                         f"{int(arr.min())}, max {int(arr.max())}")
    return arr.astype(np.int64)


def _index_array(indices) -> np.ndarray:
    """`Colorize.params`' indices: one integer or a 1-D sequence/array/tensor of integers >= 0."""
    arr = _host_indices(indices)
    if arr.ndim > 1:
        raise ValueError(f"argument 'indices' must be one index or a 1-D sequence of them, got "
                         f"{describe(arr)}")
    return _checked_index_values(np.atleast_1d(arr))


def _check_indices(indices, n: int, single: bool) -> np.ndarray:
    if single:
        try:
            if isinstance(indices, bool) or getattr(indices, "dtype", None) is not None and \
                    str(indices.dtype).endswith("bool"):
                raise TypeError
            value = operator.index(indices)
        except TypeError:
            raise TypeError(f"argument 'indices' must be an integer index for a single image, "
                            f"got {describe(indices)}") from None
        if not 0 <= value <= _MAX_INDEX:
            raise ValueError(f"argument 'indices' must be in [0, 2^63 - 1], got {value}")
        return np.asarray([value], dtype=np.int64)
    arr = _host_indices(indices)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"argument 'indices' must hold one index per image ({n}), got "
                         f"{describe(arr)}")
    return _checked_index_values(arr)


# ------------------------------------------------------------------------------------- Tear

class Tear:
    """Suffix _T8 of paper 000: cut each image into ``tile x tile`` tiles, shuffle the tiles
    and rotate each by a random multiple of 90 degrees. The permutation and rotations are drawn
    once per image shape from ``numpy.random.default_rng(seed)`` and are identical for every
    image; `inverse` undoes them. Every channel is torn the same way.

    Output tile ``j`` (row-major in the tile grid) is input tile ``perm[j]`` rotated by
    ``rot[j] * 90`` degrees counter-clockwise (``torch.rot90(tile, rot[j])``).

    >>> import torch
    >>> t = Tear(tile=2, seed=0)
    >>> x = torch.arange(16.).reshape(1, 4, 4)
    >>> torch.equal(t.inverse(t(x)), x), sorted(t(x).flatten().tolist()) == x.flatten().tolist()
    (True, True)
    """

    index_aware = False

    def __init__(self, tile: int = 8, seed: int = 0):
        self.tile = check_int("tile", tile, minimum=1)
        self.seed = _check_seed(seed)
        self._maps = {}

    def __repr__(self) -> str:
        return f"Tear(tile={self.tile}, seed={self.seed})"

    def layout(self, height: int, width: int):
        """``(perm, rot)`` for images of this shape: numpy int arrays of length
        ``(height // tile) * (width // tile)``.

        >>> perm, rot = Tear(tile=4, seed=0).layout(8, 12)
        >>> sorted(perm.tolist()), len(rot)
        ([0, 1, 2, 3, 4, 5], 6)
        """
        height, width = self._check_size(height, width)
        rng = np.random.default_rng(self.seed)
        n_tiles = (height // self.tile) * (width // self.tile)
        perm = rng.permutation(n_tiles)
        rot = rng.integers(0, 4, size=n_tiles)
        return perm, rot

    def _check_size(self, height, width) -> tuple:
        height = check_int("height", height, minimum=0)
        width = check_int("width", width, minimum=0)
        if height % self.tile or width % self.tile:
            raise ValueError(f"arguments 'height' and 'width': tile={self.tile} does not divide "
                             f"the image size {height}x{width}")
        return height, width

    def _check_shape(self, height: int, width: int) -> None:
        if height % self.tile or width % self.tile:
            raise ValueError(f"argument 'images': tile={self.tile} does not divide the image "
                             f"size {height}x{width}")

    def source_index(self, height: int, width: int) -> np.ndarray:
        """For every output pixel (flat, row-major), the flat index of the input pixel it
        comes from: a permutation of ``range(height * width)``.

        >>> Tear(tile=1, seed=0).source_index(1, 3).tolist()
        [2, 0, 1]
        """
        height, width = self._check_size(height, width)
        key = (height, width)
        if key not in self._maps:
            perm, rot = self.layout(height, width)
            t = self.tile
            cols = width // t
            flat = np.arange(height * width).reshape(height, width)
            out = np.empty_like(flat)
            for j, (src, k) in enumerate(zip(perm, rot)):
                sy, sx = divmod(int(src), cols)
                dy, dx = divmod(j, cols)
                out[dy * t:(dy + 1) * t, dx * t:(dx + 1) * t] = np.rot90(
                    flat[sy * t:(sy + 1) * t, sx * t:(sx + 1) * t], int(k))
            self._maps[key] = out.reshape(-1)
        return self._maps[key]

    def _apply(self, images, inverse: bool):
        import torch

        batch, ndim = _check_image("images", images)
        n, c, h, w = batch.shape
        self._check_shape(h, w)
        src = self.source_index(h, w)
        if inverse:
            src = np.argsort(src)
        index = torch.from_numpy(src).to(batch.device)
        # Advanced indexing: measured ~3x faster than index_select on CPU here.
        out = batch.reshape(n, c, h * w)[:, :, index].reshape(n, c, h, w)
        return out if ndim == 4 else (out[0] if ndim == 3 else out[0, 0])

    def __call__(self, images, indices=None):
        """Tears `images` ((H, W), (C, H, W) or (N, C, H, W)); `indices` is accepted and ignored
        (the tearing is the same for every image)."""
        return self._apply(images, inverse=False)

    def inverse(self, images):
        """Undoes the tearing: ``t.inverse(t(x)) == x``."""
        return self._apply(images, inverse=True)


# ------------------------------------------------------------------------- datasets

def _check_dataset(name: str, dataset) -> None:
    """A map-style dataset (len and indexing; a string is not one) whose items are
    ``(input, label, ...)`` tuples; item 0 is looked at, the others are trusted to match."""
    if (isinstance(dataset, (str, bytes)) or not hasattr(dataset, "__len__")
            or not hasattr(dataset, "__getitem__")):
        raise TypeError(f"argument '{name}' must be a map-style dataset (len and "
                        f"indexing), got {type(dataset).__name__}")
    if len(dataset):
        item = dataset[0]
        if not isinstance(item, (tuple, list)) or len(item) < 2:
            raise TypeError(f"argument '{name}' must give (input, label) items, item 0 is "
                            f"{describe(item)}")


def _check_transforms(transforms) -> None:
    for i, t in enumerate(transforms):
        if not callable(t):
            raise TypeError(f"argument 'transforms': transform {i} must be callable, got "
                            f"{type(t).__name__}")


def _class_labels(name: str, labels):
    """Labels as an integer tensor, refused (not cast) when they are not whole class numbers:
    int(0.5) would silently make 0.5 and 0.4 one class."""
    import torch

    try:
        y = torch.as_tensor(labels)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"argument '{name}' must give integer class labels, got "
                        f"{type(labels).__name__}: {exc}") from None
    if y.dtype.is_floating_point or y.dtype.is_complex or y.dtype == torch.bool:
        raise TypeError(f"argument '{name}' must give integer class labels, got labels of "
                        f"{describe(y)}")
    return y


def _labels_of(dataset):
    tensors = getattr(dataset, "tensors", None)
    if tensors is not None and len(tensors) >= 2:
        return _class_labels("dataset", tensors[1])
    return _class_labels("dataset", [dataset[i][1] for i in range(len(dataset))])


class RandomLabels:
    """A dataset whose labels are replaced once by uniform random classes (memorisation task of
    paper 000): ``labels[i]`` drawn from ``numpy.random.default_rng(seed)``, independently of
    the true label, so it is a fixed relabelling, not a permutation of the original labels.
    Items are ``(x, labels[i])`` with `x` the wrapped dataset's input.

    n_classes: default ``max(true label) + 1``.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> d = TensorDataset(torch.zeros(6, 2), torch.tensor([0, 1, 2, 0, 1, 2]))
    >>> r = RandomLabels(d, seed=3)
    >>> torch.equal(r.labels, RandomLabels(d, seed=3).labels), len(r), int(r.n_classes)
    (True, 6, 3)
    """

    def __init__(self, dataset, seed: int = 0, *, n_classes: Optional[int] = None):
        import torch

        _check_dataset("dataset", dataset)
        self.dataset = dataset
        self.seed = _check_seed(seed)
        if n_classes is None:
            true = _labels_of(dataset)
            if true.numel() and int(true.min()) < 0:
                raise ValueError(f"argument 'dataset' has negative labels (min "
                                 f"{int(true.min())}), so the number of classes is not "
                                 "max + 1: pass n_classes")
            n_classes = int(true.max()) + 1 if true.numel() else 1
        self.n_classes = check_int("n_classes", n_classes, minimum=1)
        rng = np.random.default_rng(self.seed)
        self.labels = torch.from_numpy(rng.integers(0, self.n_classes, size=len(dataset)))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        return item[0], self.labels[i]


class Transformed:
    """A dataset whose inputs go through `transforms` in order; index-aware transforms
    (`Colorize`) receive the item's index. Items are ``(transformed x, y)``.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> d = Transformed(TensorDataset(torch.ones(4, 1, 8, 8), torch.arange(4)), Colorize(seed=1))
    >>> tuple(d[2][0].shape), int(d[2][1])
    ((3, 32, 32), 2)
    """

    def __init__(self, dataset, *transforms):
        _check_dataset("dataset", dataset)
        _check_transforms(transforms)
        self.dataset = dataset
        self.transforms = transforms

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, i):
        x, y = self.dataset[i][:2]
        for t in self.transforms:
            x = t(x, i) if getattr(t, "index_aware", False) else t(x)
        return x, y


def materialize(dataset, *transforms, batch_size: int = 1000, device=None):
    """The transformed dataset computed once, batch by batch, as a ``TensorDataset`` (on
    `device`, default the inputs' device). Identical to `Transformed` item by item (the
    transforms depend only on the seed and the index), and the fast way to train on it.

    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> base = TensorDataset(torch.rand(5, 1, 8, 8), torch.arange(5))
    >>> m = materialize(base, Colorize(seed=1), Tear(tile=8, seed=2))
    >>> torch.equal(m[3][0], Transformed(base, Colorize(seed=1), Tear(tile=8, seed=2))[3][0])
    True
    """
    import torch
    from torch.utils.data import TensorDataset

    _check_dataset("dataset", dataset)
    _check_transforms(transforms)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    device = check_device("device", device)
    n = len(dataset)
    tensors = getattr(dataset, "tensors", None)
    xs, ys = [], []
    for start in range(0, n, batch_size):
        stop = min(n, start + batch_size)
        if tensors is not None and len(tensors) >= 2:
            x, y = tensors[0][start:stop], tensors[1][start:stop]
        else:
            items = [dataset[i] for i in range(start, stop)]
            for i, it in zip(range(start, stop), items):
                if not isinstance(it[0], torch.Tensor):
                    raise TypeError(f"argument 'dataset': the input of item {i} must be a torch "
                                    f"tensor, got {describe(it[0])}")
            x = torch.stack([it[0] for it in items])
            try:  # labels as they are (no cast), as a TensorDataset's are passed on
                y = torch.as_tensor([it[1] for it in items])
            except (TypeError, ValueError, RuntimeError) as exc:
                raise TypeError(f"argument 'dataset': the labels of items {start}..{stop - 1} "
                                f"do not form a tensor ({str(exc)[:120]})") from None
        if device is not None:
            x = x.to(device)
        idx = np.arange(start, stop)
        for t in transforms:
            x = t(x, idx) if getattr(t, "index_aware", False) else t(x)
        xs.append(x)
        ys.append(y if device is None else y.to(device))
    if not xs:
        raise ValueError("argument 'dataset' is empty")
    return TensorDataset(torch.cat(xs), torch.cat(ys))
