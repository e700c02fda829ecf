"""The row sets of the classifier chain rule (`pycx.xgb_entropy`, definitions §5.1): the
folds' distinct rows, the rows of column ``i``'s fits (its inputs ``z_0..z_{i-1}``, target
``z_i`` and weights), and the column order.

How the work is kept small (``dedup=True``): within each fold the distinct full rows are found
once (``pycx.state_counts`` on the packed rows: hashing, cost linear in the rows), with their
counts. Everything after that touches only the distinct rows: they are unpacked, put in the
column order and sorted lexicographically, so that for every prefix length ``i + 1`` the rows
sharing a prefix ``(z_0..z_i)`` are contiguous. The distinct ``(inputs, target)`` combinations
of column ``i`` are then the runs of that sorted list, and their integer weights are the summed
counts (`PrefixGroups`). ``dedup=False`` keeps every row, unweighted (`PlainRows`).

Both row sets give column ``i``'s inputs unpacked (`column`, for XGBoost) or packed
(`packed_column`, for the native booster: the prefix bits of the rows packed once, so a fit
does not pack its inputs again), and ship to process or cluster workers as packed bits.

May import: `pycx.kernels`, `pycx.estimators._common`, the base layer.
"""
from __future__ import annotations

import sys
from typing import Optional

import numpy as np

from .._validate import check_choice
from ..kernels.packed import PackedBits
from ._common import unpack_rows

ORDERS = ("natural", "random", "greedy")


def distinct_rows(words: np.ndarray, n_bits: int):
    """``(distinct words, counts)`` of packed rows (any order of the distinct rows)."""
    from ..kernels.state_counts import _state_counts_core

    sc = _state_counts_core(PackedBits(np.ascontiguousarray(words), n_bits, _trusted=True))
    return sc.states.words, np.asarray(sc.counts, dtype=np.int64)


def fold_rows(n_rows: int, folds: int, seed_seq) -> list:
    """The row indices of each fold (sorted): a seeded shuffle of the rows, split in `folds`."""
    perm = np.random.default_rng(seed_seq).permutation(n_rows)
    return [np.sort(part) for part in np.array_split(perm, folds)]


def fold_states(packed: PackedBits, folds: list) -> list:
    """Per fold, its distinct rows (unpacked, natural column order) and their counts."""
    states = []
    for rows in folds:
        words, counts = distinct_rows(packed.words[rows], packed.n_bits)
        states.append((unpack_rows(words, packed.n_bits), counts))
    return states


def _lex_sorted(bits: np.ndarray, counts: np.ndarray):
    """Sorts 0/1 rows lexicographically (column 0 first), merging identical rows (summing their
    counts). Returns ``(rows, counts, first_diff)`` where ``first_diff[j]`` is the first column
    in which row ``j + 1`` differs from row ``j``."""
    n_units = bits.shape[1]
    idx = np.lexsort(bits.T[::-1]) if bits.shape[0] > 1 else np.arange(bits.shape[0])
    bits, counts = bits[idx], counts[idx]
    differ = bits[1:] != bits[:-1]
    changed = differ.any(axis=1)
    if not changed.all():  # identical rows met (training set assembled from several folds)
        starts = np.flatnonzero(np.concatenate(([True], changed)))
        bits, counts = bits[starts], np.add.reduceat(counts, starts)
        differ = differ[changed]
    first_diff = np.where(differ.any(axis=1), differ.argmax(axis=1), n_units)
    return np.ascontiguousarray(bits), counts, first_diff


def _prefix_words(words: np.ndarray, i: int) -> np.ndarray:
    """The packed bits ``z_0..z_{i-1}`` of packed rows: their first ``ceil(i / 64)`` words with
    the bits from ``i`` on cleared (the words `pycx.pack_bits` gives of those columns)."""
    n_words = (i + 63) // 64
    out = np.array(words[:, :n_words], dtype=np.uint64, order="C")
    if i % 64:
        out[:, -1] &= np.uint64((1 << (i % 64)) - 1)
    return out


