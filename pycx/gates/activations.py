"""`from_activations`: a `Capture` built from pre-activation tensors that another tool already
holds (a cache of hooked activations, a TransformerLens-style cache), without running a model.

Each tensor is read as `pycx.capture` reads the input of a gating op: the same gate reading
(`pycx.gates.ops.run_gate`: ReLU-family ``pre > 0`` before the op, the ternary kinds from
their output), the same units-first layout, per-sample packing, covariance subsample
(``covariance_positions``, keyed on (seed, row index)) and rows-or-moments storage
(`pycx.gates.store.RowMoments`). A capture of one batch and ``from_activations`` of the same
pre-activations therefore give the same bits and the same covariance (tested in
``tests/test_from_activations.py``).

This module imports torch; it is only loaded through `pycx.from_activations`.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Mapping, Optional

import numpy as np
import torch
import torch.nn.functional as F

from .._validate import check_int, describe
from ..kernels.packed import PackedBits
from .batches import labels_array
from .kinds import KINDS
from .ops import pack_sample_rows, run_gate, units_first
from .result import Capture, LayerRecord, _covariance_from_moments
from .store import RowMoments, batch_rows, covariance_rows

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["from_activations", "ACTIVATION_FUNCTIONS"]

# The kinds a pre-activation alone determines (no weights, no window, no random mask), with
# the function that makes the float output the covariance describes (torch's defaults).
ACTIVATION_FUNCTIONS = {
    "relu": F.relu, "relu6": F.relu6, "leaky_relu": F.leaky_relu, "elu": F.elu,
    "selu": F.selu, "celu": F.celu, "gelu": F.gelu, "silu": F.silu, "mish": F.mish,
    "softplus": F.softplus, "hardswish": F.hardswish, "sigmoid": torch.sigmoid,
    "tanh": torch.tanh, "hardsigmoid": F.hardsigmoid,
}


def _per_name(arg, value, names, check):
    """`value` for every name: one value, or a mapping name -> value (others: `default`)."""
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ValueError(f"argument '{arg}' names {unknown}, which are not keys of "
                             f"'activations' ({list(names)})")
        return {n: check(value.get(n)) if n in value else None for n in names}
    checked = check(value)
    return {n: checked for n in names}


def _check_kind(kind):
    if kind not in ACTIVATION_FUNCTIONS:
        other = " (it needs more than the pre-activation)" if kind in KINDS else ""
        raise ValueError(f"argument 'kinds' has kind {kind!r}{other}; from_activations reads "
                         f"{sorted(ACTIVATION_FUNCTIONS)}")
    return kind


def _check_axis(axis):
    if isinstance(axis, bool) or axis not in (1, -1):
        raise ValueError(f"argument 'channel_axis' must be 1 or -1 (or a dict of names to them), "
                         f"got {axis!r}")
    return axis


def _as_tensor(name, value):
    if isinstance(value, np.ndarray):
        value = torch.from_numpy(value)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"argument 'activations[{name!r}]' must be a torch tensor or a numpy "
                        f"array, got {describe(value)}")
    if not value.is_floating_point():
        raise TypeError(f"argument 'activations[{name!r}]' must be floating point (the "
                        f"pre-activation), got dtype {value.dtype}")
    if value.dim() < 2:
        raise ValueError(f"argument 'activations[{name!r}]' must have a batch axis and a unit "
                         f"axis, got shape {tuple(value.shape)}")
    return value.detach()


def from_activations(activations: "Mapping[str, Any]",
                     labels: "npt.ArrayLike | None" = None, *,
                     kinds: "str | Mapping[str, str]" = "relu",
                     channel_axis: "int | Mapping[str, int]" = 1,
                     covariance: bool = True, covariance_positions: Optional[int] = 16,
                     patch_rows: Optional[int] = None, seed: int = 0) -> Capture:
    """A `Capture` from pre-activations, without a model: ``{name: tensor}`` in forward order,
    each ``(N, C, *positions)`` (``channel_axis=1``) or ``(N, *positions, C)``
    (``channel_axis=-1``: stored units first, ``channels_last`` True, as `pycx.capture` stores
    a linear layer's ``(N, T, C)``), torch tensors or numpy arrays, the same N for all.

    - `kinds`: the gate kind of every tensor, or a dict name -> kind (unnamed ones: ``"relu"``).
      ReLU-family kinds read ``pre > 0``; ``sigmoid``, ``tanh``, ``hardsigmoid`` read the
      saturation of their output (2 bits per unit). The covariance describes the output
      ``f(pre)`` as in a capture.
    - `channel_axis`: 1, -1, or a dict name -> 1 / -1 (unnamed ones: 1). 2-D tensors are
      ``(N, C)`` whatever it says.
    - `labels`, `covariance`, `covariance_positions`, `patch_rows`, `seed`: as in
      `pycx.capture`.

    >>> import torch, pycx
    >>> cap = pycx.from_activations({"fc": torch.tensor([[1.0, -1.0], [0.0, 2.0]])})
    >>> cap, cap["fc"].per_sample.unpack().tolist()
    (Capture(1 layers, n_samples=2), [[1, 0], [0, 1]])
    """
    if not isinstance(activations, Mapping) or not activations:
        raise TypeError(f"argument 'activations' must be a non-empty mapping of layer names to "
                        f"tensors, got {describe(activations)}")
    names = list(activations)
    for n in names:
        if not isinstance(n, str):
            raise TypeError(f"argument 'activations' keys must be layer names (str), got {n!r}")
    kind_of = _per_name("kinds", kinds, names, _check_kind)
    axis_of = _per_name("channel_axis", channel_axis, names, _check_axis)
    if patch_rows is not None:
        patch_rows = check_int("patch_rows", patch_rows, minimum=1)
    if covariance_positions is not None:
        covariance_positions = check_int("covariance_positions", covariance_positions, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    tensors = {n: _as_tensor(n, activations[n]) for n in names}
    sizes = {n: int(t.shape[0]) for n, t in tensors.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"argument 'activations' has different numbers of samples per layer: "
                         f"{sizes}; the first axis of every tensor is the batch")
    n_samples = sizes[names[0]]
    if labels is not None:
        labels = labels_array("labels", labels)
        if len(labels) != n_samples:
            raise ValueError(f"argument 'labels' has {len(labels)} labels for {n_samples} samples")
    layers = OrderedDict()
    with torch.no_grad():
        for name in names:
            layers[name] = _record(name, tensors[name], kind_of[name] or "relu",
                                   axis_of[name] or 1, covariance, covariance_positions,
                                   patch_rows, seed)
    return Capture(layers, labels, patch_rows, seed)


def _record(name, pre, kind, axis, covariance, covariance_positions, patch_rows, seed):
    if pre.dim() <= 2:
        axis, source = 1, "2-D"
    else:
        source = "channel_axis"
    order = units_first if axis == -1 else None
    _, gate = run_gate(kind, ACTIVATION_FUNCTIONS[kind], (pre,), {}, pack_sample_rows, order)
    shape = tuple(int(d) for d in gate.unit_shape)
    output_shape = tuple(int(d) for d in gate.values.shape[1:])
    words = gate.words if gate.words is not None else pack_sample_rows(gate.bits)
    n_bits = gate.bits_per_unit * int(np.prod(shape, dtype=np.int64))
    binary = None
    if gate.binary_words is not None:
        binary = PackedBits(gate.binary_words, n_bits // 2, _trusted=True)
    cov = cov_rows = None
    if covariance and gate.values.shape[0]:
        values = gate.values
        positions = values[0, 0].numel() if values.dim() > 2 else 1
        rows = None
        if covariance_positions is not None and positions > covariance_positions:
            picked = covariance_rows(seed, 0, int(values.shape[0]), positions,
                                     covariance_positions / positions)
            rows = torch.from_numpy(picked).to(values.device)
        acc = RowMoments()
        acc.add(batch_rows(values, rows=rows))
        if acc.count:
            cov_rows, moments = acc.host()
            if moments is not None:
                cov = _covariance_from_moments(*moments, ())
    return LayerRecord(name, kind, name, shape, output_shape, gate.bits_per_unit,
                       PackedBits(words, n_bits, _trusted=True), binary=binary, covariance=cov,
                       patch_rows=patch_rows, seed=seed, channels_last=order is units_first,
                       unit_axis_source=source, covariance_rows=cov_rows)
