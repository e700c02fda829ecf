"""Capture of gate states from a PyTorch model (SPEC section 1).

`capture(model, data)` runs the model over the data and returns a `Capture`; `Recorder` does
the same inside a loop the user writes. Every gating op called during the model's forward pass
is seen, whether it comes from a module (``nn.ReLU``, ``nn.MaxPool2d``...) or a functional or
method call (``F.relu``, ``torch.relu``, ``x.relu_()``): a `torch.overrides.TorchFunctionMode`
intercepts the op, and forward hooks on the modules track which module is running, for names.
Gates are packed to bits as soon as they are computed (on the model's device); floats are only
reduced to streaming covariance moments. Stored per layer: the per-sample bits, plus float64
C x C moments.

**Layer names** (stable across batches and runs, given the same control flow):
- an op run by an activation module (``nn.ReLU``, ``nn.Sigmoid``, ``nn.MaxPool2d``,
  ``nn.Dropout``...) is named after the module's path in ``model.named_modules()``
  (``layer1.0.relu``; a module registered under several paths takes its first one);
- an op called functionally inside a module's forward is named ``<module path>.<kind>``
  (``layer1.0.relu`` for ``F.relu`` in block ``layer1.0``; just ``<kind>`` in the top-level
  forward);
- the k-th repeated call (k >= 1) of the same name in one forward pass gets ``:k``
  (torchvision's shared ``self.relu``: ``layer1.0.relu``, ``layer1.0.relu:1``).

  An activation module of ``transformers`` (``GELUActivation``...) is one gate named after
  its path (``encoder.layer.0.intermediate.intermediate_act_fn``), see `pycx.gates.ops`.

**Channel axis** (``channel_axis``): gates are stored units first, ``(C, *positions)``.
``channel_axis=1`` reads activations as ``(N, C, ...)``; ``-1`` as ``(N, ..., C)`` (hidden
units last): a transformer's ``(N, T, C)`` becomes ``(C, T)``, token positions taking the
place of spatial positions, so per-sample rows hold ``T*C`` gates and per-patch rows are the
``N*T`` token rows of ``C`` gates. ``"auto"`` (default): ``-1`` for the 3-D activations of a
model that holds a ``transformers.PreTrainedModel``, ``1`` for everything else (a
channels-last CNN such as ConvNeXt needs ``-1`` explicitly). Max pooling keeps torch's axes.

**Padding** (``mask_padding=True``): when the root model is called with an
``attention_mask`` (keyword, or positional where its ``forward`` names it) of shape
``(N, T)``, positions with mask 0 are padding in every channels-last gate of shape
``(N, T, C)``: their gates are set to 0 in the per-sample rows (so a sentence gives the same
per-sample state whatever padding follows it, given the same T), they are left out of the
per-patch rows and of the covariance. The per-position covariance (``pixel_covariance``) is
refused for padded batches. Every batch must have the same T (pad to a fixed length).

What is not seen: ops run inside C++ modules (``nn.LSTM``'s gates, the dropout inside
``F.scaled_dot_product_attention``), TorchScript modules and compiled graphs (pass the eager
model); adaptive max pooling is not treated as a gate.
"""
from __future__ import annotations

import inspect
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .ops import (ACTIVATION_MODULES, KINDS, OPS, first_input, is_transformers_model,
                  module_gate, module_gate_kind, pack_sample_rows, resolve_kind, run_gate,
                  units_first)
from .store import (Moments, batch_moments, covariance_rows)
from .._validate import check_int, describe
from ..kernels.packed import PackedBits
from .capture import Capture, LayerRecord, _covariance_from_moments

if TYPE_CHECKING:
    import numpy.typing as npt

# which gating layers: None (all), a name or kind, a list of them, or f(name, kind) -> bool
LayerSelection = Union[str, Sequence[str], Callable[[str, str], bool], None]

__all__ = ["capture", "Recorder", "split_batch", "batch_input"]

# --- recording ---------------------------------------------------------------------------

