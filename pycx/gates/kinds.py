"""The gate kinds (docs/definitions.md, "Gates"), without torch: what `pycx.capture` can
record, and how each kind's gate is read.

- ``RELU_FAMILY``: one bit per unit, ``pre-activation > 0`` (the input of the op): the
  piecewise-linear ReLUs and the smooth functions that bend from ~0 to ~identity around 0
  (GELU, SiLU, Mish, Softplus, ELU/SELU/CELU, Hardswish);
- ``TERNARY``: two bits per unit, saturated low / saturated high, read from the output
  (within 5% of the ends of its range; both bits 0 in between): sigmoid, tanh, Hardsigmoid,
  and GLU (the sigmoid of its gating half);
- ``maxpool``: one bit per *input* unit, 1 where it is the maximum of at least one window;
- ``dropout``: the keep mask (train mode only).
"""
from __future__ import annotations

__all__ = ["RELU_FAMILY", "TERNARY", "KINDS", "SATURATION", "NEVER_GATES"]

RELU_FAMILY = ("relu", "relu6", "leaky_relu", "prelu", "rrelu", "elu", "selu", "celu", "gelu",
               "silu", "mish", "softplus", "hardswish")
TERNARY = ("sigmoid", "tanh", "hardsigmoid", "glu")
KINDS = RELU_FAMILY + TERNARY + ("maxpool", "dropout")

# Sigmoid/Tanh saturation: within 5% of the output range's ends.
SATURATION = 0.05

# Activation-like ops that are by definition no gates (a normalisation across units, attention,
# dropout in eval mode, which is the identity): listed by pycx.describe, neither warned about
# nor recorded in a Capture's ``not_captured``.
NEVER_GATES = ("softmax", "scaled_dot_product_attention", "dropout")
