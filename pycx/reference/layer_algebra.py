"""Reference of the layer algebra (docs/definitions.md §6; Badias & Banerjee, sections 5-6).

Plain Python: the local intrinsic power ``p`` and complexity ``c`` of each layer type as
functions of plain numbers, and :func:`combine`, which walks a given graph and returns the
cumulative values (log10) at every node and the global values GCIP, GCC, GSC, GWC.

Notation: ``n_k`` filters (output channels), ``k`` the kernel's spatial size (kh*kw),
``c_in`` input channels, ``s_i``/``s_o`` input/output spatial size (H*W), ``d_in``/``d_out``
fully connected widths. Decision (definitions §6): a convolution's kernel size counts its input
channels, ``K = k * c_in / groups``.
"""
from __future__ import annotations

import math

# Local (p, c) of activation functions, from the paper's data-driven estimates (sections 5.6-5.9).
ACTIVATIONS = {
    "relu": (0.584, 1.713),
    "tanh": (0.628, 1.592),
    "sigmoid": (0.208, 4.802),
    "softmax": (1.342e-5, 7.454e4),
}


def _positive(name, value):
    if not (isinstance(value, (int, float)) and value > 0 and math.isfinite(value)):
        raise ValueError(f"argument '{name}' must be a positive finite number, got {value!r}")


def conv(n_k, k, c_in, groups, s_i, s_o):
    """Convolution (eqs. 8-11): ``K = k * c_in / groups``, ``p = n_k s_o / (K s_i)``,
    ``c = n_k log2 K``."""
    for name, value in (("n_k", n_k), ("k", k), ("c_in", c_in), ("groups", groups),
                        ("s_i", s_i), ("s_o", s_o)):
        _positive(name, value)
    big_k = k * c_in / groups
    return n_k * s_o / (big_k * s_i), n_k * math.log2(big_k)


def conv_transpose(n_k, k, c_in, groups, s_i, s_o):
    """Transposed convolution (eqs. 12-14): each input value feeds ``k`` outputs per filter;
    ``p = n_k k s_o / ((c_in / groups) s_i)``, ``c = n_k log2 K`` with ``K = k c_in / groups``."""
    for name, value in (("n_k", n_k), ("k", k), ("c_in", c_in), ("groups", groups),
                        ("s_i", s_i), ("s_o", s_o)):
        _positive(name, value)
    c_per_group = c_in / groups
    return n_k * k * s_o / (c_per_group * s_i), n_k * math.log2(k * c_per_group)


def pool(k, s_i, s_o):
    """Max or average pooling, per channel (eq. 8 with one filter): ``p = s_o / (k s_i)``,
    ``c = log2 k``."""
    for name, value in (("k", k), ("s_i", s_i), ("s_o", s_o)):
        _positive(name, value)
    return s_o / (k * s_i), math.log2(k)


def global_pool(s_i):
    """Global pooling: one filter the size of the input (``k = s_i``, ``s_o = 1``)."""
    return pool(s_i, s_i, 1)


def linear(d_in, d_out):
    """Fully connected (eqs. 15-16): ``p = d_out / d_in``, ``c = log2(d_out d_in)``."""
    _positive("d_in", d_in)
    _positive("d_out", d_out)
    return d_out / d_in, math.log2(d_out * d_in)


def activation(name):
    """(p, c) of an activation: "relu" (and its variants), "tanh", "sigmoid", "softmax"."""
    if name not in ACTIVATIONS:
        raise ValueError(f"argument 'name' must be one of {sorted(ACTIVATIONS)}, got {name!r}")
    return ACTIVATIONS[name]


def resample(numel_in, numel_out):
    """Weightless data movement that changes the amount of data (strided slicing, padding):
    eq. 4 with the volumes, ``p = numel_out / numel_in``; no weights, ``c = 0``."""
    _positive("numel_in", numel_in)
    _positive("numel_out", numel_out)
    return numel_out / numel_in, 0.0


def _log10_sum(logs):
    """log10(sum 10**x) without leaving log space."""
    top = max(logs)
    return top + math.log10(sum(10.0 ** (x - top) for x in logs))


def combine(graph, output=None):
    """Cumulative values along a graph.

    ``graph``: nodes in topological order, each ``{"name", "inputs": [names], "p", "c"}``.
    A node without inputs is fed the network's input (power 1, complexity 1). At a node with
    several inputs the incoming cumulative power is their maximum (eq. 19) and the incoming
    complexity their sum (eq. 20); the node then multiplies both by its local ``p`` and ``c``
    (``c = 0`` is neutral: factor 1). ``output``: the node whose values are the global ones
    (default: the last node).

    Returns a dict: ``power_log10`` and ``complexity_log10`` (name -> cumulative log10 value
    after the node), ``gcip_log10``, ``gcc_log10``, ``gsc`` (sum of all local complexities,
    eq. 3), ``gsc_log10``, ``gwc_log10`` (GWC = GCC * GSC).
    """
    power, complexity = {}, {}
    gsc = 0.0
    for i, node in enumerate(graph):
        name = node["name"]
        if name in power:
            raise ValueError(f"graph node {i}: duplicate name {name!r}")
        missing = [src for src in node["inputs"] if src not in power]
        if missing:
            raise ValueError(f"graph node {name!r}: inputs {missing} are not earlier nodes "
                             "(the graph must be in topological order)")
        p, c = float(node["p"]), float(node["c"])
        if not (p > 0 and math.isfinite(p)) or not (c >= 0 and math.isfinite(c)):
            raise ValueError(f"graph node {name!r}: need p > 0 and c >= 0 finite, got p={p}, c={c}")
        if node["inputs"]:
            p_in = max(power[src] for src in node["inputs"])
            c_in = _log10_sum([complexity[src] for src in node["inputs"]])
        else:
            p_in = c_in = 0.0
        power[name] = p_in + math.log10(p)
        complexity[name] = c_in + (math.log10(c) if c > 0 else 0.0)
        gsc += c
    if not graph:
        raise ValueError("argument 'graph' is empty")
    out = graph[-1]["name"] if output is None else output
    if out not in power:
        raise ValueError(f"argument 'output': no node named {out!r}")
    gsc_log10 = math.log10(gsc) if gsc > 0 else -math.inf
    return {
        "power_log10": power,
        "complexity_log10": complexity,
        "gcip_log10": power[out],
        "gcc_log10": complexity[out],
        "gsc": gsc,
        "gsc_log10": gsc_log10,
        "gwc_log10": complexity[out] + gsc_log10,
    }
