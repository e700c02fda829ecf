"""Metric objects with mergeable state, in the idiom of torchmetrics: ``update(capture)`` as
batches come, ``compute()``, ``reset()``, ``merge(other)``, and ``sync()`` across the
processes of ``torch.distributed`` (docs/decisions.md, "Streaming metrics").

Each metric keeps one state per layer (by the `LayerRecord`'s name), reduced the way its
definition allows without losing anything:

- `EffectiveDimension` (definitions §2): the covariance moments ``(count, mean, m2)`` of the
  per-patch float outputs, merged with Chan's parallel formula;
- `Linearity` (§2): per-patch bit counts and the row count, summed;
- `GateEntropy` (§5): the distinct gate states and their counts, merged by state (plug-in,
  Miller–Madow, NSB); for KDE (§4), which needs rows, a bounded reservoir of packed rows
  (a bottom-k sample on random keys: the union of two reservoirs cut to the k smallest keys
  is a uniform sample of the union of their streams);
- `Relevance` (§3): the distinct per-sample binarised states and their counts, merged by state.

``compute()`` gives ``{layer: value}`` (`Relevance`: ``{layer: {column: value}}``); on a
single update it equals `pycx.analyze` of the same capture (``patch_rows=None``, the same
estimator; tested in ``tests/test_metrics.py``). ``sync()`` returns a copy merged over all
processes (``all_gather_object`` in rank order: every process gets the same state); with
``sync_on_compute=True`` (default) ``compute()`` does that itself when a process group is
initialised, so every process must call it, as with torchmetrics.

No torch at import time: torch.distributed is imported by ``sync`` only.
"""
from __future__ import annotations

import copy
from collections import OrderedDict
from typing import Any, Iterable, Optional, Sequence

import numpy as np

from ._validate import check_int, describe
from .gates.result import Capture, LayerRecord, _covariance_from_moments
from .kernels.packed import PackedBits

__all__ = ["Metric", "EffectiveDimension", "Linearity", "GateEntropy", "Relevance", "dist_rank"]


def dist_rank() -> "tuple[int, int]":
    """``(rank, world size)`` of the initialised ``torch.distributed`` group, else ``(0, 1)``
    (also without torch).

    >>> dist_rank()
    (0, 1)
    """
    import sys
    dist = sys.modules.get("torch.distributed")  # never imports torch itself
    if dist is None or not dist.is_available() or not dist.is_initialized():
        return 0, 1
    return int(dist.get_rank()), int(dist.get_world_size())


