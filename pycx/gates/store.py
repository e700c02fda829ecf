"""Storage helpers of `pycx.capture`: streaming moments, per-patch rows derived from per-sample
bits, the seeded patch subsample and the `.npz` layout. No torch at import time."""
from __future__ import annotations

import numpy as np

from ..kernels.pack_bits import pack_per_patch
from ..kernels.packed import PackedBits

# Unpacked bytes handled at once when per-sample bits are turned into per-patch rows or
# counted: bounds the temporary memory whatever the number of samples.
CHUNK_BYTES = 1 << 24
# Patch rows hashed at once by the subsample.
KEY_CHUNK = 1 << 22

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def patch_keys(seed: int, rows: np.ndarray) -> np.ndarray:
    """The subsample key of each global patch row index: splitmix64 of ``row + (seed + 1) *
    golden``. A row's key depends only on (seed, row index), never on the batching."""
    with np.errstate(over="ignore"):
        z = rows.astype(np.uint64) + np.uint64(seed + 1) * _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def subsample_rows(n_rows: int, k: int, seed: int) -> np.ndarray:
    """Bottom-k sample: the k row indices (sorted) of smallest key. Uniform without replacement,
    exactly k rows, memory O(k + chunk)."""
    best_keys = np.empty(0, np.uint64)
    best_rows = np.empty(0, np.int64)
    for start in range(0, n_rows, KEY_CHUNK):
        rows = np.arange(start, min(n_rows, start + KEY_CHUNK), dtype=np.int64)
        keys = np.concatenate([best_keys, patch_keys(seed, rows)])
        rows = np.concatenate([best_rows, rows])
        if len(keys) > k:
            keep = np.argpartition(keys, k - 1)[:k]
            keys, rows = keys[keep], rows[keep]
        best_keys, best_rows = keys, rows
    return np.sort(best_rows)


