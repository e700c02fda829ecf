"""Gating operations seen by `pycx.capture` (docs/definitions.md §1) and the torch-side bit packer.

Each gating op is recognised by the function object a `TorchFunctionMode` receives: module
calls (``nn.ReLU`` -> ``F.relu``, ``nn.Sigmoid`` -> ``torch.sigmoid``, ``nn.MaxPool2d`` ->
``F.max_pool2d`` ...) and direct calls (``F.relu``, ``torch.relu``, ``x.relu_()``) reach the
mode the same way. `run_gate` runs the op itself and returns its output together with the gate
tensor, read at the right moment: the input of a ReLU-family op is read before an in-place op
overwrites it.

**Activation modules of `transformers`** (``GELUActivation``, ``NewGELUActivation``,
``QuickGELUActivation``, ``SiLUActivation``...) are gates as whole modules
(`TRANSFORMERS_ACTIVATIONS`): several compute their GELU from a formula (``0.5 * x * (1 +
tanh(...))``, ``x * sigmoid(1.702 x)``) whose inner ``tanh``/``sigmoid`` is not the unit's gate.
The gate is read from the module's input (``1[input > 0]``, like every ReLU-family gate) and
the ops inside it are not seen; the library's other activation modules (mish, laplace,
linear, ...) are not gates and are opaque the same way. Recognised by class name and module
without importing transformers.

**Unit axis.** Gates are stored units first: ``(N, C, *positions)``. The caller decides each
gate's unit axis (`pycx.gates.layout`) and passes ``order``: `units_first` moves the last axis
of a units-last activation (a linear layer's ``(N, T, C)``) to axis 1, so that token positions
take the place of spatial positions. Max pooling keeps torch's own axes; GLU's units are on
the axis it splits.

This module imports torch; it is only loaded through `pycx.capture`.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from ..kernels.pack_bits import _pack_rows_core

from .kinds import KINDS, RELU_FAMILY, SATURATION, TERNARY

SIGMOID_LO, SIGMOID_HI = SATURATION, 1.0 - SATURATION
TANH_LO, TANH_HI = -1.0 + 2 * SATURATION, 1.0 - 2 * SATURATION

__all__ = ["KINDS", "RELU_FAMILY", "TERNARY", "OPS", "ACTIVATION_MODULES", "Gate", "run_gate",
           "resolve_kind", "module_gate", "module_gate_kind"]


def _ops():
    table = {}

    def add(kind, *funcs):
        for f in funcs:
            if f is not None:
                table[f] = kind

    T = torch.Tensor
    add("relu", F.relu, torch.relu, torch.relu_, T.relu, T.relu_)
    add("relu6", F.relu6)
    add("leaky_relu", F.leaky_relu, getattr(F, "leaky_relu_", None))
    add("prelu", F.prelu, torch.prelu)
    add("rrelu", F.rrelu, getattr(F, "rrelu_", None), torch.rrelu, torch.rrelu_)
    add("elu", F.elu, getattr(F, "elu_", None))
    add("selu", F.selu, torch.selu, torch.selu_)
    add("celu", F.celu, torch.celu, torch.celu_)
    add("gelu", F.gelu)
    add("silu", F.silu)
    add("mish", F.mish)
    add("softplus", F.softplus)
    add("hardswish", F.hardswish)
    add("hardsigmoid", F.hardsigmoid)
    add("glu", F.glu)
    add("sigmoid", torch.sigmoid, torch.sigmoid_, T.sigmoid, T.sigmoid_)
    add("tanh", torch.tanh, torch.tanh_, T.tanh, T.tanh_)
    add("maxpool", F.max_pool1d, F.max_pool2d, F.max_pool3d, F.max_pool1d_with_indices,
        F.max_pool2d_with_indices, F.max_pool3d_with_indices)
    add("dropout", F.dropout)
    # nn.ReLU6 is a Hardtanh(0, 6): F.hardtanh counts as relu6 when its lower bound is 0.
    add("hardtanh", F.hardtanh)
    return table


OPS = _ops()

# Module classes whose forward *is* one gating op: a call inside them is named after the module.
ACTIVATION_MODULES = (torch.nn.ReLU, torch.nn.ReLU6, torch.nn.LeakyReLU, torch.nn.PReLU,
                      torch.nn.RReLU, torch.nn.ELU, torch.nn.SELU, torch.nn.CELU, torch.nn.GELU,
                      torch.nn.SiLU, torch.nn.Mish, torch.nn.Softplus, torch.nn.Hardswish,
                      torch.nn.Hardsigmoid, torch.nn.GLU, torch.nn.Sigmoid, torch.nn.Tanh,
                      torch.nn.MaxPool1d, torch.nn.MaxPool2d, torch.nn.MaxPool3d, torch.nn.Dropout)

# transformers.activations classes -> gate kind ("" = not a gate: the module is opaque).
TRANSFORMERS_ACTIVATIONS = {
    "GELUActivation": "gelu", "NewGELUActivation": "gelu", "FastGELUActivation": "gelu",
    "QuickGELUActivation": "gelu", "GELUTanh": "gelu", "PytorchGELUTanh": "gelu",
    "AccurateGELUActivation": "gelu", "ClippedGELUActivation": "gelu",
    "SiLUActivation": "silu", "ReLUSquaredActivation": "relu",
}
_TRANSFORMERS_ACTIVATIONS_MODULE = "transformers.activations"


def module_gate_kind(module):
    """For a module of ``transformers.activations``: its gate kind (`TRANSFORMERS_ACTIVATIONS`),
    or ``""`` when it is not a gate; None for any other module (its ops are seen one by one)."""
    for cls in type(module).__mro__:
        if cls.__module__ == _TRANSFORMERS_ACTIVATIONS_MODULE:
            return TRANSFORMERS_ACTIVATIONS.get(cls.__name__, "")
    return None


def is_transformers_model(model) -> bool:
    """True when `model` or one of its submodules is a ``transformers.PreTrainedModel``
    (found by the class hierarchy, without importing transformers)."""
    return any(is_pretrained_class(type(module)) for module in model.modules())


def is_pretrained_class(cls) -> bool:
    """True when `cls` derives from ``transformers.PreTrainedModel``."""
    return any(c.__name__ == "PreTrainedModel" and c.__module__.startswith("transformers.")
               for c in cls.__mro__)


def units_first(t):
    """``(N, *positions, C) -> (N, C, *positions)`` (a view)."""
    return t.movedim(-1, 1)


def _same(t):
    return t


_POOL_WITH_INDICES = {
    F.max_pool1d: F.max_pool1d_with_indices, F.max_pool2d: F.max_pool2d_with_indices,
    F.max_pool3d: F.max_pool3d_with_indices, F.max_pool1d_with_indices: F.max_pool1d_with_indices,
    F.max_pool2d_with_indices: F.max_pool2d_with_indices,
    F.max_pool3d_with_indices: F.max_pool3d_with_indices,
}
_POOL_PARAMS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_POOL_DEFAULTS = {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}


def _bind(params, defaults, args, kwargs):
    bound = dict(defaults)
    bound.update(zip(params, args))
    bound.update(kwargs)
    return bound


def first_input(args, kwargs):
    if args:
        return args[0]
    return kwargs.get("input", kwargs.get("self"))


class Gate:
    """What one call of a gating op produced. ``bits``: the gate tensor to pack per sample, or
    ``None`` when ``pre`` (a float tensor, gate = pre > 0) is to be packed instead (the packing
    itself then happened before the op ran). ``values``: the float output (post-activation)."""

    __slots__ = ("kind", "bits", "words", "binary_words", "values", "unit_shape", "bits_per_unit")

    def __init__(self, kind, unit_shape, bits_per_unit=1):
        self.kind = kind
        self.unit_shape = tuple(unit_shape)
        self.bits_per_unit = bits_per_unit
        self.bits = None
        self.words = None
        self.binary_words = None
        self.values = None


def resolve_kind(func, args, kwargs):
    """The gate kind of this call, or None when the call is not a gate (hardtanh not starting at
    0, dropout in eval mode)."""
    kind = OPS.get(func)
    if kind == "hardtanh":
        lower = args[1] if len(args) > 1 else kwargs.get("min_val", -1.0)
        return "relu6" if lower == 0 else None
    if kind == "dropout":
        training = args[2] if len(args) > 2 else kwargs.get("training", True)
        return "dropout" if training else None
    return kind


def glu_dim(args, kwargs):
    """The (non-negative) axis that ``F.glu`` splits: its units' axis."""
    x = first_input(args, kwargs)
    dim = args[1] if len(args) > 1 else kwargs.get("dim", -1)
    return int(dim) % x.dim()


