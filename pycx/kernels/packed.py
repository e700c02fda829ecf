"""`PackedBits`: rows of gate states packed 64 to a word.

Bit order (the same on CPU and GPU): bit ``j`` of a row is bit ``j % 64`` (least significant
first) of word ``j // 64`` of that row, words stored as native little-endian ``uint64``.
Padding bits past ``n_bits`` in the last word are always 0, so rows can be compared, hashed
and XOR-ed word by word. This is ``np.packbits(bits, axis=1, bitorder="little")`` padded to a
multiple of 8 bytes and viewed as ``uint64``.

On a GPU (`pycx.pack_bits` of a CUDA torch tensor or a cupy array) ``words`` is a device array
on the input's device: ``torch.int64`` for torch (same bits as uint64; torch's uint64 supports
almost no operations) and ``cupy.uint64`` for cupy. ``unpack()`` and row selection then stay on
that device; ``to_host()`` gives the numpy form.
"""
from __future__ import annotations

import numpy as np

from .._validate import check_dtype, check_int, check_ndim, describe, is_device_array


def words_for_bits(n_bits: int) -> int:
    return (n_bits + 63) // 64


class PackedBits:
    """Packed binary rows: ``words`` is a C-contiguous ``(n_rows, ceil(n_bits / 64))`` uint64
    array, ``n_bits`` the number of valid bits per row.

    Immutable: ``words`` and ``n_bits`` cannot be reassigned or deleted (AttributeError), and
    host ``words`` is a read-only view of the array given (no copy; the caller's array keeps
    its own flags). The kernels read ``n_bits`` and the shape of ``words`` as a pair, so a
    reassignment could make them read past the buffer; immutability rules that out. A
    caller who keeps writing into the array it passed in changes the rows' bits (its own
    doing); the kernels whose memory access depends on the bits (``kde_sums``) re-check the
    padding, so even that cannot make them read out of bounds.

    >>> p = PackedBits(np.array([[5]], dtype=np.uint64), 3)
    >>> p.unpack().tolist()
    [[1, 0, 1]]
    >>> p.n_bits = 10
    Traceback (most recent call last):
    ...
    AttributeError: PackedBits is immutable: cannot set 'n_bits'
    """

    __slots__ = ("words", "n_bits")

    def __init__(self, words: np.ndarray, n_bits: int, *, _trusted: bool = False) -> None:
        n_bits = check_int("n_bits", n_bits, minimum=0)
        if not _trusted:
            if not isinstance(words, np.ndarray):
                raise TypeError(f"argument 'words' must be a numpy array, got {describe(words)}")
            check_ndim("words", words, 2)
            check_dtype("words", words, (np.dtype(np.uint64),))
            if words.shape[1] != words_for_bits(n_bits):
                raise ValueError(f"argument 'words' must have {words_for_bits(n_bits)} words per row "
                                 f"for n_bits={n_bits}, got {describe(words)}")
            if not words.flags.c_contiguous:
                raise ValueError("argument 'words' must be C-contiguous (use np.ascontiguousarray)")
            rem = n_bits % 64
            if rem and words.shape[0] and (words[:, -1] >> np.uint64(rem)).any():
                raise ValueError(f"argument 'words' has bits set past n_bits={n_bits} (padding must be 0)")
        if isinstance(words, np.ndarray) and words.flags.writeable:
            words = words.view()  # a read-only view costs O(1): no copy on any path
            words.flags.writeable = False
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "n_bits", n_bits)

    def __setattr__(self, name, value):
        raise AttributeError(f"PackedBits is immutable: cannot set {name!r}")

    def __delattr__(self, name):
        raise AttributeError(f"PackedBits is immutable: cannot delete {name!r}")

    def __reduce__(self):
        # Pickling goes through the constructor (the default would call __setattr__).
        return (_rebuild, (np.array(self.words) if not self.is_device else self.words, self.n_bits))

    @property
    def n_rows(self) -> int:
        return int(self.words.shape[0])

    @property
    def n_words(self) -> int:
        return int(self.words.shape[1])

    @property
    def shape(self):
        """(n_rows, n_bits): the shape of the unpacked array."""
        return (self.n_rows, self.n_bits)

    @property
    def nbytes(self) -> int:
        return int(self.words.nbytes)  # numpy, torch and cupy arrays all have nbytes

    def __len__(self) -> int:
        return self.n_rows

    @property
    def is_device(self) -> bool:
        """True when the words live on a GPU."""
        return is_device_array(self.words)

    def to_host(self) -> "PackedBits":
        """This PackedBits with numpy uint64 words (itself if already on the host)."""
        if not self.is_device:
            return self
        from .device import _array
        return PackedBits(_array.host_words(self.words), self.n_bits, _trusted=True)

    def __getitem__(self, rows) -> "PackedBits":
        """Row selection (slice, integer array or boolean mask); always returns PackedBits."""
        if self.is_device:
            from .device import _array
            return PackedBits(_array.select_rows(self.words, rows), self.n_bits, _trusted=True)
        selected = self.words[rows]
        if selected.ndim == 1:
            selected = selected[None, :]
        return PackedBits(np.ascontiguousarray(selected), self.n_bits, _trusted=True)

    def unpack(self) -> np.ndarray:
        """The ``(n_rows, n_bits)`` uint8 array of 0/1 gates (on the words' device for GPU
        words)."""
        if self.is_device:
            from .device import pack_bits as device_pack_bits
            return device_pack_bits.unpack(self)
        as_bytes = np.ascontiguousarray(self.words).view(np.uint8)
        bits = np.unpackbits(as_bytes, axis=1, bitorder="little")
        return bits[:, : self.n_bits]

    def __eq__(self, other) -> bool:
        if not isinstance(other, PackedBits):
            return NotImplemented
        if self.is_device or other.is_device:
            from .device import _array
            return self.n_bits == other.n_bits and _array.words_equal(self.words, other.words)
        return self.n_bits == other.n_bits and np.array_equal(self.words, other.words)

    __hash__ = None

    def __repr__(self) -> str:
        return f"PackedBits(n_rows={self.n_rows}, n_bits={self.n_bits})"


