"""`entropy(gates, method=...)`: one entry point to the entropy estimators, by name."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .registry import COMPLEXITY_METHODS, check_option_names, complexity_method

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..kernels.packed import PackedBits
    from ._common import Result

# method name -> (module, function), read from the registry (pycx/estimators/registry.py).
METHODS = {m.name: (m.module, m.function) for m in COMPLEXITY_METHODS.values()}


def entropy(gates: "npt.ArrayLike | PackedBits", method: str = "xgb", **kwargs: Any) -> Result:
    """Entropy of binary rows by the named estimator; keyword arguments go to it.

    The methods are those of `pycx.estimators.registry.COMPLEXITY_METHODS`: "xgb":
    `xgb_entropy` (classifier chain rule, definitions §5.1, the default of paper 000);
    "plugin" / "miller_madow": from state counts (definitions §5.2); "kde": `kde_entropy`
    (definitions §4); "nsb": `nsb_entropy` (definitions §5.2). A keyword the method does not
    take is a ValueError naming the ones it takes. Every result has an ``entropy`` attribute
    in bits.

    >>> import numpy as np
    >>> z = np.array([[0, 1], [0, 1], [1, 1], [1, 0]])       # states with frequencies 1/2, 1/4, 1/4
    >>> entropy(z, method="plugin").entropy
    1.5
    >>> entropy(z, method="nsb").entropy > 1.5               # NSB corrects the plug-in's low bias
    True
    """
    entry = complexity_method(method, "method")
    check_option_names(f"entropy(method={entry.name!r})", kwargs, entry.options, "keyword arguments")
    return entry.load()(gates, **kwargs)
