"""The gate tracer: the one place where pycx watches a model's forward pass for gating ops.

`pycx.capture` / `Recorder` (bits and moments), `pycx.describe` (a dry run) and
`pycx.train.ComplexityLoss` (pre-activations with their graph) are clients of `GateTracer`,
so they see the same gating layers under the same names.

How: forward pre- and post-hooks keep the stack of running modules (for names): hooks of
their own on the root and on the modules the tracer treats specially, one process-wide
pre/post pair (which looks each module up in the model's `ModelScan`) for all the others; a `torch.overrides.TorchFunctionMode`, entered when the root module starts and left
when it returns or raises, sees every torch function, so module calls (``nn.ReLU`` ->
``F.relu``) and direct calls (``F.relu``, ``torch.relu``, ``x.relu_()``) reach it the same
way. Activation modules of ``transformers`` are gates as whole modules (`pycx.gates.ops`).
With a `UnitAxisRule`, the tracer also follows which axis of each tensor holds the units
(`pycx.gates.layout`).

**Layer names** (stable across batches and runs, given the same control flow):
- an op run by an activation module (``nn.ReLU``, ``nn.Sigmoid``, ``nn.MaxPool2d``,
  ``nn.Dropout``, ``nn.Hardswish``...) is named after the module's path in
  ``model.named_modules()`` (``layer1.0.relu``; a module registered under several paths takes
  its first one);
- an op called functionally inside a module's forward is named ``<module path>.<kind>``
  (``layer1.0.relu`` for ``F.relu`` in block ``layer1.0``; just ``<kind>`` in the top-level
  forward);
- the k-th repeated call (k >= 1) of the same name in one forward pass gets ``:k``
  (torchvision's shared ``self.relu``: ``layer1.0.relu``, ``layer1.0.relu:1``).

**Client protocol** (duck-typed; each method is called inside the forward pass):
- ``forward_started(args, kwargs) -> bool``: the root module is about to run; False: do not
  trace this pass. May raise (then the pass does not run).
- ``function_gate(call) -> output``: a gating op; the client runs it (``call.run()``, or its
  own way of running it) and returns what the op returns.
- ``module_gate(call) -> bool`` / ``module_gate_output(call, output)``: an activation module
  of ``transformers`` starts (``call.x`` is its input; True: call ``module_gate_output`` when
  it returns) / has returned.
- ``forward_finished(ok)``: the root returned (``ok`` True) or raised (False: whatever the
  client kept of this pass must be dropped).

This module imports torch; it is only loaded through `pycx.capture` and `pycx.train`.
"""
from __future__ import annotations

import threading
import weakref
from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
from torch.overrides import TorchFunctionMode

from .ops import (ACTIVATION_MODULES, OPS, first_input, is_pretrained_class,
                  module_gate_kind, resolve_kind)
from .experts import experts_preactivation, experts_spec, routing_inputs

__all__ = ["GateCall", "GateTracer", "ModelScan", "NOT_GATES", "check_model"]

# Activation-like ops that ran but are not gates: `pycx.describe` lists them with the reason.
NOT_GATES = {}
for _f in (F.softmax, F.log_softmax, F.softmin, torch.softmax, torch.Tensor.softmax,
           torch.log_softmax, torch.Tensor.log_softmax):
    NOT_GATES[_f] = ("softmax", "a normalisation across units, not a per-unit gate")
for _name in ("logsigmoid", "softsign", "tanhshrink", "softshrink", "hardshrink", "threshold"):
    if hasattr(F, _name):
        NOT_GATES[getattr(F, _name)] = (_name, "not in the gate table (docs/definitions.md)")
for _name in ("adaptive_max_pool1d", "adaptive_max_pool2d", "adaptive_max_pool3d"):
    NOT_GATES[getattr(F, _name)] = ("adaptive_max_pool", "adaptive max pooling is not read as a gate")
NOT_GATES[F.scaled_dot_product_attention] = (
    "scaled_dot_product_attention", "its softmax and dropout run inside one fused kernel")
_RECURRENT = (torch.nn.RNNBase,)
_thread_id = threading.get_ident