def _rebuild(words, n_bits):
    return PackedBits(words, n_bits, _trusted=True)


def check_packed(name: str, x) -> PackedBits:
    """A `PackedBits` argument."""
    if not isinstance(x, PackedBits):
        raise TypeError(f"argument '{name}' must be PackedBits (see pycx.pack_bits), got {describe(x)}")
    return x


def check_padding(name: str, p: PackedBits) -> None:
    """The padding bits past ``n_bits`` of host rows are 0. `PackedBits` made by pycx's
    packers are; words written after packing (the caller's array is not copied) may not be,
    and a stray bit would make equal rows differ (counts) or index past a kernel's table of
    Hamming distances (`kde_sums`). O(rows): checked once where a user's `PackedBits` enters
    (a public kernel, an estimator's gate input), never again on rows pycx derived.

    >>> w = np.zeros((1, 1), dtype=np.uint64)
    >>> p = PackedBits(w, 3)
    >>> w[0, 0] = 1 << 3                               # bit 3 of a 3-bit row: padding
    >>> check_padding("a", p)
    Traceback (most recent call last):
    ...
    ValueError: argument 'a' has bits set past n_bits=3 (padding must be 0; were its words modified after packing?), words shape (1, 1) dtype uint64
    """
    rem = p.n_bits % 64
    if rem and p.n_rows and not p.is_device and (p.words[:, -1] >> np.uint64(rem)).any():
        raise ValueError(f"argument '{name}' has bits set past n_bits={p.n_bits} (padding must be "
                         f"0; were its words modified after packing?), words {describe(p.words)}")


def check_same_bits(a_name: str, a: PackedBits, b_name: str, b: PackedBits) -> None:
    if a.n_bits != b.n_bits:
        raise ValueError(f"arguments '{a_name}' and '{b_name}' must have the same number of bits, "
                         f"got n_bits={a.n_bits} and n_bits={b.n_bits}")
