"""Reference of the (batched) population covariance used for effective dimension (definitions §2)."""
from __future__ import annotations

import numpy as np

from .._validate import FLOAT_DTYPES, as_host_array, check_dtype, check_finite, describe


def covariance(x) -> tuple:
    """``(mean, cov)`` of rows: x is ``(*batch, rows, dim)``; the population covariance
    (divided by rows) in float64, two-pass (centre first), one per batch index."""
    x = as_host_array("x", x)
    check_dtype("x", x, FLOAT_DTYPES)
    if x.ndim < 2:
        raise ValueError(f"argument 'x' must be (*batch, rows, dim), got {describe(x)}")
    if x.shape[-2] == 0:
        raise ValueError(f"argument 'x' has no rows, got {describe(x)}")
    check_finite("x", x)
    x = x.astype(np.float64)
    mean = x.mean(axis=-2)
    centred = x - mean[..., None, :]
    cov = np.swapaxes(centred, -1, -2) @ centred / x.shape[-2]
    return mean, cov