class ModelScan:
    """What one walk over a model's modules finds: ``paths`` (module -> its first path in
    ``named_modules()``), ``gate_modules`` (activation modules of ``transformers`` -> their
    kind, ``""`` = opaque), ``experts`` (mixture-of-experts modules -> `ExpertsSpec` or the
    reason they are skipped) and ``transformers`` (a ``transformers.PreTrainedModel`` is
    inside). One walk, because capture is called per batch loop and a model's walk costs
    about 3 us per module each time."""

    __slots__ = ("paths", "gate_modules", "experts", "transformers")

    def __init__(self, model):
        self.paths, self.gate_modules, self.experts = {}, {}, {}
        self.transformers = False
        for path, module in model.named_modules():
            self.paths[module] = path
            cls = type(module)
            if cls.__name__ == "OptimizedModule" and cls.__module__.startswith("torch._dynamo"):
                # Identified by type without importing torch._dynamo (slow to load).
                where = "argument 'model'" if path == "" else f"submodule {path!r} of 'model'"
                raise TypeError(f"{where} was made by torch.compile (an OptimizedModule); the "
                                "compiled graph runs its ops out of reach of the capture: pass "
                                "the eager module (torch.compile(m) keeps it as ._orig_mod)")
            if not self.transformers:
                self.transformers = is_pretrained_class(cls)
            kind = module_gate_kind(module)
            if kind is not None:
                self.gate_modules[module] = kind
                continue
            found = experts_spec(module)
            if found is not None:
                self.experts[module] = found[0] if found[0] is not None else found[1]

    @property
    def names(self) -> set:
        """The non-empty module paths (what ``layers=`` may name besides kinds)."""
        return {path for path in self.paths.values() if path}


def check_model(model) -> ModelScan:
    """Refuses what the tracer cannot watch: a non-module, a TorchScript module, a module made
    by ``torch.compile`` (anywhere inside `model`); returns the model's `ModelScan`."""
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"argument 'model' must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, torch.jit.ScriptModule):
        raise TypeError("argument 'model' is a TorchScript module; its ops cannot be "
                        "intercepted: pass the eager (Python) model")
    return ModelScan(model)


def _detach_when_gone(tracer_ref):
    """The weak client's callback; it holds the tracer weakly too (no reference cycle)."""
    def gone(_):
        tracer = tracer_ref()
        if tracer is not None:
            tracer._client_gone()
    return gone


class GateCall:
    """One call of a gating op (or of a gating module of ``transformers``): its layer
    ``name``, the ``path`` of the module running it, its ``kind``, the op with its arguments
    (``func`` is None for a module) and ``x``, the op's input."""

    __slots__ = ("name", "path", "kind", "func", "args", "kwargs", "x", "module")

    def run(self):
        return self.func(*self.args, **self.kwargs)


class _Mode(TorchFunctionMode):
    def __init__(self, tracer):
        super().__init__()
        self.tracer = tracer

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        tracer = self.tracer
        try:
            is_gate = func in OPS
            note = None if is_gate else NOT_GATES.get(func)
        except TypeError:  # an unhashable callable is never one of ours
            is_gate, note = False, None
        if is_gate:
            out = tracer._function_gate(func, args, kwargs)
        else:
            out = func(*args, **kwargs)
            if note is not None and not tracer.opaque:
                tracer._skip(note[0], note[1])
        if tracer.axes is not None:
            tracer.axes.observe(func, args, kwargs, out)
        return out


