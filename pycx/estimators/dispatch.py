"""`entropy(gates, method=...)`: one entry point to the entropy estimators, by name."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..kernels.packed import PackedBits
    from ._common import Result

# method name -> (module, function); every function takes the gates first.
METHODS = {
    "xgb": ("pycx.estimators.xgb", "xgb_entropy"),
    "plugin": ("pycx.estimators.counts", "plugin_entropy"),
    "miller_madow": ("pycx.estimators.counts", "miller_madow_entropy"),
    "kde": ("pycx.estimators.kde", "kde_entropy"),
}


def entropy(gates: "npt.ArrayLike | PackedBits", method: str = "xgb", **kwargs: Any) -> Result:
    """Entropy of binary rows by the named estimator; keyword arguments go to it.

    "xgb": `xgb_entropy` (classifier chain rule, definitions §5.1, the default of paper 000);
    "plugin" / "miller_madow": from state counts (definitions §5.2); "kde": `kde_entropy` (definitions §4).
    Every result has an ``entropy`` attribute in bits.

    >>> import numpy as np
    >>> z = np.array([[0, 1], [0, 1], [1, 1], [1, 0]])       # states with frequencies 1/2, 1/4, 1/4
    >>> entropy(z, method="plugin").entropy
    1.5
    """
    if not isinstance(method, str) or method not in METHODS:
        raise ValueError(f"argument 'method' must be one of {sorted(METHODS)}, got {method!r}")
    module, name = METHODS[method]
    return getattr(importlib.import_module(module), name)(gates, **kwargs)