class Metric:
    """Base class: one state per layer, ``update`` / ``compute`` / ``reset`` / ``merge`` /
    ``sync``. `layers`: None (every layer of the captures), a name or a list of names."""

    def __init__(self, layers: "str | Sequence[str] | None" = None, *,
                 sync_on_compute: bool = True) -> None:
        if isinstance(layers, str):
            layers = [layers]
        if layers is not None:
            layers = list(layers)
            for n in layers:
                if not isinstance(n, str):
                    raise TypeError(f"argument 'layers' must hold layer names, got {describe(n)}")
        self.layers = layers
        self.sync_on_compute = bool(sync_on_compute)
        self.states: "OrderedDict[str, Any]" = OrderedDict()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({len(self.states)} layers)"

    # --- the torchmetrics idiom ---------------------------------------------------------
    def update(self, data: "Capture | LayerRecord") -> None:
        """Folds in the gates of one capture (every selected layer) or one layer record."""
        if isinstance(data, Capture):
            records: Iterable[LayerRecord] = data
        elif isinstance(data, LayerRecord):
            records = [data]
        else:
            raise TypeError(f"argument 'data' must be a pycx.Capture or a LayerRecord, got "
                            f"{describe(data)}")
        for rec in records:
            if self.layers is not None and rec.name not in self.layers:
                continue
            state = self._state_of(rec)
            known = self.states.get(rec.name)
            self.states[rec.name] = state if known is None else self._merge_state(known, state)

    def compute(self) -> dict:
        """``{layer: value}`` over everything folded in (merged over all processes first when
        ``sync_on_compute`` and a process group is initialised)."""
        source = self.sync() if self.sync_on_compute and dist_rank()[1] > 1 else self
        return OrderedDict((name, self._value(state)) for name, state in source.states.items())

    def reset(self) -> None:
        """Forgets every state."""
        self.states = OrderedDict()

    def as_log(self, prefix: Optional[str] = None) -> "OrderedDict[str, float]":
        """``compute()`` as a flat ``{name: float}`` for a logger: ``<prefix>/<layer>`` (one
        value per layer), or ``<prefix>/<layer>/<column>`` (`Relevance`); `prefix` defaults
        to the metric's column (``linearity``, ``effective_dimension``, ``relevance``; for
        `GateEntropy` with its estimator: ``complexity_plugin``, ``complexity_nsb``, ``kde_h``). NaN values (a
        layer without the data) are left out, so a logger never plots them as numbers. In a
        LightningModule: ``self.log_dict(metric.as_log())`` at an epoch's end, then
        ``metric.reset()`` (`pycx.integrations.lightning.log_metrics` does both); under DDP
        every process must call it (``compute`` merges the processes' states).

        >>> import torch, pycx
        >>> cap = pycx.from_activations({"fc": torch.tensor([[1.0, -1.0], [2.0, 3.0]])})
        >>> m = Linearity(); m.update(cap); dict(m.as_log())
        {'linearity/fc': 0.75}
        """
        if prefix is not None and not isinstance(prefix, str):
            raise TypeError(f"argument 'prefix' must be a string or None, got {describe(prefix)}")
        if prefix is None:
            prefix = self._log_name()
        out = OrderedDict()
        for layer, value in self.compute().items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for column, v in items:
                v = float(v)
                if v == v:  # NaN: not computed
                    out[f"{prefix}/{layer}" + ("" if column is None else f"/{column}")] = v
        return out

    def merge(self, other: "Metric") -> "Metric":
        """Folds `other`'s states into this one (same class and settings); returns self."""
        if type(other) is not type(self) or other._settings() != self._settings():
            raise ValueError(f"argument 'other' must be a {type(self).__name__} with settings "
                             f"{self._settings()}, got {other!r}")
        for name, state in other.states.items():
            known = self.states.get(name)
            self.states[name] = (copy.deepcopy(state) if known is None
                                 else self._merge_state(known, state))
        return self

    def sync(self, group: Any = None) -> "Metric":
        """A copy holding the states of every process of ``torch.distributed`` merged in rank
        order (this metric is left as it is, so a later ``sync`` counts nothing twice); a
        copy of this one when no process group is initialised. Every process must call it."""
        merged = copy.copy(self)
        merged.states = OrderedDict()
        if dist_rank()[1] <= 1:
            return merged.merge(self)
        import torch.distributed as dist

        gathered = [None] * dist.get_world_size(group)
        dist.all_gather_object(gathered, self.states, group=group)
        for states in gathered:
            part = copy.copy(self)
            part.states = states
            merged.merge(part)
        return merged

    # --- per metric -------------------------------------------------------------------------
    def _settings(self) -> tuple:
        return ()

    def _state_of(self, rec: LayerRecord):
        raise NotImplementedError

    def _merge_state(self, a, b):
        raise NotImplementedError

    def _value(self, state):
        raise NotImplementedError

    def columns(self, value) -> dict:
        """The `pycx.Report` columns of one layer's computed value."""
        return {self.column: value}

    def _log_name(self) -> str:
        return getattr(self, "column", None) or type(self).__name__.lower()


# ----------------------------------------------------------------------- covariance moments

class _Moments:
    __slots__ = ("count", "mean", "m2")

    def __init__(self, count, mean, m2):
        self.count, self.mean, self.m2 = int(count), mean, m2


def _chan(a: _Moments, b: _Moments) -> _Moments:
    """Chan, Golub & LeVeque's pairwise merge of population moments."""
    if a.count == 0:
        return _Moments(b.count, b.mean.copy(), b.m2.copy())
    if b.count == 0:
        return a
    total = a.count + b.count
    delta = b.mean - a.mean
    mean = a.mean + delta * (b.count / total)
    m2 = a.m2 + b.m2 + np.outer(delta, delta) * (a.count * b.count / total)
    return _Moments(total, mean, m2)


