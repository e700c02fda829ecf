"""Layer algebra (docs/definitions.md §6; Badias & Banerjee): architecture-only intrinsic power and
complexity, per layer and cumulative along the model's data-flow graph.

No data is needed: the graph comes from ``torch.fx`` and the spatial sizes from shape
propagation (run on meta tensors where possible, so no activation memory is allocated).
torch is imported inside the functions; ``import pycx`` never imports it.
"""
from __future__ import annotations

import contextlib
import copy
import csv
import io
import json
import math
import numbers
import operator
import warnings
from typing import TYPE_CHECKING, Any, Callable, Iterable, NamedTuple, Optional, Sequence

import numpy as np

from ..reference.layer_algebra import ACTIVATIONS

if TYPE_CHECKING:
    import torch

__all__ = ["LayerAlgebra", "UnknownLayerWarning", "activation_power", "layer_algebra",
           "register_layer_rule"]

# Row kinds of the table.
INPUT, LAYER, MERGE, RESAMPLE, SKIP, UNKNOWN, OUTPUT = (
    "input", "layer", "merge", "resample", "skip", "unknown", "output")


class UnknownLayerWarning(UserWarning):
    """Operations without a rule were met and treated as identity (p = 1, c = 0)."""


class _Local(NamedTuple):
    kind: str
    p: float
    c: float


# User rules: module classes, functions and method names -> fn(target, in_shapes, out_shape).
_USER_RULES: dict = {}


def register_layer_rule(type_or_function: "type | Callable | str",
                        fn: Optional[Callable]) -> None:
    """Adds (or, with ``fn=None``, removes) a local rule.

    ``type_or_function``: an ``nn.Module`` subclass (matched with isinstance; its instances are
    also kept as single opaque nodes when tracing), a function as it appears in the graph
    (``torch.erf``, ``F.gelu``, ``operator.add``), or a Tensor method name (``"clamp"``).
    ``fn(target, input_shapes, output_shape)`` gets the module (for a class) or the ``torch.fx``
    node (for a function/method), the shapes of the op's tensor arguments and of its output; it
    returns ``(p, c)`` with ``p > 0`` and ``c >= 0`` (``c = 0`` is neutral for the cumulative
    complexity), or ``None`` for "not a layer" (values pass through). User rules take precedence
    over the built-in ones.

    >>> import torch
    >>> class Double(torch.nn.Module):
    ...     def forward(self, x):
    ...         return 2 * x
    >>> register_layer_rule(Double, lambda module, in_shapes, out_shape: (2.0, 1.0))
    >>> alg = layer_algebra(torch.nn.Sequential(torch.nn.Linear(4, 2), Double()), (1, 4))
    >>> round(10 ** alg.gcip_log10, 6), round(alg.gsc, 6)     # p: (2/4) * 2; c: log2(8) + 1
    (1.0, 4.0)
    >>> register_layer_rule(Double, None)                     # removes the rule
    """
    if not (isinstance(type_or_function, (type, str)) or callable(type_or_function)):
        raise TypeError("argument 'type_or_function' must be an nn.Module subclass, a function or "
                        f"a method name, got {type(type_or_function).__name__}")
    if fn is None:
        _USER_RULES.pop(type_or_function, None)
        return
    if not callable(fn):
        raise TypeError(f"argument 'fn' must be callable or None, got {type(fn).__name__}")
    _USER_RULES[type_or_function] = fn


def activation_power(fn: Callable[[Any], Any], distribution: str = "normal", n: int = 1_000_000,
                     seed: int = 0,
                     scale: float = 1.0) -> float:
    """Data-driven intrinsic power of an activation (paper 002, appendix A):
    ``var(fn(x)) / var(x)`` for ``n`` samples x of a standard normal (``distribution="normal"``,
    times ``scale``) or of a uniform on ``[-scale, scale]``. ``fn`` is applied to the 1-D float64
    sample array: a numpy function, or a torch function/module (it then gets a tensor). Its
    complexity is the inverse (eq. 7). The paper's fixed values (definitions §6) come from its own
    setting; this function is for activations it does not list.

    >>> round(activation_power(lambda x: 2 * x), 6)                     # var(2x) / var(x)
    4.0
    >>> round(activation_power(lambda x: np.maximum(x, 0), n=100_000), 2)  # 1/2 - 1/(2 pi)
    0.34
    """
    if distribution not in ("normal", "uniform"):
        raise ValueError(f"argument 'distribution' must be 'normal' or 'uniform', got {distribution!r}")
    if not isinstance(n, numbers.Integral) or n < 2:
        raise ValueError(f"argument 'n' must be an int >= 2, got {n!r}")
    if not (isinstance(scale, numbers.Real) and scale > 0 and math.isfinite(scale)):
        raise ValueError(f"argument 'scale' must be a positive finite number, got {scale!r}")
    if not callable(fn):
        raise TypeError(f"argument 'fn' must be callable, got {type(fn).__name__}")
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(int(n)) * scale if distribution == "normal" \
        else rng.uniform(-scale, scale, int(n))
    is_torch = type(fn).__module__.split(".")[0] == "torch" or \
        (getattr(fn, "__module__", None) or "").split(".")[0] == "torch"
    if is_torch:
        import torch
        with torch.no_grad():
            y = fn(torch.from_numpy(x)).detach().cpu().numpy()
    else:
        y = np.asarray(fn(x), dtype=np.float64)
    if y.shape != x.shape:
        raise ValueError(f"argument 'fn' must act elementwise: got output shape {y.shape} "
                         f"for input shape {x.shape}")
    return float(np.var(y) / np.var(x))


# ----------------------------------------------------------------------------------------------
# Result


