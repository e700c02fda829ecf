"""Conversion of results (numpy scalars and arrays, NaN, infinities) to strict JSON values."""
from __future__ import annotations

import math

import numpy as np


def to_json_value(value, *, infinity_as_text: bool = True):
    """A JSON-able copy of `value`: dicts (keys as text), lists, numpy arrays and scalars become
    Python containers and numbers; NaN becomes null. Infinities become "Infinity"/"-Infinity"
    (read back by `from_json_value`), or null with ``infinity_as_text=False`` for files that
    other tools read."""
    if isinstance(value, dict):
        return {str(k): to_json_value(v, infinity_as_text=infinity_as_text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v, infinity_as_text=infinity_as_text) for v in value]
    if isinstance(value, np.ndarray):
        return to_json_value(value.tolist(), infinity_as_text=infinity_as_text)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        if math.isnan(value) or not infinity_as_text:
            return None
        return "Infinity" if value > 0 else "-Infinity"
    return value


def from_json_value(value):
    """Inverse of `to_json_value` for infinities written as text (null stays None)."""
    if isinstance(value, dict):
        return {k: from_json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [from_json_value(v) for v in value]
    if value == "Infinity":
        return math.inf
    if value == "-Infinity":
        return -math.inf
    return value