class GateTracer:
    """Watches `model`'s forward passes for `client` (module docstring). `unit_rule`: a
    `pycx.gates.layout.UnitAxisRule` whose tensor marks the tracer keeps up to date (None:
    no unit tracing); `scan`: the model's `ModelScan` when the caller has it already.
    ``seen``: name -> kind of the gating layers of the last traced pass, in forward order
    (selected or not); ``skipped``: name -> (op, reason) of activation-like ops that ran and
    were not read as gates, over all traced passes.

    Hooks: the root, activation modules of ``transformers``, experts modules, recurrent
    modules and modules that already carry forward hooks (the user's: the ops those hooks run
    keep the name of the module they hook) get hooks of their own; every other module is
    followed by one global pre/post hook pair that looks the module up in the scan.
    Registering two hooks per module costs more than a small model's whole forward pass
    (hundreds of handles per `capture` call). A pass is traced in the thread that started it
    (torch function modes are per thread): the hooks ignore the model's modules run by other
    threads meanwhile. The client is held weakly; when it is freed without detaching (a
    `ComplexityLoss` dropped without ``remove()``), the hooks are removed with it."""

    def __init__(self, model, client, unit_rule=None, scan=None):
        self.model = model
        # Weakly: the client holds the tracer, and a cycle would keep a finished capture's
        # buffers (hundreds of MB on a wide model) alive until the garbage collector runs.
        self.client = weakref.proxy(client, _detach_when_gone(weakref.ref(self)))
        self.unit_rule = unit_rule
        self.axes = unit_rule.axes if unit_rule is not None else None
        scan = scan if scan is not None else ModelScan(model)
        self.paths = scan.paths
        self.gate_modules = scan.gate_modules  # transformers activation modules -> kind ("" = opaque)
        self.experts = scan.experts  # mixture-of-experts modules -> ExpertsSpec, or the reason to skip
        self.seen = OrderedDict()
        self.skipped = OrderedDict()
        self.stack = []
        self.opaque = 0
        self._calls = {}
        self._pending = {}
        self._handles = []
        self._mode = None
        self._thread = None  # the thread of the last traced pass (its stack's thread)
        self._plain = None

    # --- attach / detach ---------------------------------------------------------------------
    def attach(self):
        # A module with forward hooks already (the user's) keeps hooks of its own, after
        # those: the process-wide pair runs before any module's hooks, so the ops of the
        # user's forward hooks would be named after the parent module instead.
        own = {self.model} | set(self.gate_modules) | set(self.experts) | {
            m for m in self.paths
            if isinstance(m, _RECURRENT) or m._forward_hooks or m._forward_pre_hooks}
        self._plain = {m: p for m, p in self.paths.items() if m not in own}
        try:
            for module in own:
                path = self.paths.get(module, "")
                self._handles.append(module.register_forward_pre_hook(
                    self._pre_hook(module, path), with_kwargs=True))
                if module in self.gate_modules:
                    # before the end hook: a root that is itself an activation module
                    self._handles.append(module.register_forward_hook(self._gate_hook(module)))
                if module is self.model:
                    self._handles.append(module.register_forward_hook(self._end_hook))
                self._handles.append(module.register_forward_hook(self._post_hook(module),
                                                                  always_call=True))
            if self._plain:
                self._handles.append(register_module_forward_pre_hook(self._plain_pre_hook))
                self._handles.append(register_module_forward_hook(self._plain_post_hook,
                                                                  always_call=True))
        except BaseException:
            self.detach()
            raise
        return self

    def detach(self):
        self._leave()
        for h in self._handles:
            h.remove()
        self._handles = []
        self.stack = []
        self.opaque = 0

    @property
    def tracing(self) -> bool:
        return self._mode is not None

    def _mine(self) -> bool:
        """A pass is traced, by the calling thread."""
        return self._mode is not None and self._thread == _thread_id()

    def _enter(self):
        self._calls = {}
        self._pending = {}
        self.seen = OrderedDict()
        self.opaque = 0
        self._thread = _thread_id()
        self._mode = _Mode(self)
        self._mode.__enter__()

    def _leave(self):
        if self._mode is not None:
            mode, self._mode = self._mode, None
            mode.__exit__(None, None, None)
            self._pending = {}
            if self.axes is not None:
                self.axes.clear()

    # --- hooks -----------------------------------------------------------------------------
    def _plain_pre_hook(self, module, args):
        # Any module of the process runs this while attached, in any thread: only ours, only
        # while tracing, only in the pass's thread.
        if self._mode is not None:
            path = self._plain.get(module)
            if path is not None and self._thread == _thread_id():
                self.stack.append((module, path))

    def _plain_post_hook(self, module, args, output):
        stack = self.stack
        if (module in self._plain and self._thread == _thread_id() and stack
                and stack[-1][0] is module):
            stack.pop()

    def _pre_hook(self, module, path):
        gate_kind = self.gate_modules.get(module)
        experts = self.experts.get(module)
        recurrent = isinstance(module, _RECURRENT)

        def hook(mod, args, kwargs):
            if mod is self.model and not self.stack:
                # (the unit marks are cleared when a pass ends: the client may tag the root's
                # inputs here)
                if not self.client.forward_started(args, kwargs):
                    if self.axes is not None:
                        self.axes.clear()
                    return None
                self._enter()
            if not self._mine():
                return None
            self.stack.append((module, path))
            if recurrent and not self.opaque:
                self._skip(type(module).__name__, "recurrent gates run inside a C++ kernel",
                           path=path)
            if gate_kind is not None:
                if not gate_kind and not self.opaque:
                    self._skip(type(module).__name__, "a transformers activation module that is "
                               "not a gate (its ops are not read either)", path=path)
                if gate_kind and not self.opaque:
                    x = args[0] if args else next(iter(kwargs.values()), None)
                    self._module_gate(module, gate_kind, x)
                self.opaque += 1  # the ops inside are not gates of their own
            elif experts is not None:
                if not self.opaque:
                    self._experts_gate(module, experts, args, kwargs, path)
                self.opaque += 1  # its activation sees routed pairs, not tokens: not traced
            return None
        return hook

    def _gate_hook(self, module):
        def hook(mod, args, output):
            if not self._mine():
                return
            call = self._pending.pop(module, None)
            if call is not None:
                self.client.module_gate_output(call, output)
        return hook

    def _end_hook(self, mod, args, output):
        if self._mine() and len(self.stack) == 1:
            self._leave()
            self.client.forward_finished(True)

    def _post_hook(self, module):
        is_gate = module in self.gate_modules or module in self.experts

        def hook(mod, args, output):
            if self._thread != _thread_id():
                return  # (the root's entry is popped here after _end_hook left the pass)
            if self.stack and self.stack[-1][0] is module:
                self.stack.pop()
                if is_gate and self.opaque:
                    self.opaque -= 1
            if mod is self.model and not self.stack and self._mode is not None:
                self._leave()  # the forward raised (a normal return went through _end_hook)
                self.client.forward_finished(False)
        return hook

    def _client_gone(self):
        # The client was freed while attached: nothing is left to report to. Its hooks go
        # (the process-wide pair would otherwise keep this tracer and the model alive, and
        # every later pass would call a dead client); a pass in flight in this thread ends.
        for h in self._handles:
            h.remove()
        self._handles = []
        if self._mine():
            self._leave()
        self.stack = []
        self.opaque = 0

    # --- gates -----------------------------------------------------------------------------
    def _skip(self, op, reason, path=None):
        if path is None:
            path = self.stack[-1][1] if self.stack else ""
        name = f"{path}.{op}" if path else op
        self.skipped.setdefault(name, (op, reason))

    def name(self, kind):
        """The layer name of a gate of `kind` called now (module docstring)."""
        module, path = self.stack[-1]
        if (isinstance(module, ACTIVATION_MODULES) or module in self.gate_modules
                or module in self.experts) and path:
            base = path
        else:
            base = f"{path}.{kind}" if path else kind
        k = self._calls.get(base, 0)
        self._calls[base] = k + 1
        return base if k == 0 else f"{base}:{k}"

    def _function_gate(self, func, args, kwargs):
        if not self.stack or self.opaque:
            return func(*args, **kwargs)
        kind = resolve_kind(func, args, kwargs)
        if kind is None:
            what = getattr(func, "__name__", "op")
            self._skip(what, "dropout in eval mode" if "dropout" in what else
                       "hardtanh whose lower bound is not 0")
            return func(*args, **kwargs)
        x = first_input(args, kwargs)
        if not isinstance(x, torch.Tensor) or x.dim() < 2:
            self._skip(kind, "unbatched input (fewer than 2 axes)")
            return func(*args, **kwargs)
        call = GateCall()
        call.name, call.path = self.name(kind), self.stack[-1][1]
        call.kind, call.func, call.args, call.kwargs, call.x = kind, func, args, kwargs, x
        call.module = None
        self.seen[call.name] = kind
        return self.client.function_gate(call)

    def _experts_gate(self, module, spec, args, kwargs, path):
        """A mixture-of-experts module as one gating layer (`pycx.gates.experts`)."""
        if isinstance(spec, str):
            self._skip(type(module).__name__, spec, path=path)
            return
        inputs = routing_inputs(args, kwargs)
        if inputs is None:
            self._skip(type(module).__name__, "routed experts called without (hidden_states "
                       "(T, H), top_k_index (T, k))", path=path)
            return
        hidden, index = inputs
        self.opaque += 1  # the recomputation's own ops are not gates
        try:
            pre, values = experts_preactivation(module, spec, hidden, index)
        finally:
            self.opaque -= 1
        if self.axes is not None:
            self.axes.inherit_rows(hidden, pre)
        call = GateCall()
        call.name, call.path = self.name(spec.kind), path
        call.kind, call.func, call.args, call.kwargs, call.x = (
            spec.kind, lambda _pre: values, (pre,), {}, pre)
        call.module = module
        self.seen[call.name] = spec.kind
        self.client.function_gate(call)

    def _module_gate(self, module, kind, x):
        if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
            self._skip(kind, "unbatched or non-float input")
            return
        call = GateCall()
        call.name, call.path = self.name(kind), self.stack[-1][1]
        call.kind, call.func, call.args, call.kwargs, call.x = kind, None, (x,), {}, x
        call.module = module
        self.seen[call.name] = kind
        if self.client.module_gate(call):
            self._pending[module] = call