def unpacked_chunks(words: np.ndarray, n_bits: int):
    """Yields ``(start, bits)``: consecutive row blocks of packed words unpacked to uint8 0/1."""
    per_chunk = max(1, CHUNK_BYTES // max(1, n_bits))
    for start in range(0, words.shape[0], per_chunk):
        block = np.ascontiguousarray(words[start:start + per_chunk]).view(np.uint8)
        yield start, np.unpackbits(block, axis=1, bitorder="little")[:, :n_bits]


class PaddedRows(PackedBits):
    """Per-sample rows of a layer whose positions may be padding (token positions with
    ``attention_mask == 0``): ``valid`` is the read-only bool ``(n_rows, positions)`` array,
    True at a real position. The bits of padded positions are 0. `per_patch_rows` of these
    rows leaves the padded positions out, so every consumer of the per-patch layout (the
    analysis included) sees the tokens only. Row selection keeps the matching mask rows."""

    __slots__ = ("valid",)

    def __init__(self, words, n_bits, valid):
        super().__init__(words, n_bits, _trusted=True)
        valid = np.asarray(valid, dtype=bool)
        if valid.flags.writeable:
            valid = valid.view()
            valid.flags.writeable = False
        object.__setattr__(self, "valid", valid)

    def __getitem__(self, rows) -> "PaddedRows":
        picked = PackedBits.__getitem__(self, rows)
        valid = self.valid[rows]
        return PaddedRows(picked.words, picked.n_bits, valid[None, :] if valid.ndim == 1 else valid)

    def __reduce__(self):
        return (PaddedRows, (np.array(self.words), self.n_bits, np.array(self.valid)))

    def __repr__(self) -> str:
        return (f"PaddedRows(n_rows={self.n_rows}, n_bits={self.n_bits}, "
                f"tokens={int(self.valid.sum())} of {self.valid.size})")


def per_patch_rows(sample: PackedBits, channels: int, positions: int,
                   rows: np.ndarray | None = None) -> PackedBits:
    """Per-patch rows (row ``n * positions + p`` holds the ``channels`` bits of sample n at
    position p) from per-sample rows (bit ``c * positions + p``): the same bits, transposed
    chunk by chunk. `rows`: sorted global row indices to keep (None = all). For `PaddedRows`
    the padded positions are left out first: rows are then numbered over the real positions
    only (in the same order)."""
    valid = sample.valid if isinstance(sample, PaddedRows) else None
    parts = []
    offset = 0  # per-patch rows (real positions) before this chunk
    for start, bits in unpacked_chunks(sample.words, sample.n_bits):
        n = bits.shape[0]
        packed = pack_per_patch(bits.reshape(n, channels, positions, 1)).words
        if valid is not None:
            packed = packed[valid[start:start + n].reshape(-1)]
        count = packed.shape[0]
        if rows is not None:
            lo, hi = np.searchsorted(rows, [offset, offset + count])
            packed = packed[rows[lo:hi] - offset]
        offset += count
        parts.append(packed)
    words = np.concatenate(parts) if parts else np.zeros((0, (channels + 63) // 64), np.uint64)
    return PackedBits(np.ascontiguousarray(words), channels, _trusted=True)


def bit_counts(sample: PackedBits) -> np.ndarray:
    """Number of rows with each bit set, int64 of length n_bits."""
    total = np.zeros(sample.n_bits, np.int64)
    for _, bits in unpacked_chunks(sample.words, sample.n_bits):
        total += bits.sum(axis=0, dtype=np.int64)
    return total


class Moments:
    """Streaming count / mean / centred comoment (float64) of the rows of one layer, kept on the
    model's device so that only the small C x C result crosses to the host. Each batch is
    centred on its own mean (computed in the activations' dtype; float32 GEMM for float32
    activations) and merged in float64 with Chan's parallel formula."""

    __slots__ = ("count", "mean", "m2")

    def __init__(self):
        self.count = 0
        self.mean = None
        self.m2 = None

    def merge(self, moments):
        if moments is None:  # no row of this batch entered the covariance
            return
        count, mean, m2 = moments
        if self.count == 0:
            self.count, self.mean, self.m2 = count, mean, m2
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        outer = delta.unsqueeze(-1) * delta.unsqueeze(-2)
        self.m2 = self.m2 + m2 + outer * (self.count * count / total)
        self.count = total

    def host(self):
        return (self.count, self.mean.cpu().numpy(), self.m2.cpu().numpy())


def covariance_rows(seed: int, start: int, n: int, positions: int, fraction: float):
    """Flat indices ``i * positions + p`` (within a batch of n samples whose first one is global
    sample `start`) of the patch rows that enter the covariance: those whose key
    (`patch_keys`, the same keys as the per-patch subsample) is below ``fraction * 2**64``.
    A fixed-rate Bernoulli sample keyed on the global row index: independent of batching."""
    rows = np.arange(start * positions, (start + n) * positions, dtype=np.int64)
    limit = np.uint64(min(int(fraction * 2.0 ** 64), 2 ** 64 - 1))
    return np.flatnonzero(patch_keys(seed, rows) < limit)


# The per-patch covariance keeps a layer's rows themselves while it has at most this many per
# unit: rows x C floats cost less than the C x C float64 moments, and no C^2 product is done
# per batch (capture of 16 inputs through a 3,840-unit layer: 256 rows, not a 118 MB matrix).
ROWS_PER_UNIT = 2


class RowMoments:
    """The per-patch covariance of one layer while it is captured: its rows (``(r, C)``
    tensors on the model's device, own copies) until there are more than ``ROWS_PER_UNIT * C``
    of them, then `Moments` (the rows so far folded in once). ``host()``: ``(rows, None)``
    with the float rows as one numpy array, or ``(None, (count, mean, m2))``."""

    __slots__ = ("count", "rows", "moments")

    def __init__(self):
        self.count = 0
        self.rows = []
        self.moments = None

    def add(self, x):
        if x is None:  # no row of this batch entered the covariance
            return
        self.count += x.shape[0]
        if self.moments is not None:
            self.moments.merge(rows_moments(x))
            return
        self.rows.append(x)
        if self.count > ROWS_PER_UNIT * x.shape[1]:
            import torch

            self.moments = Moments()
            self.moments.merge(rows_moments(torch.cat(self.rows)))
            self.rows = []

    def host(self):
        if self.moments is not None:
            return None, self.moments.host()
        rows = [r.cpu().numpy() for r in self.rows]
        return (rows[0] if len(rows) == 1 else np.concatenate(rows)), None


def batch_rows(values, rows=None):
    """The per-patch rows ``(r, C)`` of one batch's float outputs ``(N, C, *spatial)`` that
    enter the covariance: all ``N*positions`` of them, or the flat rows `rows` (a long tensor
    on the values' device). Always a copy (float32, or float64 for float64 outputs); None
    when no row is chosen."""
    import torch

    v = values.detach()
    if v.dtype not in (torch.float32, torch.float64):
        v = v.float()
    n, c = v.shape[0], v.shape[1]
    if rows is not None:
        positions = v[0, 0].numel()
        if v.is_contiguous():  # gather the few rows straight from the (N, C, P) layout
            x = v.reshape(n, c, positions)[rows // positions, :, rows % positions]
        else:
            x = v.movedim(1, -1).reshape(-1, c)[rows]
    else:
        x = v.movedim(1, -1).reshape(-1, c)
    if x.shape[0] == 0:
        return None
    if x.data_ptr() == values.data_ptr() or x._base is not None:
        x = x.clone()  # a view of the activations, which later in-place ops may change
    return x


def rows_moments(x):
    """``(count, mean, m2)`` of rows ``(r, C)`` (float64 mean and comoment)."""
    # The mean in the rows' own dtype (torch's float64-accumulating reductions are far slower
    # on CPU); centring on it keeps the product free of cancellation. The product itself is
    # float64: a float32 Gram matrix is positive semi-definite only to ~1e-7 of its largest
    # eigenvalue, and a rank-deficient layer (fewer rows than units, dependent units) then
    # shows negative eigenvalues that the float64 moments cannot be told apart from a broken
    # matrix (the effective dimension refuses them).
    mean = x.mean(0)
    centred = (x - mean).double()
    return x.shape[0], mean.double(), centred.T @ centred


def batch_moments(values, per_position: bool, rows=None):
    """Moments of one batch's float outputs ``(N, C, *spatial)``: over its N*positions patch
    rows, or only the flat rows `rows` (see `batch_rows`), or (``per_position=True``)
    separately per position over the N samples."""
    import torch

    if per_position:
        v = values.detach()
        if v.dtype not in (torch.float32, torch.float64):
            v = v.float()
        n, c = v.shape[0], v.shape[1]
        x = v.reshape(n, c, -1).permute(2, 0, 1)  # (positions, N, C) view
        mean = x.mean(1)
        centred = x - mean.unsqueeze(1)
        m2 = torch.bmm(centred.transpose(1, 2), centred).double()
        return n, mean.double(), m2
    x = batch_rows(values, rows)
    return None if x is None else rows_moments(x)