class EffectiveDimension(Metric):
    """Effective dimension (definitions §2) of each layer's per-patch float outputs, from
    covariance moments merged with Chan's formula (memory ``8 C^2`` bytes per layer). NaN for
    a layer whose capture kept no covariance.

    >>> import torch, pycx
    >>> cap = pycx.from_activations({"fc": torch.randn(64, 4) * torch.tensor([1., 1., 1., 0.])})
    >>> m = EffectiveDimension(); m.update(cap); round(m.compute()["fc"], 1) <= 3.0
    True
    """

    column = "effective_dimension"

    def _state_of(self, rec):
        cov = rec.covariance
        if cov is None:
            return None
        d = cov.to_dict()
        return _Moments(int(d["count"]), np.array(d["mean"], np.float64),
                        np.array(d["m2"], np.float64))

    def _merge_state(self, a, b):
        if a is None or b is None:
            return a if b is None else copy.deepcopy(b)
        return _chan(a, b)

    def _value(self, state):
        from .estimators.janik import effective_dimension

        if state is None or state.count == 0:
            return float("nan")
        cov = _covariance_from_moments(state.count, state.mean, state.m2, ())
        return float(effective_dimension(cov))


# ----------------------------------------------------------------------------- bit counts

class _BitCounts:
    __slots__ = ("ones", "rows", "units", "bits_per_unit")

    def __init__(self, ones, rows, units, bits_per_unit):
        self.ones, self.rows, self.units, self.bits_per_unit = ones, int(rows), units, bits_per_unit


class Linearity(Metric):
    """Linearity (definitions §2) over all per-patch rows: the mean over units of the rate of
    the linear regime (ReLU family: gate 1; ternary kinds: neither saturated bit), from summed
    bit counts. ``unit_entropy_mean`` of the same counts is in ``columns``.

    >>> import torch, pycx
    >>> cap = pycx.from_activations({"fc": torch.tensor([[1.0, -1.0], [2.0, 3.0]])})
    >>> m = Linearity(); m.update(cap); m.compute()["fc"]
    0.75
    """

    column = "linearity"

    def _state_of(self, rec):
        return _BitCounts(np.asarray(rec.counts_per_patch, np.int64).copy(),
                          rec.n_patch_rows_total, rec.shape[0], rec.bits_per_unit)

    def _merge_state(self, a, b):
        if a.ones.shape != b.ones.shape or a.bits_per_unit != b.bits_per_unit:
            raise ValueError(f"a layer changed shape between updates ({a.ones.shape[0]} bits per "
                             f"row, then {b.ones.shape[0]})")
        return _BitCounts(a.ones + b.ones, a.rows + b.rows, a.units, a.bits_per_unit)

    @staticmethod
    def _rates(state):
        return state.ones / state.rows if state.rows else np.full(state.ones.shape, np.nan)

    def _value(self, state):
        rates = self._rates(state)
        if state.bits_per_unit == 2:
            c = state.units
            return float(np.clip(1.0 - rates[:c] - rates[c:], 0.0, 1.0).mean())
        return float(rates.mean())

    def unit_entropy_mean(self) -> dict:
        """``{layer: mean unit entropy in bits}`` from the same counts (definitions §2)."""
        from .estimators._common import h2

        out = OrderedDict()
        for name, state in self.states.items():
            rates = self._rates(state)
            if state.bits_per_unit == 2:
                c = state.units
                probs = np.stack([rates[:c], rates[c:], np.clip(1.0 - rates[:c] - rates[c:], 0, 1)])
                with np.errstate(divide="ignore", invalid="ignore"):
                    h = np.where(probs > 0, -probs * np.log2(probs), 0.0).sum(axis=0)
            else:
                h = h2(rates)
            out[name] = float(h.mean())
        return out


# ---------------------------------------------------------------------------- state counts

class _States:
    """Distinct rows (packed words, in order of first occurrence) and their counts."""
    __slots__ = ("words", "counts", "n_bits")

    def __init__(self, words, counts, n_bits):
        self.words, self.counts, self.n_bits = words, counts, int(n_bits)

    @classmethod
    def of(cls, rows: PackedBits) -> "_States":
        from .kernels.state_counts import _state_counts_core

        if rows.n_rows == 0:
            return cls(np.zeros((0, rows.words.shape[1]), np.uint64), np.zeros(0, np.int64),
                       rows.n_bits)
        sc = _state_counts_core(rows)  # a capture's rows: pycx packed them
        return cls(np.array(sc.states.words), np.asarray(sc.counts, np.int64).copy(), rows.n_bits)

    def merged(self, other: "_States") -> "_States":
        from .kernels.state_counts import _state_counts_core

        if other.n_bits != self.n_bits:
            raise ValueError(f"a layer changed its number of gate bits between updates "
                             f"({self.n_bits}, then {other.n_bits})")
        words = np.concatenate([self.words, other.words])
        if words.shape[0] == 0:
            return self
        # PackedBits checks the words (they may come from another process); counted unchecked.
        sc = _state_counts_core(PackedBits(np.ascontiguousarray(words), self.n_bits))
        counts = np.zeros(sc.n_states, np.int64)
        np.add.at(counts, np.asarray(sc.inverse, np.int64),
                  np.concatenate([self.counts, other.counts]))
        return _States(np.array(sc.states.words), counts, self.n_bits)


