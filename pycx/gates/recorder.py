"""`Recorder`: records the gate states of a model's forward passes (the tracer's client that
`pycx.capture` runs).

Every gating op of the forward pass (`pycx.gates.tracer`, which also names the layers) is
packed to bits as soon as it is computed (on the model's device); floats are only reduced to
streaming covariance moments. Stored per layer: the per-sample bits, plus float64 C x C
moments.

**Unit axis** (``channel_axis``): gates are stored units first, ``(C, *positions)``. With
``"auto"`` (default) each layer's unit axis is traced from the op that made its input
(`pycx.gates.layout`): a linear layer's ``(N, T, C)`` becomes ``(C, T)``, token positions
taking the place of spatial positions, so per-sample rows hold ``T*C`` gates and per-patch
rows are the ``N*T`` token rows of ``C`` gates; a convolution's ``(N, C, H, W)`` stays as it
is. ``1`` / ``-1`` (or a dict of layer names to them) overrides the tracing. Max pooling keeps
torch's axes; GLU's units are on the axis it splits.

**Padding** (``mask_padding=True``): when the root model is called with an
``attention_mask`` (keyword, or positional where its ``forward`` names it) of shape
``(N, T)``, positions with mask 0 are padding in every channels-last gate of shape
``(N, T, C)``: their gates are set to 0 in the per-sample rows (so a sentence gives the same
per-sample state whatever padding follows it, given the same T), they are left out of the
per-patch rows and of the covariance. The per-position covariance (``pixel_covariance``) is
refused for padded batches. Every batch must have the same T (pad to a fixed length).

What is not seen: ops run inside C++ modules (``nn.LSTM``'s gates, the dropout inside
``F.scaled_dot_product_attention``), TorchScript modules and compiled graphs (pass the eager
model); adaptive max pooling is not treated as a gate (`pycx.describe` lists what ran and was
not read).
"""
from __future__ import annotations

import warnings
from collections import OrderedDict
from typing import Optional

import numpy as np
import torch

from .._validate import check_int
from ..kernels.packed import PackedBits
from .batches import input_rows, label_kind, labels_array
from .kinds import KINDS, NEVER_GATES
from .layout import UnitAxisRule, mask_argument_index
from .ops import glu_dim, module_gate, pack_sample_rows, run_gate, units_first
from .result import Capture, LayerRecord, _covariance_from_moments
from .select import LayerSelection, layer_selector
from .store import Moments, RowMoments, batch_moments, batch_rows, covariance_rows
from .tracer import GateTracer, check_model

__all__ = ["Recorder", "LayerSelection"]


# The root call's inputs that the attention_mask covers, and those of a decoder (their own
# sequence: the encoder's mask never applies to them).
_ENCODER_INPUTS = ("input_ids", "inputs_embeds", "input_values", "input_features", "pixel_values")
_DECODER_INPUTS = ("decoder_input_ids", "decoder_inputs_embeds")


class _Staged:
    __slots__ = ("kind", "module", "shape", "output_shape", "bits_per_unit", "rows", "words",
                 "binary", "moments", "pixel_moments", "valid", "channels_last", "unit_source")


def _same(t):
    return t


