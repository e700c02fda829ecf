"""Unit layout of gates (docs/definitions.md, "Unit axis"): which axis of an activation holds
the units, decided per layer, and the padding mask of token activations.

**The unit axis is traced.** While a forward pass runs, `UnitAxes` follows every tensor from the
op that gave its last axis a meaning: a linear map (``F.linear``, ``matmul``, ``addmm``,
``bmm``, an embedding) and a channels-last norm (``layer_norm`` over the last axis,
``rms_norm``) put the units last; a convolution and a channels-first norm (``batch_norm``,
``group_norm``, ``instance_norm``) put them on axis 1. Layout ops move the mark
(``permute``, ``transpose``, ``movedim``...); every other op keeps it where the output keeps
that axis (elementwise ops, pooling, padding, reshapes that keep the axis, indexing). A gate
reads its units on the axis its input carries, so a model mixing convolutions and MLPs
(MaxViT, CoAtNet, ConvNeXt) is read right layer by layer.

Where no op marked the input (a model's raw input, an unknown op) the default applies: the
last axis for the 3-D activations of a ``transformers`` model, axis 1 otherwise. The user's
``channel_axis`` (1 or -1, globally or per layer name) overrides both.

This module imports torch; it is only loaded through `pycx.capture`.
"""
from __future__ import annotations

import inspect
import weakref
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["UnitAxes", "UnitAxisRule", "check_channel_axis", "mask_argument_index"]

_T = torch.Tensor

# Ops whose output carries the units last / on axis 1, whatever their input carried.
_LAST = {F.linear, torch.matmul, _T.matmul, _T.__matmul__, torch.bmm, _T.bmm, torch.addmm,
         _T.addmm, torch.baddbmm, _T.baddbmm, F.embedding, F.bilinear}
_FIRST = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
          F.conv_transpose3d, F.batch_norm, F.instance_norm, F.group_norm}
_NAMES = {F.linear: "linear", F.embedding: "embedding", F.bilinear: "bilinear",
          F.batch_norm: "batch_norm", F.instance_norm: "instance_norm", F.group_norm: "group_norm",
          F.layer_norm: "layer_norm"}
_RMS_NORM = getattr(F, "rms_norm", None)
_PERMUTE = {torch.permute, _T.permute}
_TRANSPOSE = {torch.transpose, _T.transpose, torch.swapaxes, _T.swapaxes, torch.swapdims,
              _T.swapdims}
_MOVEDIM = {torch.movedim, _T.movedim, torch.moveaxis, _T.moveaxis}


def _op_name(func):
    name = _NAMES.get(func)
    if name is None:
        name = getattr(func, "__name__", None) or type(func).__name__
        _NAMES[func] = name
    return name


def _dims(args, start):
    """The dims of ``permute(x, *dims)`` / ``x.permute(dims)``."""
    rest = args[start:]
    if len(rest) == 1 and isinstance(rest[0], (tuple, list, torch.Size)):
        return [int(d) for d in rest[0]]
    return [int(d) for d in rest]


def _moved(n, source, destination):
    """Axis order after ``movedim(x, source, destination)`` on an ``n``-D tensor: the list of
    input axes in output order."""
    src = [s % n for s in (source if isinstance(source, (tuple, list)) else [source])]
    dst = [d % n for d in (destination if isinstance(destination, (tuple, list)) else [destination])]
    order = [None] * n
    for s, d in zip(src, dst):
        order[d] = s
    rest = iter(a for a in range(n) if a not in src)
    return [a if a is not None else next(rest) for a in order]


class _TensorMap:
    """A map from live tensors (by identity) to values, for one forward pass. Keyed by
    ``id(t)`` with a weak reference that proves the entry is still that tensor (an id is
    reused once its tensor is freed), so a lookup creates no object: torch's
    ``WeakIdKeyDictionary`` builds a reference per lookup, and this map is read for every
    input of every op of a traced pass. Entries of freed tensors stay until `UnitAxes.clear`
    (one per op of the pass; the tensors themselves are not kept alive)."""

    __slots__ = ("_d",)

    def __init__(self):
        self._d = {}

    def __bool__(self):
        return bool(self._d)

    def get(self, t, default=None):
        entry = self._d.get(id(t))
        if entry is not None and entry[0]() is t:
            return entry[1]
        return default

    def __setitem__(self, t, value):
        self._d[id(t)] = (weakref.ref(t), value)


