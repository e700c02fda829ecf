"""Adapter with the interface of the resolution/relevance code of the Marsili group:
``calculate_HofKS(mapping_ks) -> (H[k], H[s])``, both normalised by ``log2 M``.

``mapping_ks`` is the list of state frequencies ``k_s`` (one per distinct state; zeros are
ignored), ``M = sum k_s``. Difference from the original: with ``M = 1`` both values are 0
(the original divides by ``log2 1 = 0``); bad input raises ValueError instead of an assert.
"""
from __future__ import annotations

from ..estimators.counts import state_frequencies
from ..reference import relevance as _ref


def calculate_HofKS(mapping_ks):
    """``(H[k] / log2 M, H[s] / log2 M)`` of the state frequencies ``mapping_ks``."""
    counts = state_frequencies("mapping_ks", mapping_ks)
    rr = _ref.resolution_relevance(counts)
    return rr.h_k_normalized, rr.h_s_normalized