class Recorder:
    """Records gates while the user runs the model::

        with pycx.Recorder(model, layers="relu") as rec:
            for x, y in loader:
                model(x)
                rec.add_labels(y)
        cap = rec.capture          # or rec.result()

    Every completed call of ``model`` (the root module) is one batch; a call that raises
    records nothing. The recorder neither changes the model's mode nor turns off autograd
    (`capture` does both). Options as in `capture`. A `transformers` model is called as the
    user calls it (``model(**batch)``): its ``attention_mask`` is read from the call.

    >>> import torch, pycx
    >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    >>> with pycx.Recorder(model) as rec:
    ...     _ = model(torch.randn(5, 3))
    >>> rec
    Recorder(Sequential, 1 layers, 5 samples in 1 batches)
    """

    def __init__(self, model: torch.nn.Module, layers: LayerSelection = None, *,
                 exclude: LayerSelection = None,
                 covariance: bool = True, pixel_covariance: bool = False,
                 patch_rows: Optional[int] = None, covariance_positions: Optional[int] = 16,
                 seed: int = 0, channel_axis: "str | int | dict" = "auto",
                 mask_padding: bool = True) -> None:
        scan = check_model(model)
        if patch_rows is not None:
            patch_rows = check_int("patch_rows", patch_rows, minimum=1)
        self.model = model
        self._select, self._required_names = layer_selector(layers, exclude, known=scan.names)
        self._covariance = bool(covariance)
        self._pixel_covariance = bool(pixel_covariance)
        self._patch_rows = patch_rows
        self._seed = check_int("seed", seed, minimum=0)
        if covariance_positions is not None:
            covariance_positions = check_int("covariance_positions", covariance_positions, minimum=1)
        self._cov_positions = covariance_positions
        self._cov_rows_cache = {}
        self._units = UnitAxisRule(channel_axis, scan.transformers)
        self._tracer = GateTracer(model, self, self._units, scan=scan)
        self._recording = False
        self._staged = None
        self._committed_batches = 0
        self._order = None  # layer names in forward order, fixed by the first batch
        self._meta = {}
        self._words = {}
        self._binary = {}
        self._moments = {}
        self._pixel_moments = {}
        self._labels = []
        self._label_kind = None  # the kind of the first labelled batch (`label_kind`)
        self._n_samples = 0
        self._result = None
        self._mask_padding = bool(mask_padding)
        self._mask_index = mask_argument_index(model)
        self._valid = {}
        self._mask = self._mask_host = None
        self._mask_words = {}
        self._skip_warned = set()
        self._dry_run = False

    def __repr__(self) -> str:
        layers = "no layers yet" if self._order is None else f"{len(self._order)} layers"
        recording = ", recording" if self._recording else ""
        return (f"Recorder({type(self.model).__name__}, {layers}, {self._n_samples} samples in "
                f"{self._committed_batches} batches{recording})")

    @property
    def skipped(self) -> "OrderedDict[str, tuple]":
        """Activation-like ops that ran and were not read as gates: name -> (op, reason)."""
        return OrderedDict(self._tracer.skipped)

    # --- context manager ---------------------------------------------------------------
    def __enter__(self):
        if self._recording:
            raise RuntimeError("this Recorder is already recording")
        self._tracer.attach()
        self._recording = True
        return self

    def __exit__(self, exc_type, exc, tb):
        self._tracer.detach()
        self._recording = False
        self._staged = None
        return False

    # --- the tracer's client ------------------------------------------------------------
    def forward_started(self, args, kwargs):
        self._read_mask(args, kwargs)  # may raise: then nothing starts
        self._batch_rows = input_rows(args, kwargs)
        if self._batch_rows:
            for v in list(args) + list(kwargs.values()):
                if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == self._batch_rows:
                    self._units.axes.tag_batch(v)
        if self._mask is not None:
            self._tag_sequences(args, kwargs)
        self._staged = OrderedDict()
        self._cov_rows_cache = {}
        return True

    def forward_finished(self, ok):
        staged, self._staged = self._staged, None
        if ok and staged is not None:
            self._commit(staged)

    def _layout(self, name, kind, x, args=None, kwargs=None):
        """(order, mask, source, units_last) for a gate of input `x`: `order` puts a tensor
        shaped like `x` units first with samples as its first axis (None: as it is), the
        batch's padding mask where it applies (else None), how the unit axis was decided, and
        whether the units were on the op's last axis."""
        if kind == "maxpool":
            return None, None, "op:maxpool", False  # torch's own axes
        if kind == "glu":
            dim = glu_dim(args, kwargs)
            if dim == 1 or x.dim() == 2:
                return None, None, "op:glu", False
            if dim != x.dim() - 1:
                return (lambda t: t.movedim(dim, 1)), None, "op:glu", False
            axis, source = -1, "op:glu"
        else:
            axis, source = self._units.decide(name, x)
            grouped = self._rows_per_sample(x)
            if grouped is not None:
                # Token rows flattened from (N, T, C) are the masked tokens again: (N, C, T).
                mask = self._mask
                if mask is None or x.dim() != 2 or tuple(mask.shape) != grouped or \
                        self._units.axes.sequence(x) not in (None, "attention_mask"):
                    mask = None
                return (self._regroup(grouped, axis), mask,
                        f"{source}; {grouped[1]} rows per sample", axis == -1)
        if axis == 1:
            return None, None, source, False
        mask = self._mask
        if mask is None or x.dim() != 3 or mask.shape[1] != x.shape[1]:
            return units_first, None, source, True
        sequence = self._units.axes.sequence(x)
        if sequence is not None and sequence != "attention_mask":
            return units_first, None, source, True  # a decoder's tokens: not what the mask covers
        if mask.shape[0] != x.shape[0]:
            return units_first, None, source, True  # rows that are not samples: skipped at commit
        return units_first, mask, source, True

    def _rows_per_sample(self, x):
        """(N, k) when the op's first axis holds k > 1 rows per sample of the batch's N, in
        sample-major order as traced from the root's input (patches as the batch, tokens
        flattened to rows); else None (rows that are not samples are skipped at commit)."""
        n = self._batch_rows
        if not n or x.shape[0] == n:
            return None
        k = self._units.axes.rows_per_sample(x)
        if k is None or k <= 1 or x.shape[0] != n * k:
            return None
        return n, k

    @staticmethod
    def _regroup(grouped, axis):
        """The order that views ``(N*k, ...)`` as ``(N, C, k, ...)``: the k rows of a sample
        become positions, the units (axis 1, or last) come first."""
        n, k = grouped
        units = 2 if axis == 1 else -1

        def order(t):
            return t.reshape(n, k, *t.shape[1:]).movedim(units, 1)
        return order

    def function_gate(self, call):
        if not self._select(call.name, call.kind):
            return call.run()
        order, mask, source, last = self._layout(call.name, call.kind, call.x, call.args, call.kwargs)
        out, gate = run_gate(call.kind, call.func, call.args, call.kwargs, pack_sample_rows, order)
        self._stage(call.name, call.path, gate, mask, last, source)
        return out

    def module_gate(self, call):
        if not self._select(call.name, call.kind):
            return False
        order, mask, source, last = self._layout(call.name, call.kind, call.x)
        gate = module_gate(call.kind, call.x, pack_sample_rows, order or _same)
        call.args = (gate, order or _same, mask, source, last)
        return True

    def module_gate_output(self, call, output):
        if not isinstance(output, torch.Tensor) or self._staged is None:
            return
        gate, order, mask, source, last = call.args
        gate.values = order(output)
        self._stage(call.name, call.path, gate, mask, last, source)

    # --- padding ---------------------------------------------------------------------------
    def _tag_sequences(self, args, kwargs):
        """Tags the input the ``attention_mask`` belongs to, and a decoder's inputs apart."""
        axes = self._units.axes
        main = next((kwargs[k] for k in _ENCODER_INPUTS if isinstance(kwargs.get(k), torch.Tensor)),
                    args[0] if args and isinstance(args[0], torch.Tensor) else None)
        if main is not None:
            axes.tag_sequence(main, "attention_mask")
        for key in _DECODER_INPUTS:
            if isinstance(kwargs.get(key), torch.Tensor):
                axes.tag_sequence(kwargs[key], key)

    def _read_mask(self, args, kwargs):
        """The root call's ``attention_mask`` -> ``self._mask`` (bool (N, T) on its device,
        True = a token) and its host copy; None when absent or without padding."""
        self._mask = self._mask_host = None
        self._mask_words = {}
        if not self._mask_padding:
            return
        mask = kwargs.get("attention_mask")
        if mask is None and self._mask_index is not None and len(args) > self._mask_index:
            mask = args[self._mask_index]
        if mask is None:
            return
        if not isinstance(mask, torch.Tensor):
            raise TypeError(f"argument 'attention_mask' of the model call must be a tensor, got "
                            f"{type(mask).__name__}")
        if mask.dim() != 2:
            raise ValueError(f"argument 'attention_mask' of the model call has shape "
                             f"{tuple(mask.shape)}; padding is read from an (N, T) mask only: "
                             "pass mask_padding=False to capture without excluding padding")
        valid = mask.detach() != 0
        tokens = valid.sum(1)
        if mask.shape[0] and int(tokens.min()) == 0:
            empty = torch.nonzero(tokens == 0).flatten()[:5].tolist()
            raise ValueError(f"argument 'attention_mask' of the model call has samples without "
                             f"any token (rows {empty} are all 0); every sample needs one")
        if bool(valid.all()):
            return  # no padding in this batch
        self._mask = valid
        self._mask_host = valid.cpu().numpy()

    def _masked_words(self, words, n_bits):
        """Per-sample words with the bits of padded positions cleared (unit-major layout:
        bit ``c * T + t``)."""
        t = self._mask.shape[1]
        key = n_bits
        mw = self._mask_words.get(key)
        if mw is None:
            channels = n_bits // t
            bits = self._mask[:, None, :].expand(self._mask.shape[0], channels, t)
            mw = self._mask_words[key] = pack_sample_rows(bits)
        return words & mw

    def _stage(self, name, path, gate, mask=None, channels_last=False, source="default"):
        s = _Staged()
        s.kind, s.module, s.bits_per_unit = gate.kind, path, gate.bits_per_unit
        s.shape = tuple(int(d) for d in gate.unit_shape)
        s.output_shape = tuple(int(d) for d in gate.values.shape[1:])
        s.channels_last = bool(channels_last)
        s.unit_source = source
        known = self._meta.get(name)
        if known is not None and (known.shape, known.output_shape) != (s.shape, s.output_shape):
            hint = (" (token inputs: pad every batch to the same length, e.g. a tokenizer's "
                    "padding='max_length')" if known.channels_last else "")
            raise ValueError(
                f"layer {name!r}: per-sample shape changed from {known.shape} to {s.shape} "
                f"(output {known.output_shape} -> {s.output_shape}) in batch "
                f"{self._committed_batches}; every batch must give a layer the same shape "
                f"(only the batch size may change){hint}")
        s.rows = int(gate.values.shape[0])
        s.words = gate.words if gate.words is not None else pack_sample_rows(gate.bits)
        s.binary = gate.binary_words
        s.valid = None
        if mask is not None:
            n_bits = gate.bits_per_unit * int(np.prod(s.shape, dtype=np.int64))
            s.words = self._masked_words(s.words, n_bits)
            if s.binary is not None:
                s.binary = self._masked_words(s.binary, n_bits // gate.bits_per_unit)
            s.valid = self._mask_host
        s.moments = s.pixel_moments = None
        if self._covariance:
            s.moments = batch_rows(gate.values, rows=self._covariance_rows(gate.values, mask))
        if self._pixel_covariance and gate.values.dim() > 2 and s.rows:  # (empty batch: no moments)
            if mask is not None:
                raise ValueError(
                    f"layer {name!r}: pixel_covariance (the covariance per token position) "
                    f"needs every sample at every position, but batch {self._committed_batches} "
                    "has padding (attention_mask 0); pad-free batches or pixel_covariance=False")
            try:
                s.pixel_moments = batch_moments(gate.values, per_position=True)
            except (RuntimeError, MemoryError) as exc:
                if "alloc" not in str(exc).lower() and not isinstance(exc, MemoryError):
                    raise
                c, positions = int(gate.values.shape[1]), int(gate.values[0, 0].numel())
                need = 8 * positions * c * c
                raise MemoryError(
                    f"layer {name!r}: pixel_covariance keeps one {c} x {c} float64 matrix per "
                    f"position ({positions} positions: {need / 2**30:.1f} GiB, and as much again "
                    "per batch), which does not fit: pass pixel_covariance=False (pixel_map=False "
                    "in pycx.analyze), or leave this layer out (layers= / exclude=)") from exc
        self._staged[name] = s

    def _covariance_rows(self, values, mask=None):
        """Rows of this batch that enter the covariance (None = all): on average
        ``covariance_positions`` positions per sample, chosen by `covariance_rows`, less the
        padded positions (`mask`, (N, T) bool, for (N, C, T) values)."""
        if values.shape[0] == 0:  # an empty batch: nothing to choose from (and no sample 0)
            return None
        positions = values[0, 0].numel() if values.dim() > 2 else 1
        if mask is not None:  # the keyed subsample among the tokens only
            valid = self._mask_host.reshape(-1)
            if self._cov_positions is None or positions <= self._cov_positions:
                picked = np.flatnonzero(valid)
            else:
                picked = covariance_rows(self._seed, self._n_samples, int(values.shape[0]),
                                         positions, self._cov_positions / positions)
                picked = picked[valid[picked]]
            return torch.from_numpy(picked).to(values.device)
        if self._cov_positions is None or positions <= self._cov_positions:
            return None
        key = (int(values.shape[0]), positions, values.device)
        rows = self._cov_rows_cache.get(key)
        if rows is None:
            picked = covariance_rows(self._seed, self._n_samples, key[0], positions,
                                     self._cov_positions / positions)
            rows = self._cov_rows_cache[key] = torch.from_numpy(picked).to(values.device)
        return rows

    def _not_the_batch(self, staged):
        """Drops from `staged` the layers whose rows are not the batch's samples (a position
        table, patches or expert token rows as the op's first axis), each recorded once in
        ``skipped`` with a warning. The batch size is read from the root call's input; where
        it cannot be (no tensor input), every layer must agree."""
        n = self._batch_rows
        if n is None:
            return staged
        kept = OrderedDict()
        for name, st in staged.items():
            if st.rows == n:
                kept[name] = st
                continue
            reason = (f"its input's first axis has {st.rows} rows where the batch has {n} "
                      "samples (rows that are not samples: a detector's proposals, routed "
                      "expert tokens, a table)")
            self._tracer.skipped.setdefault(name, (st.kind, reason))
            if name not in self._skip_warned:
                self._skip_warned.add(name)
                warnings.warn(f"pycx.capture: gating layer {name!r} ({st.kind}) is skipped: "
                              f"{reason}", stacklevel=2)
        return kept

    def _commit(self, staged):
        batch = self._committed_batches
        seen = self._tracer.seen
        staged = self._not_the_batch(staged)
        if self._dry_run:  # pycx.describe: what each layer would be, no checks, nothing kept
            for name, st in staged.items():
                self._meta.setdefault(name, st)
            return
        if self._order is None:
            if not seen:
                raise ValueError(f"model {type(self.model).__name__} has no gating layers: none of "
                                 f"{', '.join(KINDS)} ran in its forward pass (dropout counts only "
                                 "in train mode)")
            missing = sorted(self._required_names - set(seen))
            if missing:
                raise ValueError(f"argument 'layers' names {missing}, which are neither gating "
                                 f"layers of this model nor kinds; layers: {list(seen)}; "
                                 f"kinds: {list(KINDS)}")
            unknown = self._units.unknown_names(seen)
            if unknown:
                raise ValueError(f"argument 'channel_axis' names {unknown}, which are not gating "
                                 f"layers of this model; layers: {list(seen)}")
            if not staged:
                unusable = {n: self._tracer.skipped[n][1] for n in seen if n in self._tracer.skipped}
                if unusable and all(n in unusable for n in seen if self._select(n, seen[n])):
                    raise ValueError(f"no gating layer of {type(self.model).__name__} can be "
                                     f"captured: {unusable}")
                raise ValueError(f"argument 'layers' selected none of the gating layers "
                                 f"{list(seen)}")
            self._order = list(staged)
            for name, s in staged.items():
                self._meta[name] = s
                self._words[name] = []
                self._valid[name] = []
                self._binary[name] = [] if s.binary is not None else None
                self._moments[name] = RowMoments() if self._covariance else None
                self._pixel_moments[name] = (Moments() if self._pixel_covariance and len(s.output_shape) > 1
                                             else None)
        elif list(staged) != self._order:
            gone = [n for n in self._order if n not in staged]
            new = [n for n in staged if n not in self._order]
            raise ValueError(f"batch {batch}: the gating layers differ from the first batch's "
                             f"(missing {gone}, new {new}); the forward pass must call the same "
                             "gating ops for every batch")
        rows = {s.rows for s in staged.values()}
        if len(rows) != 1:
            raise ValueError(f"batch {batch}: layers saw different numbers of samples "
                             f"{ {n: s.rows for n, s in staged.items()} }; the first axis of every "
                             "gating op's input must be the batch")
        for name, s in staged.items():
            self._words[name].append(s.words)
            self._valid[name].append((s.rows, s.valid))
            if s.binary is not None:
                self._binary[name].append(s.binary)
            if self._moments[name] is not None:
                self._moments[name].add(s.moments)
            if s.pixel_moments is not None:
                self._pixel_moments[name].merge(s.pixel_moments)
        self._n_samples += rows.pop()
        self._committed_batches += 1
        self._result = None

    # --- labels and result -------------------------------------------------------------------
    def add_labels(self, y) -> None:
        """Class labels of the samples of the batch just run, one per sample: integers, bools
        or strings (the label rule of `pycx._validate`), of one kind in every batch (integer
        labels in one batch and strings in another are a TypeError naming both)."""
        arr = labels_array("y", y)
        kind = label_kind(arr)
        if kind != "empty":
            if self._label_kind is None:
                self._label_kind = kind
            elif kind != self._label_kind:
                n = len(self._labels)
                before = "batch 1" if n == 1 else f"batches 1-{n}"
                raise TypeError(f"argument 'y': batch {n + 1} has {kind} labels, but {before} "
                                f"had {self._label_kind} labels; every batch's labels must be of "
                                f"one kind (mixing them would cast one kind into the other and "
                                f"merge labels that differ, e.g. 0 and '0')")
        self._labels.append(arr)
        self._result = None

    @property
    def n_samples(self) -> int:
        return self._n_samples

    @property
    def capture(self) -> Capture:
        return self.result()

    def result(self) -> Capture:
        """The `Capture` of everything recorded so far."""
        if self._result is not None:
            return self._result
        if self._order is None:
            raise ValueError("nothing was recorded: the model was not run inside the Recorder")
        labels = None
        if self._labels:
            labels = np.concatenate(self._labels)
            if len(labels) != self._n_samples:
                raise ValueError(f"got {len(labels)} labels for {self._n_samples} samples; give one "
                                 "label per sample")
        layers = OrderedDict()
        joined = {}  # one valid-token array shared by the layers that the same masks cover
        for name in self._order:
            meta = self._meta[name]
            n_bits = meta.bits_per_unit * int(np.prod(meta.shape, dtype=np.int64))
            words = _join(self._words[name])
            self._words[name] = [words]  # keep one array, not the pieces and a copy
            valid = None
            parts = self._valid[name]
            if any(v is not None for _, v in parts):
                key = tuple(id(v) if v is not None else -n for n, v in parts)
                valid = joined.get(key)
                if valid is None:
                    t = meta.shape[1]
                    valid = joined[key] = np.concatenate(
                        [v if v is not None else np.ones((n, t), bool) for n, v in parts])
            binary = None
            if self._binary[name] is not None:
                bwords = _join(self._binary[name])
                self._binary[name] = [bwords]
                binary = PackedBits(bwords, n_bits // 2, _trusted=True)
            cov = pcov = cov_rows = None
            if self._moments[name] is not None and self._moments[name].count:
                cov_rows, moments = self._moments[name].host()
                if moments is not None:
                    cov = _covariance_from_moments(*moments, ())
            if self._pixel_moments[name] is not None:
                count, mean, m2 = self._pixel_moments[name].host()
                pcov = _covariance_from_moments(count, mean, m2, (mean.shape[0],))
            layers[name] = LayerRecord(name, meta.kind, meta.module, meta.shape, meta.output_shape,
                                       meta.bits_per_unit, PackedBits(words, n_bits, _trusted=True),
                                       binary=binary, covariance=cov, pixel_covariance=pcov,
                                       patch_rows=self._patch_rows, seed=self._seed, valid=valid,
                                       channels_last=meta.channels_last,
                                       unit_axis_source=meta.unit_source,
                                       covariance_rows=cov_rows)
        not_captured = [{"layer": n, "op": op, "reason": reason}
                        for n, (op, reason) in self._tracer.skipped.items()
                        if op not in NEVER_GATES]
        self._result = Capture(layers, labels, self._patch_rows, self._seed, not_captured)
        return self._result


def _join(parts):
    return parts[0] if len(parts) == 1 else np.concatenate(parts)
