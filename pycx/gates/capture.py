"""`Capture` and `LayerRecord`: the gate states captured from a model, per layer (per-sample
bits, per-patch rows on demand, covariance moments, labels), with `save`/`load`.

numpy only (no torch): a saved capture can be loaded and analysed where torch is absent.
May import: `pycx.kernels`, `pycx.gates.store`, the base layer.
"""
from __future__ import annotations

import json
from collections import OrderedDict

import numpy as np

from ..kernels.packed import PackedBits
from .store import bit_counts, per_patch_rows, subsample_rows

__all__ = ["Capture", "LayerRecord"]

_FORMAT = "pycx.capture/1"


def _covariance_from_moments(count, mean, m2, batch_shape):
    """A `pycx.Covariance` holding the given population moments (comoment m2 = sum of centred
    outer products)."""
    from ..kernels.covariance import Covariance

    cov = Covariance(int(mean.shape[-1]), batch_shape=tuple(batch_shape))
    state = cov.to_dict()
    state.update(count=np.int64(count), mean=np.asarray(mean, np.float64),
                 m2=np.asarray(m2, np.float64))
    return Covariance.from_dict(state)


class LayerRecord:
    """What was captured from one gating layer.

    - ``name``, ``kind`` (``relu``, ``relu6``, ``leaky_relu``, ``prelu``, ``elu``, ``gelu``,
      ``silu``, ``sigmoid``, ``tanh``, ``maxpool``, ``dropout``), ``module`` (path of the module
      whose forward made the call);
    - ``shape``: the per-sample shape of the gated units, ``(C, H, W)`` or ``(C,)`` (for max
      pooling the shape of the pool's *input*); ``output_shape``: the per-sample shape of the
      float output that the covariance describes (differs from ``shape`` for max pooling);
    - ``bits_per_unit``: 1, or 2 for sigmoid/tanh (ternary gates: the lo bits of all units come
      first, as channels ``0..C-1``, then the hi bits as channels ``C..2C-1``; linear = both 0);
    - ``per_sample``: `PackedBits`, one row per sample of ``bits_per_unit * prod(shape)`` bits
      in C order (channel, then position);
    - ``per_patch``: `PackedBits`, rows ``n*H*W + h*W + w`` of ``bits_per_unit * C`` bits, all
      rows or the seeded subsample of ``patch_rows`` rows (``patch_index`` holds their global
      row indices); derived on each access from ``per_sample`` (the same bits, transposed);
    - ``binary``: sigmoid/tanh only, per-sample `PackedBits` of ``out > 0.5`` (sigmoid) or
      ``out > 0`` (tanh), the binarisation used for resolution/relevance (SPEC section 3);
    - ``covariance``: `pycx.Covariance` of the per-patch float outputs (dim C, over all
      N*H*W rows); ``pixel_covariance``: per spatial position (``batch_shape=(H*W,)``, over the
      N samples), when asked for and the output has spatial positions;
    - ``counts_per_sample`` (per gate bit: number of samples with it set, shaped like the bits
      of a sample) and ``counts_per_patch`` (per channel bit: number of patch rows with it set,
      over all rows, also when the per-patch rows are subsampled).
    """

    def __init__(self, name, kind, module, shape, output_shape, bits_per_unit, per_sample,
                 binary=None, covariance=None, pixel_covariance=None, patch_rows=None, seed=0):
        self.name = name
        self.kind = kind
        self.module = module
        self.shape = tuple(shape)
        self.output_shape = tuple(output_shape)
        self.bits_per_unit = int(bits_per_unit)
        self.per_sample = per_sample
        self.binary = binary
        self.covariance = covariance
        self.pixel_covariance = pixel_covariance
        self.patch_rows = patch_rows
        self.seed = seed
        self._patch_index = None
        self._counts = None

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
    def n_patch_rows_total(self) -> int:
        return self.n_samples * self.positions

    @property
    def patch_index(self):
        """Global indices (into all ``n_samples * H * W`` patch rows) of the rows in
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
        if self.positions == 1 and self.bits_per_unit == 1:
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
    order), ``labels`` (int64 array, one per sample, or None), ``n_samples``. Save with
    ``save(path)`` (one ``.npz``, no pickle), reopen with ``Capture.load(path)``."""

    def __init__(self, layers, labels=None, patch_rows=None, seed=0):
        self.layers = OrderedDict(layers)
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
        arrays = {}
        layers_meta = []
        for i, rec in enumerate(self.layers.values()):
            meta = {"name": rec.name, "kind": rec.kind, "module": rec.module,
                    "shape": list(rec.shape), "output_shape": list(rec.output_shape),
                    "bits_per_unit": rec.bits_per_unit, "n_bits": rec.per_sample.n_bits}
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
            arrays["labels"] = self.labels
        header = {"format": _FORMAT, "patch_rows": self.patch_rows, "seed": self.seed,
                  "layers": layers_meta}
        arrays["header"] = np.array(json.dumps(header))
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path) -> "Capture":
        from ..kernels.covariance import Covariance

        with np.load(path, allow_pickle=False) as z:
            header = json.loads(str(z["header"]))
            if header.get("format") != _FORMAT:
                raise ValueError(f"{path!r} is not a pycx capture file (format {header.get('format')!r})")
            layers = OrderedDict()
            for i, meta in enumerate(header["layers"]):
                covs = {}
                for tag in ("cov", "pcov"):
                    if tag not in meta:
                        continue
                    state = {}
                    prefix = f"l{i}.{tag}."
                    for key in z.files:
                        if key.startswith(prefix):
                            state[key[len(prefix):]] = z[key]
                    covs[tag] = Covariance.from_dict(state)
                binary = (PackedBits(z[f"l{i}.binary"], meta["binary_bits"])
                          if f"l{i}.binary" in z.files else None)
                layers[meta["name"]] = LayerRecord(
                    meta["name"], meta["kind"], meta["module"], meta["shape"], meta["output_shape"],
                    meta["bits_per_unit"], PackedBits(z[f"l{i}.sample"], meta["n_bits"]),
                    binary=binary, covariance=covs.get("cov"), pixel_covariance=covs.get("pcov"),
                    patch_rows=header["patch_rows"], seed=header["seed"])
            labels = z["labels"] if "labels" in z.files else None
        return cls(layers, labels, header["patch_rows"], header["seed"])
