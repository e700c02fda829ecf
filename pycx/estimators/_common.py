"""Shared pieces of the estimators: gate input handling, h2, result base class."""
from __future__ import annotations

import dataclasses

import numpy as np

from .._validate import (GATE_DTYPES, as_host_array, check_binary, check_dtype, check_ndim,
                         describe)
from ..kernels.packed import PackedBits, check_padding

# Rows unpacked at a time when a statistic needs the bits of a PackedBits (bounds memory).
_UNPACK_CHUNK_ROWS = 1 << 20


def h2(p) -> np.ndarray:
    """Binary entropy in bits, with h2(0) = h2(1) = 0."""
    p = np.asarray(p, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = -(p * np.log2(p) + (1.0 - p) * np.log2(1.0 - p))
    return np.where((p <= 0.0) | (p >= 1.0), 0.0, out)


def _is_binary(arr: np.ndarray) -> bool:
    """0/1 test in one or two reductions (``np.isin`` costs ~30 ns per value on 10^7 values)."""
    if arr.dtype == np.bool_ or arr.size == 0:
        return True
    if arr.dtype.kind == "u":
        return bool(arr.max() <= 1)
    if arr.dtype.kind == "i":
        return bool(arr.min() >= 0 and arr.max() <= 1)
    # Floats: 0/1 exactly. A value v is 0 or 1 iff v * (v - 1) == 0 (NaN fails too); done in
    # row blocks so the temporary stays small.
    flat = arr.reshape(-1)
    step = 1 << 22
    for start in range(0, flat.size, step):
        block = flat[start:start + step]
        if not (block * (block - 1) == 0).all():
            return False
    return True


def as_gate_array(name: str, gates, *, ndims=(2,)) -> np.ndarray:
    """An unpacked gate array, validated: allowed dtype and number of dimensions, 0/1 only."""
    arr = as_host_array(name, gates)
    check_dtype(name, arr, GATE_DTYPES, "unpacked gates must hold only 0/1")
    check_ndim(name, arr, ndims)
    if not _is_binary(arr):
        check_binary(name, arr)  # raises with the shared message
        raise ValueError(f"argument '{name}' must hold only 0/1 gate values ({describe(arr)})")
    return arr


def as_packed_rows(name: str, gates, *, allow_4d: bool = False) -> PackedBits:
    """Gates given as a `PackedBits` or an unpacked 0/1 array (bool, integer or float), as
    `PackedBits` rows. With ``allow_4d`` an ``(N, C, H, W)`` array gives per-sample rows."""
    if isinstance(gates, PackedBits):
        # The one O(rows) check of a user's PackedBits (its words may have been written after
        # packing); the kernels' trusted cores then take the rows derived from it unchecked.
        check_padding(name, gates)
        return gates
    from ..kernels.pack_bits import _pack_rows_core

    arr = as_gate_array(name, gates, ndims=(2, 4) if allow_4d else (2,))
    if arr.ndim != 2:
        arr = arr.reshape(arr.shape[0], -1)
    return _pack_rows_core(arr)  # checked just above: dtype, 0/1 (validated once)


def check_rows(name: str, packed: PackedBits, minimum: int = 1, why: str = "") -> None:
    if packed.n_rows < minimum:
        extra = f" ({why})" if why else ""
        raise ValueError(f"argument '{name}' needs at least {minimum} row(s){extra}, "
                         f"got {packed.n_rows} rows of {packed.n_bits} units")
    if packed.n_bits == 0:
        raise ValueError(f"argument '{name}' has no units (0 columns)")


def unpack_rows(words: np.ndarray, n_bits: int) -> np.ndarray:
    """``(rows, n_bits)`` uint8 bits of packed words (only the bytes holding valid bits are
    expanded)."""
    n_bytes = (n_bits + 7) // 8
    as_bytes = np.ascontiguousarray(words).view(np.uint8)[:, :n_bytes]
    return np.unpackbits(as_bytes, axis=1, bitorder="little", count=n_bits)


def column_ones(packed: PackedBits) -> np.ndarray:
    """Number of rows with each bit set, int64 ``(n_bits,)``, unpacking in bounded chunks."""
    ones = np.zeros(packed.n_bits, dtype=np.int64)
    for start in range(0, packed.n_rows, _UNPACK_CHUNK_ROWS):
        block = unpack_rows(packed.words[start:start + _UNPACK_CHUNK_ROWS], packed.n_bits)
        ones += block.sum(axis=0, dtype=np.int64)
    return ones


def _plain(value):
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Result:
    """Base of the estimator results (frozen dataclasses): ``to_dict()`` gives plain Python
    values (arrays as lists), ready for JSON."""

    def to_dict(self) -> dict:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def describe_gates(gates) -> str:
    if isinstance(gates, PackedBits):
        return repr(gates)
    return describe(gates)
