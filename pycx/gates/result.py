"""`Capture` and `LayerRecord` (the result of `pycx.capture`): the gate states captured from a model, per layer (per-sample
bits, per-patch rows on demand, covariance moments, labels), with `save`/`load`.

numpy only (no torch): a saved capture can be loaded and analysed where torch is absent.
May import: `pycx.kernels`, `pycx.gates.store`, the base layer.
"""
from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict
from typing import Iterable, Mapping, Optional

import numpy as np

from .._validate import LABEL_KINDS, describe
from ..kernels.packed import PackedBits
from .store import PaddedRows, bit_counts, per_patch_rows, subsample_rows

__all__ = ["Capture", "LayerRecord"]

_FORMAT = "pycx.capture/1"


def _covariance_from_moments(count, mean, m2, batch_shape):
    """A `pycx.Covariance` holding the given population moments (comoment m2 = sum of centred
    outer products)."""
    from ..kernels.covariance import Covariance

    return Covariance.from_moments(int(count), np.asarray(mean, np.float64),
                                   np.asarray(m2, np.float64), tuple(batch_shape))


def _covariance_from_rows(rows):
    from ..kernels.covariance import Covariance

    return Covariance(int(rows.shape[1])).update(rows)


class LayerRecord:
    """What was captured from one gating layer.

    - ``name``, ``kind`` (one of `pycx.gates.kinds.KINDS`: ``relu``, ``gelu``, ``sigmoid``,
      ``maxpool``, ``dropout``...), ``module`` (path of the module
      whose forward made the call);
    - ``shape``: the per-sample shape of the gated units, units first: ``(C, H, W)`` or
      ``(C,)``, or ``(C, T)`` for a channels-last ``(N, T, C)`` activation (``channels_last``
      True: token positions in place of spatial positions; ``unit_axis`` 1 or -1 says the
      same, ``unit_axis_source`` how it was decided: ``"traced:<op>"`` from the op that made
      the input, ``"channel_axis"`` the user's override, ``"default"`` nothing marked the
      input, ``"2-D"``, ``"op:maxpool"``/``"op:glu"``; None in files saved before it was
      recorded); for max pooling the shape of the
      pool's *input*; ``output_shape``: the per-sample shape of the float output that the
      covariance describes (differs from ``shape`` for max pooling);
    - ``bits_per_unit``: 1, or 2 for the ternary kinds (sigmoid, tanh, hardsigmoid, glu: the lo bits of all units come
      first, as channels ``0..C-1``, then the hi bits as channels ``C..2C-1``; linear = both 0);
    - ``per_sample``: `PackedBits`, one row per sample of ``bits_per_unit * prod(shape)`` bits
      in C order (channel, then position);
    - ``per_patch``: `PackedBits`, rows ``n*H*W + h*W + w`` of ``bits_per_unit * C`` bits, all
      rows or the seeded subsample of ``patch_rows`` rows (``patch_index`` holds their global
      row indices); derived on each access from ``per_sample`` (the same bits, transposed);
    - ``valid``: None, or for a layer that saw padding the bool ``(n_samples, T)`` array of
      real token positions (``attention_mask != 0``): ``per_sample`` is then a `PaddedRows`
      whose padded gates are 0, and ``per_patch`` (and ``n_patch_rows_total``, ``patch_index``)
      count the real positions only, in order;
    - ``binary``: sigmoid/tanh only, per-sample `PackedBits` of ``out > 0.5`` (sigmoid) or
      ``out > 0`` (tanh), the binarisation used for resolution/relevance (docs/definitions.md §3);
    - ``covariance``: `pycx.Covariance` of the per-patch float outputs (dim C, over all
      N*H*W rows, or the ``covariance_positions`` subsample of them); ``covariance_rows``: the
      float rows ``(r, C)`` themselves when the capture kept them instead (at most
      ``2 * C`` rows: cheaper than the C x C moments, see `pycx.gates.store.RowMoments`),
      else None; ``covariance`` is then computed from them on each access (not kept: hold on
      to it when needed repeatedly); ``pixel_covariance``: per spatial position (``batch_shape=(H*W,)``, over the
      N samples), when asked for and the output has spatial positions;
    - ``counts_per_sample`` (per gate bit: number of samples with it set, shaped like the bits
      of a sample) and ``counts_per_patch`` (per channel bit: number of patch rows with it set,
      over all rows, also when the per-patch rows are subsampled).
    """

    def __init__(self, name, kind, module, shape, output_shape, bits_per_unit, per_sample,
                 binary=None, covariance=None, pixel_covariance=None, patch_rows=None, seed=0,
                 valid=None, channels_last=False, unit_axis_source=None, covariance_rows=None):
        if valid is not None and not isinstance(per_sample, PaddedRows):
            per_sample = PaddedRows(per_sample.words, per_sample.n_bits, valid)
        self.channels_last = bool(channels_last)
        self.unit_axis_source = unit_axis_source
        self.name = name
        self.kind = kind
        self.module = module
        self.shape = tuple(shape)
        self.output_shape = tuple(output_shape)
        self.bits_per_unit = int(bits_per_unit)
        self.per_sample = per_sample
        self.binary = binary
        self.covariance_rows = covariance_rows
        self._covariance = covariance
        self.pixel_covariance = pixel_covariance
        self.patch_rows = patch_rows
        self.seed = seed
        self._patch_index = None
        self._counts = None

    @property
    def covariance(self):
        if self._covariance is None and self.covariance_rows is not None:
            return _covariance_from_rows(self.covariance_rows)
        return self._covariance

    @property
    def has_covariance(self) -> bool:
        """Whether the capture kept the per-patch covariance (as moments or as rows)."""
        return self._covariance is not None or self.covariance_rows is not None

    @covariance.setter
    def covariance(self, value):
        self._covariance = value
        self.covariance_rows = None

    @property
    def unit_axis(self) -> int:
        """The axis of the op's activation that held the units: 1, or -1 (units last)."""
        return -1 if self.channels_last else 1

    @property
    def channels(self) -> int:
        """Bits of one per-patch row: ``bits_per_unit * C``."""
        return self.bits_per_unit * self.shape[0]

    @property
    def positions(self) -> int:
        return int(np.prod(self.shape[1:], dtype=np.int64))

    @property
    def n_samples(self) -> int:
        return self.per_sample.n_rows

    @property
    def valid(self):
        return self.per_sample.valid if isinstance(self.per_sample, PaddedRows) else None

    @property
    def n_patch_rows_total(self) -> int:
        """Per-patch rows before any subsample: ``n_samples * positions``, less the padding."""
        valid = self.valid
        return self.n_samples * self.positions if valid is None else int(valid.sum())

    @property
    def patch_index(self):
        """Global indices (into all ``n_patch_rows_total`` patch rows) of the rows in
        ``per_patch``; None when all rows are kept."""
        if self._patch_index is None and self.patch_rows is not None \
                and self.patch_rows < self.n_patch_rows_total:
            self._patch_index = subsample_rows(self.n_patch_rows_total, self.patch_rows, self.seed)
        return self._patch_index

    @property
    def per_patch(self) -> PackedBits:
        """Derived from ``per_sample`` on each access and not kept (memory stays at one copy
        of the bits): hold on to the result when it is needed repeatedly."""
        index = self.patch_index
        if self.positions == 1 and self.bits_per_unit == 1 and self.valid is None:
            return self.per_sample if index is None else self.per_sample[index]
        return per_patch_rows(self.per_sample, self.channels, self.positions, index)

    @property
    def counts_per_sample(self) -> np.ndarray:
        if self._counts is None:
            self._counts = bit_counts(self.per_sample)
        return self._counts

    @property
    def counts_per_patch(self) -> np.ndarray:
        return self.counts_per_sample.reshape(self.channels, self.positions).sum(axis=1)

    def __repr__(self) -> str:
        return (f"LayerRecord({self.name!r}, kind={self.kind!r}, shape={self.shape}, "
                f"n_samples={self.n_samples})")


