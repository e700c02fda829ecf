"""The "kde" metric group (definitions §4, per-sample gates on the seeded ``kde_rows``
samples): H, H|Y, I(X;Σ;Y), total correlation, their saturation flags, and H of the
concatenation of each layer with all later ones (KDE on the KDE rows, and plug-in over all
samples). One work unit per layer (`layer_values`), shipped as packed bits.

May import: `pycx.estimators`, `pycx.kernels`, the base layer.
"""
from __future__ import annotations

import numpy as np

from .._pool import Unit, UnitFailure, run_units
from .groups import GroupContext, Timings


def layer_kind(rec) -> str:
    """The KDE's layer kind (its default alpha): "conv" for outputs with positions."""
    return "conv" if len(rec.output_shape) > 1 else "linear"


def run(records, ctx: GroupContext) -> list:
    """``[values of each layer]`` of the KDE group (see the module)."""
    from ..estimators.counts import joint_state_ids, plugin_entropy_of_ids
    from ..estimators.kde import kde_concat_profile
    from ..kernels.state_counts import _state_counts_core

    timer, seed, y = ctx.timer, ctx.seed, ctx.labels
    n = records[0].n_samples
    index = None
    if ctx.kde_rows is not None and ctx.kde_rows < n:
        index = np.sort(np.random.default_rng(seed).choice(n, ctx.kde_rows, replace=False))
    y_kde = None if y is None else (y if index is None else y[index])
    opts = dict(ctx.est["kde"])  # the registry's kde options: alpha, bandwidth
    subsets = []

    def units():
        for rec in records:
            gates = rec.per_sample if index is None else rec.per_sample[index]
            subsets.append(gates)
            # Shipped: the packed per-sample bits of the KDE rows. Cost: rows^2 x words.
            yield Unit(rec.name, float(gates.n_rows) ** 2 * gates.words.shape[1], layer_values,
                       (gates, y_kde, layer_kind(rec), opts, seed))

    rows = [{} for _ in records]
    done = run_units(units(), ctx.executor, errors=ctx.errors, progress=ctx.progress,
                     desc="pycx kde", unit="layer", total=len(records))
    for i, (u, out) in enumerate(done):
        if isinstance(out, UnitFailure):
            ctx.failures.append((f"kde, layer {u.key!r}", out.error))
            continue
        rows[i].update(out[0])
        timer.add(out[1])
    # H(Σ_l..Σ_L): the concatenation of layer l with every later layer. KDE on the KDE rows
    # (distances accumulated from the last layer back: each layer's bits read once);
    # plug-in over all samples from joint state ids (no copy).
    kinds = [layer_kind(rec) for rec in records]
    with timer("kde.concat"):
        h_concat = kde_concat_profile(subsets, layers=kinds, progress=ctx.progress, **opts)
    joint = None
    for i in range(len(records) - 1, -1, -1):
        rec, row = records[i], rows[i]
        row["kde_h_concat"] = float(h_concat[i])
        with timer("kde.concat_plugin"):
            ids = np.asarray(_state_counts_core(rec.per_sample).inverse, dtype=np.int64).reshape(-1)
            joint = ids if joint is None else joint_state_ids(ids, joint)
            row["plugin_h_concat"] = plugin_entropy_of_ids(joint)
    return rows


def layer_values(gates, y_kde, layer, opts, seed):
    """KDE entropy (with H|Y, I(X;Σ;Y) when labelled) and total correlation of one layer's
    per-sample rows: (row values, seconds per stage)."""
    from ..estimators.kde import kde_entropy, kde_total_correlation

    timer = Timings()
    with timer("kde.entropy"):
        ke = kde_entropy(gates, labels=y_kde, layer=layer, **opts)
    with timer("kde.total_correlation"):
        tc = kde_total_correlation(gates, layer=layer, seed=seed, **opts)
    row = dict(kde_h=ke.entropy, kde_s2=ke.s2, kde_alpha=ke.alpha,
               kde_tc=tc.total_correlation, rows_kde=gates.n_rows,
               kde_h_given_y=(float("nan") if ke.conditional_entropy is None
                              else ke.conditional_entropy),
               kde_i_xy=(float("nan") if ke.mutual_information is None
                         else ke.mutual_information),
               **saturation_flags(ke))
    return row, dict(timer.seconds)


def saturation_flags(ke):
    """Saturation of one layer's KDE values (definitions §4): H(Σ) within 0.01 bits of log2 n, and
    I(X;Σ;Y) within 0.01 bits of H(Y) (NaN without labels)."""
    nan = float("nan")
    return dict(kde_h_max=ke.max_entropy, kde_saturated=bool(ke.saturated),
                kde_h_y=nan if ke.label_entropy is None else ke.label_entropy,
                kde_i_xy_saturated=(nan if ke.mutual_information_saturated is None
                                    else bool(ke.mutual_information_saturated)))