class UnitAxes:
    """Which axis of each tensor of the running forward pass holds the units (module
    docstring). ``mark(t)``: ``(axis >= 0, op name)`` or None. Cleared after each pass."""

    def __init__(self):
        self._marks = _TensorMap()
        self._sequences = _TensorMap()
        self._leads = _TensorMap()

    def clear(self):
        self._marks = _TensorMap()
        self._sequences = _TensorMap()
        self._leads = _TensorMap()

    def tag_batch(self, t):
        """Tags a root input whose first axis is the batch."""
        self._leads[t] = 1

    def rows_per_sample(self, t):
        """k when the first axis of `t` is known to hold k rows per sample, sample-major (the
        batch axis merged with the axes after it by a reshape: patches, flattened tokens);
        1 for the batch itself; None when unknown."""
        return self._leads.get(t)

    def mark(self, t):
        return self._marks.get(t)

    def inherit_rows(self, source, t):
        """`t` holds one row per row of `source` with its units last (a mixture-of-experts
        gate recomputed from the tokens the experts received): it takes `source`'s rows per
        sample and sequence tag."""
        k = self._leads.get(source)
        if k is not None:
            self._leads[t] = k
        tag = self._sequences.get(source)
        if tag is not None:
            self._sequences[t] = tag
        self._marks[t] = (t.dim() - 1, "experts")

    def sequence(self, t):
        """The tag of the input sequence `t` derives from (`tag_sequence`), or None."""
        return self._sequences.get(t)

    def tag_sequence(self, t, tag):
        """Tags a root input (``input_ids``, ``decoder_input_ids``...): every tensor computed
        from it carries the tag of its first tagged input, so the encoder's padding mask is
        applied to the encoder's gates only (a decoder's tokens are another sequence)."""
        self._sequences[t] = tag

    def observe(self, func, args, kwargs, out):
        """Marks the tensor output(s) of one op from the op and its inputs' marks."""
        if isinstance(out, torch.Tensor):
            outs = (out,)
        elif isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
            outs = out
        else:
            return
        seq = self._first_sequence(args) if self._sequences else None
        lead = self._first_lead(args) if self._leads else None
        for t in outs:
            if isinstance(t, torch.Tensor):
                if seq is not None:
                    self._sequences[t] = seq
                if lead is not None and t.dim():
                    k = _rows_per_sample(func, args, kwargs, lead[0], lead[1], t)
                    if k is not None:
                        self._leads[t] = k
                if t.dim() >= 2:
                    m = self._rule(func, args, kwargs, t)
                    if m is not None:
                        self._marks[t] = m

    def _first_lead(self, args):
        for a in args:
            if isinstance(a, torch.Tensor):
                k = self._leads.get(a)
                if k is not None:
                    return a, k
        return None

    def _first_sequence(self, args):
        for a in args:
            if isinstance(a, torch.Tensor):
                tag = self._sequences.get(a)
                if tag is not None:
                    return tag
            elif isinstance(a, (tuple, list)):
                for b in a:
                    if isinstance(b, torch.Tensor):
                        tag = self._sequences.get(b)
                        if tag is not None:
                            return tag
        return None

    def _rule(self, func, args, kwargs, out):
        n = out.dim()
        if func in _LAST or func is _RMS_NORM:
            return n - 1, _op_name(func)
        if func in _FIRST:
            return 1, _op_name(func)
        if func is F.layer_norm:
            shape = args[1] if len(args) > 1 else kwargs.get("normalized_shape")
            if isinstance(shape, int) or (isinstance(shape, (tuple, list, torch.Size)) and len(shape) == 1):
                return n - 1, "layer_norm"
        source = self._first_marked(args, kwargs)
        if source is None:
            return None
        x, (axis, origin) = source
        try:
            if func in _PERMUTE:
                dims = [d % x.dim() for d in _dims(args, 1)] if len(args) > 1 else \
                    [d % x.dim() for d in kwargs["dims"]]
                return dims.index(axis), origin
            if func in _TRANSPOSE:
                d0 = int(args[1] if len(args) > 1 else kwargs["dim0"]) % x.dim()
                d1 = int(args[2] if len(args) > 2 else kwargs["dim1"]) % x.dim()
                return (d1 if axis == d0 else d0 if axis == d1 else axis), origin
            if func in _MOVEDIM:
                src = args[1] if len(args) > 1 else kwargs["source"]
                dst = args[2] if len(args) > 2 else kwargs["destination"]
                return _moved(x.dim(), src, dst).index(axis), origin
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        # Any other op: the mark stays where the output keeps the marked axis.
        size = x.shape[axis]
        if n == x.dim() and out.shape[axis] == size:
            return axis, origin
        if axis == x.dim() - 1 and out.shape[-1] == size:
            return n - 1, origin
        if axis == 1 and out.shape[:2] == x.shape[:2]:
            return 1, origin
        return None

    def _first_marked(self, args, kwargs):
        for a in args:
            if isinstance(a, torch.Tensor):
                m = self._marks.get(a)
                if m is not None:
                    return a, m
            elif isinstance(a, (tuple, list)):
                for b in a:
                    if isinstance(b, torch.Tensor):
                        m = self._marks.get(b)
                        if m is not None:
                            return b, m
        x = kwargs.get("input")
        if isinstance(x, torch.Tensor):
            m = self._marks.get(x)
            if m is not None:
                return x, m
        return None