def _layer_selector(layers):
    """(predicate(name, kind), names that must exist) from the user's ``layers`` argument."""
    if layers is None:
        return (lambda name, kind: True), set()
    if callable(layers):
        return (lambda name, kind: bool(layers(name, kind))), set()
    if isinstance(layers, str):
        layers = [layers]
    try:
        wanted = list(layers)
    except TypeError:
        raise TypeError("argument 'layers' must be None, a name or kind, a list of them, or a "
                        f"predicate(name, kind), got {type(layers).__name__}") from None
    for w in wanted:
        if not isinstance(w, str):
            raise TypeError(f"argument 'layers' must hold layer names or kinds (str), got {w!r}")
    kinds = {w for w in wanted if w in KINDS}
    names = {w for w in wanted if w not in KINDS}
    return (lambda name, kind: kind in kinds or name in names), names


class _GateMode(TorchFunctionMode):
    def __init__(self, recorder):
        super().__init__()
        self.recorder = recorder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        try:
            is_gate = func in OPS
        except TypeError:  # an unhashable callable is never one of ours
            is_gate = False
        if is_gate and self.recorder._active:
            return self.recorder._on_gate(func, args, kwargs)
        return func(*args, **kwargs)


class _Staged:
    __slots__ = ("kind", "module", "shape", "output_shape", "bits_per_unit", "rows", "words",
                 "binary", "moments", "pixel_moments", "valid", "channels_last")


def _check_channel_axis(value):
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) \
            and int(value) in (1, -1):
        return int(value)
    raise ValueError(f"argument 'channel_axis' must be 'auto', 1 (activations (N, C, ...)) or "
                     f"-1 (activations (N, ..., C)), got {value!r}")


