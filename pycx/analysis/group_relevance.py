"""The "relevance" metric group (definitions §3, per-sample binarised states): H[s], H[k] (raw
and / log2 M), beta (MLE and least squares), distinct states, classification error; beta
across layers; the maximal relevance curve for M (``curves["max_relevance"]``), the states'
degeneracies (``curves["degeneracy"]``) and the k-means baseline on the same inputs
(``curves["kmeans"]``, ``settings["kmeans"]``).

May import: `pycx.estimators`, `pycx.reference`, `pycx.analysis.kmeans`, the base layer.
"""
from __future__ import annotations

from .._progress import progress_iter
from .._pool import submit
from .groups import GroupContext
from .kmeans import kmeans_curve


def states(rec):
    """Per-sample binarised states for definitions §3: sigmoid/tanh layers use their 0.5 (0) split."""
    return rec.binary if rec.binary is not None else rec.per_sample


def run(records, ctx: GroupContext) -> list:
    """``[values of each layer]`` of the relevance group (see the module)."""
    from ..estimators.relevance import max_relevance_curve, resolution_relevance
    from ..reference.relevance import beta_across_layers

    est, timer, curves, settings = ctx.est, ctx.timer, ctx.curves, ctx.settings
    k_min = est["relevance"]["k_min"]
    inputs = ctx.inputs
    pending = None
    if inputs is not None and ctx.executor is not None:  # often the largest unit: submitted first
        pending = submit(ctx.executor, kmeans_curve, inputs, est["kmeans"], ctx.seed, ctx.progress)
    degeneracy = {}
    rows = []
    for rec in progress_iter(records, ctx.progress, desc="pycx relevance", unit="layer"):
        with timer("relevance.layers"):
            rr = resolution_relevance(states(rec), ctx.labels, k_min=k_min)
        rows.append(dict(h_s=rr.h_s, h_k=rr.h_k, h_s_norm=rr.h_s_normalized,
                         h_k_norm=rr.h_k_normalized, beta_mle=rr.beta_mle,
                         beta_ls=rr.beta_least_squares, n_states=rr.n_states,
                         classification_error=(float("nan") if rr.classification_error is None
                                               else rr.classification_error)))
        degeneracy[rec.name] = {"k": rr.k.tolist(), "m_k": rr.m_k.tolist(), "beta_mle": rr.beta_mle}
    if len(rows) > 1:
        across = beta_across_layers([r["h_s"] for r in rows], [r["h_k"] for r in rows])
        for row, value in zip(rows, across):
            row["beta_across"] = float(value)
    n = ctx.n_samples
    with timer("relevance.max_relevance_curve"):
        if n >= 2:
            c = max_relevance_curve(n)
            curves["max_relevance"] = {"M": int(n), "h_s": c.h_s.tolist(), "h_k": c.h_k.tolist(),
                                       "h_s_norm": c.h_s_normalized.tolist(),
                                       "h_k_norm": c.h_k_normalized.tolist(),
                                       "feasible": c.feasible.tolist(), "method": c.method}
    curves["degeneracy"] = degeneracy
    if pending is not None:
        with timer("relevance.kmeans"):
            try:
                curves["kmeans"], settings["kmeans"] = pending.result()
                curves["kmeans"].update(model=str(ctx.model_name), epoch=ctx.epoch)
            except Exception as err:
                ctx.failures.append(("relevance, k-means baseline", err))
                settings["kmeans"] = {"computed": False, "why": f"failed: {err!r}"}
    elif inputs is not None:
        with timer("relevance.kmeans"):
            curves["kmeans"], settings["kmeans"] = kmeans_curve(inputs, est["kmeans"], ctx.seed,
                                                                ctx.progress)
        curves["kmeans"].update(model=str(ctx.model_name), epoch=ctx.epoch)
    else:
        settings["kmeans"] = {"computed": False,
                              "why": "no inputs (a Capture without data, or kmeans=False)"}
    return rows
