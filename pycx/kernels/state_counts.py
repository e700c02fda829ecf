"""State frequencies of packed gate rows (docs/definitions.md §3): the distinct states ``s``, their
counts ``k_s``, the row -> state map, the degeneracies ``m_k`` and per-label counts.

The kernel (``csrc/state_counts.cpp``) hashes every row (all of its words), inserts the hashes
into open-addressing tables (one per hash partition and thread) and confirms every hash match
by comparing the full rows, so it is exact at any width: a hash collision costs a comparison,
never a merged state. States are numbered in order of first occurrence.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

from .. import _cpu
from .._validate import check_gate_matrix, check_labels, check_threads, describe, label_codes
from .device import _array as _device_array
from .packed import PackedBits

if TYPE_CHECKING:
    import numpy.typing as npt


class StateCounts:
    """Result of `state_counts`.

    Attributes: ``states`` (`PackedBits`, one row per distinct state, in order of first
    occurrence), ``counts`` (int64 ``k_s``), ``inverse`` (int64: row ``i`` is in state
    ``inverse[i]``), ``labels`` (the labels given, or None), ``n_rows`` (M).

    >>> sc = state_counts(np.array([[1, 0], [0, 1], [1, 0]], dtype=np.uint8), labels=[0, 1, 1])
    >>> sc.n_rows, sc.n_states, [a.tolist() for a in sc.degeneracy()]   # (k, m_k)
    (3, 2, [[1, 2], [1, 1]])
    >>> sc.label_counts()[1].tolist()      # state [1, 0]: one row of each class
    [[1, 1], [0, 1]]
    """

    __slots__ = ("states", "counts", "inverse", "labels")

    def __init__(self, states: PackedBits, counts: np.ndarray, inverse: np.ndarray,
                 labels: Optional[np.ndarray] = None) -> None:
        self.states = states
        self.counts = counts
        self.inverse = inverse
        self.labels = labels

    @property
    def n_rows(self) -> int:
        return int(self.inverse.shape[0])

    @property
    def n_states(self) -> int:
        return int(self.counts.shape[0])

    def degeneracy(self) -> tuple:
        """``(k, m_k)``: the distinct frequencies k (ascending, int64) and how many states
        have each (int64)."""
        if _device_array.is_device(self.counts):  # GPU result: computed and kept on its device
            from .device import state_counts as device_state_counts
            return device_state_counts.degeneracy(self.counts)
        if self.counts.size == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        per_k = np.bincount(self.counts)  # counts <= M, so this is O(S + M)
        k = np.flatnonzero(per_k).astype(np.int64)
        return k, per_k[k].astype(np.int64)

    def label_counts(self, labels=None) -> tuple:
        """``(classes, table)``: ``classes`` the sorted distinct labels, ``table[s, c]`` the
        number of rows in state ``s`` with label ``classes[c]`` (int64). Uses the labels given
        to `state_counts` unless ``labels`` is passed here."""
        if _device_array.is_device(self.inverse):  # GPU result: table built on its device
            if labels is None and self.labels is None:
                raise ValueError("no labels: pass labels= to state_counts() or to label_counts()")
            from .device import state_counts as device_state_counts
            return device_state_counts.label_counts(self.inverse, self.labels if labels is None else labels,
                                        self.n_states)
        if labels is None:
            labels = self.labels
            if labels is None:
                raise ValueError("no labels: pass labels= to state_counts() or to label_counts()")
        else:
            labels = check_labels("labels", labels, self.n_rows)
        classes, label_index = label_codes(labels)
        flat = self.inverse * classes.size + label_index
        table = np.bincount(flat, minlength=self.n_states * classes.size)
        return classes, table.reshape(self.n_states, classes.size).astype(np.int64, copy=False)

    def __repr__(self) -> str:
        return f"StateCounts(n_rows={self.n_rows}, n_states={self.n_states}, n_bits={self.states.n_bits})"


def state_counts(packed: "PackedBits | npt.ArrayLike", labels: Optional[npt.ArrayLike] = None,
                 threads: int | None = None, *, _weak_hash_bits: int = 0,
                 _partition_min_rows: int = -1) -> StateCounts:
    """Distinct rows of a `PackedBits` (or of a 2-D 0/1 array, packed first) with their
    counts (docs/definitions.md §3, ``k_s``).

    ``labels`` (optional, one class label per row: integers or strings) enables
    `StateCounts.label_counts`. ``threads``: OpenMP threads (default: all, one for inputs
    under 20,000 rows). Exact for any number of bits and any number of distinct states.
    (``_weak_hash_bits``, ``_partition_min_rows``: private test knobs, see the C++ binding.)

    >>> sc = state_counts(np.array([[1, 0], [0, 1], [1, 0]], dtype=np.uint8))
    >>> sc.counts.tolist(), sc.inverse.tolist()
    ([2, 1], [0, 1, 0])
    """
    if not isinstance(packed, PackedBits):
        if isinstance(packed, (np.ndarray, list, tuple)) or hasattr(packed, "__array__") or hasattr(packed, "shape"):
            if not _device_array.is_device(packed):
                from .pack_bits import pack_bits
                # 0/1 rows, checked (a 2 is an error, not a gate); floats 0/1 pack as x > 0.
                packed = pack_bits(check_gate_matrix("packed", packed, min_rows=0), threads=threads)
        if not isinstance(packed, PackedBits):
            raise TypeError("argument 'packed' must be PackedBits (see pycx.pack_bits) or a 2-D "
                            f"0/1 array, got {describe(packed)}")
    if _device_array.is_device_packed(packed):  # GPU words: sort-based grouping on their device
        check_threads(threads)  # (unused there; _weak_hash_bits weakens the device hash alike)
        # The device adapter checks the labels where it moves them to the device.
        return _state_counts_core(packed, labels, 0, _weak_hash_bits)
    if labels is not None:
        labels = check_labels("labels", labels, packed.n_rows)
    nthreads = check_threads(threads)
    return _state_counts_core(packed, labels, nthreads, _weak_hash_bits, _partition_min_rows)


def _state_counts_core(packed: PackedBits, labels: Optional[np.ndarray] = None,
                       nthreads: int = 0, weak_hash_bits: int = 0,
                       partition_min_rows: int = -1) -> StateCounts:
    """`state_counts` of a `PackedBits` that pycx built or already checked, without any check
    (the trusted core the estimators call; `state_counts` validates, then calls it):
    ``packed`` host or device `PackedBits` whose padding bits are 0 (as the packers make them,
    and as `pycx.estimators._common.as_packed_rows` checks a user's); ``labels`` None or, for
    host rows, labels `pycx._validate.check_labels` returned (device rows: the device adapter
    checks them); ``nthreads`` as `pycx._validate.check_threads` returns it (0: the default).
    ``weak_hash_bits`` and ``partition_min_rows`` are the test knobs of `state_counts`.

    >>> import pycx
    >>> sc = _state_counts_core(pycx.pack_bits(np.array([[1, 0], [0, 1], [1, 0]], dtype=np.uint8)))
    >>> sc.counts.tolist(), sc.inverse.tolist()
    ([2, 1], [0, 1, 0])
    """
    if _device_array.is_device_packed(packed):
        from .device import state_counts as device_state_counts
        words, counts, inverse, y = device_state_counts.state_counts(
            packed, labels, hash_bits=int(weak_hash_bits))
        return StateCounts(PackedBits(words, packed.n_bits, _trusted=True), counts, inverse, y)
    words, counts, inverse = _cpu.state_counts(packed.words, nthreads, int(weak_hash_bits),
                                              int(partition_min_rows))
    return StateCounts(PackedBits(words, packed.n_bits, _trusted=True), counts, inverse, labels)
