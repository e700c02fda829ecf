"""Mixture-of-experts layers read as one gating layer per experts module (docs/definitions.md
§1, "Routed experts").

An experts module runs each token through the k experts its router chose. Its activation sees
the routed (token, expert) pairs as rows: neither samples nor tokens, and in an order that
depends on the implementation (a loop over experts, batched or grouped matmuls). So the
activation inside is not traced; the experts module itself is the gating layer:

- its units are every expert's hidden units, ``E * I`` per token (expert-major);
- a token's gate at the units of an expert the router chose is ``pre-activation > 0``, as for
  any ReLU-family gate; at the units of an expert it did not choose the gate is off (0) and
  the value 0, since that expert's output for the token is absent;
- the rows are the tokens the module received, mapped back to samples like any flattened
  token rows (sample-major, from the traced reshape of the batch).

The pre-activations are recomputed from the module's own weights for the routed pairs only
(the cost of the experts' gate projection once more). Recognised: the expert-weights layout of
``transformers`` (3-D ``gate_up_proj`` with the ``[gate; up]`` halves concatenated, or
``up_proj`` without a gate; optional biases; transposed or not) with its default gate
``act_fn(gate) * up`` and a ReLU-family activation. An experts module with its own gate
function, an interleaved layout or another activation is skipped with that reason.

This module imports torch; it is only loaded through `pycx.capture`.
"""
from __future__ import annotations

import torch

from .kinds import RELU_FAMILY

# torch activation modules by class name -> gate kind (transformers' own activation classes
# are read by `ops.module_gate_kind`).
_TORCH_ACTIVATIONS = {"ReLU": "relu", "ReLU6": "relu6", "LeakyReLU": "leaky_relu",
                      "ELU": "elu", "SELU": "selu", "CELU": "celu", "GELU": "gelu",
                      "SiLU": "silu", "Mish": "mish", "Softplus": "softplus",
                      "Hardswish": "hardswish"}


class ExpertsSpec:
    """How to recompute one experts module's gate pre-activations."""

    __slots__ = ("kind", "num_experts", "has_gate", "transposed", "has_bias")

    def __init__(self, kind, num_experts, has_gate, transposed, has_bias):
        self.kind, self.num_experts = kind, num_experts
        self.has_gate, self.transposed, self.has_bias = has_gate, transposed, has_bias


def _is_default_gate(cls) -> bool:
    fn = getattr(cls, "_apply_gate", None)
    return fn is None or (getattr(fn, "__name__", "") == "_default_apply_gate"
                          and str(getattr(fn, "__module__", "")).endswith("integrations.moe"))


def experts_spec(module):
    """``(ExpertsSpec, None)`` for an experts module pycx reads, ``(None, reason)`` for one it
    recognises but cannot read, None for any other module."""
    # Read from the instance first: a missing attribute sent through nn.Module.__getattr__
    # costs microseconds per module, and every module of every captured model is asked.
    num = vars(module).get("num_experts")
    if num is None and hasattr(type(module), "num_experts"):
        num = getattr(module, "num_experts", None)
    if not isinstance(num, int):
        return None
    from .ops import module_gate_kind
    act = getattr(module, "act_fn", None)
    has_gate = bool(getattr(module, "has_gate", True))
    weight = getattr(module, "gate_up_proj" if has_gate else "up_proj", None)
    if not (isinstance(num, int) and isinstance(act, torch.nn.Module)
            and isinstance(weight, torch.Tensor) and weight.dim() == 3
            and weight.shape[0] == num):
        return None
    kind = module_gate_kind(act) or _TORCH_ACTIVATIONS.get(type(act).__name__)
    if kind not in RELU_FAMILY:
        return None, (f"routed experts whose activation {type(act).__name__} is not a "
                      "ReLU-family gate")
    if not _is_default_gate(type(module)):
        return None, "routed experts with their own gate function (_apply_gate)"
    if has_gate and not bool(getattr(module, "is_concatenated", True)):
        return None, "routed experts with interleaved gate/up weights"
    return ExpertsSpec(kind, num, has_gate, bool(getattr(module, "is_transposed", False)),
                       bool(getattr(module, "has_bias", False))), None


def routing_inputs(args, kwargs):
    """``(hidden_states (T, H), top_k_index (T, k))`` of an experts call, or None when the
    call does not look like one."""
    hidden = args[0] if args else kwargs.get("hidden_states")
    index = args[1] if len(args) > 1 else kwargs.get("top_k_index")
    if not (isinstance(hidden, torch.Tensor) and isinstance(index, torch.Tensor)
            and hidden.dim() == 2 and hidden.is_floating_point() and index.dim() == 2
            and not index.is_floating_point() and index.shape[0] == hidden.shape[0]):
        return None
    return hidden, index


def experts_preactivation(module, spec, hidden, index):
    """``(pre, values)``, both ``(T, E * I)``: the gate pre-activation of every token at every
    expert's units (0 where the router did not choose the expert) and the activation's output
    there (0 likewise)."""
    weight = module.gate_up_proj if spec.has_gate else module.up_proj
    bias = (getattr(module, "gate_up_proj_bias" if spec.has_gate else "up_proj_bias", None)
            if spec.has_bias else None)
    out_dim = weight.shape[2] if spec.transposed else weight.shape[1]
    units = out_dim // 2 if spec.has_gate else out_dim
    tokens = hidden.shape[0]
    pre = hidden.new_zeros(tokens, spec.num_experts, units)
    values = hidden.new_zeros(tokens, spec.num_experts, units)
    for e in torch.unique(index).tolist():
        if not 0 <= e < spec.num_experts:
            continue  # expert-parallel sentinels: no expert on this rank
        rows = (index == e).any(dim=1).nonzero().flatten()
        w = weight[e]
        proj = hidden[rows] @ (w if spec.transposed else w.t())
        if bias is not None:
            proj = proj + bias[e]
        gate = proj[:, :units]  # the default gate: [gate; up] halves, act_fn(gate) * up
        pre[rows, e] = gate
        values[rows, e] = module.act_fn(gate)
    return pre.reshape(tokens, -1), values.reshape(tokens, -1)