class _Reservoir:
    """A bottom-k sample of packed rows on random uint64 keys; rows come back in arrival order
    (stream, sequence number)."""
    __slots__ = ("words", "keys", "order", "n_bits", "seen", "layer")

    def __init__(self, words, keys, order, n_bits, seen, layer):
        self.words, self.keys, self.order = words, keys, order
        self.n_bits, self.seen, self.layer = int(n_bits), int(seen), layer

    def merged(self, other: "_Reservoir", capacity: int) -> "_Reservoir":
        if other.n_bits != self.n_bits:
            raise ValueError(f"a layer changed its number of gate bits between updates "
                             f"({self.n_bits}, then {other.n_bits})")
        words = np.concatenate([self.words, other.words])
        keys = np.concatenate([self.keys, other.keys])
        order = np.concatenate([self.order, other.order])
        if keys.shape[0] > capacity:
            keep = np.sort(np.argpartition(keys, capacity - 1)[:capacity])
            words, keys, order = words[keep], keys[keep], order[keep]
        return _Reservoir(words, keys, order, self.n_bits, self.seen + other.seen, self.layer)

    def rows(self) -> PackedBits:
        idx = np.lexsort((self.order[:, 1], self.order[:, 0]))
        return PackedBits(np.ascontiguousarray(self.words[idx]), self.n_bits)


_COUNT_ESTIMATORS = ("plugin", "miller_madow", "nsb")
_ESTIMATORS = _COUNT_ESTIMATORS + ("kde",)


class GateEntropy(Metric):
    """Entropy of each layer's gate states (definitions §4-§5) with `estimator`:

    - ``"plugin"``, ``"miller_madow"``, ``"nsb"``: from the exact counts of the distinct
      states, merged by state (memory: the distinct states seen);
    - ``"kde"``: `pycx.kde_entropy` on a bounded reservoir of at most `capacity` rows (a
      uniform sample of all rows seen, seeded by `seed` and the process rank; exact when all
      rows fit).

    `rows`: ``"patch"`` (per-patch rows: `pycx.analyze`'s complexity H(Z), the default of the
    count estimators) or ``"sample"`` (per-sample rows: the KDE's default, as in ``analyze``).

    >>> import torch, pycx
    >>> cap = pycx.from_activations({"fc": torch.tensor([[1.0, -1.0], [2.0, 3.0]])})
    >>> m = GateEntropy("plugin"); m.update(cap); m.compute()["fc"]
    1.0
    """

    column = "complexity"

    def __init__(self, estimator: str = "plugin", *, rows: Optional[str] = None,
                 capacity: int = 2000, seed: int = 0,
                 layers: "str | Sequence[str] | None" = None,
                 sync_on_compute: bool = True, **options: Any) -> None:
        super().__init__(layers, sync_on_compute=sync_on_compute)
        if estimator not in _ESTIMATORS:
            raise ValueError(f"argument 'estimator' must be one of {list(_ESTIMATORS)}, got "
                             f"{estimator!r}")
        if rows is None:
            rows = "sample" if estimator == "kde" else "patch"
        if rows not in ("patch", "sample"):
            raise ValueError(f"argument 'rows' must be 'patch' or 'sample', got {rows!r}")
        self.estimator = estimator
        self.rows = rows
        self.capacity = check_int("capacity", capacity, minimum=1)
        self.seed = check_int("seed", seed, minimum=0)
        self.options = dict(options)
        self.column = ("complexity" if rows == "patch" else "kde_h" if estimator == "kde"
                       else f"{estimator}_h_sample")
        self._rng = None
        self._stream = None
        self._seq = 0

    def _settings(self):
        return (self.estimator, self.rows, self.capacity, tuple(sorted(self.options.items())))

    def _log_name(self) -> str:
        # Two entropies of the same rows (plug-in and NSB) must not share a logged name.
        return self.column if self.estimator in self.column else f"{self.column}_{self.estimator}"

    def _packed(self, rec):
        return rec.per_patch if self.rows == "patch" else rec.per_sample

    def _state_of(self, rec):
        packed = self._packed(rec)
        if self.estimator != "kde":
            return _States.of(packed)
        if self._rng is None:
            self._stream = dist_rank()[0]
            self._rng = np.random.default_rng([self.seed, self._stream])
        n = packed.n_rows
        keys = self._rng.integers(0, np.iinfo(np.uint64).max, size=n, dtype=np.uint64,
                                  endpoint=True)
        order = np.stack([np.full(n, self._stream, np.int64),
                          np.arange(self._seq, self._seq + n, dtype=np.int64)], axis=1)
        self._seq += n
        words = np.asarray(packed.words)
        layer = "conv" if len(rec.output_shape) > 1 else "linear"  # as analyze's KDE
        empty = _Reservoir(words[:0], keys[:0], order[:0], packed.n_bits, 0, layer)
        return empty.merged(_Reservoir(words, keys, order, packed.n_bits, n, layer),
                            self.capacity)

    def _merge_state(self, a, b):
        return a.merged(b) if isinstance(a, _States) else a.merged(b, self.capacity)

    def _value(self, state):
        if self.estimator == "kde":
            from .estimators.kde import kde_entropy

            if state.words.shape[0] < 2:
                return float("nan")
            options = dict(self.options)
            options.setdefault("layer", state.layer)
            return float(kde_entropy(state.rows(), **options).entropy)
        if state.counts.sum() == 0:
            return float("nan")
        if self.estimator == "plugin":
            from .estimators.counts import plugin_entropy
            return float(plugin_entropy(state.counts, **self.options).entropy)
        if self.estimator == "miller_madow":
            from .estimators.counts import miller_madow_entropy
            return float(miller_madow_entropy(state.counts, **self.options).entropy)
        from .estimators.nsb import nsb_entropy

        options = dict(self.options)
        options.setdefault("alphabet_size", 2.0 ** state.n_bits)
        return float(nsb_entropy(state.counts, **options).entropy)


