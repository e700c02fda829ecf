"""pycx: fast complexity metrics of neural networks.

The package map is in docs/architecture.md: kernels <- estimators <- gates (capture) /
analysis <- report / cli, with `reference` (the numpy definitions) beside them.

``import pycx`` is cheap: it loads numpy and the CPU kernels only. Everything else (torch, the
CUDA module, xgboost, pandas, plotting) is imported on first use of a name that needs it: the
public names below are resolved lazily from the module that defines them.
"""
from __future__ import annotations

import importlib
from contextlib import contextmanager
from typing import Iterator

from . import _cpu
from ._build import build_info
from .kernels.pack_bits import concat_bits, pack_bits, pack_per_patch, pack_per_sample
from .kernels.packed import PackedBits

__version__ = _cpu.version

# Public name -> module defining it (imported on first access).
_LAZY = {
    # kernels (issue: CPU kernels)
    "hamming_distances": "pycx.kernels.kde_sums",
    "kde_sums": "pycx.kernels.kde_sums",
    "KdeSums": "pycx.kernels.kde_sums",
    "state_counts": "pycx.kernels.state_counts",
    "StateCounts": "pycx.kernels.state_counts",
    "Covariance": "pycx.kernels.covariance",
    # estimators on arrays
    "xgb_entropy": "pycx.estimators.xgb",
    "plugin_entropy": "pycx.estimators.counts",
    "miller_madow_entropy": "pycx.estimators.counts",
    "kde_entropy": "pycx.estimators.kde",
    "kde_total_correlation": "pycx.estimators.kde",
    "unit_entropies": "pycx.estimators.janik",
    "linearity": "pycx.estimators.janik",
    "normalized_total_correlation": "pycx.estimators.janik",
    "effective_dimension": "pycx.estimators.janik",
    "effective_dimension_map": "pycx.estimators.janik",
    "resolution_relevance": "pycx.estimators.relevance",
    "max_relevance_curve": "pycx.estimators.relevance",
    "entropy": "pycx.estimators.dispatch",
    "nsb_entropy": "pycx.estimators.nsb",
    # generation (Song, Marsili & Jo): deep belief networks' samples
    "generation_ability": "pycx.estimators.generation",
    "GenerationAbility": "pycx.estimators.generation",
    "default_classifier": "pycx.estimators.generation",
    "label_images": "pycx.estimators.generation",
    "ImageClassifier": "pycx.estimators.generation",
    # capture from torch models
    "capture": "pycx.gates.capture",
    "Capture": "pycx.gates.result",
    "Recorder": "pycx.gates.recorder",
    "describe": "pycx.gates.describe",
    "from_activations": "pycx.gates.activations",
    # high-level analysis
    "analyze": "pycx.analysis.analyze",
    "Report": "pycx.analysis.table",
    "Tracker": "pycx.analysis.tracker",
    "analyze_checkpoints": "pycx.analysis.parallel",
    "StreamingTracker": "pycx.analysis.streaming",
    "bootstrap_effective_dimension": "pycx.analysis.bootstrap",
    "bootstrap_resolution_relevance": "pycx.analysis.bootstrap",
    "bootstrap_kde_entropy": "pycx.analysis.bootstrap",
    "bootstrap_intervals": "pycx.analysis.bootstrap",
    "AnalysisError": "pycx.analysis.analyze",
    # training with a complexity loss (transformation-complexity paper, section 4.3)
    "ComplexityLoss": "pycx.train.complexity_loss",
    # layer algebra
    "layer_algebra": "pycx.analysis.layer_algebra",
    "register_layer_rule": "pycx.analysis.layer_algebra",
    "activation_power": "pycx.analysis.layer_algebra",
    # report
    "write_report": "pycx.report.html",
    "compare_reports": "pycx.report.compare",
}


# Subpackages reachable as attributes after a plain ``import pycx`` (``pycx.train.fit``,
# ``pycx.models.DBN``): imported on first access, so that ``import pycx`` stays cheap (most of
# them import torch).
_SUBPACKAGES = frozenset({
    "analysis", "cli", "compat", "datasets", "estimators", "gates", "integrations", "kernels",
    "metrics", "models", "reference", "replications", "report", "train"})


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        if name in _SUBPACKAGES:
            # import_module binds the submodule in this namespace, so this runs once per name.
            return importlib.import_module(f"{__name__}.{name}")
        raise AttributeError(f"module 'pycx' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_LAZY) | _SUBPACKAGES)


def simd_level() -> str:
    """The SIMD level the CPU kernels use now: "scalar", "avx2" or "avx512".

    >>> simd_level() in supported_simd_levels()
    True
    """
    return _cpu.simd_level()


def set_simd_level(name: str) -> None:
    """Forces a SIMD level ("scalar", "avx2", "avx512" or "auto"); the environment variable
    PYCX_SIMD does the same at import. Raises ValueError if this CPU lacks it.

    >>> before = simd_level()
    >>> set_simd_level("scalar"); simd_level()
    'scalar'
    >>> set_simd_level(before)
    """
    _cpu.set_simd_level(name)


def supported_simd_levels() -> list:
    """Levels this build has code for and this CPU can run, lowest first.

    >>> supported_simd_levels()[0]
    'scalar'
    """
    return list(_cpu.supported_simd_levels())


@contextmanager
def use_simd(name: str) -> Iterator[None]:
    """Context manager: run the enclosed kernels at SIMD level `name`.

    >>> before = simd_level()
    >>> with use_simd("scalar"):
    ...     inside = simd_level()
    >>> inside, simd_level() == before
    ('scalar', True)
    """
    previous = _cpu.simd_level()
    _cpu.set_simd_level(name)
    try:
        yield
    finally:
        _cpu.set_simd_level(previous)


__all__ = sorted(
    ["PackedBits", "build_info", "concat_bits", "pack_bits", "pack_per_patch", "pack_per_sample",
     "set_simd_level", "simd_level", "supported_simd_levels", "use_simd"] + list(_LAZY))
