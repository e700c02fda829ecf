"""The "janik" metric group (definitions §2, per-patch rows): linearity, mean unit entropy,
complexity H(Z) with the chosen estimator, complexity per neuron, normalised total
correlation, effective dimension (and, with ``pixel_map``, the pixel-wise map in
``curves["effective_dimension_map"]``). One work unit per layer (`layer_values`), shipped as
packed bits and covariance moments (numpy only: process and cluster workers need no torch).

May import: `pycx.gates` (the per-patch rows), `pycx.estimators`, the base layer.
"""
from __future__ import annotations

import warnings

import numpy as np

from .._pool import Unit, UnitFailure, run_units
from .groups import GroupContext, Timings


def run(records, ctx: GroupContext) -> list:
    """``[values of each layer]`` of the Janik group (see the module)."""
    complexity = ctx.est["complexity"]
    method = complexity["method"]
    kwargs = {k: v for k, v in complexity.items() if k != "method"}
    if method == "xgb":
        kwargs.setdefault("seed", ctx.seed)
        if ctx.executor is not None:  # one thread per unit: the pool supplies the parallelism
            kwargs.setdefault("threads", 1)  # (hist trees do not depend on the thread count)

    samples = {}
    without = [rec.name for rec in records if not rec.has_covariance]
    if without:
        warnings.warn(f"pycx.analyze: the effective dimension of {len(without)} layer(s) "
                      f"({', '.join(without[:5])}{', ...' if len(without) > 5 else ''}) is NaN: "
                      "their capture kept no covariance (capture(..., covariance=False))",
                      stacklevel=4)

    def units():
        for rec in records:
            with ctx.timer("packing"):
                patch = patch_rows(rec, ctx.patch_rows, ctx.seed, samples)
            # Shipped: the packed per-patch rows and the covariance moments, or the float rows
            # when the capture kept those (fewer than 2C: cheaper to ship and to decompose).
            yield Unit(rec.name, float(patch.n_rows) * patch.n_bits ** 2, layer_values,
                       (patch, rec.bits_per_unit, rec.shape, rec.output_shape,
                        rec.covariance_rows if rec.covariance_rows is not None else rec.covariance,
                        rec.pixel_covariance if ctx.pixel_map else None, method, kwargs))

    maps = {}
    rows = [{} for _ in records]
    done = run_units(units(), ctx.executor, errors=ctx.errors, progress=ctx.progress,
                     desc="pycx janik", unit="layer", total=len(records))
    for i, (u, out) in enumerate(done):
        if isinstance(out, UnitFailure):
            ctx.failures.append((f"janik, layer {u.key!r}", out.error))
            continue
        values, pixel, seconds = out
        rows[i] = values
        ctx.timer.add(seconds)
        if pixel is not None:
            maps[u.key] = pixel
    if ctx.pixel_map:
        ctx.curves["effective_dimension_map"] = maps
    return rows


def patch_rows(rec, patch_rows, seed, samples=None):
    """Per-patch rows of a layer, subsampled to at most `patch_rows` (seeded, the same keyed
    sample as `pycx.capture`'s ``patch_rows``). `samples`: a dict kept for one analysis,
    holding the row sample of each row total (it depends only on (total, patch_rows, seed),
    and the layers of a stage share their total: drawing it once per stage instead of once
    per layer saved ~10 s of hashing 10.24M keys on the 19 first-stage layers of ResNet-56)."""
    from ..gates.store import per_patch_rows, subsample_rows

    if rec.patch_rows == patch_rows and rec.seed == seed:
        return rec.per_patch
    total = rec.n_patch_rows_total
    index = None
    if patch_rows is not None and patch_rows < total:
        if samples is None:
            index = subsample_rows(total, patch_rows, seed)
        else:
            if total not in samples:  # only the latest kept: layers come stage by stage
                samples.clear()
                samples[total] = subsample_rows(total, patch_rows, seed)
            index = samples[total]
    if rec.positions == 1 and rec.bits_per_unit == 1:
        return rec.per_sample if index is None else rec.per_sample[index]
    return per_patch_rows(rec.per_sample, rec.channels, rec.positions, index)


def layer_values(patch, bits_per_unit, shape, output_shape, covariance, pixel_covariance,
                 method, kwargs):
    """The Janik values of one layer from its per-patch rows: (row values, pixel map as a
    list or None, seconds per stage)."""
    from ..estimators._common import h2
    from ..estimators.dispatch import entropy
    from ..estimators.janik import (effective_dimension, effective_dimension_map,
                                    ternary_unit_entropies, unit_rates)

    timer = Timings()
    row = {}
    pixel = None
    with timer("janik.units"):
        rates = unit_rates(patch)
        if bits_per_unit == 2:
            c = shape[0]
            unit_h = ternary_unit_entropies(rates, c)
            row["linearity"] = float(np.clip(1.0 - rates[:c] - rates[c:], 0.0, 1.0).mean())
        else:
            unit_h = h2(rates)
            row["linearity"] = float(rates.mean())
        row["unit_entropy_mean"] = float(unit_h.mean())
    with timer(f"janik.complexity.{method}"):
        result = entropy(patch, method=method, **kwargs)
        h = float(result.entropy)
    folds = getattr(result, "fold_entropies", None)
    if folds is not None and len(folds) >= 2:  # the chain rule's fold-to-fold spread
        row.update(complexity_lo=float(np.min(folds)), complexity_hi=float(np.max(folds)),
                   complexity_fold_std=float(np.std(folds, ddof=1)))
    n_units = shape[0]  # neurons (a ternary unit is one neuron with 2 bits)
    total = float(unit_h.sum())
    # log2(rows): the most a count over these rows could show; the chain rule's
    # upper bound can exceed it (flagged in the report).
    bound = float(np.log2(patch.n_rows))
    row.update(complexity_bound_log2_rows=bound, complexity_exceeds_log2_rows=h > bound)
    row.update(complexity=h, complexity_per_neuron=h / n_units, rows_patch=patch.n_rows,
               ntc=(total - h) / total if total > 0 else 0.0, complexity_estimator=method)
    with timer("janik.effective_dimension"):
        if covariance is not None:
            row["effective_dimension"] = float(effective_dimension(covariance))
        if pixel_covariance is not None:
            m = effective_dimension_map(pixel_covariance)
            pixel = m.reshape(output_shape[1:]).tolist()
    return row, pixel, dict(timer.seconds)