def _mask_argument_index(model):
    """Position of ``attention_mask`` among the positional parameters of ``model.forward``,
    or None."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):
        return None
    for i, p in enumerate(params):
        if p.kind not in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            return None
        if p.name == "attention_mask":
            return i
    return None


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
                 covariance: bool = True, pixel_covariance: bool = False,
                 patch_rows: Optional[int] = None, covariance_positions: Optional[int] = 16,
                 seed: int = 0, channel_axis: "str | int" = "auto",
                 mask_padding: bool = True) -> None:
        if not isinstance(model, torch.nn.Module):
            raise TypeError(f"argument 'model' must be a torch.nn.Module, got {type(model).__name__}")
        if isinstance(model, torch.jit.ScriptModule):
            raise TypeError("argument 'model' is a TorchScript module; its ops cannot be "
                            "intercepted: pass the eager (Python) model")
        compiled = _compiled_submodule(model)
        if compiled is not None:
            where = "argument 'model'" if compiled == "" else f"submodule {compiled!r} of 'model'"
            raise TypeError(f"{where} was made by torch.compile (an OptimizedModule); the "
                            "compiled graph runs its ops out of reach of the capture: pass the "
                            "eager module (torch.compile(m) keeps it as ._orig_mod)")
        if patch_rows is not None:
            patch_rows = check_int("patch_rows", patch_rows, minimum=1)
        self.model = model
        self._select, self._required_names = _layer_selector(layers)
        self._covariance = bool(covariance)
        self._pixel_covariance = bool(pixel_covariance)
        self._patch_rows = patch_rows
        self._seed = check_int("seed", seed, minimum=0)
        if covariance_positions is not None:
            covariance_positions = check_int("covariance_positions", covariance_positions, minimum=1)
        self._cov_positions = covariance_positions
        self._cov_rows_cache = {}
        self._handles = []
        self._mode = None
        self._stack = []
        self._active = False
        self._committed_batches = 0
        self._order = None  # layer names in forward order, fixed by the first batch
        self._meta = {}
        self._words = {}
        self._binary = {}
        self._moments = {}
        self._pixel_moments = {}
        self._labels = []
        self._n_samples = 0
        self._result = None
        self._channel_axis = _check_channel_axis(channel_axis)
        self._auto_last = self._channel_axis == "auto" and is_transformers_model(model)
        self._mask_padding = bool(mask_padding)
        self._mask_index = _mask_argument_index(model)
        self._gate_modules = {}  # transformers activation modules -> kind ("" = opaque)
        for m in model.modules():
            kind = module_gate_kind(m)
            if kind is not None:
                self._gate_modules[m] = kind
        self._valid = {}
        self._mask = self._mask_host = None
        self._mask_words = {}
        self._opaque = 0
        self._pending = {}

    def __repr__(self) -> str:
        layers = "no layers yet" if self._order is None else f"{len(self._order)} layers"
        recording = ", recording" if self._mode is not None else ""
        return (f"Recorder({type(self.model).__name__}, {layers}, {self._n_samples} samples in "
                f"{self._committed_batches} batches{recording})")

    # --- context manager ---------------------------------------------------------------
    def __enter__(self):
        if self._mode is not None:
            raise RuntimeError("this Recorder is already recording")
        try:
            names = {}
            for path, module in self.model.named_modules():
                names.setdefault(module, path)
            for module, path in names.items():
                self._handles.append(module.register_forward_pre_hook(self._pre_hook(module, path),
                                                                      with_kwargs=True))
                if module in self._gate_modules:
                    # before the commit hook: a root that is itself an activation module
                    self._handles.append(module.register_forward_hook(self._gate_hook(module)))
                if module is self.model:
                    self._handles.append(module.register_forward_hook(self._commit_hook))
                self._handles.append(module.register_forward_hook(self._post_hook(module),
                                                                  always_call=True))
            self._mode = _GateMode(self)
            self._mode.__enter__()
        except BaseException:
            self._remove()
            raise
        return self

    def __exit__(self, exc_type, exc, tb):
        self._remove()
        return False

    def _remove(self):
        if self._mode is not None:
            self._mode.__exit__(None, None, None)
            self._mode = None
        for h in self._handles:
            h.remove()
        self._handles = []
        self._stack = []
        self._active = False
        self._opaque = 0
        self._pending = {}

    # --- hooks ---------------------------------------------------------------------------
    def _pre_hook(self, module, path):
        gate_kind = self._gate_modules.get(module)

        def hook(mod, args, kwargs):
            if mod is self.model and not self._stack:
                self._read_mask(args, kwargs)  # may raise: then nothing starts
                self._active = True
                self._calls = {}
                self._staged = OrderedDict()
                self._seen = OrderedDict()
                self._cov_rows_cache = {}
                self._opaque = 0
                self._pending = {}
            self._stack.append((module, path))
            if gate_kind is not None:
                if gate_kind and self._active and not self._opaque:
                    x = args[0] if args else next(iter(kwargs.values()), None)
                    self._on_module_gate(module, gate_kind, x)
                self._opaque += 1  # the ops inside are not gates of their own
            return None
        return hook

    def _gate_hook(self, module):
        def hook(mod, args, output):
            pending = self._pending.pop(module, None)
            if pending is None or not isinstance(output, torch.Tensor) or self._staged is None:
                return
            name, path, gate, order, mask = pending
            gate.values = order(output)
            self._stage(name, path, gate, mask, order is units_first)
        return hook

    def _post_hook(self, module):
        is_gate = module in self._gate_modules

        def hook(mod, args, output):
            if self._stack and self._stack[-1][0] is module:
                self._stack.pop()
                if is_gate and self._opaque:
                    self._opaque -= 1
            if mod is self.model and not self._stack:
                self._active = False
                self._staged = None  # committed already, or the forward raised: drop it
                self._pending = {}
        return hook

    # --- padding ---------------------------------------------------------------------------
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

    def _layout(self, x):
        """(order, mask) for a gate whose input is `x`: `units_first` for a channels-last
        activation (else None), and the batch's padding mask where it applies (else None)."""
        if x.dim() < 3 or self._channel_axis == 1 or (self._channel_axis == "auto"
                                                       and not (self._auto_last and x.dim() == 3)):
            return None, None
        mask = self._mask
        if mask is None or x.dim() != 3 or mask.shape[1] != x.shape[1]:
            return units_first, None
        if mask.shape[0] != x.shape[0]:
            raise ValueError(f"argument 'attention_mask' of the model call has {mask.shape[0]} "
                             f"rows but a gating op saw a batch of {x.shape[0]}")
        return units_first, mask

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

    def _commit_hook(self, mod, args, output):
        if self._stack and len(self._stack) == 1 and self._staged is not None:
            self._commit()

    # --- ops -----------------------------------------------------------------------------
    def _name(self, kind):
        module, path = self._stack[-1]
        if (isinstance(module, ACTIVATION_MODULES) or module in self._gate_modules) and path:
            base = path
        else:
            base = f"{path}.{kind}" if path else kind
        k = self._calls.get(base, 0)
        self._calls[base] = k + 1
        return (base if k == 0 else f"{base}:{k}"), path

    def _on_gate(self, func, args, kwargs):
        kind = resolve_kind(func, args, kwargs)
        if kind is None or not self._stack or self._opaque:
            return func(*args, **kwargs)
        name, path = self._name(kind)
        self._seen[name] = kind
        if not self._select(name, kind):
            return func(*args, **kwargs)
        x = first_input(args, kwargs)
        order, mask = self._layout(x) if isinstance(x, torch.Tensor) else (None, None)
        if kind == "maxpool":
            order = mask = None  # torch's own axes
        result = run_gate(kind, func, args, kwargs, pack_sample_rows, order)
        if result is None:
            return func(*args, **kwargs)
        out, gate = result
        self._stage(name, path, gate, mask, order is units_first)
        return out

    def _on_module_gate(self, module, kind, x):
        """Pre-hook side of an activation module of transformers: the gate from its input."""
        name, path = self._name(kind)
        self._seen[name] = kind
        if not self._select(name, kind) or not isinstance(x, torch.Tensor):
            return
        order, mask = self._layout(x)
        order = order or (lambda t: t)
        gate = module_gate(kind, x, pack_sample_rows, order)
        if gate is not None:
            self._pending[module] = (name, path, gate, order, mask)

    def _stage(self, name, path, gate, mask=None, channels_last=False):
        s = _Staged()
        s.kind, s.module, s.bits_per_unit = gate.kind, path, gate.bits_per_unit
        s.shape = tuple(int(d) for d in gate.unit_shape)
        s.output_shape = tuple(int(d) for d in gate.values.shape[1:])
        s.channels_last = bool(channels_last)
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
            s.moments = batch_moments(gate.values, per_position=False,
                                      rows=self._covariance_rows(gate.values, mask))
        if self._pixel_covariance and gate.values.dim() > 2 and s.rows:  # (empty batch: no moments)
            if mask is not None:
                raise ValueError(
                    f"layer {name!r}: pixel_covariance (the covariance per token position) "
                    f"needs every sample at every position, but batch {self._committed_batches} "
                    "has padding (attention_mask 0); pad-free batches or pixel_covariance=False")
            s.pixel_moments = batch_moments(gate.values, per_position=True)
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

    def _commit(self):
        staged, self._staged = self._staged, None
        batch = self._committed_batches
        if self._order is None:
            if not self._seen:
                raise ValueError(f"model {type(self.model).__name__} has no gating layers: none of "
                                 f"{', '.join(KINDS)} ran in its forward pass (dropout counts only "
                                 "in train mode)")
            missing = sorted(self._required_names - set(self._seen))
            if missing:
                raise ValueError(f"argument 'layers' names {missing}, which are neither gating "
                                 f"layers of this model nor kinds; layers: {list(self._seen)}; "
                                 f"kinds: {list(KINDS)}")
            if not staged:
                raise ValueError(f"argument 'layers' selected none of the gating layers "
                                 f"{list(self._seen)}")
            self._order = list(staged)
            for name, s in staged.items():
                self._meta[name] = s
                self._words[name] = []
                self._valid[name] = []
                self._binary[name] = [] if s.binary is not None else None
                self._moments[name] = Moments() if self._covariance else None
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
                self._moments[name].merge(s.moments)
            if s.pixel_moments is not None:
                self._pixel_moments[name].merge(s.pixel_moments)
        self._n_samples += rows.pop()
        self._committed_batches += 1
        self._result = None

    # --- labels and result -------------------------------------------------------------------
    def add_labels(self, y) -> None:
        """Class labels of the samples of the batch just run (integers, one per sample)."""
        self._labels.append(_labels_array("y", y))
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
            cov = pcov = None
            if self._moments[name] is not None and self._moments[name].count:
                cov = _covariance_from_moments(*self._moments[name].host(), ())
            if self._pixel_moments[name] is not None:
                count, mean, m2 = self._pixel_moments[name].host()
                pcov = _covariance_from_moments(count, mean, m2, (mean.shape[0],))
            layers[name] = LayerRecord(name, meta.kind, meta.module, meta.shape, meta.output_shape,
                                       meta.bits_per_unit, PackedBits(words, n_bits, _trusted=True),
                                       binary=binary, covariance=cov, pixel_covariance=pcov,
                                       patch_rows=self._patch_rows, seed=self._seed, valid=valid,
                                       channels_last=meta.channels_last)
        self._result = Capture(layers, labels, self._patch_rows, self._seed)
        return self._result


