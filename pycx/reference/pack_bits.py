"""Reference of bit-packing and the two gate layouts (docs/definitions.md §1)."""
from __future__ import annotations

import numpy as np

from .._validate import GATE_DTYPES, as_host_array, check_dtype, check_ndim, describe


def gate_bits(x, threshold: float = 0.0) -> np.ndarray:
    """0/1 uint8 gates of an array: ``x > threshold`` for floats (compared in x's dtype),
    ``x != 0`` for bool/integers."""
    x = as_host_array("x", x)
    check_dtype("x", x, GATE_DTYPES)
    if x.dtype.kind == "f":
        if np.isnan(x).any():
            raise ValueError(f"argument 'x' contains NaN ({describe(x)})")
        return (x > x.dtype.type(threshold)).astype(np.uint8)
    return (x != 0).astype(np.uint8)


def pack_bits(x, threshold: float = 0.0) -> np.ndarray:
    """Packs a 2-D array into ``(rows, ceil(d/64))`` uint64 words, bit j of a row at bit
    ``j % 64`` of word ``j // 64`` (little-endian), padding bits 0."""
    x = as_host_array("x", x)
    check_ndim("x", x, 2)
    bits = gate_bits(x, threshold)
    n, d = bits.shape
    n_words = (d + 63) // 64
    padded = np.zeros((n, n_words * 64), dtype=np.uint8)
    padded[:, :d] = bits
    packed_bytes = np.packbits(padded, axis=1, bitorder="little")
    return packed_bytes.view("<u8").astype(np.uint64)


def unpack_bits(words, n_bits: int) -> np.ndarray:
    """Inverse of `pack_bits`: ``(rows, n_bits)`` uint8 0/1."""
    words = as_host_array("words", words)
    check_ndim("words", words, 2)
    check_dtype("words", words, (np.dtype(np.uint64),))
    if words.shape[1] * 64 < n_bits:
        raise ValueError(f"argument 'words' holds fewer than n_bits={n_bits} bits, got {describe(words)}")
    as_bytes = np.ascontiguousarray(words.astype("<u8")).view(np.uint8)
    return np.unpackbits(as_bytes, axis=1, bitorder="little")[:, :n_bits]


def per_sample_rows(x, threshold: float = 0.0) -> np.ndarray:
    """Per-sample layout: row n = all gates of sample n in C order."""
    x = as_host_array("x", x)
    if x.ndim < 2:
        raise ValueError(f"argument 'x' must have a sample axis and at least one more, got {describe(x)}")
    return gate_bits(x.reshape(x.shape[0], -1), threshold)


def per_patch_rows(x, threshold: float = 0.0) -> np.ndarray:
    """Per-patch layout of an (N, C, H, W) output: N*H*W rows of C gates, row
    ``n*H*W + h*W + w`` = ``x[n, :, h, w]``. (N, C) input is returned as it is."""
    x = as_host_array("x", x)
    check_ndim("x", x, (2, 4))
    if x.ndim == 2:
        return gate_bits(x, threshold)
    n, c, h, w = x.shape
    return gate_bits(np.transpose(x, (0, 2, 3, 1)).reshape(n * h * w, c), threshold)
