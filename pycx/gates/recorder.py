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

What is not seen: ops run inside C++ modules (``nn.LSTM``'s gates), TorchScript modules and
compiled graphs (pass the eager model); adaptive max pooling is not treated as a gate.
"""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

from .ops import ACTIVATION_MODULES, KINDS, OPS, pack_sample_rows, resolve_kind, run_gate
from .store import (Moments, batch_moments, covariance_rows)
from .._validate import check_int, describe
from ..kernels.packed import PackedBits
from .capture import Capture, LayerRecord, _covariance_from_moments

__all__ = ["capture", "Recorder"]

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
                 "binary", "moments", "pixel_moments")


class Recorder:
    """Records gates while the user runs the model::

        with pycx.Recorder(model, layers="relu") as rec:
            for x, y in loader:
                model(x)
                rec.add_labels(y)
        cap = rec.capture          # or rec.result()

    Every completed call of ``model`` (the root module) is one batch; a call that raises
    records nothing. The recorder neither changes the model's mode nor turns off autograd
    (`capture` does both). Options as in `capture`.
    """

    def __init__(self, model, layers=None, *, covariance=True, pixel_covariance=False,
                 patch_rows=None, covariance_positions=16, seed=0):
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

    # --- context manager ---------------------------------------------------------------
    def __enter__(self):
        if self._mode is not None:
            raise RuntimeError("this Recorder is already recording")
        try:
            names = {}
            for path, module in self.model.named_modules():
                names.setdefault(module, path)
            for module, path in names.items():
                self._handles.append(module.register_forward_pre_hook(self._pre_hook(module, path)))
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

    # --- hooks ---------------------------------------------------------------------------
    def _pre_hook(self, module, path):
        def hook(mod, args):
            if mod is self.model and not self._stack:
                self._active = True
                self._calls = {}
                self._staged = OrderedDict()
                self._seen = OrderedDict()
                self._cov_rows_cache = {}
            self._stack.append((module, path))
        return hook

    def _post_hook(self, module):
        def hook(mod, args, output):
            if self._stack and self._stack[-1][0] is module:
                self._stack.pop()
            if mod is self.model and not self._stack:
                self._active = False
                self._staged = None  # committed already, or the forward raised: drop it
        return hook

    def _commit_hook(self, mod, args, output):
        if self._stack and len(self._stack) == 1 and self._staged is not None:
            self._commit()

    # --- ops -----------------------------------------------------------------------------
    def _name(self, kind):
        module, path = self._stack[-1]
        if isinstance(module, ACTIVATION_MODULES) and path:
            base = path
        else:
            base = f"{path}.{kind}" if path else kind
        k = self._calls.get(base, 0)
        self._calls[base] = k + 1
        return (base if k == 0 else f"{base}:{k}"), path

    def _on_gate(self, func, args, kwargs):
        kind = resolve_kind(func, args, kwargs)
        if kind is None or not self._stack:
            return func(*args, **kwargs)
        name, path = self._name(kind)
        self._seen[name] = kind
        if not self._select(name, kind):
            return func(*args, **kwargs)
        result = run_gate(kind, func, args, kwargs, pack_sample_rows)
        if result is None:
            return func(*args, **kwargs)
        out, gate = result
        self._stage(name, path, gate)
        return out

    def _stage(self, name, path, gate):
        s = _Staged()
        s.kind, s.module, s.bits_per_unit = gate.kind, path, gate.bits_per_unit
        s.shape = tuple(int(d) for d in gate.unit_shape)
        s.output_shape = tuple(int(d) for d in gate.values.shape[1:])
        known = self._meta.get(name)
        if known is not None and (known.shape, known.output_shape) != (s.shape, s.output_shape):
            raise ValueError(
                f"layer {name!r}: per-sample shape changed from {known.shape} to {s.shape} "
                f"(output {known.output_shape} -> {s.output_shape}) in batch "
                f"{self._committed_batches}; every batch must give a layer the same shape "
                "(only the batch size may change)")
        s.rows = int(gate.values.shape[0])
        s.words = gate.words if gate.words is not None else pack_sample_rows(gate.bits)
        s.binary = gate.binary_words
        s.moments = s.pixel_moments = None
        if self._covariance:
            s.moments = batch_moments(gate.values, per_position=False,
                                      rows=self._covariance_rows(gate.values))
        if self._pixel_covariance and gate.values.dim() > 2 and s.rows:  # (empty batch: no moments)
            s.pixel_moments = batch_moments(gate.values, per_position=True)
        self._staged[name] = s

    def _covariance_rows(self, values):
        """Rows of this batch that enter the covariance (None = all): on average
        ``covariance_positions`` positions per sample, chosen by `covariance_rows`."""
        if values.shape[0] == 0:  # an empty batch: nothing to choose from (and no sample 0)
            return None
        positions = values[0, 0].numel() if values.dim() > 2 else 1
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
        for name in self._order:
            meta = self._meta[name]
            n_bits = meta.bits_per_unit * int(np.prod(meta.shape, dtype=np.int64))
            words = _join(self._words[name])
            self._words[name] = [words]  # keep one array, not the pieces and a copy
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
                                       patch_rows=self._patch_rows, seed=self._seed)
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

def _split_batch(item):
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("argument 'data' yielded an empty tuple; expected x or (x, y)")
        return item[0], (item[1] if len(item) > 1 else None)
    return item, None


def _as_input(x, device):
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"argument 'data' must yield tensors or (x, y) tuples, got {type(x).__name__}")
    return x.to(device, non_blocking=True) if x.device != device else x


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


def capture(model, data, *, layers=None, labels=None, max_samples=None, patch_rows=None,
            covariance=True, pixel_covariance=False, covariance_positions=16, device=None,
            train_mode=False, progress=True, seed=0) -> Capture:
    """Runs `model` over `data` and captures the gate states of its gating layers.

    - `data`: a DataLoader or any iterable of input tensors (numpy arrays are accepted) or of
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
                        seed=seed)
    modes = [(m, m.training) for m in model.modules()]
    bar = _progress(data, progress)
    n_batches = 0
    truncated = False
    try:
        model.train(bool(train_mode))
        with torch.no_grad(), recorder:
            for item in bar:
                x, y = _split_batch(item)
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
                n = int(x.shape[0]) if x.dim() else 1
                if max_samples is not None and recorder.n_samples + n > max_samples:
                    keep = max_samples - recorder.n_samples
                    x = x[:keep]
                    y = None if y is None else _labels_array("y", y)[:keep]
                    truncated = True
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

