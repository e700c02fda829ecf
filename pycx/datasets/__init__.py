"""Offline datasets and the papers' dataset transforms (torch only, nothing downloaded).

Owns: the loaders of the data at hand (`digits`, `mnist5k`) and the transforms of Janik &
Witaszczyk's graded tasks (`Colorize`, `Tear`, `RandomLabels`, with the dataset wrappers
`Transformed` and `materialize`). May import: numpy, torch, the base layer (`pycx._validate`);
never capture, analysis, report or cli.
"""
from __future__ import annotations

from .loaders import Split, digits, mnist5k
from .transforms import Colorize, RandomLabels, Tear, Transformed, materialize

__all__ = ["Colorize", "RandomLabels", "Split", "Tear", "Transformed", "digits", "materialize",
           "mnist5k"]
