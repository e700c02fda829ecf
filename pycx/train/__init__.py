"""Training with paper 004's complexity loss (docs/definitions.md §8).

Owns: `ComplexityLoss` (the penalty on chosen gating layers, `complexity_loss`), the per-layer
energy-based models of gate states and their sampler (`ebm`: `GateEBM`, `EBMStack`, `langevin`), and
`fit`, a training loop that alternates EBM and network updates (`fit`).
May import: the base modules (`pycx._validate`, `pycx._io`), pycx kernels, estimators, gates
and models (through public names, inside functions), and torch; never analysis, report or cli.
"""
from __future__ import annotations

import importlib

_LAZY = {
    "ComplexityLoss": "pycx.train.complexity_loss",
    "GateEBM": "pycx.train.ebm",
    "EBMStack": "pycx.train.ebm",
    "langevin": "pycx.train.ebm",
    "EBM_DEFAULTS": "pycx.train.ebm",
    "fit": "pycx.train.fit",
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'pycx.train' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = sorted(_LAZY)
