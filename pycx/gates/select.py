"""Which gating layers to keep: the ``layers`` / ``exclude`` arguments of `pycx.capture`,
`pycx.analyze` and `pycx.describe`, read once. No torch: a saved `Capture` is selected the
same way.

A string is a layer name or a kind. Where a name is also a kind (ResNet's stem ReLU is the
module ``relu``; ``F.relu`` in a model's top-level forward is named ``relu``), the name wins
when it is a known name (a module path of the model, or a layer of the capture); ``"kind:X"``
always means the kind X.
"""
from __future__ import annotations

from typing import Callable, Iterable, Optional, Sequence, Union

from .kinds import KINDS

__all__ = ["LayerSelection", "layer_selector"]

# which gating layers: None (all), a name or kind, a list of them, or f(name, kind) -> bool
LayerSelection = Union[str, Sequence[str], Callable[[str, str], bool], None]

_KIND_PREFIX = "kind:"


def _one(argument, layers, known):
    """(predicate(name, kind), names that must exist) of one selection argument."""
    if callable(layers):
        return (lambda name, kind: bool(layers(name, kind))), set()
    if isinstance(layers, str):
        layers = [layers]
    try:
        wanted = list(layers)
    except TypeError:
        raise TypeError(f"argument '{argument}' must be None, a name or kind, a list of them, or "
                        f"a predicate(name, kind), got {type(layers).__name__}") from None
    kinds, names = set(), set()
    for w in wanted:
        if not isinstance(w, str):
            raise TypeError(f"argument '{argument}' must hold layer names or kinds (str), got {w!r}")
        if w.startswith(_KIND_PREFIX):
            kind = w[len(_KIND_PREFIX):]
            if kind not in KINDS:
                raise ValueError(f"argument '{argument}': {w!r} names no gate kind; kinds: "
                                 f"{list(KINDS)}")
            kinds.add(kind)
        elif w in KINDS and w not in known:
            kinds.add(w)
        else:
            names.add(w)
    return (lambda name, kind: kind in kinds or name in names), names


def layer_selector(layers: LayerSelection = None, exclude: LayerSelection = None,
                   known: Optional[Iterable[str]] = None):
    """``(predicate(name, kind) -> bool, names that must exist)`` of the ``layers`` and
    ``exclude`` arguments; `known`: names that are names even where they spell a kind.

    >>> keep, required = layer_selector(["relu", "kind:sigmoid"], known={"relu"})
    >>> keep("relu", "relu"), keep("layer1.relu", "relu"), keep("gate", "sigmoid"), required
    (True, False, True, {'relu'})
    """
    known = set(known or ())
    if layers is None:
        take, required = (lambda name, kind: True), set()
    else:
        take, required = _one("layers", layers, known)
    if exclude is None:
        return take, required
    drop, excluded = _one("exclude", exclude, known)
    return (lambda name, kind: take(name, kind) and not drop(name, kind)), required | excluded