class LayerAlgebra:
    """Result of :func:`layer_algebra`.

    ``nodes``: one dict per node on the data flow (topological order) with ``name``, ``op``,
    ``kind`` (input / layer / merge / resample / skip / unknown / output), local ``p`` and ``c``,
    the cumulative ``power_log10`` and ``complexity_log10`` after the node, ``inputs`` and
    ``output_shape``. ``layers``: the same without pass-through nodes (kind "skip").
    Global values: ``gcip_log10``, ``gcc_log10``, ``gsc`` (a plain sum) and ``gsc_log10``,
    ``gwc_log10`` (GWC = GCC * GSC).
    """

    _COLUMNS = ("name", "op", "kind", "p", "c", "power_log10", "complexity_log10", "output_shape")

    def __init__(self, nodes, output_name, unknown_ops):
        self.nodes = nodes
        self.unknown_ops = unknown_ops
        out = next(r for r in nodes if r["name"] == output_name)
        self.gcip_log10 = out["power_log10"]
        self.gcc_log10 = out["complexity_log10"]
        self.gsc = math.fsum(r["c"] for r in nodes)
        self.gsc_log10 = math.log10(self.gsc) if self.gsc > 0 else -math.inf
        self.gwc_log10 = self.gcc_log10 + self.gsc_log10

    @property
    def layers(self):
        return [r for r in self.nodes if r["kind"] != SKIP]

    @property
    def graph(self):
        """The graph as ``pycx.reference.layer_algebra.combine`` takes it."""
        return [{"name": r["name"], "inputs": list(r["inputs"]), "p": r["p"], "c": r["c"]}
                for r in self.nodes]

    def summary(self) -> dict:
        return {"gcip_log10": self.gcip_log10, "gcc_log10": self.gcc_log10, "gsc": self.gsc,
                "gsc_log10": self.gsc_log10, "gwc_log10": self.gwc_log10,
                "n_layers": sum(r["kind"] == LAYER for r in self.nodes),
                "unknown_ops": list(self.unknown_ops)}

    def _rows(self, all_nodes):
        rows = self.nodes if all_nodes else self.layers
        return [{k: (str(r[k]) if k == "output_shape" else r[k]) for k in self._COLUMNS} for r in rows]

    def to_dict(self, all_nodes: bool = False) -> dict:
        return dict(self.summary(), layers=self._rows(all_nodes))

    def to_json(self, path=None, all_nodes: bool = False) -> str:
        # -inf (no complexity at all) is not JSON: written as null.
        data = self.to_dict(all_nodes)
        if data["gsc_log10"] == -math.inf:
            data["gsc_log10"] = data["gwc_log10"] = None
        text = json.dumps(data, indent=1)
        if path is not None:
            with open(path, "w") as f:
                f.write(text)
        return text

    def to_csv(self, path=None, all_nodes: bool = False) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self._COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(self._rows(all_nodes))
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(text)
        return text

    def to_pandas(self, all_nodes: bool = False):
        import pandas as pd
        return pd.DataFrame(self._rows(all_nodes), columns=list(self._COLUMNS))

    def __repr__(self):
        return (f"LayerAlgebra({sum(r['kind'] == LAYER for r in self.nodes)} layers, "
                f"log10 GCIP={self.gcip_log10:.4g}, log10 GCC={self.gcc_log10:.4g}, "
                f"GSC={self.gsc:.4g}, log10 GWC={self.gwc_log10:.4g})")


# ----------------------------------------------------------------------------------------------
# Local rules


def _prod(values):
    out = 1
    for v in values:
        out *= int(v)
    return out


def _conv(n_k, big_k, s_i, s_o):
    return n_k * s_o / (big_k * s_i), n_k * math.log2(big_k)


def _spatial(shape, dims):
    return _prod(shape[len(shape) - dims:]) if dims else 1


def _ntuple(value, dims):
    return tuple(value) if isinstance(value, (tuple, list)) else (value,) * dims


# How a grouped convolution's kernel size K counts input channels (definitions §6):
# "per_group": K = k * C_in / groups, the inputs one filter reads (the default);
# "all_inputs": K = k * C_in, as if every filter read every input channel.
CONV_KERNELS = ("per_group", "all_inputs")


def _module_conv(conv_kernel):
    def rule(m, in_shapes, out_shape):
        dims = len(m.kernel_size)
        groups = m.groups if conv_kernel == "per_group" else 1
        big_k = _prod(m.kernel_size) * m.in_channels / groups
        return _conv(m.out_channels, big_k, _spatial(in_shapes[0], dims),
                     _spatial(out_shape, dims))
    return rule


def _module_conv_transpose(conv_kernel):
    return lambda m, in_shapes, out_shape: _conv_transpose_values(
        m.out_channels, _prod(m.kernel_size),
        m.in_channels / (m.groups if conv_kernel == "per_group" else 1),
        in_shapes, out_shape, len(m.kernel_size))


def _conv_transpose_values(n_k, k, per_group, in_shapes, out_shape, dims):
    s_i, s_o = _spatial(in_shapes[0], dims), _spatial(out_shape, dims)
    return n_k * k * s_o / (per_group * s_i), n_k * math.log2(k * per_group)


def _pool(k, s_i, s_o):
    return s_o / (k * s_i), math.log2(k)