def _join(parts):
    return parts[0] if len(parts) == 1 else np.concatenate(parts)


def _labels_array(name, y) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().numpy()
    arr = np.asarray(y)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"argument '{name}' must be one integer label per sample, got {describe(arr)}")
    if arr.dtype.kind not in "iub":
        raise TypeError(f"argument '{name}' must hold integer class labels, got {describe(arr)}")
    return arr.astype(np.int64)


# --- the one-call form -----------------------------------------------------------------------

# Keys of a keyword batch that tell its number of samples, in order of preference.
_SIZE_KEYS = ("input_ids", "inputs_embeds", "pixel_values", "input_values", "input_features")


def split_batch(item):
    """``(x, y)`` of one item of `capture`'s data: ``x`` a tensor or a mapping of keyword
    arguments (a dict or a ``transformers.BatchEncoding``, called as ``model(**x)``); ``y`` the
    labels or None. A mapping's ``"labels"`` are taken as the labels and not passed to the
    model. Public for code that iterates the same data (e.g. to collect the inputs).

    >>> import torch
    >>> x, y = split_batch({"input_ids": torch.ones(2, 3, dtype=torch.long), "labels": [0, 1]})
    >>> sorted(x), y
    (['input_ids'], [0, 1])
    """
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("argument 'data' yielded an empty tuple; expected x or (x, y)")
        x, y = item[0], (item[1] if len(item) > 1 else None)
    else:
        x, y = item, None
    if isinstance(x, Mapping):
        if "labels" in x:
            if y is not None:
                raise ValueError("labels were given twice: by a batch's 'labels' key and as the "
                                 "second item of an (x, y) batch of 'data'")
            y = x["labels"]
        x = {k: v for k, v in x.items() if k != "labels"}
    return x, y