def _rows_per_sample(func, args, kwargs, x, k, out):
    """Rows per sample of `out`'s first axis, from an input `x` with `k` rows per sample
    (sample-major), or None: kept where the first axis is kept; a reshape that merges the
    leading axes (or splits the first one) keeps the order sample-major, so the new count is
    ``k * out.shape[0] / x.shape[0]``; a layout op that moves axis 0 loses it."""
    if x.dim() == 0:
        return None
    if func in _PERMUTE or func in _TRANSPOSE or func in _MOVEDIM:
        return k if _first_axis_after(func, args, kwargs, x.dim()) == 0 else None
    n_in, n_out = int(x.shape[0]), int(out.shape[0])
    if n_out == n_in:
        return k
    if func not in _RESHAPES:
        return None
    s, o = list(x.shape), list(out.shape)
    if n_out > n_in and n_out % n_in == 0:      # merged: o[0] = s[0] * s[1] * ... * s[j-1]
        prod = 1
        for j, d in enumerate(s):
            prod *= d
            if prod == n_out and j >= 1:
                return k * (n_out // n_in)
        return None
    if n_in % n_out == 0:                       # split: s[0] = o[0] * o[1] * ... * o[j-1]
        prod = 1
        for j, d in enumerate(o):
            prod *= d
            if prod == n_in and j >= 1:
                total = k * n_out
                return total // n_in if total % n_in == 0 else None
    return None


def _first_axis_after(func, args, kwargs, n):
    """Which input axis a permute / transpose / movedim puts first (None: not readable)."""
    try:
        if func in _PERMUTE:
            dims = _dims(args, 1) if len(args) > 1 else list(kwargs["dims"])
            return dims[0] % n
        if func in _TRANSPOSE:
            d0 = int(args[1] if len(args) > 1 else kwargs["dim0"]) % n
            d1 = int(args[2] if len(args) > 2 else kwargs["dim1"]) % n
            return d1 if d0 == 0 else d0 if d1 == 0 else 0
        src = args[1] if len(args) > 1 else kwargs["source"]
        dst = args[2] if len(args) > 2 else kwargs["destination"]
        return _moved(n, src, dst)[0]
    except (KeyError, IndexError, TypeError, ValueError):
        return None


_RESHAPES = {torch.reshape, _T.reshape, _T.view, torch.flatten, _T.flatten, _T.unflatten,
             torch.unflatten, _T.view_as, _T.reshape_as}


def check_channel_axis(value):
    """The ``channel_axis`` argument: "auto", 1, -1, or a mapping of layer names to 1 / -1
    (the other layers: "auto")."""
    if isinstance(value, str) and value == "auto":
        return value
    if isinstance(value, Mapping):
        out = {}
        for name, axis in value.items():
            if not isinstance(name, str):
                raise TypeError(f"argument 'channel_axis' maps layer names (str) to 1 or -1, got "
                                f"key {name!r}")
            out[name] = _one_axis(axis, f"channel_axis[{name!r}]")
        return out
    return _one_axis(value, "channel_axis")


def _one_axis(value, what):
    if isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_)) \
            and int(value) in (1, -1):
        return int(value)
    raise ValueError(f"argument '{what}' must be 'auto', 1 (activations (N, C, ...)), -1 "
                     f"(activations (N, ..., C)) or a dict of layer names to 1 / -1, got {value!r}")


class UnitAxisRule:
    """Decides each gate's unit axis: ``decide(name, x) -> (axis, source)`` with axis 1 or -1
    (of the op's input ``x``) and source one of ``"channel_axis"`` (the user's override),
    ``"traced:<op>"`` (the op that marked ``x``), ``"default"`` (nothing marked it)."""

    def __init__(self, channel_axis, transformers_model):
        self.channel_axis = check_channel_axis(channel_axis)
        self.transformers_model = bool(transformers_model)
        override = self.channel_axis
        self.per_layer = override if isinstance(override, dict) else {}
        self.everywhere = override if isinstance(override, int) else None
        self.axes = UnitAxes()

    def decide(self, name, x):
        if x.dim() <= 2:
            return 1, "2-D"
        axis = self.per_layer.get(name, self.everywhere)
        if axis is not None:
            return axis, "channel_axis"
        mark = self.axes.mark(x)
        if mark is not None:
            if mark[0] == x.dim() - 1:
                return -1, f"traced:{mark[1]}"
            if mark[0] == 1:
                return 1, f"traced:{mark[1]}"
        return (-1 if self.transformers_model and x.dim() == 3 else 1), "default"

    def unknown_names(self, seen):
        """Layer names of the per-layer override that no gate of the model has."""
        return sorted(set(self.per_layer) - set(seen))


def mask_argument_index(model):
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