def run_gate(kind, func, args, kwargs, pack_input, order=None):
    """Runs the op; returns ``(output, Gate)``. `pack_input(tensor, threshold)` packs a float
    tensor per sample (called on a ReLU-family input before the op, in case it is in place).
    `order`: puts a tensor shaped like the op's input units first (`units_first` for a
    channels-last activation; default: as it is); the gate and its values are stored that way
    (max pooling ignores it: its channel axis is torch's axis 1)."""
    x = first_input(args, kwargs)
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        return None  # unbatched use: not a layer of a batched forward pass
    if order is None or kind == "maxpool":
        order = _same
    if kind in RELU_FAMILY:
        u = order(x)
        gate = Gate(kind, u.shape[1:])
        gate.words = pack_input(u, 0.0)
        out = func(*args, **kwargs)
        gate.values = order(out)
        return out, gate
    if kind in TERNARY:
        out = func(*args, **kwargs)
        if kind == "glu":  # out = a * sigmoid(b): the gate is the sigmoid of the second half b
            dim = glu_dim(args, kwargs)
            half = x.shape[dim] // 2
            u = order(torch.sigmoid(x.narrow(dim, half, half)))
            values = order(out)
        else:
            u = values = order(out)
        # hardsigmoid and glu share the sigmoid's output range [0, 1], and so its reading
        lo, hi, middle = (TANH_LO, TANH_HI, 0.0) if kind == "tanh" else (SIGMOID_LO, SIGMOID_HI, 0.5)
        gate = Gate(kind, u.shape[1:], bits_per_unit=2)
        # Layout: the lo bits of all units as channels [0, C), then the hi bits as [C, 2C).
        gate.bits = torch.cat([u < lo, u > hi], dim=1)
        gate.binary_words = pack_input(u, middle)
        gate.values = values
        return out, gate
    if kind == "maxpool":
        p = _bind(_POOL_PARAMS, _POOL_DEFAULTS, args, kwargs)
        with_indices = _POOL_WITH_INDICES[func]
        out, idx = with_indices(p["input"], p["kernel_size"], p["stride"], p["padding"],
                                p["dilation"], p["ceil_mode"])
        # Gate of each INPUT element: 1 when it is the argmax of at least one window. Indices
        # are flat offsets into the input's spatial plane of each (sample, channel).
        inp = p["input"]
        spatial = inp.dim() - 2
        mask = torch.zeros(inp.shape[0], inp.shape[1], int(np.prod(inp.shape[2:])),
                           dtype=torch.bool, device=inp.device)
        mask.scatter_(2, idx.reshape(idx.shape[0], idx.shape[1], -1), True)
        gate = Gate(kind, inp.shape[1:])
        gate.bits = mask.view(inp.shape[0], inp.shape[1], *inp.shape[2:2 + spatial])
        gate.values = out
        wants_indices = func in (F.max_pool1d_with_indices, F.max_pool2d_with_indices,
                                 F.max_pool3d_with_indices) or p["return_indices"]
        return ((out, idx) if wants_indices else out), gate
    if kind == "dropout":
        p = _bind(("input", "p", "training", "inplace"), {"p": 0.5, "training": True, "inplace": False},
                  args, kwargs)
        # native_dropout draws the same random numbers as F.dropout (same seed -> same output)
        # and returns the keep-mask itself, so the gate is exact even where the input is 0.
        out, keep = torch.native_dropout(p["input"], float(p["p"]), True)
        if p["inplace"]:
            out = p["input"].copy_(out)
        gate = Gate(kind, order(out).shape[1:])
        gate.bits = order(keep)
        gate.values = order(out)
        return out, gate
    raise ValueError(f"unknown gate kind {kind!r}")


