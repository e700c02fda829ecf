"""Hamming-kernel (KDE) entropy, conditional entropy, I(X;Sigma;Y) and total correlation of
gating states (docs/definitions.md §4; paper 004).

Rows are deduplicated first (``pycx.state_counts``): with S distinct states of counts ``c_s``,
every sum over rows becomes a weighted sum over states (``pycx.kde_sums(..., weights=c)``),
so the n^2 kernel work becomes S^2 and a row's value is its state's value.

Bandwidth: ``s2 = alpha * V`` with ``V = d``, the number of gate bits (``bandwidth="d"``, the
default: what the authors' released code does) or ``V = sum_i p_i (1 - p_i)``
(``bandwidth="var"``, the paper's ``Var(Sigma)``; on trained networks it is so narrow that every
state sits alone and H = log2 n at every checkpoint). ``alpha``
defaults by layer kind: 0.04 for gates of a convolutional output, 0.01 for a linear one. The
kind is ``layer="conv"|"linear"``; without it, an unpacked array with more than 2 axes (e.g.
``(N, C, H, W)``, flattened to per-sample rows) counts as convolutional and 2-D rows or a
`PackedBits` as linear. ``V = 0`` (every unit constant) gives ``s2 = 0``, read as the
small-bandwidth limit ``K = 1[h = 0]``.

Saturation: an entropy within ``SATURATION_BITS`` (0.01 bits) of its ceiling ``log2 n`` means
every state is alone at this bandwidth (``saturated=True``); likewise I(X;Sigma;Y) within 0.01
bits of H(Y) (``mutual_information_saturated``). The number then says only that the states
are far apart, not how complex the layer is.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Optional, Sequence

import numpy as np

from .._progress import progress_iter
from .._validate import (check_choice, check_int, check_labels, check_positive, check_threads,
                         label_codes)
from ..kernels.packed import PackedBits
from ._common import Result, as_packed_rows, check_rows, column_ones

if TYPE_CHECKING:
    import numpy.typing as npt

ALPHA_CONV = 0.04
ALPHA_LINEAR = 0.01
_LN2 = math.log(2.0)
# Below this a kernel sum is recomputed in log space from the Hamming distances: a sum of
# underflowing terms loses its digits (subnormals), and ``total - 1`` (leave-one-out) loses
# all of them once the rest is under ~1e-16 of the self term.
_LOG_SPACE_BELOW = 1e-200
_LOO_RELATIVE = 1e-6
_TILE_ROWS = 256          # rows per tile of the log-space fallback (tile x S distances)
_SYNTH_CHUNK_ROWS = 4096  # synthetic rows drawn and packed at a time
# Spawn key of the synthetic rows' stream ("TCKD" in ASCII): far from the small keys of a
# user's own SeedSequence(seed).spawn(k) children.
TC_SPAWN_KEY = 0x54434B44
DEFAULT_BANDWIDTH = "d"
SATURATION_BITS = 0.01    # H within this of log2 n (I(X;S;Y) of H(Y)) is flagged saturated


@dataclass(frozen=True)
class KdeEntropy(Result):
    entropy: float                          # H(Sigma), bits
    conditional_entropy: Optional[float]    # H(Sigma|Y), bits (with labels)
    mutual_information: Optional[float]     # I(X;Sigma;Y) = H(Sigma) - H(Sigma|Y) (with labels)
    s2: float                               # kernel variance used
    alpha: float
    variance: float                         # V of s2 = alpha * V
    n_rows: int
    n_units: int
    n_states: int
    settings: dict = field(default_factory=dict)
    max_entropy: float = math.nan           # log2 n, the ceiling of H(Sigma)
    saturated: bool = False                 # H(Sigma) >= log2 n - 0.01: every state alone
    label_entropy: Optional[float] = None   # H(Y) (plug-in, bits), the ceiling of I(X;Sigma;Y)
    mutual_information_saturated: Optional[bool] = None  # I(X;Sigma;Y) >= H(Y) - 0.01


@dataclass(frozen=True)
class KdeTotalCorrelation(Result):
    total_correlation: float    # bits (leave-one-out numerator, docs/definitions.md §4 decision)
    s2: float
    alpha: float
    variance: float
    n_rows: int
    n_units: int
    n_states: int
    settings: dict = field(default_factory=dict)


def _rows_and_kind(gates, layer):
    if layer is not None:
        check_choice("layer", layer, ("conv", "linear"))
    packed = as_packed_rows("gates", gates, allow_4d=True)
    if layer is None:
        layer = "conv" if getattr(gates, "ndim", 2) > 2 and not isinstance(gates, PackedBits) else "linear"
    return packed, layer


def _bandwidth(packed: PackedBits, alpha, bandwidth: str, layer: str):
    check_choice("bandwidth", bandwidth, ("var", "d"))
    if alpha is None:
        alpha = ALPHA_CONV if layer == "conv" else ALPHA_LINEAR
    alpha = check_positive("alpha", alpha)
    if bandwidth == "d":
        return alpha, float(packed.n_bits), alpha * float(packed.n_bits)
    p = column_ones(packed) / float(packed.n_rows)
    variance = float((p * (1.0 - p)).sum())
    return alpha, variance, alpha * variance


def _distinct(packed: PackedBits):
    from ..kernels.state_counts import _state_counts_core

    sc = _state_counts_core(packed)  # rows checked (or packed) where they entered
    return sc.states, np.asarray(sc.counts, dtype=np.int64), np.asarray(sc.inverse, dtype=np.int64)


def _log_weighted_kernel_sums(a: PackedBits, b: PackedBits, weights: np.ndarray,
                              s2: float) -> np.ndarray:
    """``log sum_k w_k exp(-h(a_j, b_k) / (2 s2))`` by log-sum-exp over tiles of a's rows
    (memory: tile x rows of b); ``s2 = 0`` is the limit ``K = 1[h = 0]``."""
    from ..kernels.kde_sums import _hamming_distances_core

    out = np.empty(a.n_rows)
    log_w = np.log(weights.astype(np.float64))
    for start in range(0, a.n_rows, _TILE_ROWS):
        stop = min(start + _TILE_ROWS, a.n_rows)
        h = _hamming_distances_core(a[start:stop], b).astype(np.float64)
        if s2 == 0.0:
            logits = np.where(h == 0, 0.0, -np.inf) + log_w
        else:
            logits = -h / (2.0 * s2) + log_w
        out[start:stop] = _row_logsumexp(logits)
    return out


def _row_logsumexp(logits: np.ndarray) -> np.ndarray:
    top = logits.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return safe + np.log(np.exp(logits - safe[:, None]).sum(axis=1))


def _weighted_entropy(log_sums: np.ndarray, weights: np.ndarray, log_norm: np.ndarray, n: int) -> float:
    """``-(1/n) sum_s w_s log2(sum_s / norm_s)`` given ``log sum_s`` and ``log norm_s``."""
    return float(-(weights @ (log_sums - log_norm)) / (n * _LN2)) + 0.0  # never -0.0


def kde_entropy(gates: "npt.ArrayLike | PackedBits", *, alpha: Optional[float] = None,
                bandwidth: str = DEFAULT_BANDWIDTH, labels: Optional[npt.ArrayLike] = None,
                layer: Optional[str] = None, threads: Optional[int] = None) -> KdeEntropy:
    """``H(Sigma) = -(1/n) sum_j log2( (1/n) sum_k K_jk )`` (definitions §4, paper 004 eq. 2; self
    term included, so ``0 <= H <= log2 n``), and with ``labels`` ``H(Sigma|Y) = sum_m (n_m/n)
    H(Sigma restricted to class m)`` (same ``s2``) and ``I(X;Sigma;Y) = H(Sigma) - H(Sigma|Y)``.

    gates: per-sample rows (`PackedBits`, 2-D 0/1 array, or an (N, ...) array flattened per
    sample). alpha / bandwidth / layer: see the module docstring. Cost: S^2 kernel terms for
    S distinct states. ``saturated`` / ``mutual_information_saturated`` flag results at their
    ceilings (log2 n, H(Y)), where the estimate only says that every state is alone.

    >>> import numpy as np
    >>> rows = np.array([[0, 0, 0, 0], [0, 0, 0, 1], [1, 1, 1, 1], [1, 1, 1, 0]])
    >>> r = kde_entropy(rows, alpha=0.25)            # s2 = 0.25 * 4 bits = 1
    >>> round(r.entropy, 3), r.saturated, r.settings["bandwidth"]
    (1.025, False, 'd')
    >>> kde_entropy(rows, alpha=0.001).saturated     # every state alone: H = log2 4
    True
    """
    packed, layer = _rows_and_kind(gates, layer)
    check_rows("gates", packed)
    nthreads = check_threads(threads)
    n = packed.n_rows
    y = None if labels is None else check_labels("labels", labels, n)
    alpha, variance, s2 = _bandwidth(packed, alpha, bandwidth, layer)
    states, counts, inverse = _distinct(packed)

    if s2 == 0.0:  # every kernel is 1[identical]: the sums are the counts themselves
        log_totals = np.log(counts.astype(np.float64))
    else:
        # The trusted core: states and counts were built here, s2 > 0 (validated once, above).
        from ..kernels.kde_sums import _kde_sums_core

        log_totals = np.log(_kde_sums_core(states, None, s2, counts.astype(np.float64), None,
                                           None, nthreads).total)
    h = _weighted_entropy(log_totals, counts, np.full(counts.shape, math.log(n)), n)

    h_given_y = mi = None
    if y is not None:
        # Distinct (state, label) pairs: the class-restricted sums over rows become sums over
        # pairs of the same label, weighted by the pair counts.
        classes, y_idx = label_codes(y)
        n_classes = classes.size
        pairs, pair_counts = np.unique(inverse * n_classes + y_idx.reshape(-1), return_counts=True)
        pair_state, pair_label = pairs // n_classes, pairs % n_classes
        class_sizes = np.bincount(y_idx.reshape(-1), minlength=n_classes).astype(np.float64)
        if s2 == 0.0:
            log_same = np.log(pair_counts.astype(np.float64))
        else:
            from ..kernels.kde_sums import _kde_sums_core

            # pair_label: dense codes 0..K-1 already (every class holds a pair).
            same = _kde_sums_core(states[pair_state], None, s2, pair_counts.astype(np.float64),
                                  pair_label, None, nthreads).same_label
            log_same = np.log(same)
        h_given_y = _weighted_entropy(log_same, pair_counts, np.log(class_sizes[pair_label]), n)
        mi = h - h_given_y
        q = class_sizes / n
        h_y = float(-(q * np.log2(q)).sum())

    max_h = math.log2(n)
    return KdeEntropy(entropy=h, conditional_entropy=h_given_y, mutual_information=mi, s2=s2,
                      alpha=alpha, variance=variance, n_rows=n, n_units=packed.n_bits,
                      n_states=int(counts.size),
                      settings={"bandwidth": bandwidth, "layer": layer, "alpha": alpha,
                                "labels": y is not None},
                      max_entropy=max_h, saturated=bool(n > 1 and h >= max_h - SATURATION_BITS),
                      label_entropy=None if y is None else h_y,
                      mutual_information_saturated=(
                          None if y is None else bool(h_y > 0 and mi >= h_y - SATURATION_BITS)))


def kde_concat_profile(parts: "Sequence[npt.ArrayLike | PackedBits]", *,
                       layers: "Optional[Sequence[str]]" = None, alpha: Optional[float] = None,
                       bandwidth: str = DEFAULT_BANDWIDTH, threads: Optional[int] = None,
                       tile_rows: int = 256, progress: bool = False) -> np.ndarray:
    """``H(Sigma_l..Sigma_L)`` for every ``l``: the KDE entropy (as `kde_entropy`) of the
    concatenation of ``parts[l:]``, float64 ``(len(parts),)``.

    Hamming distances add up over a concatenation, so the distances of suffix ``l`` are those
    of suffix ``l + 1`` plus those of part ``l``: each part's bits are read once (cost
    ``n^2 x words`` of all parts together, once) instead of once per suffix that holds them
    (concatenating every suffix and calling `kde_entropy` costs about ``L / 2`` times more
    for ``L`` parts of similar size). Rows are taken in tiles of `tile_rows` (memory: tile x n
    distances). Same estimate as `kde_entropy` of each concatenation up to rounding (the sums
    run over rows instead of distinct states: ~1e-15 relative).

    parts: per-sample rows of each layer (`PackedBits` or 0/1 arrays), the same n rows.
    layers: the kind ("conv" / "linear") of each part; suffix ``l`` takes part ``l``'s kind
        (and so its default alpha). Default: each part's kind as `kde_entropy` would infer it.
    alpha, bandwidth, threads: as `kde_entropy` (``s2 = alpha * V`` of the suffix's bits).

    >>> import pycx
    >>> rng = np.random.default_rng(0)
    >>> a, b = (pycx.pack_bits(rng.random((300, d)) < 0.5) for d in (40, 24))
    >>> profile = kde_concat_profile([a, b])
    >>> direct = [kde_entropy(pycx.concat_bits([a, b])).entropy, kde_entropy(b).entropy]
    >>> bool(np.allclose(profile, direct, rtol=1e-12, atol=0))
    True
    """
    from ..kernels.kde_sums import _hamming_distances_core

    if isinstance(parts, (PackedBits, np.ndarray)) or not hasattr(parts, "__len__"):
        raise TypeError(f"argument 'parts' must be a sequence of per-sample gate rows, got "
                        f"{type(parts).__name__}")
    if len(parts) == 0:
        raise ValueError("argument 'parts' is empty: give at least one layer's rows")
    if layers is not None and (isinstance(layers, str) or len(layers) != len(parts)):
        raise ValueError(f"argument 'layers' must give one kind per part ({len(parts)}), got "
                         f"{layers!r}")
    tile_rows = check_int("tile_rows", tile_rows, minimum=1)
    nthreads = check_threads(threads)
    packed, kinds = [], []
    for i, part in enumerate(parts):
        rows = as_packed_rows(f"parts[{i}]", part, allow_4d=True)
        if layers is None:
            kind = "conv" if getattr(part, "ndim", 2) > 2 and not isinstance(part, PackedBits) \
                else "linear"
        else:
            kind = check_choice(f"layers[{i}]", layers[i], ("conv", "linear"))
        check_rows(f"parts[{i}]", rows)
        if packed and rows.n_rows != packed[0].n_rows:
            raise ValueError(f"argument 'parts[{i}]' has {rows.n_rows} rows but parts[0] has "
                             f"{packed[0].n_rows}: every part must hold the same samples")
        packed.append(rows)
        kinds.append(kind)
    n, n_parts = packed[0].n_rows, len(packed)

    # s2 of every suffix, as _bandwidth on the concatenation: V = its bits, or the sum of
    # p(1-p) over its columns in column order (the same float sum as on the concatenation).
    check_choice("bandwidth", bandwidth, ("var", "d"))
    s2 = np.empty(n_parts)
    bits = 0
    rates = []
    for i in range(n_parts - 1, -1, -1):
        a = alpha if alpha is not None else (ALPHA_CONV if kinds[i] == "conv" else ALPHA_LINEAR)
        a = check_positive("alpha", a)
        bits += packed[i].n_bits
        if bandwidth == "d":
            s2[i] = a * float(bits)
        else:
            rates.insert(0, column_ones(packed[i]) / float(n))
            p = np.concatenate(rates)
            s2[i] = a * float((p * (1.0 - p)).sum())

    log_totals = np.empty((n_parts, n))
    tiles = progress_iter(range(0, n, tile_rows), progress, desc="kde concat", unit="tile",
                          leave=True)
    for start in tiles:
        stop = min(start + tile_rows, n)
        dist = np.zeros((stop - start, n), dtype=np.int64)
        for i in range(n_parts - 1, -1, -1):
            dist += _hamming_distances_core(packed[i][start:stop], packed[i], nthreads)
            if s2[i] == 0.0:  # the small-bandwidth limit K = 1[h = 0]
                total = (dist == 0).sum(axis=1).astype(np.float64)
            else:
                # >= 1 (the self term): no underflow to guard against.
                total = np.exp(dist * (-0.5 / s2[i])).sum(axis=1)
            log_totals[i, start:stop] = np.log(total)
    return -(log_totals - math.log(n)).sum(axis=1) / (n * _LN2) + 0.0  # never -0.0


def synthetic_rng(seed: int) -> np.random.Generator:
    """The generator of `kde_total_correlation`'s synthetic rows: ``default_rng`` of
    ``SeedSequence(seed, spawn_key=(TC_SPAWN_KEY,))``. The spawn key makes it a stream of its
    own, so that it cannot coincide with a user's plain ``default_rng(seed)`` draw of the
    gate data itself (with the plain stream, data drawn as ``default_rng(0).random((n, d)) <
    p`` shared its rows with the synthetic ones and independent bits got TC = -20 bits).

    >>> u = synthetic_rng(0).random(3)
    >>> bool((u != np.random.default_rng(0).random(3)).all())
    True
    """
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(TC_SPAWN_KEY,)))


def _synthetic_rows(p: np.ndarray, n: int, seed: int) -> PackedBits:
    """n rows of independent Bernoulli(p_i) bits, packed: a row's bit i is ``u < p_i`` for the
    uniforms of ``synthetic_rng(seed).random((n, d))`` (row by row, C order), decided from
    the generator's raw words in chunks of rows, so that no matrix of n x d numbers is held
    whole."""
    from ..kernels.pack_bits import _pack_rows_core

    rng = synthetic_rng(seed)
    d = p.shape[0]
    # u = (x >> 11) * 2^-53 for the generator's raw 64-bit outputs x (PCG64's doubles), so
    # u < p  <=>  (x >> 11) < ceil(p * 2^53): the same bits from integer compares, without
    # forming the doubles (3.8x faster; the generator ends in the same state; tested against
    # ``random()``).
    if not isinstance(rng.bit_generator, np.random.PCG64):  # pragma: no cover (numpy default)
        raise RuntimeError("synthetic rows assume numpy's PCG64 generator")
    threshold = np.ceil(np.ldexp(p, 53)).astype(np.uint64)
    chunk = max(1, min(_SYNTH_CHUNK_ROWS, (1 << 23) // max(1, d)))  # <= 64 MB of raw words
    parts = []
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        raw = rng.bit_generator.random_raw(rows * d).reshape(rows, d)
        raw >>= np.uint64(11)
        parts.append(_pack_rows_core(raw < threshold).words)
    return PackedBits(np.ascontiguousarray(np.concatenate(parts)), d, _trusted=True)


def kde_total_correlation(gates: "npt.ArrayLike | PackedBits", *, alpha: Optional[float] = None,
                          bandwidth: str = DEFAULT_BANDWIDTH,
                          seed: int = 0, layer: Optional[str] = None,
                          threads: Optional[int] = None,
                          leave_one_out: bool = True) -> KdeTotalCorrelation:
    """Total correlation (docs/definitions.md §4, paper 004 eq. 28), bits:
    ``TC = (1/n) sum_j log2( mean_{k != j} K(sigma_j, sigma_k) / mean_k K(sigma_j, sigma_hat_k) )``
    with ``sigma_hat`` n synthetic rows of independent Bernoulli(p_i) bits (seeded, drawn as
    ``(synthetic_rng(seed).random((n, d)) < p)``, a stream of its own derived from ``seed``
    by a `numpy.random.SeedSequence` spawn key), same bandwidth as `kde_entropy`.
    The numerator leaves row j out (definitions §4, Decision), so n >= 2; ``leave_one_out=False`` is eq.
    28 as printed (mean over all k, self term ``K_jj = 1`` included; n >= 1). Compare layers
    and models with it; it overestimates the true total correlation of strongly coupled units.

    >>> z = np.random.default_rng(0).random((400, 16)) < 0.5   # independent bits
    >>> abs(kde_total_correlation(z).total_correlation) < 0.5
    True
    """
    from ..kernels.kde_sums import _kde_sums_core

    if not isinstance(leave_one_out, (bool, np.bool_)):
        raise TypeError(f"argument 'leave_one_out' must be a bool, got "
                        f"{type(leave_one_out).__name__}")
    leave_one_out = bool(leave_one_out)
    packed, layer = _rows_and_kind(gates, layer)
    if leave_one_out:
        check_rows("gates", packed, minimum=2, why="the leave-one-out numerator needs another row")
    else:
        check_rows("gates", packed)
    seed = check_int("seed", seed, minimum=0)
    nthreads = check_threads(threads)
    n = packed.n_rows
    alpha, variance, s2 = _bandwidth(packed, alpha, bandwidth, layer)
    states, counts, _ = _distinct(packed)
    p = column_ones(packed) / float(n)
    synth_states, synth_counts, _ = _distinct(_synthetic_rows(p, n, seed))

    if s2 == 0.0:
        with np.errstate(divide="ignore"):
            log_num = np.log(counts - float(leave_one_out))
        log_den = _log_weighted_kernel_sums(states, synth_states, synth_counts, 0.0)
    else:
        # Trusted cores: states, counts and s2 > 0 were made here (validated once, above).
        total = _kde_sums_core(states, None, s2, counts.astype(np.float64), None, None,
                               nthreads).total
        if leave_one_out:
            rest = total - 1.0  # the sum without row j's own K_jj = 1
            with np.errstate(divide="ignore"):
                log_num = np.log(rest)
            # A single-copy state far from all others: its rest is tiny next to the self
            # term and `total - 1` has lost its digits; recompute those exactly.
            redo = np.flatnonzero((counts == 1) & (rest < _LOO_RELATIVE))
            if redo.size:
                log_num[redo] = _log_rest(states, counts, redo, s2)
        else:
            log_num = np.log(total)  # >= 1: the self term
        den = _kde_sums_core(states, synth_states, s2, synth_counts.astype(np.float64), None,
                             None, nthreads).total
        with np.errstate(divide="ignore"):
            log_den = np.log(den)
        low = np.flatnonzero(den < _LOG_SPACE_BELOW)
        if low.size:
            log_den[low] = _log_weighted_kernel_sums(states[low], synth_states, synth_counts, s2)
    with np.errstate(invalid="ignore"):
        norm = math.log(n - 1) if leave_one_out else math.log(n)
        tc = float(counts @ ((log_num - norm) - (log_den - math.log(n)))) / (n * _LN2)
    return KdeTotalCorrelation(total_correlation=tc, s2=s2, alpha=alpha, variance=variance,
                               n_rows=n, n_units=packed.n_bits, n_states=int(counts.size),
                               settings={"bandwidth": bandwidth, "layer": layer, "alpha": alpha,
                                         "seed": seed, "leave_one_out": leave_one_out,
                                         "synthetic_stream": f"SeedSequence(seed, spawn_key=({TC_SPAWN_KEY},))"})


def _log_rest(states: PackedBits, counts: np.ndarray, rows: np.ndarray, s2: float) -> np.ndarray:
    """``log sum_{t != s} c_t K(s, t)`` for the single-copy states ``rows`` (log space)."""
    from ..kernels.kde_sums import _hamming_distances_core

    out = np.empty(rows.size)
    log_w = np.log(counts.astype(np.float64))
    for start in range(0, rows.size, _TILE_ROWS):
        sel = rows[start:start + _TILE_ROWS]
        logits = -_hamming_distances_core(states[sel], states).astype(np.float64) / (2.0 * s2) + log_w
        logits[np.arange(sel.size), sel] = -np.inf  # leave the state itself (count 1) out
        out[start:start + sel.size] = _row_logsumexp(logits)
    return out