def batch_input(item):
    """The input tensor of one item of `capture`'s data (e.g. for a baseline on the raw
    inputs): the tensor (or array) itself, the first item of an ``(x, y)`` tuple, or a keyword
    batch's first of ``input_ids``, ``inputs_embeds``, ``pixel_values``, ``input_values``,
    ``input_features``; None for a mapping without any of them.

    >>> import torch
    >>> batch_input({"input_ids": torch.ones(2, 3, dtype=torch.long), "attention_mask": 0}).shape
    torch.Size([2, 3])
    """
    x = item[0] if isinstance(item, (tuple, list)) and item else item
    if isinstance(x, Mapping):
        return next((x[k] for k in _SIZE_KEYS if x.get(k) is not None), None)
    return x


def _as_input(x, device):
    if isinstance(x, Mapping):
        return {k: (_as_input(v, device) if isinstance(v, (torch.Tensor, np.ndarray)) else v)
                for k, v in x.items()}
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"argument 'data' must yield tensors, mappings of keyword arguments "
                        f"(dict, BatchEncoding) or (x, y) tuples, got {type(x).__name__}")
    return x.to(device, non_blocking=True) if x.device != device else x


def _batch_size(x):
    """Samples in a batch: the first axis of the tensor, or of a mapping's input tensor."""
    if isinstance(x, torch.Tensor):
        return int(x.shape[0]) if x.dim() else 1
    for key in _SIZE_KEYS + tuple(x):
        v = x.get(key)
        if isinstance(v, torch.Tensor) and v.dim():
            return int(v.shape[0])
    raise ValueError(f"argument 'data' yielded a mapping with no batched tensor (keys "
                     f"{list(x)}); expected e.g. 'input_ids' of shape (N, T)")