def module_gate(kind, x, pack_input, order):
    """The gate of a whole activation module (`module_gate_kind`) from its input, read before
    its forward runs; the caller sets ``values`` from the output. None for an input that is
    not a batched float tensor. `order`: as in `run_gate`."""
    if not isinstance(x, torch.Tensor) or x.dim() < 2 or not x.is_floating_point():
        return None
    u = order(x)
    gate = Gate(kind, u.shape[1:])
    gate.words = pack_input(u, 0.0)
    return gate


_BYTE_WEIGHTS = {}


def pack_rows_torch(bits) -> np.ndarray:
    """Packs a 2-D bool tensor (rows, n_bits) on its own device into the `PackedBits` word
    layout and returns the host ``(rows, ceil(n_bits/64))`` uint64 array: only the bits cross
    to the host. Bytes are formed by weighting 8 bits with powers of two (LSB first); 8 bytes
    of a little-endian host form one uint64 word."""
    rows, n_bits = bits.shape
    n_words = (n_bits + 63) // 64
    b = bits.to(torch.uint8)
    pad = n_words * 64 - n_bits
    if pad:
        b = F.pad(b, (0, pad))
    weights = _BYTE_WEIGHTS.get(b.device)
    if weights is None:
        weights = _BYTE_WEIGHTS[b.device] = torch.tensor([1, 2, 4, 8, 16, 32, 64, 128],
                                                         dtype=torch.uint8, device=b.device)
    packed = (b.view(rows, n_words * 8, 8) * weights).sum(-1, dtype=torch.uint8)
    host = packed.cpu().numpy()
    return np.ascontiguousarray(host).view("<u8").view(np.uint64).reshape(rows, n_words)


_HOST_PACKABLE = (torch.float32, torch.float64, torch.bool, torch.uint8)


def pack_sample_rows(t, threshold=None) -> np.ndarray:
    """Per-sample words of a batched tensor: float gates are ``t > threshold``, bool ones as
    they are. CPU tensors of a dtype the kernels read are packed in place by the `pack_bits` core
    (no copy for contiguous input); the rest (GPU tensors, half precision) by `pack_rows_torch`."""
    t = t.detach()
    if t.device.type == "cpu" and t.dtype in _HOST_PACKABLE:
        # The trusted core: this tensor and threshold are the tracer's own (validate once).
        arr = t.numpy()
        flat = arr.reshape(arr.shape[0], math.prod(arr.shape[1:]))  # a view when contiguous
        return _pack_rows_core(flat, 0.0 if threshold is None else float(threshold)).words
    bits = t if threshold is None else t > threshold
    return pack_rows_torch(bits.reshape(t.shape[0], -1))
