"""Reference of the Janik & Witaszczyk layer metrics (docs/definitions.md §2; papers 000/001).

Gate input is per-patch rows ``Z`` of shape ``(M, C)`` (M patches, C units), 0/1 values of
any gate dtype. Entropies are in bits.
"""
from __future__ import annotations

import numpy as np

from .._validate import (FLOAT_DTYPES, as_host_array, check_dtype, check_finite,
                         check_gate_matrix, check_int, check_positive, describe)
from .covariance import covariance
from .entropy import h2


def unit_rates(gates) -> np.ndarray:
    """``p_i = mean(Z_i)``: the fraction of rows in which unit i is on, float64 ``(C,)``."""
    z = check_gate_matrix("gates", gates, min_rows=1)
    return z.astype(np.float64).mean(axis=0)


def unit_entropies(gates) -> np.ndarray:
    """``H(Z_i) = h2(p_i)`` per unit, bits, float64 ``(C,)`` (docs/definitions.md §2)."""
    return np.asarray(h2(unit_rates(gates)), dtype=np.float64).reshape(-1)


def linearity(gates) -> float:
    """Linearity ``mean_i p_i`` (definitions §2, paper 000 eq. 8): the mean fraction of active gates."""
    z = check_gate_matrix("gates", gates, min_rows=1, min_units=1)
    return float(unit_rates(z).mean())


def complexity_per_neuron(joint_entropy, n_units) -> float:
    """``H(Z) / C`` (definitions §2): a layer's complexity divided by its number of units."""
    h = check_positive("joint_entropy", joint_entropy, allow_zero=True)
    c = check_int("n_units", n_units, minimum=1)
    return h / c


def normalized_total_correlation(gates, joint_entropy) -> float:
    """``(sum_i H(Z_i) - H(Z)) / sum_i H(Z_i)`` (definitions §2, paper 000 eq. 7), with ``H(Z)`` the
    given estimate of the joint entropy (bits). Defined as 0 when ``sum_i H(Z_i) = 0`` (every
    unit constant): there is no correlation to normalise."""
    h = check_positive("joint_entropy", joint_entropy, allow_zero=True)
    total = float(unit_entropies(check_gate_matrix("gates", gates, min_rows=1, min_units=1)).sum())
    if total == 0.0:
        return 0.0
    return (total - h) / total


def _entropy_dimension(eigenvalues: np.ndarray) -> np.ndarray:
    """``exp(-sum q ln q)`` over the last axis with ``q = l / sum l``, negatives clipped to 0;
    0 where the total is 0 (docs/definitions.md §2 decision)."""
    lam = np.clip(eigenvalues, 0.0, None)
    total = lam.sum(axis=-1, keepdims=True)
    safe_total = np.where(total > 0, total, 1.0)
    q = lam / safe_total
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(q > 0, q * np.log(q), 0.0)
    dim = np.exp(-terms.sum(axis=-1))
    return np.where(total[..., 0] > 0, dim, 0.0)


def _check_covariances(name: str, cov) -> np.ndarray:
    c = as_host_array(name, cov)
    check_dtype(name, c, FLOAT_DTYPES)
    # Rounding of a symmetric product in the input's precision bounds the asymmetry allowed.
    rel = 1e-5 if c.dtype == np.float32 else 1e-10
    if c.ndim < 2 or c.shape[-1] != c.shape[-2]:
        raise ValueError(f"argument '{name}' must be a (..., C, C) stack of square matrices, "
                         f"got {describe(c)}")
    if c.shape[-1] == 0:
        raise ValueError(f"argument '{name}' has no units (C = 0), got {describe(c)}")
    check_finite(name, c)
    c = c.astype(np.float64)
    # eigvalsh reads one triangle only, so an asymmetric input would be silently misread.
    scale = np.abs(c).max() if c.size else 0.0
    if np.abs(c - np.swapaxes(c, -1, -2)).max(initial=0.0) > rel * scale:
        raise ValueError(f"argument '{name}' must be symmetric, got {describe(c)}")
    return c


def effective_dimension_from_covariance(cov) -> float:
    """Effective dimension (definitions §2, paper 000 eqs. 9-10) of a C x C covariance matrix:
    eigenvalues ``l_i`` clipped at 0, ``q_i = l_i / sum l``, ``exp(-sum q_i ln q_i)``.
    Zero total variance gives 0 (decision); otherwise the value lies in ``[1, C]``."""
    c = _check_covariances("cov", cov)
    if c.ndim != 2:
        raise ValueError(f"argument 'cov' must be 2-D (C, C); use effective_dimension_map for "
                         f"a stack, got {describe(c)}")
    return float(_entropy_dimension(np.linalg.eigvalsh(c)))


def _float_array(name: str, x, ndim: int, layout: str, axis1: str) -> np.ndarray:
    """A float array of `ndim` axes (described by `layout`) whose axis 1 is not empty."""
    x = as_host_array(name, x)
    check_dtype(name, x, FLOAT_DTYPES)
    if x.ndim != ndim:
        raise ValueError(f"argument '{name}' must be {ndim}-D {layout}, got {describe(x)}")
    if x.shape[1] == 0:
        raise ValueError(f"argument '{name}' has no {axis1}, got {describe(x)}")
    return x


def effective_dimension_from_data(x) -> float:
    """Effective dimension of float rows ``x`` of shape ``(M, C)`` (per-patch outputs): the
    same as `effective_dimension_from_covariance` of their population covariance."""
    x = _float_array("x", x, 2, "(rows, units)", "units (columns)")
    _, cov = covariance(x)
    return float(_entropy_dimension(np.linalg.eigvalsh(cov)))


def effective_dimension(x, *, is_covariance: bool = False) -> float:
    """`effective_dimension_from_data` of ``x``, or `effective_dimension_from_covariance`
    when ``is_covariance`` is true."""
    if not isinstance(is_covariance, (bool, np.bool_)):
        raise TypeError(f"argument 'is_covariance' must be a bool, got {type(is_covariance).__name__}")
    if is_covariance:
        return effective_dimension_from_covariance(x)
    return effective_dimension_from_data(x)


def effective_dimension_map(covariances) -> np.ndarray:
    """Effective dimension of every matrix of a ``(..., C, C)`` stack (e.g. ``(H, W, C, C)``
    for the pixel-wise map of definitions §2 / fig. S7): a float64 array of shape ``(...)``."""
    c = _check_covariances("covariances", covariances)
    return _entropy_dimension(np.linalg.eigvalsh(c))


def pixel_covariances(outputs) -> np.ndarray:
    """``(H, W, C, C)`` covariances over the N samples at each spatial position of an
    ``(N, C, H, W)`` float output (population covariance, float64)."""
    x = _float_array("outputs", outputs, 4, "(N, C, H, W)", "channels")
    # (N, C, H, W) -> (H, W, N, C): batch over positions, rows = samples.
    _, cov = covariance(np.transpose(x, (2, 3, 0, 1)))
    return cov
