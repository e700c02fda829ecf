"""Offline datasets and the papers' dataset transforms (torch only, nothing downloaded).

Owns: the loaders of the data at hand (`digits`, `mnist5k`) and the transforms of Janik &
Witaszczyk's graded tasks. May import: numpy, torch, the base layer (`pycx._validate`);
never capture, analysis, report or cli.
"""
from __future__ import annotations

from .loaders import Split, digits, mnist5k

__all__ = ["Split", "digits", "mnist5k"]
