"""Adapter with the interface of the resolution/relevance code of the Marsili group:
``calculate_HofKS(mapping_ks) -> (H[k], H[s])``, both normalised by ``log2 M``.

``mapping_ks`` is the list of state frequencies ``k_s`` (one per distinct state; zeros are
ignored), ``M = sum k_s``. Difference from the original: with ``M = 1`` both values are 0
(the original divides by ``log2 1 = 0``); bad input raises ValueError instead of an assert.
"""
from __future__ import annotations

import numpy as np

from .._validate import as_host_array, describe
from ..estimators.counts import state_frequencies
from ..reference import relevance as _ref


def _counts(mapping_ks):
    """Counts as the original takes them: integers, and also floats holding whole numbers
    (``np.unique(..., return_counts=True)[1] * 1.0``, counts read back from text) and bools
    (0/1 counts). A float that is not a whole number is no count: ValueError."""
    if getattr(mapping_ks, "ndim", 1) != 1 or hasattr(mapping_ks, "states"):
        return mapping_ks
    c = as_host_array("mapping_ks", mapping_ks)
    if c.dtype.kind == "b":
        return c.astype(np.int64)
    if c.dtype.kind == "f":
        if not np.isfinite(c).all() or (c != np.floor(c)).any():
            raise ValueError(f"argument 'mapping_ks' must hold whole-number counts, got "
                             f"{describe(c)} with non-integer or non-finite values")
        # float64 holds every integer exactly up to 2**53; beyond that a float is no exact count
        if c.size and float(np.abs(c).max()) > 2.0 ** 53:
            raise ValueError(f"argument 'mapping_ks' has float counts above 2**53, which float64 "
                             f"cannot hold exactly; pass integers ({describe(c)})")
        return c.astype(np.int64)
    return c


def calculate_HofKS(mapping_ks):
    """``(H[k] / log2 M, H[s] / log2 M)`` of the state frequencies ``mapping_ks`` (integer,
    whole-number float or bool counts).

    >>> calculate_HofKS([1.0, 1.0, 2.0]) == calculate_HofKS([1, 1, 2])
    True
    """
    counts = state_frequencies("mapping_ks", _counts(mapping_ks))
    rr = _ref.resolution_relevance(counts)
    return rr.h_k_normalized, rr.h_s_normalized
