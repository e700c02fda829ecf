"""The registry of estimators and of `pycx.analyze`'s option groups: one source of truth.

Each complexity (entropy) method has one entry here: its name, the function behind it, the
keyword options that function accepts (with the function's defaults), the defaults
`pycx.analyze` adds, and a one-line description. `pycx.entropy(method=...)`, the parsing of
`pycx.analyze`'s ``estimators=``, the command line's ``--complexity`` choices and the report's
column guide (`pycx.report.columns`) all read it; ``tests/test_registry.py`` checks every entry
against its function's signature. An option name that is not listed is an error naming the
valid ones (``"bandwith"`` is not silently ignored).

This module imports nothing heavy: the functions are imported when a method is used.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping, Optional

from .._validate import check_choice, check_int, check_positive


@dataclass(frozen=True)
class Method:
    """One entropy estimator: ``function`` in ``module`` takes the gates first, then the
    keyword ``options`` (name -> the function's default). ``analyze_defaults``: options
    `pycx.analyze` passes unless told otherwise (paper 000's settings for "xgb")."""

    name: str
    module: str
    function: str
    options: Mapping[str, Any]
    description: str
    analyze_defaults: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def load(self) -> Callable:
        return getattr(importlib.import_module(self.module), self.function)


def _frozen(d):
    return MappingProxyType(dict(d))


# Paper 000's chain-rule settings (also xgb_entropy's defaults), passed explicitly by analyze
# so that report.settings shows them.
DEFAULT_XGB = _frozen({"folds": 2, "n_estimators": 100, "max_depth": 3, "learning_rate": 0.1})

COMPLEXITY_METHODS: Mapping[str, Method] = MappingProxyType({m.name: m for m in (
    Method("xgb", "pycx.estimators.xgb", "xgb_entropy",
           _frozen({**DEFAULT_XGB, "order": "natural", "seed": 0, "dedup": True, "eps": 1e-6,
                    "device": "cpu", "progress": False, "threads": None, "xgb_params": None,
                    "executor": None, "backend": "xgboost"}),
           "classifier chain rule (definitions §5.1), an upper bound; the default",
           DEFAULT_XGB),
    Method("plugin", "pycx.estimators.counts", "plugin_entropy", _frozen({"base": 2}),
           "plug-in entropy of the state counts (definitions §5.2), biased low when undersampled"),
    Method("miller_madow", "pycx.estimators.counts", "miller_madow_entropy", _frozen({"base": 2}),
           "plug-in plus the Miller-Madow correction (definitions §5.2)"),
    Method("kde", "pycx.estimators.kde", "kde_entropy",
           _frozen({"alpha": None, "bandwidth": "d", "labels": None, "layer": None,
                    "threads": None}),
           "Hamming-kernel KDE entropy (definitions §4), at most log2 rows"),
    Method("nsb", "pycx.estimators.nsb", "nsb_entropy",
           _frozen({"alphabet_size": None, "base": 2, "grid": 600}),
           "NSB posterior mean entropy (definitions §5.2), for the undersampled regime"),
)})

DEFAULT_COMPLEXITY = "xgb"

# `pycx.analyze`'s metric groups (docs/definitions.md §2, §3, §4), in the report's order; the
# report's schema (`pycx.analysis.table`) and the command line's --metrics read them here.
METRIC_GROUPS = ("janik", "relevance", "kde")


@dataclass(frozen=True)
class OptionGroup:
    """One key of `pycx.analyze`'s ``estimators=`` other than "complexity": the options the
    metric group ``metric_group`` reads (name -> default) and the check of their values."""

    name: str
    metric_group: str
    options: Mapping[str, Any]
    description: str
    check: Callable[[str, dict], dict]


def _check_kde(where: str, opts: dict) -> dict:
    if opts["alpha"] is not None:
        check_positive(f"{where}['alpha']", opts["alpha"])
    check_choice(f"{where}['bandwidth']", opts["bandwidth"], KDE_BANDWIDTHS)
    return opts


def _check_relevance(where: str, opts: dict) -> dict:
    check_int(f"{where}['k_min']", opts["k_min"], minimum=1)
    return opts


def _optional_int(name: str, value, minimum: int) -> None:
    if value is not None:
        check_int(name, value, minimum=minimum)


def _check_kmeans(where: str, opts: dict) -> dict:
    lo = check_int(f"{where}['k_min_log2']", opts["k_min_log2"], minimum=0)
    hi = check_int(f"{where}['k_max_log2']", opts["k_max_log2"], minimum=lo)
    if hi > 62:  # k = 2**k_max_log2 must be an int64
        raise ValueError(f"argument '{where}['k_max_log2']' must be <= 62, got {hi}")
    _optional_int(f"{where}['k_cap']", opts["k_cap"], 1)
    _optional_int(f"{where}['pca_dims']", opts["pca_dims"], 1)
    check_int(f"{where}['max_iter']", opts["max_iter"], minimum=1)
    return opts


# kde_entropy's bandwidth variances: d (gate bits) or the summed unit variances.
KDE_BANDWIDTHS = ("var", "d")

OPTION_GROUPS: Mapping[str, OptionGroup] = MappingProxyType({g.name: g for g in (
    OptionGroup("kde", "kde", _frozen({"bandwidth": "d", "alpha": None}),
                "KDE group: alpha (None: 0.04 conv / 0.01 linear), bandwidth 'd' or 'var'",
                _check_kde),
    OptionGroup("relevance", "relevance", _frozen({"k_min": 1}),
                "relevance group: smallest frequency of the power-law MLE of beta",
                _check_relevance),
    OptionGroup("kmeans", "relevance",
                _frozen({"k_min_log2": 2, "k_max_log2": 14, "k_cap": None, "pca_dims": 64,
                         "max_iter": 100}),
                "k-means baseline: k = 2^k_min_log2 .. 2^k_max_log2 (at most k_cap), PCA to "
                "pca_dims, max_iter Lloyd steps", _check_kmeans),
)})


def check_option_names(subject: str, given: Mapping, valid: Mapping, what: str = "options") -> None:
    """Raises ValueError naming the unknown keys of `given` and the valid ones; `subject`
    names where they were given.

    >>> check_option_names("argument 'estimators['kde']'", {"bandwith": "var"}, {"alpha": None, "bandwidth": "d"})
    Traceback (most recent call last):
    ...
    ValueError: argument 'estimators['kde']' has unknown options ['bandwith']; valid options: ['alpha', 'bandwidth']
    """
    unknown = [k for k in given if k not in valid]
    if unknown:
        raise ValueError(f"{subject} has unknown {what} {unknown}; valid {what}: "
                         f"{list(valid)}")


def complexity_method(method, where: str = "method") -> Method:
    """The registry entry of a complexity method by name; ValueError naming the valid ones.

    >>> complexity_method("nsb").function
    'nsb_entropy'
    """
    if not isinstance(method, str) or method not in COMPLEXITY_METHODS:
        raise ValueError(f"argument '{where}' must be one of {list(COMPLEXITY_METHODS)}, got "
                         f"{method!r}")
    return COMPLEXITY_METHODS[method]


def methods_text(sep: str = ", ") -> str:
    """The complexity methods as text ("xgb (...), plugin (...)"), e.g. for the column guide.

    >>> methods_text().split(", ")[0].split(" ")[0]
    'xgb'
    """
    return sep.join(m.name for m in COMPLEXITY_METHODS.values())


def parse_estimators(estimators, where: str = "estimators") -> dict:
    """`pycx.analyze`'s ``estimators=`` as full settings: ``{"complexity": {"method": name,
    **options}, "kde": {...}, "kmeans": {...}, "relevance": {...}}``. Accepts None, a
    complexity method name, or a dict whose "complexity" is a name or ``{"method": name,
    **options}`` and whose other keys are dicts of options. Every option name is checked
    against the registry (ValueError naming the valid ones); the option groups' values are
    checked here, the complexity options by the estimator itself.

    >>> parse_estimators({"complexity": "nsb", "kde": {"alpha": 0.02}})["kde"]
    {'bandwidth': 'd', 'alpha': 0.02}
    >>> parse_estimators({"kde": {"bandwith": "var"}})
    Traceback (most recent call last):
    ...
    ValueError: argument 'estimators['kde']' has unknown options ['bandwith']; valid options: ['bandwidth', 'alpha']
    """
    default = COMPLEXITY_METHODS[DEFAULT_COMPLEXITY]
    out = {"complexity": {"method": default.name, **default.analyze_defaults}}
    out.update((name, dict(g.options)) for name, g in OPTION_GROUPS.items())
    if estimators is None:
        return out
    if isinstance(estimators, str):
        estimators = {"complexity": estimators}
    if not isinstance(estimators, Mapping):
        raise TypeError(f"argument '{where}' must be None, a complexity estimator name or a "
                        f"dict, got {type(estimators).__name__}")
    check_option_names(f"argument '{where}'", estimators, out, "keys")
    for key, value in estimators.items():
        sub = f"{where}[{key!r}]"
        if key == "complexity":
            if isinstance(value, str):
                value = {"method": value}
            if not isinstance(value, Mapping):
                raise TypeError(f"argument '{sub}' must be a method name or a dict with "
                                f"'method', got {type(value).__name__}")
            method = complexity_method(value.get("method", DEFAULT_COMPLEXITY),
                                       f"{sub}['method']")
            check_option_names(f"argument '{sub}' (method {method.name!r})",
                               {k: v for k, v in value.items() if k != "method"}, method.options)
            out["complexity"] = {"method": method.name, **method.analyze_defaults, **value}
        else:
            if not isinstance(value, Mapping):
                raise TypeError(f"argument '{sub}' must be a dict of keyword arguments, got "
                                f"{type(value).__name__}")
            group = OPTION_GROUPS[key]
            check_option_names(f"argument '{sub}'", value, group.options)
            out[key].update(value)
            group.check(sub, out[key])
    return out


def column_text() -> str:
    """The column guide's text of ``complexity_estimator``: every method, the default first.

    >>> column_text().startswith("method behind complexity: xgb")
    True
    """
    return "method behind complexity: " + methods_text()
