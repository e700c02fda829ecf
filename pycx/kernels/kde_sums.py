"""Hamming distances and Hamming-kernel sums of packed gate rows (docs/definitions.md §4).

``kde_sums`` is the n^2 core of the KDE entropy and total-correlation estimators: for each
row ``j`` of A, ``total[j] = sum_k w_k exp(-h(a_j, b_k) / (2 s2))`` over the rows of B. It
never forms the n x m matrix: work is tiled, memory is O((n + m) * words) plus per-thread
accumulators of length n + m.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple, Optional

import numpy as np

from .. import _cpu
from .._validate import (check_labels, check_positive, check_threads, check_weights,
                         dense_label_codes, describe)
from ._threads import threads_for
from .device import _array as _device_array
from .packed import check_packed, check_padding, check_same_bits

if TYPE_CHECKING:
    import numpy.typing as npt

    from .packed import PackedBits

# Pair-words (n * m * words) below which the default runs on one thread (see _threads.py):
# ~0.2 ms of single-threaded work (measured, AVX-512: 2**20 pair-words in 0.2 ms for kde_sums,
# 0.2 ms for hamming_distances), where waking an OpenMP team costs as much as it saves.
_MIN_PARALLEL_PAIR_WORDS = 1 << 20


class KdeSums(NamedTuple):
    """Per-row kernel sums (float64, one entry per row of A).

    >>> import pycx
    >>> s = kde_sums(pycx.pack_bits(np.eye(2, dtype=np.uint8)), s2=1.0, labels=[0, 1])
    >>> type(s).__name__, s.total.round(4).tolist(), s.same_label.tolist()  # 1 + exp(-2 / 2)
    ('KdeSums', [1.3679, 1.3679], [1.0, 1.0])
    """

    total: np.ndarray
    # The sums over rows of B with the same label; None when no labels were given.
    same_label: Optional[np.ndarray]


def _operands(a, b):
    a = check_packed("a", a)
    check_padding("a", a)
    if b is None:
        return a, None
    b = check_packed("b", b)
    check_same_bits("a", a, "b", b)
    check_padding("b", b)
    return a, b


def kde_sums(a: "PackedBits | npt.ArrayLike", b: "PackedBits | npt.ArrayLike | None" = None, *,
             s2: float, weights: Optional[npt.ArrayLike] = None,
             labels: Optional[npt.ArrayLike] = None, b_labels: Optional[npt.ArrayLike] = None,
             threads: int | None = None) -> KdeSums:
    """Hamming-kernel sums ``total[j] = sum_k w_k exp(-h(a_j, b_k) / (2 s2))``.

    a, b: `PackedBits` with the same ``n_bits`` (n and m rows); ``b=None`` means B = A, and
    then each pair is computed once (the self pair ``k = j`` is included, as in definitions §4, eq. 2).
    weights: optional non-negative integers, one per row of B (multiplicities of deduplicated
    rows; with ``b=None`` they are also the multiplicities of A's rows).
    labels: optional integer labels of A's rows; then ``same_label[j]`` is the sum over the
    rows of B with A's row's label. With ``b`` given, ``b_labels`` (one per row of B) is
    required too. Empty A gives empty arrays, empty B zeros.

    >>> import pycx
    >>> a = pycx.pack_bits(np.array([[0, 0], [1, 1], [1, 1]], dtype=np.uint8))
    >>> kde_sums(a, s2=0.5).total.round(4).tolist()    # 1 + 2 exp(-2), 2 + exp(-2), 2 + exp(-2)
    [1.2707, 2.1353, 2.1353]
    """
    a, b = _operands(a, b)
    s2 = check_positive("s2", s2)
    nthreads = check_threads(threads)
    if _device_array.is_device_packed(a) or _device_array.is_device_packed(b):  # GPU words: sums on the GPU
        from .device import kde_sums as device_kde_sums
        return KdeSums(*device_kde_sums.kde_sums(a, b, s2, weights, labels, b_labels))
    m = a.n_rows if b is None else b.n_rows
    w = None
    if weights is not None:
        w = check_weights("weights", weights, m).astype(np.float64)  # the kernel multiplies in float64
    la = lb = None
    if labels is None:
        if b_labels is not None:
            raise ValueError("argument 'b_labels' needs 'labels' (the labels of the rows of A)")
    else:
        ya = check_labels("labels", labels, a.n_rows)
        if b is None:
            if b_labels is not None:
                raise ValueError("argument 'b_labels' is only used when 'b' is given")
            # Equality is all that matters: labels become dense int64 codes, exactly (never
            # by a cast, which would merge uint64 2**64-1 with int64 -1).
            (la,) = dense_label_codes(ya)
        else:
            if b_labels is None:
                raise ValueError("argument 'b_labels' is required with 'labels' when 'b' is given")
            yb = check_labels("b_labels", b_labels, m)
            la, lb = dense_label_codes(ya, yb)
    return _kde_sums_core(a, b, s2, w, la, lb, nthreads)


def _kde_sums_core(a: "PackedBits", b: "Optional[PackedBits]", s2: float,
                   weights: Optional[np.ndarray], labels: Optional[np.ndarray],
                   b_labels: Optional[np.ndarray], nthreads: int = 0) -> KdeSums:
    """`kde_sums` on host `PackedBits` that pycx built itself, without any check (the trusted
    core the estimators call; `kde_sums` validates, then calls it): ``s2 > 0``; ``weights``
    float64, one per row of B (or None); ``labels`` / ``b_labels`` dense int64 codes
    ``0..K-1`` (or None); ``nthreads`` as `pycx._validate.check_threads` returns it (0: the
    default). The padding bits of every row must be 0, as `PackedBits` made by the packers
    are.

    >>> import pycx
    >>> a = pycx.pack_bits(np.array([[0, 0], [1, 1], [1, 1]], dtype=np.uint8))
    >>> _kde_sums_core(a, None, 0.5, None, None, None).total.round(4).tolist()
    [1.2707, 2.1353, 2.1353]
    """
    m = a.n_rows if b is None else b.n_rows
    nthreads = threads_for(nthreads, a.n_rows * m * a.n_words, _MIN_PARALLEL_PAIR_WORDS)
    total, same = _cpu.kde_sums(a.words, None if b is None else b.words, a.n_bits, s2, weights,
                                labels, b_labels, nthreads)
    return KdeSums(total, same)


def hamming_distances(a: "PackedBits | npt.ArrayLike",
                      b: "PackedBits | npt.ArrayLike | None" = None,
                      threads: int | None = None) -> np.ndarray:
    """``h[j, k]`` = number of bits where row j of A and row k of B differ, as an (n, m) int32
    matrix (``b=None``: B = A). It holds all n * m entries (4 bytes each): meant for small
    inputs and tests; `kde_sums` gives kernel sums without the matrix.

    >>> import pycx
    >>> a = pycx.pack_bits(np.array([[0, 0, 0], [1, 0, 1], [1, 1, 1]], dtype=np.uint8))
    >>> hamming_distances(a).tolist()
    [[0, 2, 3], [2, 0, 1], [3, 1, 0]]
    """
    a, b = _operands(a, b)
    nthreads = check_threads(threads)
    if _device_array.is_device_packed(a) or _device_array.is_device_packed(b):  # an (n, m) int32 device array
        from .device import kde_sums as device_kde_sums
        return device_kde_sums.hamming_distances(a, b)
    return _hamming_distances_core(a, b, nthreads)


def _hamming_distances_core(a: "PackedBits", b: "Optional[PackedBits]",
                            nthreads: int = 0) -> np.ndarray:
    """`hamming_distances` on host `PackedBits` that pycx built itself (same ``n_bits``,
    padding bits 0), without any check: the trusted core the estimators call.

    >>> import pycx
    >>> a = pycx.pack_bits(np.array([[0, 0, 0], [1, 0, 1]], dtype=np.uint8))
    >>> _hamming_distances_core(a, None).tolist()
    [[0, 2], [2, 0]]
    """
    m = a.n_rows if b is None else b.n_rows
    nthreads = threads_for(nthreads, a.n_rows * m * a.n_words, _MIN_PARALLEL_PAIR_WORDS)
    return _cpu.hamming_distances(a.words, None if b is None else b.words, a.n_bits, nthreads)