class Capture:
    """Gate states of a model on some data: ``layers`` (name -> `LayerRecord`, in forward
    order), ``labels`` (one per sample, or None: int64 for integer and bool batch labels,
    strings as given; the label rule of `pycx._validate`), ``n_samples``. Save with
    ``save(path)`` (one ``.npz``, no pickle), reopen with ``Capture.load(path)``.
    ``not_captured``: the activation-like ops that ran and were not read as gates, one dict
    ``{"layer", "op", "reason"}`` each (what the capture's warning summarised).

    >>> import torch, pycx
    >>> x = torch.tensor([[1.0, -1.0], [0.0, 2.0]])
    >>> cap = pycx.capture(torch.nn.Sequential(torch.nn.ReLU()), [x], progress=False)
    >>> cap, cap.names, cap["0"].per_sample.unpack().tolist()      # ReLU gate: x > 0
    (Capture(1 layers, n_samples=2), ['0'], [[1, 0], [0, 1]])
    """

    def __init__(self, layers: "Mapping[str, LayerRecord] | Iterable[tuple[str, LayerRecord]]",
                 labels: Optional[np.ndarray] = None, patch_rows: Optional[int] = None,
                 seed: int = 0, not_captured: "Optional[list]" = None) -> None:
        self.layers = OrderedDict(layers)
        self.not_captured = [dict(d) for d in (not_captured or [])]
        self.labels = labels
        self.patch_rows = patch_rows
        self.seed = seed

    @property
    def names(self):
        return list(self.layers)

    @property
    def n_samples(self) -> int:
        return next(iter(self.layers.values())).n_samples if self.layers else 0

    def __getitem__(self, name) -> LayerRecord:
        try:
            return self.layers[name]
        except KeyError:
            raise KeyError(f"no layer named {name!r} in this capture; layers: {self.names}") from None

    def __iter__(self):
        return iter(self.layers.values())

    def __len__(self) -> int:
        return len(self.layers)

    def concat(self, names=None) -> PackedBits:
        """Per-sample bits of several layers side by side (default: all, in forward order)."""
        from ..kernels.pack_bits import concat_bits

        names = self.names if names is None else list(names)
        return concat_bits([self[n].per_sample for n in names])

    def __repr__(self) -> str:
        return f"Capture({len(self.layers)} layers, n_samples={self.n_samples})"

    # --- persistence -------------------------------------------------------------------
    def save(self, path) -> None:
        """Writes the capture to ``path`` (one ``.npz``, no pickle), atomically: a temporary
        file in the same folder renamed into place, so an interrupted save or a full disk
        leaves any previous file at ``path`` as it was. Integer, bool and string labels are
        stored as they are; an object array of ``str`` as a numpy string array of the same
        values; other object labels are a TypeError (the file holds no pickle).

        >>> import tempfile, pathlib, numpy as np, pycx
        >>> bits = pycx.pack_bits(np.eye(3, 5, dtype=np.uint8))
        >>> rec = LayerRecord("fc", "relu", "fc", (5,), (5,), 1, bits)
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "cap.npz"
        >>> Capture({"fc": rec}, labels=np.arange(3)).save(path)
        >>> Capture.load(path)
        Capture(1 layers, n_samples=3)
        """
        from .._io import atomic_path

        arrays = {}
        layers_meta = []
        masks = {}  # one array per distinct padding mask (layers usually share one)
        for i, rec in enumerate(self.layers.values()):
            meta = {"name": rec.name, "kind": rec.kind, "module": rec.module,
                    "shape": list(rec.shape), "output_shape": list(rec.output_shape),
                    "bits_per_unit": rec.bits_per_unit, "n_bits": rec.per_sample.n_bits}
            if rec.channels_last:
                meta["channels_last"] = True
            if rec.unit_axis_source is not None:
                meta["unit_axis_source"] = rec.unit_axis_source
            if rec.valid is not None:
                j = masks.setdefault(id(rec.valid), len(masks))
                arrays[f"valid{j}"] = rec.valid
                meta["valid"] = j
            arrays[f"l{i}.sample"] = rec.per_sample.words
            if rec.binary is not None:
                arrays[f"l{i}.binary"] = rec.binary.words
                meta["binary_bits"] = rec.binary.n_bits
            for tag, cov in (("cov", rec.covariance), ("pcov", rec.pixel_covariance)):
                if cov is None:
                    continue
                for key, value in cov.to_dict().items():
                    arrays[f"l{i}.{tag}.{key}"] = np.asarray(value)
                meta[tag] = True
            layers_meta.append(meta)
        if self.labels is not None:
            arrays["labels"] = _storable_labels(self.labels)
        header = {"format": _FORMAT, "patch_rows": self.patch_rows, "seed": self.seed,
                  "n_samples": self.n_samples, "layers": layers_meta,
                  "not_captured": self.not_captured}
        arrays["header"] = np.array(json.dumps(header))
        with atomic_path(path, suffix=".npz.tmp") as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
                f.flush()
                os.fsync(f.fileno())

    @classmethod
    def load(cls, path) -> "Capture":
        """Reopens a file written by `save`. The whole file is checked against its header
        (names, kinds, shapes, bit counts, rows, labels, covariance moments, no stray
        arrays): any damage or inconsistency is one ValueError naming the file and what is
        wrong. A missing file raises FileNotFoundError."""
        try:
            with np.load(path, allow_pickle=False) as z:
                return _load_arrays(cls, z)
        except _Damaged as exc:
            raise ValueError(f"{os.fspath(path)!r} is not a valid pycx capture file: {exc}") from None
        except (FileNotFoundError, IsADirectoryError, PermissionError):
            raise
        except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError,
                zipfile.BadZipFile, json.JSONDecodeError) as exc:
            # np.load / the zip reader: truncated, not a zip, unreadable member, pickled data.
            detail = str(exc).splitlines()[0] if str(exc) else ""
            raise ValueError(f"{os.fspath(path)!r} is not a valid pycx capture file: "
                             f"{type(exc).__name__}: {detail}") from None


