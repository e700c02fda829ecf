"""Layer metrics of Janik & Witaszczyk (docs/definitions.md §2; papers 000/001): unit entropies,
linearity, normalized total correlation and the effective dimension (global and pixel-wise).

Gate input: per-patch rows ``Z`` (``M x C``), as a `PackedBits` or an unpacked 0/1 array.
Unit rates come from one pass over the packed rows (unpacked in bounded chunks); the
effective dimension takes float rows, a covariance matrix or a `pycx.Covariance` accumulator.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validate import FLOAT_DTYPES, as_host_array, check_dtype, check_finite, describe
from ._common import as_packed_rows, check_rows, column_ones, h2

if TYPE_CHECKING:
    import numpy.typing as npt

    from ..kernels.packed import PackedBits


def unit_rates(gates) -> np.ndarray:
    """``p_i``: the fraction of rows in which unit i is on, float64 ``(C,)``."""
    packed = as_packed_rows("gates", gates)
    check_rows("gates", packed)
    return column_ones(packed) / float(packed.n_rows)


def unit_entropies(gates: "npt.ArrayLike | PackedBits") -> np.ndarray:
    """``H(Z_i) = h2(p_i)`` per unit, bits, float64 ``(C,)`` (docs/definitions.md §2).

    >>> z = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])       # p = (3/4, 1/4)
    >>> unit_entropies(z).round(4).tolist()                   # h2(3/4) = h2(1/4)
    [0.8113, 0.8113]
    """
    return h2(unit_rates(gates))


def ternary_unit_entropies(rates: np.ndarray, c: int) -> np.ndarray:
    """Entropy (bits) of each of `c` ternary units (sigmoid/tanh: saturated low, saturated high,
    linear) from the rates of its lo bits ``rates[:c]`` and hi bits ``rates[c:]``.

    >>> ternary_unit_entropies(np.array([0.25, 0.0, 0.25, 0.5]), 2).tolist()
    [1.5, 1.0]
    """
    lo, hi = rates[:c], rates[c:]
    lin = np.clip(1.0 - lo - hi, 0.0, 1.0)
    probs = np.stack([lo, hi, lin])
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(probs > 0, -probs * np.log2(probs), 0.0)
    return terms.sum(axis=0)


def linearity(gates: "npt.ArrayLike | PackedBits") -> float:
    """Linearity ``mean_i p_i`` (definitions §2, paper 000 eq. 8): the mean fraction of active gates.

    >>> linearity(np.array([[1, 0], [1, 1], [0, 0], [1, 0]]))     # p = (3/4, 1/4)
    0.5
    """
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


def normalized_total_correlation(gates: "npt.ArrayLike | PackedBits",
                                 joint_entropy: float) -> float:
    """``(sum_i H(Z_i) - H(Z)) / sum_i H(Z_i)`` (definitions §2, paper 000 eq. 7) with ``H(Z)`` the
    given joint-entropy estimate (bits, or a result such as `xgb_entropy`'s). 0 when every
    unit is constant (the denominator is 0).

    >>> z = np.array([[1, 0], [1, 1], [0, 0], [1, 0]])   # joint plug-in H(Z) = 1.5 bits
    >>> round(normalized_total_correlation(z, 1.5), 4)    # (2 h2(1/4) - 1.5) / (2 h2(1/4))
    0.0755
    """
    h = _joint_entropy_value(joint_entropy)
    total = float(unit_entropies(gates).sum())
    if total == 0.0:
        return 0.0
    return (total - h) / total


def _entropy_dimension(eigenvalues: np.ndarray) -> np.ndarray:
    """``exp(-sum q ln q)`` over the last axis, ``q = l / sum l`` with negative eigenvalues
    (rounding) clipped to 0; 0 where the total variance is 0 (docs/definitions.md §2 decision)."""
    lam = np.clip(eigenvalues, 0.0, None)
    total = lam.sum(axis=-1, keepdims=True)
    q = lam / np.where(total > 0, total, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    return np.where(total[..., 0] > 0, np.exp(-terms.sum(axis=-1)), 0.0)


def _power_of_two_scale(a: np.ndarray, axis=None) -> np.ndarray:
    """``2^-e`` with ``2^(e-1) <= max|a| < 2^e`` (1 where ``a`` is all 0): dividing by a power
    of two is exact, so normalising this way changes no digit of the data."""
    top = np.abs(a).max(axis=axis, keepdims=axis is not None, initial=0.0)
    _, e = np.frexp(top)
    return np.where(top > 0, np.ldexp(1.0, -e), 1.0)


def _checked_eigenvalues(name: str, c: np.ndarray, rel: float) -> np.ndarray:
    """Eigenvalues of each (symmetric, finite) matrix of the stack ``c``, each matrix
    normalised first by a power of two near its largest entry: the effective dimension is
    scale-free, and so no square under- or overflows (1e-170- and 1e200-scaled data give the
    same value as unscaled). A matrix with an eigenvalue below ``-rel * max|eigenvalue|``
    (more negative than rounding can make a covariance) is not positive semi-definite: an
    error, not a clipped 0."""
    c = c * _power_of_two_scale(c.reshape(c.shape[:-2] + (-1,)), axis=-1)[..., None]
    lam = np.linalg.eigvalsh(c)
    top = np.abs(lam).max(axis=-1, initial=0.0)
    bad = lam.min(axis=-1, initial=0.0) < -rel * top
    if np.any(bad):
        where = "" if c.ndim == 2 else \
            f" (matrix {tuple(int(i) for i in np.unravel_index(np.argmax(bad), bad.shape))})"
        raise ValueError(f"argument '{name}' is not positive semi-definite{where}: eigenvalue "
                         f"{float(lam.min()):.3g} of a matrix whose largest is "
                         f"{float(top.max()):.3g} (after normalising); a covariance cannot have "
                         "negative eigenvalues beyond rounding")
    return lam


# Negative eigenvalues tolerated as rounding, relative to the largest one: a covariance
# formed in float64 (two-pass or shifted one-pass) has them at ~1e-15; float32 at ~1e-6.
_PSD_REL = {np.dtype(np.float32): 1e-4, np.dtype(np.float64): 1e-9}


def _covariance_stack(name: str, cov) -> np.ndarray:
    """A float64 ``(..., C, C)`` stack from an array or a `pycx.Covariance` accumulator."""
    if hasattr(cov, "covariance") and hasattr(cov, "batch_shape"):  # pycx.Covariance
        if cov.count == 0:
            raise ValueError(f"argument '{name}' is a Covariance accumulator with no rows yet")
        c = np.asarray(cov.covariance(), dtype=np.float64)
        if not np.isfinite(c).all():
            raise ValueError(f"argument '{name}' is a Covariance accumulator whose moments are "
                             "not finite (NaN or infinite)")
        return c
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
    # Each matrix by its own power of two (exact): keeps the difference below from
    # overflowing, and tiny matrices of a stack from being judged against large ones.
    c = c * _power_of_two_scale(c.reshape(c.shape[:-2] + (-1,)), axis=-1)[..., None]
    scale = float(np.abs(c).max(initial=0.0))
    if float(np.abs(c - np.swapaxes(c, -1, -2)).max(initial=0.0)) > rel * scale:
        raise ValueError(f"argument '{name}' must be symmetric, got {describe(c)}")
    return c


def _stack_rel(x) -> float:
    """The negative-eigenvalue allowance for input ``x`` (float32 arrays or tensors: wider)."""
    single = str(getattr(x, "dtype", "")) in ("float32", "torch.float32")
    return _PSD_REL[np.dtype(np.float32 if single else np.float64)]


def effective_dimension(x: npt.ArrayLike, *, is_covariance: bool = False) -> float:
    """Effective dimension (definitions §2, paper 000 eqs. 9-10): eigenvalues ``l_i`` of the C x C
    covariance (negatives clipped to 0), ``q_i = l_i / sum l``, ``exp(-sum q_i ln q_i)``.
    Zero total variance gives 0; otherwise the value lies in ``[1, C]``. Scale-free: the data
    or matrix is normalised (by a power of two, exactly) before the eigen-decomposition, so
    any finite scale gives the same value. A matrix that is not positive semi-definite (an
    eigenvalue below -1e-9 of the largest; -1e-4 for float32 input) raises ValueError, as do
    an accumulator's non-finite moments.

    >>> import numpy as np
    >>> x = np.random.default_rng(0).standard_normal((500, 3)) * [1.0, 1.0, 0.0]
    >>> round(effective_dimension(x), 2), round(effective_dimension(x * 1e-170), 2)
    (2.0, 2.0)

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
        # offset from costing precision). Scaled by powers of two (exact) before the mean
        # and again before the product, so that neither the sum nor the squares leave the
        # float64 range whatever the data's scale.
        centred = rows.astype(np.float64)
        centred *= _power_of_two_scale(centred)
        centred -= centred.mean(axis=0)
        centred *= _power_of_two_scale(centred)
        # The nonzero eigenvalues of X^T X (C x C) are those of X X^T (M x M): with fewer
        # rows than units the smaller Gram matrix gives the same spectrum for less work.
        if rows.shape[0] < rows.shape[1]:
            c = centred @ centred.T / rows.shape[0]
        else:
            c = centred.T @ centred / rows.shape[0]
        return float(_entropy_dimension(_checked_eigenvalues("x", c, _PSD_REL[np.dtype(np.float64)])))
    return float(_entropy_dimension(_checked_eigenvalues("x", c, _stack_rel(x))))


def effective_dimension_map(covariances: npt.ArrayLike) -> np.ndarray:
    """Effective dimension of every matrix of a ``(..., C, C)`` stack, or of a batched
    `pycx.Covariance` (``batch_shape=(H, W)`` fed ``(H, W, N, C)`` views of an ``(N, C, H, W)``
    output gives the pixel-wise map of definitions §2 / fig. S7): float64 array of shape ``(...)``.

    >>> stack = np.stack([np.eye(3), np.diag([1.0, 1.0, 0.0]), np.ones((3, 3))])
    >>> effective_dimension_map(stack).round(6).tolist()      # 3 equal, 2 equal, 1 direction
    [3.0, 2.0, 1.0]
    """
    return _entropy_dimension(_checked_eigenvalues(
        "covariances", _covariance_stack("covariances", covariances), _stack_rel(covariances)))