def _head(x, keep, n):
    """The first `keep` samples of a batch of `n` (a mapping: every tensor with n rows)."""
    if isinstance(x, torch.Tensor):
        return x[:keep]
    return {k: (v[:keep] if isinstance(v, torch.Tensor) and v.dim() and v.shape[0] == n else v)
            for k, v in x.items()}


def _model_device(model):
    for p in model.parameters():
        return p.device
    for b in model.buffers():
        return b.device
    return torch.device("cpu")


def _compiled_submodule(model):
    """The name of the first module of ``model`` (``""``: itself) that torch.compile made,
    or None. Identified by type without importing torch._dynamo (slow to load)."""
    for name, module in model.named_modules():
        cls = type(module)
        if cls.__name__ == "OptimizedModule" and cls.__module__.startswith("torch._dynamo"):
            return name
    return None


def capture(model: torch.nn.Module, data: Iterable[Any], *, layers: LayerSelection = None,
            labels: "npt.ArrayLike | Iterable[npt.ArrayLike] | None" = None,
            max_samples: Optional[int] = None, patch_rows: Optional[int] = None,
            covariance: bool = True, pixel_covariance: bool = False,
            covariance_positions: Optional[int] = 16,
            device: "str | torch.device | None" = None, train_mode: bool = False,
            progress: bool = True, seed: int = 0, channel_axis: "str | int" = "auto",
            mask_padding: bool = True) -> Capture:
    """Runs `model` over `data` and captures the gate states of its gating layers.

    - `data`: a DataLoader or any iterable of input tensors (numpy arrays are accepted; integer
      token ids too), of mappings of keyword arguments (a dict or a ``transformers``
      ``BatchEncoding``: ``{"input_ids", "attention_mask", ...}``, called as ``model(**batch)``;
      its ``"labels"``, if any, are the labels and are not passed to the model) or of
      ``(x, y, ...)`` tuples whose second item is the batch's integer labels.
    - `layers`: None (every gating layer), a layer name or kind (``"relu"``, ``"maxpool"``,
      ``"sigmoid"``, ...), a list of them, or a predicate ``f(name, kind) -> bool``.
    - `labels`: labels given separately: an array of one label per sample, or an iterator
      yielding one array per batch. Not both this and labelled batches.
    - `max_samples`: stop after this many samples (the last batch is cut).
    - `patch_rows`: keep at most this many per-patch rows per layer: a uniform sample without
      replacement, the rows with the smallest splitmix64 keys of ``(seed, global row index)``
      (so it does not depend on the batch size; layers of the same spatial size keep the same
      patches). Covariances and counts always use all rows.
    - `covariance` / `pixel_covariance`: streaming covariance of the per-patch float outputs
      (over patch rows) / per spatial position (over all samples).
    - `covariance_positions`: the covariance over patch rows uses on average this many
      positions per sample (a fixed-rate Bernoulli subsample, rate ``covariance_positions /
      (H*W)``, keyed on (seed, global row index) like `patch_rows`: independent of batching);
      a layer with at most this many positions uses all rows; None = all rows always.
    - `device`: where inputs are sent (default: the device of the model's parameters; the
      model itself is never moved).
    - `train_mode`: run in train mode (dropout masks are gates only then); default eval. The
      model's own mode flags are restored afterwards. Runs under ``torch.no_grad()``.
    - `channel_axis`: ``"auto"`` (default), ``1`` (activations ``(N, C, ...)``) or ``-1``
      (``(N, ..., C)``, hidden units last); ``"auto"`` is -1 for the 3-D activations of a
      ``transformers`` model (token positions become the per-patch positions) and 1 otherwise.
    - `mask_padding`: exclude padding (``attention_mask == 0`` of the model call) from the
      per-patch rows and the covariance, and clear its gates in the per-sample rows (see the
      module's notes). Every batch must then have the same sequence length.

    >>> import torch, pycx
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    >>> cap = pycx.capture(model, [torch.randn(4, 1, 5, 5)], progress=False)
    >>> cap["1"].shape, cap["1"].per_patch.shape
    ((2, 3, 3), (36, 2))
    """
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, minimum=1)
    model_device = _model_device(model) if isinstance(model, torch.nn.Module) else None
    device = model_device if device is None else torch.device(device)
    if model_device is not None and device != model_device and any(True for _ in model.parameters()):
        raise ValueError(f"argument 'device' is {device} but the model's parameters are on "
                         f"{model_device}; move the model first (capture never moves it)")
    whole_labels = label_iter = None
    if labels is not None:
        if isinstance(labels, (np.ndarray, torch.Tensor, list, tuple)):
            whole_labels = _labels_array("labels", labels)
        else:
            label_iter = iter(labels)
    recorder = Recorder(model, layers, covariance=covariance, pixel_covariance=pixel_covariance,
                        patch_rows=patch_rows, covariance_positions=covariance_positions,
                        seed=seed, channel_axis=channel_axis, mask_padding=mask_padding)
    modes = [(m, m.training) for m in model.modules()]
    bar = _progress(data, progress)
    n_batches = 0
    truncated = False
    try:
        model.train(bool(train_mode))
        with torch.no_grad(), recorder:
            for item in bar:
                x, y = split_batch(item)
                x = _as_input(x, device)
                if label_iter is not None:
                    if y is not None:
                        raise ValueError("labels were given twice: by argument 'labels' and by "
                                         "(x, y) batches of 'data'")
                    try:
                        y = next(label_iter)
                    except StopIteration:
                        raise ValueError(f"argument 'labels' ran out after {n_batches} batches") from None
                if y is not None and whole_labels is not None:
                    raise ValueError("labels were given twice: by argument 'labels' and by "
                                     "(x, y) batches of 'data'")
                n = _batch_size(x)
                if max_samples is not None and recorder.n_samples + n > max_samples:
                    keep = max_samples - recorder.n_samples
                    x = _head(x, keep, n)
                    y = None if y is None else _labels_array("y", y)[:keep]
                    truncated = True
                if isinstance(x, dict):
                    model(**x)
                else:
                    model(x)
                if y is not None:
                    recorder.add_labels(y)
                n_batches += 1
                if max_samples is not None and recorder.n_samples >= max_samples:
                    truncated = True  # samples may remain in 'data'
                    break
    finally:
        for m, flag in modes:
            m.training = flag
        if hasattr(bar, "close"):
            bar.close()
    if n_batches == 0:
        raise ValueError("argument 'data' yielded no batches; nothing to capture")
    if whole_labels is not None:
        if truncated and len(whole_labels) >= recorder.n_samples:
            whole_labels = whole_labels[:recorder.n_samples]
        if len(whole_labels) != recorder.n_samples:
            raise ValueError(f"argument 'labels' has {len(whole_labels)} labels but 'data' gave "
                             f"{recorder.n_samples} samples")
        recorder.add_labels(whole_labels)
    return recorder.result()


def _progress(data, progress):
    if not progress:
        return data
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return data
    total = len(data) if hasattr(data, "__len__") else None
    return tqdm(data, total=total, desc="pycx.capture", unit="batch", leave=False)