def _adaptive_pool(in_shape, out_shape, dims):
    # Window of an adaptive pooling: ceil(in / out) per axis (exact when out divides in); a
    # 1x1 output is global pooling, k = S_i.
    k = _prod(-(-int(i) // int(o)) for i, o in zip(in_shape[-dims:], out_shape[-dims:]))
    return _pool(k, _spatial(in_shape, dims), _spatial(out_shape, dims))


def _pool_dims(m):
    name = type(m).__name__
    return int(name[-2]) if name[-2:-1].isdigit() else 2


def _module_pool(m, in_shapes, out_shape):
    dims = _pool_dims(m)
    k = _prod(_ntuple(m.kernel_size, dims))
    return _pool(k, _spatial(in_shapes[0], dims), _spatial(out_shape, dims))


def _module_adaptive_pool(m, in_shapes, out_shape):
    return _adaptive_pool(in_shapes[0], out_shape, _pool_dims(m))


def _module_linear(m, in_shapes, out_shape):
    return m.out_features / m.in_features, math.log2(m.out_features * m.in_features)


def _activation(name):
    values = ACTIVATIONS[name]
    return lambda *_: values


def _arg(node, index, key, default=None):
    """A call's argument by position or keyword, with the value of a non-tensor graph node
    (e.g. a kernel size read from ``x.size()``) resolved from shape propagation."""
    import torch.fx
    value = node.args[index] if len(node.args) > index else node.kwargs.get(key, default)
    # Nodes nested in tuples/lists too: ``kernel_size=(x.size(2), x.size(3))`` (DPN's global
    # pooling) is a tuple of two traced ints. A node without a propagated value gives None
    # (the rule then treats the op as unknown) rather than a Node reaching int().
    resolved = torch.fx.node.map_arg(value, lambda n: n.meta.get("pycx_value", None))
    if isinstance(resolved, (tuple, list)) and any(v is None for v in resolved):
        return None
    return resolved


def _function_conv(conv_kernel):
    def rule(node, in_shapes, out_shape):
        w = in_shapes[1]   # (out, in / groups, *kernel)
        dims = len(w) - 2
        # all_inputs: the input's channel axis (axis 1; C_in / groups * groups) for w[1].
        per_filter = w[1] if conv_kernel == "per_group" else in_shapes[0][1]
        big_k = _prod(w[2:]) * per_filter
        return _conv(w[0], big_k, _spatial(in_shapes[0], dims), _spatial(out_shape, dims))
    return rule


def _function_conv_transpose(conv_kernel):
    def rule(node, in_shapes, out_shape):
        w = in_shapes[1]   # (in, out / groups, *kernel)
        groups = _arg(node, 6, "groups", 1)
        dims = len(w) - 2
        per_group = w[0] / (groups if conv_kernel == "per_group" else 1)
        return _conv_transpose_values(w[1] * groups, _prod(w[2:]), per_group, in_shapes,
                                      out_shape, dims)
    return rule


def _function_linear(node, in_shapes, out_shape):
    d_out, d_in = in_shapes[1]
    return d_out / d_in, math.log2(d_out * d_in)


def _function_pool(dims):
    def rule(node, in_shapes, out_shape):
        size = _arg(node, 1, "kernel_size")
        if size is None:
            return None
        k = _prod(_ntuple(size, dims))
        return _pool(k, _spatial(in_shapes[0], dims), _spatial(out_shape, dims))
    return rule


def _function_adaptive_pool(dims):
    return lambda node, in_shapes, out_shape: _adaptive_pool(in_shapes[0], out_shape, dims)


def _spatial_reduction(node, in_shapes, out_shape):
    """``x.mean((2, 3))`` / ``amax`` over spatial axes only: global pooling over those axes."""
    dims = _arg(node, 1, "dim")
    shape = in_shapes[0]
    if dims is None or len(shape) < 3:
        return "unknown"
    axes = {d % len(shape) for d in _ntuple(dims, 1)}
    if min(axes) < 2:
        return "unknown"
    k = _prod(shape[a] for a in axes)
    return 1.0 / (k * k), math.log2(k)


def _resample(target, in_shapes, out_shape):
    return _prod(out_shape) / _prod(in_shapes[0]), 0.0


def _builtin_rules(conv_kernel="per_group"):
    """Built-in rules: (module classes, functions, method names) -> (kind, rule)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    relu, tanh, sigmoid, softmax = (_activation(a) for a in ("relu", "tanh", "sigmoid", "softmax"))
    relu_modules = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU,
                    nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish, nn.Softplus)
    modules = [
        ((nn.Conv1d, nn.Conv2d, nn.Conv3d), LAYER, _module_conv(conv_kernel)),
        ((nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d), LAYER,
         _module_conv_transpose(conv_kernel)),
        ((nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
          nn.LPPool1d, nn.LPPool2d), LAYER, _module_pool),
        ((nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
          nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d), LAYER, _module_adaptive_pool),
        ((nn.Linear,), LAYER, _module_linear),
        (relu_modules, LAYER, relu),
        ((nn.Tanh,), LAYER, tanh),
        ((nn.Sigmoid, nn.Hardsigmoid), LAYER, sigmoid),
        ((nn.Softmax, nn.Softmin, nn.Softmax2d), LAYER, softmax),
        ((nn.Upsample, nn.ZeroPad2d, nn.ConstantPad1d, nn.ConstantPad2d, nn.ConstantPad3d,
          nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReplicationPad1d, nn.ReplicationPad2d,
          nn.PixelShuffle, nn.PixelUnshuffle), RESAMPLE, _resample),
        # Not layers (paper sections 5.10-5.11 for BatchNorm and Dropout; other normalisations
        # and pure reshapes likewise leave the data's power and the capacity unchanged).
        ((nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm,
          nn.modules.dropout._DropoutNd, nn.Flatten, nn.Unflatten, nn.Identity), SKIP, None),
    ]
    module_rules = [(cls, kind, rule) for classes, kind, rule in modules for cls in classes]

    functions = {}
    for fns, kind, rule in [
        ((F.conv1d, F.conv2d, F.conv3d), LAYER, _function_conv(conv_kernel)),
        ((F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d), LAYER,
         _function_conv_transpose(conv_kernel)),
        ((F.linear,), LAYER, _function_linear),
        ((F.max_pool1d, F.avg_pool1d), LAYER, _function_pool(1)),
        ((F.max_pool2d, F.avg_pool2d), LAYER, _function_pool(2)),
        ((F.max_pool3d, F.avg_pool3d), LAYER, _function_pool(3)),
        ((F.adaptive_avg_pool1d, F.adaptive_max_pool1d), LAYER, _function_adaptive_pool(1)),
        ((F.adaptive_avg_pool2d, F.adaptive_max_pool2d), LAYER, _function_adaptive_pool(2)),
        ((F.adaptive_avg_pool3d, F.adaptive_max_pool3d), LAYER, _function_adaptive_pool(3)),
        ((torch.mean, torch.amax), LAYER, _spatial_reduction),
        ((F.relu, F.relu_, torch.relu, torch.relu_, F.relu6, F.leaky_relu, F.leaky_relu_, F.elu,
          F.elu_, F.selu, F.celu, F.gelu, F.silu, F.mish, F.hardswish, F.softplus, F.prelu,
          F.rrelu), LAYER, relu),
        ((torch.tanh, F.tanh, F.hardtanh), LAYER, tanh),
        ((torch.sigmoid, F.sigmoid, F.hardsigmoid), LAYER, sigmoid),
        ((F.softmax, torch.softmax, F.softmin), LAYER, softmax),
        ((F.pad, operator.getitem, F.interpolate, F.pixel_shuffle, F.pixel_unshuffle),
         RESAMPLE, _resample),
        ((operator.add, operator.iadd, operator.sub, operator.isub, operator.mul, operator.imul,
          operator.truediv, operator.itruediv, torch.add, torch.sub, torch.mul, torch.div,
          torch.cat, torch.concat, torch.stack), MERGE, None),
        ((torch.flatten, torch.reshape, torch.squeeze, torch.unsqueeze, torch.transpose,
          torch.permute, torch.clone, torch.chunk, torch.split, operator.neg, operator.pos,
          F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, F.batch_norm,
          F.layer_norm, F.group_norm, F.instance_norm, F.normalize, getattr), SKIP, None),
    ]:
        for fn in fns:
            functions[fn] = (kind, rule)
    functions.update(_aten_rules(conv_kernel, relu, tanh, sigmoid, softmax))
    methods = {}
    for names, kind, rule in [
        (("relu", "relu_"), LAYER, relu),
        (("tanh", "tanh_"), LAYER, tanh),
        (("sigmoid", "sigmoid_"), LAYER, sigmoid),
        (("softmax",), LAYER, softmax),
        (("mean", "amax"), LAYER, _spatial_reduction),
        (("add", "add_", "sub", "sub_", "mul", "mul_", "div", "div_"), MERGE, None),
        (("view", "view_as", "reshape", "reshape_as", "flatten", "squeeze", "unsqueeze", "permute",
          "transpose", "contiguous", "clone", "detach", "to", "float", "double", "half", "type",
          "type_as", "chunk", "split", "size", "dim", "numel"), SKIP, None),
    ]:
        for name in names:
            methods[name] = (kind, rule)
    return module_rules, functions, methods


def _weight_product(node, in_shapes, out_shape):
    """``x @ W`` (``mm``, ``matmul``, ``addmm``): a linear map where W is a parameter of the
    model (a graph attribute), ``W`` of shape (in, out); a product of two data tensors (the
    scores and values of attention) otherwise — a merge."""
    import torch.fx
    w = node.args[-1]
    if isinstance(w, torch.fx.Node) and w.op == "get_attr" and len(in_shapes[-1]) == 2:
        d_in, d_out = in_shapes[-1]
        return d_out / d_in, math.log2(d_out * d_in)
    return "merge"


def _embedding(node, in_shapes, out_shape):
    """An embedding table (V, d) read as the linear map of a one-hot token (V inputs) to d
    outputs: p = d / V, c = log2(V d) (**Decision**, definitions §6: the paper has no token
    inputs; this is the linear layer an embedding is)."""
    if not in_shapes or len(in_shapes[0]) != 2:
        return "unknown"
    vocab, d = in_shapes[0]
    return d / vocab, math.log2(vocab * d)


def _grouped_product(node, in_shapes, out_shape):
    """A mixture of experts' batched product ``x @ W[e]`` (``_grouped_mm``), W of shape
    (experts, in, out): each token goes through one expert's linear map."""
    w = in_shapes[1] if len(in_shapes) > 1 else None
    if w is None or len(w) != 3:
        return "unknown"
    d_in, d_out = w[1], w[2]
    return d_out / d_in, math.log2(d_out * d_in)


def _aten_rules(conv_kernel, relu, tanh, sigmoid, softmax):
    """Rules for the ATen ops of a graph made by ``torch.export`` (the route for models that
    ``torch.fx`` cannot trace, e.g. Hugging Face models): the same rules as the functions they
    come from. ``scaled_dot_product_attention`` has the softmax's rule (the attention's
    nonlinearity, definitions §6); its projections are linear nodes of their own."""
    import torch
    aten = torch.ops.aten

    def ops(*names):
        out = []
        for name in names:
            packet, _, overload = name.partition(".")
            op = getattr(getattr(aten, packet, None), overload or "default", None)
            if op is not None:
                out.append(op)
        return out

    table = {}
    for names, kind, rule in [
        (("linear",), LAYER, _function_linear),
        (("mm", "matmul", "addmm", "bmm"), LAYER, _weight_product),
        (("_grouped_mm",), LAYER, _grouped_product),
        (("embedding",), LAYER, _embedding),
        (("conv1d", "conv2d", "conv3d"), LAYER, _function_conv(conv_kernel)),
        (("conv_transpose1d", "conv_transpose2d.input", "conv_transpose3d.input"), LAYER,
         _function_conv_transpose(conv_kernel)),
        (("max_pool1d", "avg_pool1d"), LAYER, _function_pool(1)),
        (("max_pool2d", "avg_pool2d", "max_pool2d_with_indices"), LAYER, _function_pool(2)),
        (("max_pool3d", "avg_pool3d", "max_pool3d_with_indices"), LAYER, _function_pool(3)),
        (("adaptive_avg_pool1d", "adaptive_max_pool1d"), LAYER, _function_adaptive_pool(1)),
        (("adaptive_avg_pool2d", "adaptive_max_pool2d"), LAYER, _function_adaptive_pool(2)),
        (("adaptive_avg_pool3d", "adaptive_max_pool3d"), LAYER, _function_adaptive_pool(3)),
        (("mean.dim", "amax"), LAYER, _spatial_reduction),
        (("relu", "relu_", "gelu", "gelu_", "silu", "silu_", "elu", "elu_", "selu", "selu_",
          "celu", "celu_", "leaky_relu", "leaky_relu_", "prelu", "rrelu", "mish", "mish_",
          "hardswish", "hardswish_", "softplus", "relu6"), LAYER, relu),
        (("tanh", "tanh_", "hardtanh", "hardtanh_"), LAYER, tanh),
        (("sigmoid", "sigmoid_", "hardsigmoid", "hardsigmoid_"), LAYER, sigmoid),
        (("softmax.int", "_softmax", "log_softmax.int", "_log_softmax",
          "scaled_dot_product_attention"), LAYER, softmax),
        (("constant_pad_nd", "pad", "upsample_nearest2d.vec", "upsample_bilinear2d.vec",
          "slice.Tensor", "select.int", "index.Tensor", "pixel_shuffle", "pixel_unshuffle"),
         RESAMPLE, _resample),
        (("add.Tensor", "add_.Tensor", "sub.Tensor", "sub_.Tensor", "mul.Tensor", "mul_.Tensor",
          "div.Tensor", "div_.Tensor", "cat", "stack", "where.self"), MERGE, None),
        (("view", "_unsafe_view", "reshape", "permute", "transpose.int", "t", "unsqueeze",
          "squeeze.dim", "squeeze.dims", "squeeze", "expand", "clone", "contiguous", "_to_copy",
          "to.dtype", "to.dtype_layout", "to.device", "detach", "alias", "flatten.using_ints",
          "unflatten.int", "dropout", "native_dropout", "layer_norm", "native_layer_norm",
          "batch_norm", "_native_batch_norm_legit_no_training", "group_norm",
          "native_group_norm", "rms_norm", "instance_norm", "split.Tensor",
          "split_with_sizes", "chunk", "unbind.int", "lift_fresh_copy", "_assert_tensor_metadata",
          "type_as", "neg", "abs", "pow.Tensor_Scalar", "rsqrt", "sqrt", "mean.default",
          "index_put_", "index_put", "sum.dim_IntList", "scatter_add_", "index_add_",
          # masks, positions and routing: comparisons and index arithmetic on the input ids
          "eq.Scalar", "eq.Tensor", "ne.Scalar", "ne.Tensor", "ge.Scalar", "gt.Scalar",
          "le.Scalar", "lt.Scalar", "__and__.Tensor", "__or__.Tensor", "bitwise_and.Tensor",
          "bitwise_or.Tensor", "logical_and", "logical_or", "logical_not", "where.ScalarOther",
          "where.ScalarSelf", "masked_fill.Scalar", "cumsum", "gather", "floor_divide",
          "empty_like", "zeros_like", "ones_like", "full_like", "histc", "topk", "argsort",
          "sort", "one_hot", "nonzero", "bincount"), SKIP, None),
    ]:
        for op in ops(*names):
            table[op] = (kind, rule)
    # transformers' stand-in for _grouped_mm where torch lacks a kernel (mixture of experts)
    fallback = getattr(getattr(getattr(torch.ops, "transformers", None), "grouped_mm_fallback",
                               None), "default", None)
    if fallback is not None:
        table[fallback] = (LAYER, _grouped_product)
    return table


# ----------------------------------------------------------------------------------------------
# Graph


def _is_tensor_meta(meta):
    from torch.fx.passes.shape_prop import TensorMetadata
    return isinstance(meta, TensorMetadata)


def _shapes_in(value):
    """Shapes of every tensor found in a (nested) argument value."""
    import torch.fx
    out = []
    if isinstance(value, torch.fx.Node):
        meta = value.meta.get("tensor_meta")
        if _is_tensor_meta(meta):
            out.append(tuple(meta.shape))
    elif isinstance(value, (tuple, list)):
        for v in value:
            out.extend(_shapes_in(v))
    elif isinstance(value, dict):
        for v in value.values():
            out.extend(_shapes_in(v))
    return out


def _carries_tensor(node):
    meta = node.meta.get("tensor_meta")
    if meta is None:
        return False
    if _is_tensor_meta(meta):
        return True
    return isinstance(meta, (tuple, list)) and any(_is_tensor_meta(m) for m in meta)


def _op_label(node, modules):
    if node.op == "call_module":
        return type(modules[node.target]).__name__
    if node.op == "call_method":
        return f"Tensor.{node.target}"
    if node.op == "call_function":
        mod = getattr(node.target, "__module__", None) or ""
        short = {"torch.nn.functional": "F", "_operator": "operator", "builtins": ""}.get(
            mod, mod.split(".")[0])
        name = getattr(node.target, "__name__", str(node.target))
        return f"{short}.{name}" if short else name
    return node.op


def _find_rule(node, modules, builtins):
    """(kind, rule, target passed to the rule) of a call node, or None if no rule knows it."""
    module_rules, functions, methods = builtins
    if node.op == "call_module":
        module = modules[node.target]
        for cls in type(module).__mro__:
            if cls in _USER_RULES:
                return "user", _USER_RULES[cls], module
        for cls, kind, rule in module_rules:
            if isinstance(module, cls):
                return kind, rule, module
        return None
    table = functions if node.op == "call_function" else methods
    try:
        user = _USER_RULES.get(node.target)
        known = table.get(node.target)
    except TypeError:  # unhashable target
        return None
    if user is not None:
        return "user", user, node
    if known is not None:
        return known[0], known[1], node
    return None


def _checked(p, c, label):
    p, c = float(p), float(c)
    if not (p > 0 and math.isfinite(p)) or not (c >= 0 and math.isfinite(c)):
        raise ValueError(f"the layer rule of {label} returned p={p}, c={c}; "
                         "need p > 0 and c >= 0, both finite")
    return p, c


def _local(node, modules, builtins, valued_inputs, resample_power):
    """Local (kind, p, c) of a node whose output carries data."""
    label = _op_label(node, modules)
    found = _find_rule(node, modules, builtins)
    if found is None:
        return _Local(UNKNOWN, 1.0, 0.0)
    kind, rule, target = found
    if rule is None:
        return _Local(kind if kind != MERGE or len(valued_inputs) > 1 else SKIP, 1.0, 0.0)
    in_shapes = _shapes_in(list(node.args) + list(node.kwargs.values()))
    out_meta = node.meta.get("tensor_meta")
    out_shape = tuple(out_meta.shape) if _is_tensor_meta(out_meta) else None
    if kind == RESAMPLE:
        # getitem of a tuple (chunk, split) and slicing without a tensor in/out: pass through.
        if not resample_power or out_shape is None or not in_shapes:
            return _Local(SKIP, 1.0, 0.0)
        p, c = rule(target, in_shapes, out_shape)
        return _Local(RESAMPLE if p != 1.0 else SKIP, p, c)
    try:
        values = rule(target, in_shapes, out_shape)
    except Exception as exc:
        if kind == "user":
            raise RuntimeError(f"the layer rule registered for {label} (node {node.name!r}) "
                               f"failed: {exc}") from exc
        raise
    if values is None:
        return _Local(SKIP, 1.0, 0.0)
    if values == "unknown":
        return _Local(UNKNOWN, 1.0, 0.0)
    if values == "merge":
        return _Local(MERGE if len(valued_inputs) > 1 else SKIP, 1.0, 0.0)
    p, c = _checked(*values, label)
    return _Local(LAYER, p, c)


def _log10_sum(logs):
    top = max(logs)
    return top + math.log10(math.fsum(10.0 ** (x - top) for x in logs))


# Keyword inputs of Hugging Face models that are not the data (masks, positions, flags): the
# paths from them do not carry the input's power (definitions §6).
_NOT_DATA_INPUTS = {"attention_mask", "decoder_attention_mask", "token_type_ids", "position_ids",
                    "decoder_position_ids", "head_mask", "cross_attn_head_mask", "use_cache",
                    "cache_position", "output_attentions", "output_hidden_states", "return_dict"}


def _walk(graph_module, resample_power, conv_kernel="per_group"):
    """Cumulative log10 values in topological order (fx graphs are topologically sorted)."""
    modules = dict(graph_module.named_modules())
    builtins = _builtin_rules(conv_kernel)
    rows, state = [], {}   # state: node -> (power_log10, complexity_log10) for data-carrying nodes
    unknown = {}
    output_name = None
    for node in graph_module.graph.nodes:
        if node.op == "placeholder":
            if not _carries_tensor(node) or node.target in _NOT_DATA_INPUTS:
                continue
            local, incoming, inputs = _Local(INPUT, 1.0, 0.0), (0.0, 0.0), []
        else:
            inputs = [a for a in _flat_nodes(node.args, node.kwargs) if a in state]
            if not inputs:
                continue   # constants, parameters, values not derived from the input
            if node.op == "output":
                local = _Local(OUTPUT, 1.0, 0.0)
            elif not _carries_tensor(node):
                continue   # sizes, shapes and other non-tensor values
            else:
                local = _local(node, modules, builtins, inputs, resample_power)
            if len(inputs) == 1:
                incoming = state[inputs[0]]
            else:
                incoming = (max(state[a][0] for a in inputs),
                            _log10_sum([state[a][1] for a in inputs]))
        if local.kind == UNKNOWN:
            label = _op_label(node, modules)
            unknown[label] = unknown.get(label, 0) + 1
        value = (incoming[0] + math.log10(local.p),
                 incoming[1] + (math.log10(local.c) if local.c > 0 else 0.0))
        state[node] = value
        meta = node.meta.get("tensor_meta")
        rows.append({"name": node.name, "op": _op_label(node, modules), "kind": local.kind,
                     "p": local.p, "c": local.c, "power_log10": value[0],
                     "complexity_log10": value[1], "inputs": [a.name for a in inputs],
                     "output_shape": tuple(meta.shape) if _is_tensor_meta(meta) else None})
        if node.op == "output":
            output_name = node.name
    if output_name is None:
        raise ValueError("the model's output does not depend on its input: nothing to measure")
    return rows, output_name, unknown


def _flat_nodes(args, kwargs):
    import torch.fx
    out = []
    torch.fx.node.map_arg((args, kwargs), out.append)
    return out


# ----------------------------------------------------------------------------------------------
# Tracing and shape propagation


def _check_input_shape(input_shape):
    def is_shape(s):
        return isinstance(s, (tuple, list)) and len(s) > 0 and all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d >= 1 for d in s)
    if is_shape(input_shape):
        return [tuple(int(d) for d in input_shape)]
    if isinstance(input_shape, (tuple, list)) and input_shape and all(is_shape(s) for s in input_shape):
        return [tuple(int(d) for d in s) for s in input_shape]
    raise ValueError("argument 'input_shape' must be the shape of one input tensor, batch axis "
                     "included, e.g. (1, 3, 224, 224), or a list of such shapes (one per input); "
                     f"got {input_shape!r}")


def _trace(model, leaf_modules, concrete_args):
    import torch.fx

    leaf_types = tuple(x for x in leaf_modules if isinstance(x, type))
    leaf_names = {x for x in leaf_modules if isinstance(x, str)}
    bad = [x for x in leaf_modules if not isinstance(x, (type, str))]
    if bad:
        raise TypeError("argument 'leaf_modules' must hold nn.Module subclasses or submodule "
                        f"names, got {bad!r}")
    user_types = tuple(k for k in _USER_RULES if isinstance(k, type))

    class Tracer(torch.fx.Tracer):
        def is_leaf_module(self, m, qualified_name):
            if qualified_name in leaf_names or isinstance(m, leaf_types + user_types):
                return True
            return super().is_leaf_module(m, qualified_name)

    tracer = Tracer()
    try:
        graph = tracer.trace(model, concrete_args=concrete_args)
    except Exception as exc:
        raise RuntimeError(
            f"pycx.layer_algebra could not trace the model with torch.fx "
            f"({type(exc).__name__}: {exc}). The layer algebra reads the model's graph without "
            "data, so the forward must not branch on tensor values (data-dependent control "
            "flow). Work-arounds: pass leaf_modules=[SubmoduleClass or 'submodule.name'] to keep "
            "the offending submodule as one opaque node (give it a rule with "
            "pycx.register_layer_rule), or concrete_args={'arg': value} to fix the forward "
            "arguments the control flow depends on.") from exc
    name = type(model).__name__ if isinstance(model, torch.nn.Module) else "model"
    return torch.fx.GraphModule(tracer.root, graph, name)


_ACTIVATION_STANDINS = {"gelu": "GELU", "silu": "SiLU", "relu": "ReLU"}


@contextlib.contextmanager
def _standard_parts(model):
    """Within: the model's activation modules of ``transformers`` are ``nn.GELU`` / ``nn.SiLU``
    / ``nn.ReLU`` and its own normalisation modules (a class named ``...Norm`` without
    children: RMSNorm, T5LayerNorm...) are identity, so that ``torch.export`` records one op
    the rules know instead of their formulas. Shapes are all the layer algebra reads: the
    stand-ins keep them. Restored on exit."""
    from torch import nn

    from ..gates.ops import module_gate_kind

    swapped = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            kind = module_gate_kind(child)
            if kind:
                stand_in = getattr(nn, _ACTIVATION_STANDINS.get(kind, "ReLU"))()
            elif (type(child).__name__.endswith("Norm") and not list(child.children())
                  and type(child).__module__.split(".")[0] != "torch"):
                stand_in = nn.Identity()
            else:
                continue
            setattr(parent, name, stand_in)
            swapped.append((parent, name, child))
    try:
        yield
    finally:
        for parent, name, child in reversed(swapped):
            setattr(parent, name, child)


def _export(model, args, kwargs):
    """The model's graph by ``torch.export`` (ATen ops, parameters as attributes): for models
    that ``torch.fx`` cannot trace symbolically (Hugging Face models: data-dependent Python
    in their masking code), traced on a real example instead. `kwargs` gains
    ``use_cache=False`` where the forward takes it (the graph then expects it too)."""
    import inspect

    import torch

    try:
        takes_cache = "use_cache" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        takes_cache = False
    if takes_cache:
        kwargs.setdefault("use_cache", False)  # a cache object in the output cannot be exported
    modes = {m: m.training for m in model.modules()}
    try:
        model.eval()
        with _standard_parts(model), torch.no_grad():
            program = torch.export.export(model, tuple(args), kwargs, strict=False)
    finally:
        for m, mode in modes.items():
            m.training = mode
    return program.module()


def _meta_copy(graph_module):
    """A copy whose parameters and buffers are meta tensors (nothing is allocated or copied)."""
    import torch
    memo = {}
    for p in graph_module.parameters():
        memo[id(p)] = torch.nn.Parameter(torch.empty(p.shape, dtype=p.dtype, device="meta"),
                                         p.requires_grad)
    for b in graph_module.buffers():
        memo[id(b)] = torch.empty(b.shape, dtype=b.dtype, device="meta")
    return copy.deepcopy(graph_module, memo)


def _propagate_values(graph_module, inputs):
    """Runs ShapeProp on the input tensors; also stores non-tensor results (sizes read with ``x.size()``) in
    ``node.meta["pycx_value"]`` so that rules can resolve arguments computed from them.
    On failure the exception gets ``pycx_node``: the name of the node that failed."""
    import torch
    from torch.fx.passes.shape_prop import ShapeProp

    class Prop(ShapeProp):
        def run_node(self, n):
            try:
                result = super().run_node(n)
            except Exception as exc:
                exc.pycx_node = n.name
                raise
            if not isinstance(result, torch.Tensor):
                n.meta["pycx_value"] = result
            return result

    modes = {m: m.training for m in graph_module.modules()}
    try:
        graph_module.eval()   # batch statistics of a batch of 1 would be rejected in train mode
    except NotImplementedError:
        modes = {}            # an exported graph: its mode was fixed when it was exported (eval)
    try:
        # ShapeProp prints the traceback of a failing node itself; the error raised here
        # says the same more briefly.
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            Prop(graph_module).propagate(*inputs)
    finally:
        for m, mode in modes.items():
            m.train(mode)


def _propagate(graph_module, shapes, dtype, device):
    """`_propagate_values` on zeros of the given shapes."""
    import torch
    _propagate_values(graph_module, [torch.zeros(s, dtype=dtype, device=device) for s in shapes])


def _input_dtype(model):
    import torch
    for t in list(model.parameters()) + list(model.buffers()):
        if t.is_floating_point():
            return t.dtype, t.device
    return torch.float32, torch.device("cpu")


def _example_call(example):
    """(args, kwargs) of a model call from an example batch (see `layer_algebra`)."""
    import torch
    from collections.abc import Mapping

    from ..gates.batches import is_image_list

    if isinstance(example, Mapping):
        kwargs = {k: v for k, v in example.items() if k != "labels"}
        if not any(isinstance(v, torch.Tensor) for v in kwargs.values()):
            raise ValueError(f"argument 'example' is a mapping without a tensor (keys {list(example)})")
        return (), kwargs
    if isinstance(example, torch.Tensor):
        return (example,), {}
    if is_image_list(example, minimum=1):
        return (list(example),), {}
    if isinstance(example, tuple) and example and all(isinstance(t, torch.Tensor) for t in example):
        return tuple(example), {}
    raise TypeError(f"argument 'example' must be a tensor, a tuple of tensors, a list of images "
                    f"or a dict of keyword inputs, got {type(example).__name__}")


def _traced_or_exported(trace, export):
    """(graph module, exported?): fx first; on failure torch.export; both failing: one error
    naming both causes."""
    try:
        return trace(), False
    except RuntimeError as fx_error:
        cause = fx_error.__cause__ or fx_error
        try:
            return export(), True
        except Exception as exc:
            raise RuntimeError(
                f"pycx.layer_algebra could not read the model's graph: torch.fx failed "
                f"({type(cause).__name__}: {_first_line(cause)}) and torch.export on an "
                f"example failed ({type(exc).__name__}: {_first_line(exc)}). Work-arounds: "
                "leaf_modules=[SubmoduleClass or 'submodule.name'] keeps the offending "
                "submodule as one node (give it a rule with pycx.register_layer_rule); "
                "concrete_args={'arg': value} fixes forward arguments that the control flow "
                "depends on; a model that post-processes its output with data-dependent Python "
                "(detection models) can be measured on its tensor part (e.g. model.backbone)"
            ) from exc


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else ""


def _graph_from_example(model, args, kwargs, leaf_modules, concrete_args):
    import torch

    from ..gates.ops import is_transformers_model

    if not isinstance(model, torch.nn.Module):
        return _trace(model, leaf_modules, concrete_args)
    fx_unsuited = kwargs or any(isinstance(a, list) for a in args) or is_transformers_model(model)
    trace = _raise_fx_unsuited if fx_unsuited else (lambda: _trace(model, leaf_modules, concrete_args))
    return _traced_or_exported(trace, lambda: _export(model, args, kwargs))[0]


def _raise_fx_unsuited():
    raise RuntimeError("keyword, list or transformers inputs: traced with torch.export") from \
        RuntimeError("torch.fx traces positional tensor inputs without data")


def _graph_from_shapes(model, shapes, input_shape, leaf_modules, concrete_args, input_dtype):
    import torch

    def trace_and_check():
        gm = _trace(model, leaf_modules, concrete_args)
        placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
        required = [n for n in placeholders if not n.args]  # args hold a default value, if any
        if not (len(required) <= len(shapes) <= len(placeholders)):
            raise ValueError(f"argument 'input_shape' gives {len(shapes)} input shape(s) but the "
                             f"model takes {len(required)} to {len(placeholders)} tensor inputs "
                             f"({', '.join(n.target for n in placeholders)})")
        return gm

    dtype, device = _input_dtype(model if isinstance(model, torch.nn.Module) else trace_and_check())
    if input_dtype is not None:
        dtype = input_dtype
    zeros = [torch.zeros(s, dtype=dtype, device=device) for s in shapes]
    if isinstance(model, torch.nn.Module):
        gm, exported = _traced_or_exported(trace_and_check, lambda: _export(model, zeros, {}))
    else:
        gm, exported = trace_and_check(), False
    if exported:
        _propagate_inputs(gm, zeros, {}, "input_shape")
        return gm
    try:
        graph_module = _meta_copy(gm)
        _propagate(graph_module, shapes, dtype, "meta")
    except Exception:
        # Models holding plain tensor attributes (not parameters/buffers), or ops without a meta
        # kernel: propagate with real tensors on the model's device instead.
        graph_module = gm
        try:
            _propagate(graph_module, shapes, dtype, device)
        except Exception as exc:
            raise _misfit(f"input_shape'={input_shape!r}", exc) from exc
    return graph_module


def _misfit(what, exc):
    """The error for inputs the graph cannot run on, naming the argument and the failing node."""
    root = exc.__cause__ or exc
    failing = getattr(exc, "pycx_node", None)
    where = f" at node {failing!r}" if failing else ""
    return ValueError(f"argument '{what} does not fit the model: running it failed{where}: "
                      f"{type(root).__name__}: {_first_line(root)}")


def _propagate_inputs(graph_module, args, kwargs, what):
    """Shape propagation with given input tensors: positional ones in order, keyword ones by
    the placeholder's name (an exported graph's placeholders are named after the inputs)."""
    placeholders = [n for n in graph_module.graph.nodes if n.op == "placeholder"]
    flat = []
    positional = iter(a for arg in args for a in (arg if isinstance(arg, list) else [arg]))
    for p in placeholders:
        if p.target in kwargs:
            flat.append(kwargs[p.target])
        else:
            flat.append(next(positional, None))
    try:
        _propagate_values(graph_module, flat)
    except Exception as exc:
        raise _misfit(f"{what}'", exc) from exc


def layer_algebra(model: "torch.nn.Module | Callable",
                  input_shape: "Sequence[int] | Sequence[Sequence[int]] | None" = None, *,
                  example: Any = None,
                  leaf_modules: "Iterable[type | str]" = (),
                  concrete_args: Optional[dict[str, Any]] = None,
                  input_dtype: "torch.dtype | None" = None,
                  resample_power: bool = True,
                  conv_kernel: str = "per_group") -> LayerAlgebra:
    """Intrinsic power and complexity of a model's layers and of the whole model (definitions §6).

    ``model``: a torch ``nn.Module`` (or a function). Its graph is read by ``torch.fx``
    without data; where that fails (Hugging Face models, any data-dependent Python), by
    ``torch.export`` on an example, and a failure names both causes.
    ``input_shape``: the shape of one input, batch axis included, e.g. ``(1, 3, 224, 224)``
    (spatial sizes matter; the batch size does not), or a list of shapes for several inputs.
    ``example``: instead of `input_shape`, an input batch as `pycx.capture` takes one: a
    tensor, a tuple of tensors (positional inputs), or a dict / ``BatchEncoding`` of keyword
    inputs (``input_ids``, ``attention_mask``...; a ``"labels"`` key is left out).
    ``leaf_modules``: submodule classes or qualified names kept as single nodes (for parts that
    cannot be traced); ``concrete_args``: passed to the tracer. ``input_dtype``: default the
    model's floating dtype. ``resample_power``: weightless ops that change the amount of data
    (strided slicing, padding, upsampling) scale the power by ``numel_out / numel_in`` (eq. 4,
    with c = 0); False passes them through unchanged. ``conv_kernel``: how a grouped or
    depthwise convolution's kernel size K counts input channels: ``"per_group"`` (default,
    ``K = k * C_in / groups``, the inputs one filter reads) or ``"all_inputs"``
    (``K = k * C_in``); the two agree where ``groups == 1`` (definitions §6).

    Returns a :class:`LayerAlgebra` (per-node table and GCIP, GCC, GSC, GWC, cumulative values
    in log10). Operations without a rule are treated as identity, with one warning that lists
    them; add rules with :func:`register_layer_rule`.

    >>> import torch
    >>> alg = layer_algebra(torch.nn.Sequential(torch.nn.Linear(4, 2), torch.nn.ReLU()), (1, 4))
    >>> [(r["op"], round(r["p"], 3), round(r["c"], 3)) for r in alg.layers if r["kind"] == "layer"]
    [('Linear', 0.5, 3.0), ('ReLU', 0.584, 1.713)]
    >>> round(10 ** alg.gcip_log10, 3), round(10 ** alg.gcc_log10, 3), round(alg.gsc, 3)
    (0.292, 5.139, 4.713)
    """
    if conv_kernel not in CONV_KERNELS:
        raise ValueError(f"argument 'conv_kernel' must be one of {CONV_KERNELS}, "
                         f"got {conv_kernel!r}")
    if (input_shape is None) == (example is None):
        raise TypeError("layer_algebra needs exactly one of 'input_shape' (the shape of one "
                        "input, batch axis included) and 'example' (an input batch)")
    if example is not None:
        args, kwargs = _example_call(example)
        graph_module = _graph_from_example(model, args, kwargs, tuple(leaf_modules), concrete_args)
        _propagate_inputs(graph_module, args, kwargs, "example")
    else:
        graph_module = _graph_from_shapes(model, _check_input_shape(input_shape), input_shape,
                                          tuple(leaf_modules), concrete_args, input_dtype)
    rows, output_name, unknown = _walk(graph_module, resample_power, conv_kernel)
    if unknown:
        listed = ", ".join(f"{k} x{v}" if v > 1 else k for k, v in sorted(unknown.items()))
        warnings.warn(f"pycx.layer_algebra: no rule for {listed}; treated as identity (p = 1, "
                      "c = 0). Add one with pycx.register_layer_rule(type_or_function, fn).",
                      UnknownLayerWarning, stacklevel=2)
    return LayerAlgebra(rows, output_name, sorted(unknown))