# ------------------------------------------------------------------------------ relevance

class Relevance(Metric):
    """Resolution H[s] and relevance H[k] (definitions §3) of each layer's per-sample
    binarised states (sigmoid/tanh: their 0.5 / 0 split, as `pycx.analyze`), with beta (MLE
    with `k_min`, and least squares) and the number of states, from state counts merged by
    state. ``compute()``: ``{layer: {"h_s", "h_k", "h_s_norm", "h_k_norm", "beta_mle",
    "beta_ls", "n_states"}}`` (the `pycx.Report` columns).

    >>> import torch, pycx
    >>> cap = pycx.from_activations({"fc": torch.tensor([[1., 1.], [1., 1.], [-1., 1.], [-1., -1.]])})
    >>> m = Relevance(); m.update(cap); v = m.compute()["fc"]; v["h_s"], v["h_k"], v["n_states"]
    (1.5, 1.0, 3)
    """

    def __init__(self, *, k_min: int = 1, layers: "str | Sequence[str] | None" = None,
                 sync_on_compute: bool = True) -> None:
        super().__init__(layers, sync_on_compute=sync_on_compute)
        self.k_min = check_int("k_min", k_min, minimum=1)

    def _settings(self):
        return (self.k_min,)

    def _state_of(self, rec):
        return _States.of(rec.binary if rec.binary is not None else rec.per_sample)

    def _merge_state(self, a, b):
        return a.merged(b)

    def _value(self, state):
        from .reference import relevance as ref

        counts = state.counts
        nan = float("nan")
        if counts.sum() == 0:
            return dict(h_s=nan, h_k=nan, h_s_norm=nan, h_k_norm=nan, beta_mle=nan, beta_ls=nan,
                        n_states=0)
        rr = ref.resolution_relevance(counts)
        beta = ref.beta_mle(counts, self.k_min) if (counts >= self.k_min).any() else nan
        return dict(h_s=rr.h_s, h_k=rr.h_k, h_s_norm=rr.h_s_normalized,
                    h_k_norm=rr.h_k_normalized, beta_mle=float(beta),
                    beta_ls=float(ref.beta_least_squares(counts)), n_states=int(counts.size))

    def columns(self, value) -> dict:
        return dict(value)
