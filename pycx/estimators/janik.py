"""Layer metrics of Janik & Witaszczyk (SPEC section 2; papers 000/001): unit entropies,
linearity, normalized total correlation and the effective dimension (global and pixel-wise).

Gate input: per-patch rows ``Z`` (``M x C``), as a `PackedBits` or an unpacked 0/1 array.
Unit rates come from one pass over the packed rows (unpacked in bounded chunks); the
effective dimension takes float rows, a covariance matrix or a `pycx.Covariance` accumulator.
"""
from __future__ import annotations

import numpy as np

from .._validate import FLOAT_DTYPES, as_host_array, check_dtype, check_finite, describe
from ._common import as_packed_rows, check_rows, column_ones, h2


def unit_rates(gates) -> np.ndarray:
    """``p_i``: the fraction of rows in which unit i is on, float64 ``(C,)``."""
    packed = as_packed_rows("gates", gates)
    check_rows("gates", packed)
    return column_ones(packed) / float(packed.n_rows)


def unit_entropies(gates) -> np.ndarray:
    """``H(Z_i) = h2(p_i)`` per unit, bits, float64 ``(C,)`` (SPEC §2)."""
    return h2(unit_rates(gates))


def linearity(gates) -> float:
    """Linearity ``mean_i p_i`` (SPEC §2, paper 000 eq. 8): the mean fraction of active gates."""
    return float(unit_rates(gates).mean())


def _joint_entropy_value(joint_entropy) -> float:
    # Accept an estimator result (anything with a float ``entropy``) as well as a number.
    value = getattr(joint_entropy, "entropy", joint_entropy)
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"argument 'joint_entropy' must be a number (bits) or an entropy result, "
                        f"got {type(joint_entropy).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"argument 'joint_entropy' must be a finite non-negative number of bits, "
                         f"got {value!r}")
    return value


def normalized_total_correlation(gates, joint_entropy) -> float:
    """``(sum_i H(Z_i) - H(Z)) / sum_i H(Z_i)`` (SPEC §2, paper 000 eq. 7) with ``H(Z)`` the
    given joint-entropy estimate (bits, or a result such as `xgb_entropy`'s). 0 when every
    unit is constant (the denominator is 0)."""
    h = _joint_entropy_value(joint_entropy)
    total = float(unit_entropies(gates).sum())
    if total == 0.0:
        return 0.0
    return (total - h) / total


def _entropy_dimension(eigenvalues: np.ndarray) -> np.ndarray:
    """``exp(-sum q ln q)`` over the last axis, ``q = l / sum l`` with negative eigenvalues
    (rounding) clipped to 0; 0 where the total variance is 0 (SPEC §2 decision)."""
    lam = np.clip(eigenvalues, 0.0, None)
    total = lam.sum(axis=-1, keepdims=True)
    q = lam / np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    return np.where(total[..., 0] > 0, np.exp(-terms.sum(axis=-1)), 0.0)


def _covariance_stack(name: str, cov) -> np.ndarray:
    """A float64 ``(..., C, C)`` stack from an array or a `pycx.Covariance` accumulator."""
    if hasattr(cov, "covariance") and hasattr(cov, "batch_shape"):  # pycx.Covariance
        if cov.count == 0:
            raise ValueError(f"argument '{name}' is a Covariance accumulator with no rows yet")
        return np.asarray(cov.covariance(), dtype=np.float64)
    c = as_host_array(name, cov)
    check_dtype(name, c, FLOAT_DTYPES)
    if c.ndim < 2 or c.shape[-1] != c.shape[-2] or c.shape[-1] == 0:
        raise ValueError(f"argument '{name}' must be a (..., C, C) stack of square matrices with "
                         f"C >= 1, got {describe(c)}")
    check_finite(name, c)
    c = c.astype(np.float64)
    # eigvalsh reads one triangle only: an asymmetric matrix would be silently misread.
    # The allowance is the rounding of a symmetric product in the input's precision.
    rel = 1e-5 if cov.dtype == np.float32 else 1e-10
    scale = float(np.abs(c).max(initial=0.0))
    if float(np.abs(c - np.swapaxes(c, -1, -2)).max(initial=0.0)) > rel * scale:
        raise ValueError(f"argument '{name}' must be symmetric, got {describe(c)}")
    return c


def effective_dimension(x, *, is_covariance: bool = False) -> float:
    """Effective dimension (SPEC §2, paper 000 eqs. 9-10): eigenvalues ``l_i`` of the C x C
    covariance (negatives clipped to 0), ``q_i = l_i / sum l``, ``exp(-sum q_i ln q_i)``.
    Zero total variance gives 0; otherwise the value lies in ``[1, C]``.

    ``x``: float rows ``(M, C)`` (per-patch outputs; their population covariance is used), a
    ``(C, C)`` covariance with ``is_covariance=True`` (a square data matrix would otherwise be
    ambiguous), or an unbatched `pycx.Covariance` accumulator.
    """
    if not isinstance(is_covariance, (bool, np.bool_)):
        raise TypeError(f"argument 'is_covariance' must be a bool, got {type(is_covariance).__name__}")
    if is_covariance or (hasattr(x, "covariance") and hasattr(x, "batch_shape")):
        c = _covariance_stack("x", x)
        if c.ndim != 2:
            raise ValueError(f"argument 'x' must be one (C, C) covariance; use "
                             f"effective_dimension_map for a stack, got shape {c.shape}")
    else:
        rows = as_host_array("x", x)
        check_dtype("x", rows, FLOAT_DTYPES)
        if rows.ndim != 2 or rows.shape[0] == 0 or rows.shape[1] == 0:
            raise ValueError(f"argument 'x' must be (rows, units) with at least one of each, "
                             f"got {describe(rows)}")
        check_finite("x", rows)
        # Two-pass population covariance in float64 (centring first keeps a large common
        # offset from costing precision).
        centred = rows.astype(np.float64)
        centred -= centred.mean(axis=0)
        c = centred.T @ centred / rows.shape[0]
    return float(_entropy_dimension(np.linalg.eigvalsh(c)))


def effective_dimension_map(covariances) -> np.ndarray:
    """Effective dimension of every matrix of a ``(..., C, C)`` stack, or of a batched
    `pycx.Covariance` (``batch_shape=(H, W)`` fed ``(H, W, N, C)`` views of an ``(N, C, H, W)``
    output gives the pixel-wise map of SPEC §2 / fig. S7): float64 array of shape ``(...)``."""
    return _entropy_dimension(np.linalg.eigvalsh(_covariance_stack("covariances", covariances)))