class _RowSet:
    """What both row sets share: the packed rows (made once, on first use) and pickling as
    packed bits (8x smaller than the 0/1 bytes)."""

    bits: np.ndarray
    _words: Optional[np.ndarray] = None

    @property
    def words(self) -> np.ndarray:
        if self._words is None:
            from ..kernels.pack_bits import _pack_rows_core

            self._words = _pack_rows_core(self.bits).words  # 0/1 uint8 made here
        return self._words

    def __getstate__(self):
        state = {k: v for k, v in self.__dict__.items() if k not in ("bits", "_words")}
        state["packed"] = np.packbits(self.bits, axis=1, bitorder="little")
        state["n_units"] = self.bits.shape[1]
        return state

    def __setstate__(self, state):
        state = dict(state)
        packed, n_units = state.pop("packed"), state.pop("n_units")
        self.bits = np.unpackbits(packed, axis=1, bitorder="little", count=n_units)
        if sys.byteorder == "little":
            # The packed bytes padded to whole words are the rows' PackedBits words (its
            # layout): a worker's native fits need not pack the rows again.
            words = np.zeros((packed.shape[0], (n_units + 63) // 64 * 8), dtype=np.uint8)
            words[:, :packed.shape[1]] = packed
            self._words = words.view(np.uint64)
        self.__dict__.update(state)


class PrefixGroups(_RowSet):
    """Distinct rows of one row set in lexicographic order; `column(i)` gives the distinct
    ``(z_0..z_{i-1}, z_i)`` combinations with their weights."""

    def __init__(self, bits: np.ndarray, counts: np.ndarray):
        self.bits, self.counts, self.first_diff = _lex_sorted(bits, counts)
        self.total = int(self.counts.sum())

    def _starts(self, i: int) -> np.ndarray:
        # A new (i+1)-prefix starts where the first differing column is <= i.
        return np.flatnonzero(np.concatenate(([True], self.first_diff <= i)))

    def column(self, i: int):
        starts = self._starts(i)
        weights = np.add.reduceat(self.counts, starts)
        rows = self.bits[starts]
        return rows[:, :i], rows[:, i], weights

    def packed_column(self, i: int):
        """`column` with the inputs packed: uint64 ``(points, ceil(i / 64))``."""
        starts = self._starts(i)
        return (_prefix_words(self.words[starts], i), self.bits[starts, i],
                np.add.reduceat(self.counts, starts))

    def column_ones(self) -> np.ndarray:
        """Per column, the (weighted) number of rows with the bit set: the ``ones`` of
        `column` for every ``i`` at once (exact integers)."""
        ones = np.zeros(self.bits.shape[1], dtype=np.int64)
        for start in range(0, self.bits.shape[0], 1 << 16):  # bounded int64 temporaries
            block = slice(start, start + (1 << 16))
            ones += self.counts[block] @ self.bits[block].astype(np.int64)
        return ones

    def column_points(self) -> np.ndarray:
        """Per column ``i``, the number of distinct ``(z_0..z_i)`` prefixes: the training
        points of column ``i``'s fit."""
        return 1 + np.searchsorted(np.sort(self.first_diff), np.arange(self.bits.shape[1]),
                                   side="right")

    def __setstate__(self, state):
        super().__setstate__(state)
        self.total = int(self.counts.sum())


class PlainRows(_RowSet):
    """Every row of one row set, unweighted (``dedup=False``)."""

    def __init__(self, bits: np.ndarray):
        self.bits = bits
        self.total = bits.shape[0]

    def column(self, i: int):
        return self.bits[:, :i], self.bits[:, i], None

    def packed_column(self, i: int):
        return _prefix_words(self.words, i), self.bits[:, i], None

    def column_ones(self) -> np.ndarray:
        return self.bits.sum(axis=0, dtype=np.int64)

    def column_points(self) -> np.ndarray:
        return np.full(self.bits.shape[1], self.total, dtype=np.int64)

    def __setstate__(self, state):
        super().__setstate__(state)
        self.total = self.bits.shape[0]


def row_sets(packed: PackedBits, folds: list, states: list, col_order: np.ndarray,
             dedup: bool) -> tuple:
    """``(train_sets, test_sets)``, one of each per fold, in the column order: with `dedup`
    the folds' distinct rows (`PrefixGroups`; with two folds each fold's test set is the other
    fold's training set), else every row (`PlainRows`)."""
    n_folds = len(folds)
    if dedup:
        test_sets = [PrefixGroups(b[:, col_order], c) for b, c in states]
        train_sets = []
        for f in range(n_folds):
            if n_folds == 2:
                train_sets.append(test_sets[1 - f])
            else:
                others = [states[g] for g in range(n_folds) if g != f]
                train_sets.append(PrefixGroups(np.concatenate([b for b, _ in others])[:, col_order],
                                               np.concatenate([c for _, c in others])))
        return train_sets, test_sets
    n_rows, n_units = packed.shape
    bits = np.empty((n_rows, n_units), dtype=np.uint8)
    for start in range(0, n_rows, 1 << 20):
        bits[start:start + (1 << 20)] = unpack_rows(packed.words[start:start + (1 << 20)],
                                                n_units)[:, col_order]
    test_sets = [PlainRows(bits[rows]) for rows in folds]
    train_sets = [PlainRows(bits[np.concatenate([folds[g] for g in range(n_folds) if g != f])])
                  for f in range(n_folds)]
    return train_sets, test_sets


# ---------------------------------------------------------------------------------------
# column order


def greedy_order(bits: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Greedy correlation order: first the unit with the largest summed absolute correlation
    with the others, then repeatedly the remaining unit with the largest absolute correlation
    with any unit already chosen (ties: lowest index). Constant units correlate with nothing
    and come last, in index order."""
    w = counts.astype(np.float64) / counts.sum()
    x = bits.astype(np.float64)
    mean = w @ x
    centred = x - mean
    cov = (centred * w[:, None]).T @ centred
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        corr = np.abs(cov / np.outer(sd, sd))
    corr[~np.isfinite(corr)] = 0.0
    np.fill_diagonal(corr, 0.0)
    n = corr.shape[0]
    chosen = [int(np.argmax(corr.sum(axis=1)))]
    best = corr[chosen[0]].copy()
    remaining = np.ones(n, dtype=bool)
    remaining[chosen[0]] = False
    for _ in range(n - 1):
        score = np.where(remaining, best, -1.0)
        nxt = int(np.argmax(score))
        chosen.append(nxt)
        remaining[nxt] = False
        best = np.maximum(best, corr[nxt])
    return np.asarray(chosen, dtype=np.int64)


def resolve_order(order, n_units: int, seed_seq: np.random.SeedSequence, sample):
    """The column order: "natural", "random" (seeded permutation), "greedy" (`greedy_order`
    of ``sample()``'s rows and counts) or an explicit permutation, checked."""
    if isinstance(order, str):
        check_choice("order", order, ORDERS)
        if order == "natural":
            return np.arange(n_units, dtype=np.int64)
        if order == "random":
            return np.random.default_rng(seed_seq).permutation(n_units).astype(np.int64)
        return greedy_order(*sample())
    perm = np.asarray(order)
    if perm.ndim != 1 or perm.dtype.kind not in "iu" or perm.shape[0] != n_units \
            or not np.array_equal(np.sort(perm), np.arange(n_units)):
        raise ValueError(f"argument 'order' must be one of {ORDERS} or a permutation of "
                         f"range({n_units}), got {order!r}")
    return perm.astype(np.int64)