class _Damaged(Exception):
    """A capture file that does not agree with its own header (message: what is wrong)."""


def _int(value, what, minimum=0):
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _Damaged(f"{what} must be an integer >= {minimum}, got {value!r}")
    return value


def _int_list(value, what, minimum):
    if not isinstance(value, list) or not value:
        raise _Damaged(f"{what} must be a non-empty list of integers, got {value!r}")
    return tuple(_int(v, what, minimum) for v in value)


def _member(z, key, used, *, dtype_kind=None, ndim=None):
    if key not in z.files:
        raise _Damaged(f"array {key!r} is missing")
    used.add(key)
    arr = z[key]
    if dtype_kind is not None and arr.dtype.kind not in dtype_kind:
        raise _Damaged(f"array {key!r} has dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise _Damaged(f"array {key!r} has shape {arr.shape}, expected {ndim} axes")
    return arr


def _storable_labels(labels) -> np.ndarray:
    """The labels as `save` writes them: integer, bool and string arrays as they are; an object
    array of ``str`` (or of ``bytes``), e.g. a pandas column, as a numpy string array holding
    the same values (the file is read without pickle). Other object labels (enum members,
    tuples) and strings a numpy string array would change (a trailing NUL is dropped) are a
    TypeError naming the fix."""
    y = np.asarray(labels)
    if y.dtype.kind in LABEL_KINDS:
        return y
    values = y.reshape(-1).tolist()
    types = sorted({type(v).__name__ for v in values})
    if types in (["str"], ["bytes"]):
        stored = np.array(values, dtype="U" if types == ["str"] else "S").reshape(y.shape)
        if stored.tolist() == values:
            return stored
    raise TypeError(f"Capture.save: the labels ({describe(y)}, values of type(s) {types}) "
                    f"cannot be stored without pickle: a capture file holds integer, bool or "
                    f"string labels exactly; convert them first (e.g. with "
                    f"np.asarray(labels, dtype=str), where str() tells the labels apart)")


def _load_bits(z, key, used, n_bits, n_rows):
    from ..kernels.packed import words_for_bits

    words = _member(z, key, used, ndim=2)
    want = (n_rows, words_for_bits(n_bits))
    if words.dtype != np.uint64 or words.shape != want:
        raise _Damaged(f"array {key!r} is {words.dtype} of shape {words.shape}, expected uint64 "
                       f"of shape {want} ({n_rows} rows of {n_bits} bits)")
    rem = n_bits % 64
    if rem and n_rows and (words[:, -1] >> np.uint64(rem)).any():
        raise _Damaged(f"array {key!r} has bits set past its {n_bits} bits")
    return PackedBits(np.ascontiguousarray(words), n_bits, _trusted=True)


def _load_covariance(z, prefix, used, dim, batch_shape, count=None):
    from ..kernels.covariance import Covariance

    keys = ("dim", "batch_shape", "count", "mean", "m2")
    state = {k: _member(z, prefix + k, used) for k in keys}
    extra = [k for k in z.files if k.startswith(prefix) and k[len(prefix):] not in keys]
    if extra:
        raise _Damaged(f"unexpected arrays {extra}")
    got_dim = state["dim"]
    got_batch = state["batch_shape"]
    got_count = state["count"]
    if got_dim.shape != () or got_dim.dtype.kind not in "iu" or int(got_dim) != dim:
        raise _Damaged(f"{prefix}dim is {got_dim!r}, expected {dim}")
    if (got_batch.ndim != 1 or got_batch.dtype.kind not in "iu"
            or tuple(int(s) for s in got_batch) != batch_shape):
        raise _Damaged(f"{prefix}batch_shape is {got_batch.tolist()!r}, expected {list(batch_shape)}")
    if got_count.shape != () or got_count.dtype.kind not in "iu" or int(got_count) < 0 \
            or (count is not None and int(got_count) != count):
        raise _Damaged(f"{prefix}count is {got_count!r}"
                       + (f", expected {count}" if count is not None else ""))
    for k, want in (("mean", batch_shape + (dim,)), ("m2", batch_shape + (dim, dim))):
        arr = state[k]
        if arr.dtype != np.float64 or arr.shape != want:
            raise _Damaged(f"{prefix}{k} is {arr.dtype} of shape {arr.shape}, expected float64 "
                           f"of shape {want}")
        if not np.isfinite(arr).all():
            raise _Damaged(f"{prefix}{k} holds NaN or infinite values")
    return Covariance.from_dict(state)


def _load_arrays(cls, z) -> Capture:
    used = {"header"}
    raw = _member(z, "header", set())
    if raw.shape != () or raw.dtype.kind != "U":
        raise _Damaged(f"the header is {raw.dtype} of shape {raw.shape}, not one string")
    try:
        header = json.loads(str(raw))
    except json.JSONDecodeError as exc:
        raise _Damaged(f"the header is not JSON ({exc})") from None
    if not isinstance(header, dict) or header.get("format") != _FORMAT:
        fmt = header.get("format") if isinstance(header, dict) else None
        raise _Damaged(f"format {fmt!r}, expected {_FORMAT!r}")
    layers_meta = header.get("layers")
    if not isinstance(layers_meta, list):
        raise _Damaged("the header has no list of layers")
    patch_rows = header.get("patch_rows")
    if patch_rows is not None:
        _int(patch_rows, "patch_rows", 1)
    seed = _int(header.get("seed"), "seed", 0)
    # Files of the first version have no n_samples: then the first layer's rows decide.
    n_samples = header.get("n_samples")
    if n_samples is not None:
        _int(n_samples, "n_samples", 0)
    elif layers_meta and "l0.sample" in z.files:
        n_samples = int(z["l0.sample"].shape[0])
    labels = None
    if "labels" in z.files:
        # The label rule (pycx._validate): integers, bools, strings; `save` stores object
        # labels as strings, so a file never holds an object (pickled) array.
        labels = _member(z, "labels", used, dtype_kind=LABEL_KINDS, ndim=1)
        if n_samples is None:
            n_samples = labels.shape[0]
        if labels.shape[0] != n_samples:
            raise _Damaged(f"{labels.shape[0]} labels for {n_samples} samples")
    n_samples = 0 if n_samples is None else n_samples

    layers = OrderedDict()
    masks = {}  # valid-token arrays by index (shared by the layers that name them)
    for i, meta in enumerate(layers_meta):
        where = f"layer {i}"
        if not isinstance(meta, dict):
            raise _Damaged(f"{where}: header entry is not an object")
        for key in ("name", "kind", "module"):
            if not isinstance(meta.get(key), str):
                raise _Damaged(f"{where}: {key!r} must be a string, got {meta.get(key)!r}")
        name = meta["name"]
        where = f"layer {i} ({name!r})"
        if name in layers:
            raise _Damaged(f"{where}: the layer name is repeated")
        shape = _int_list(meta.get("shape"), f"{where}: shape", 1)
        output_shape = _int_list(meta.get("output_shape"), f"{where}: output_shape", 1)
        bits_per_unit = meta.get("bits_per_unit")
        if bits_per_unit not in (1, 2) or isinstance(bits_per_unit, bool):
            raise _Damaged(f"{where}: bits_per_unit must be 1 or 2, got {bits_per_unit!r}")
        n_bits = bits_per_unit * int(np.prod(shape, dtype=np.int64))
        if meta.get("n_bits") != n_bits:
            raise _Damaged(f"{where}: n_bits is {meta.get('n_bits')!r}, but shape {list(shape)} "
                           f"with {bits_per_unit} bit(s) per unit has {n_bits}")
        per_sample = _load_bits(z, f"l{i}.sample", used, n_bits, n_samples)
        valid = None
        if "valid" in meta:
            j = _int(meta["valid"], f"{where}: valid", 0)
            valid = masks.get(j)
            if valid is None:
                valid = masks[j] = _member(z, f"valid{j}", used, ndim=2)
            want = (n_samples, int(np.prod(shape[1:], dtype=np.int64)))
            if valid.dtype != np.bool_ or valid.shape != want or len(shape) != 2:
                raise _Damaged(f"{where}: array 'valid{j}' is {valid.dtype} of shape "
                               f"{valid.shape}, expected bool of shape {want} for a (C, T) layer")
            if n_samples and not valid.any(axis=1).all():
                raise _Damaged(f"{where}: array 'valid{j}' has a sample without any token")
        channels_last = meta.get("channels_last", False)
        if not isinstance(channels_last, bool):
            raise _Damaged(f"{where}: channels_last must be true or false, got {channels_last!r}")
        unit_axis_source = meta.get("unit_axis_source")
        if unit_axis_source is not None and not isinstance(unit_axis_source, str):
            raise _Damaged(f"{where}: unit_axis_source must be a string, got {unit_axis_source!r}")
        binary = None
        if "binary_bits" in meta:
            units = int(np.prod(shape, dtype=np.int64))
            if meta["binary_bits"] != units:
                raise _Damaged(f"{where}: binary_bits is {meta['binary_bits']!r}, expected {units}")
            binary = _load_bits(z, f"l{i}.binary", used, units, n_samples)
        elif f"l{i}.binary" in z.files:
            raise _Damaged(f"{where}: array 'l{i}.binary' is not in the header")
        covs = {}
        positions = int(np.prod(output_shape[1:], dtype=np.int64))
        for tag, batch_shape, count in (("cov", (), None),
                                        ("pcov", (positions,), n_samples)):
            if meta.get(tag):
                covs[tag] = _load_covariance(z, f"l{i}.{tag}.", used, output_shape[0],
                                             batch_shape, count)
        out_rows = n_samples * positions if valid is None else int(valid.sum())
        if covs.get("cov") is not None and covs["cov"].count > out_rows:
            raise _Damaged(f"{where}: covariance count {covs['cov'].count} exceeds the "
                           f"{out_rows} output rows")
        layers[name] = LayerRecord(name, meta["kind"], meta["module"], shape, output_shape,
                                   bits_per_unit, per_sample, binary=binary,
                                   covariance=covs.get("cov"), pixel_covariance=covs.get("pcov"),
                                   patch_rows=patch_rows, seed=seed, valid=valid,
                                   channels_last=channels_last, unit_axis_source=unit_axis_source)
    stray = sorted(set(z.files) - used)
    if stray:
        raise _Damaged(f"arrays not described by the header: {stray}")
    not_captured = header.get("not_captured", [])  # absent from files of earlier versions
    if not (isinstance(not_captured, list) and all(
            isinstance(d, dict) and set(d) == {"layer", "op", "reason"}
            and all(isinstance(v, str) for v in d.values()) for d in not_captured)):
        raise _Damaged("not_captured must be a list of {layer, op, reason} strings")
    return cls(layers, labels, patch_rows, seed, not_captured)
