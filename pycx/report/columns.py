"""The column guide of ``metrics.csv`` (the `pycx.Report` table): every column, its unit, the
estimator behind it and the cap that bounds it. ``docs/columns.md`` is `columns_markdown()`
(a test keeps the two equal), and each report folder gets a copy as ``columns.md``.

May import: `pycx.analysis.table` (the schema), `pycx.estimators.registry` (the estimators'
names).
"""
from __future__ import annotations

from ..estimators.registry import column_text as complexity_column_text

# column -> (unit, what it is / which estimator, cap or ceiling). Groups follow the table.
_IDENTITY = {
    "model": ("text", "model name given to `analyze` / `Tracker`", ""),
    "epoch": ("integer", "epoch given to `analyze` (the Tracker's `step(epoch)`); empty for one "
              "snapshot. The demo's epoch 0 is the network at initialisation", ""),
    "layer": ("text", "gating layer name as captured: module path, `<path>.<kind>` for a "
              "functional call, `:k` for the k-th reuse in one forward pass (e.g. "
              "`block1.relu:1`)", ""),
    "kind": ("text", "gate kind: relu, sigmoid, tanh, max_pool2d, dropout, ...", ""),
    "depth": ("integer", "index of the layer among the captured gating layers, forward order", ""),
    "block": ("text", "block name from `analyze(blocks=...)`, empty otherwise", ""),
    "shape": ("text", "gate shape of one sample, C x H x W", ""),
    "units": ("count", "neurons (channels C); a sigmoid/tanh unit is one neuron with 2 bits", ""),
    "rows_sample": ("count", "M, samples analysed (per-sample rows)", "`max_samples` (10,000)"),
    "rows_patch": ("count", "per-patch rows behind the Janik values", "`patch_rows` (100,000)"),
}
_JANIK = {
    "linearity": ("fraction", "mean unit on-rate of the per-patch gates (Janik & Witaszczyk "
                  "eq. 8); sigmoid/tanh: fraction in the linear mode", "`patch_rows`"),
    "unit_entropy_mean": ("bits", "mean single-unit entropy h2(p_i) (ternary for sigmoid/tanh)",
                          "`patch_rows`; at most 1 bit (log2 3 ternary)"),
    "complexity": ("bits", "H(Z), joint entropy of the per-patch gate vector; estimator in "
                   "`complexity_estimator` (default: XGBoost chain rule, an upper bound)",
                   "`patch_rows`; see `complexity_bound_log2_rows`"),
    "complexity_per_neuron": ("bits/unit", "complexity / units", "as complexity"),
    "ntc": ("fraction", "normalised total correlation (sum H(Z_i) - H(Z)) / sum H(Z_i) (eq. 7)",
            "as complexity; negative when the H(Z) bound exceeds the unit entropies"),
    "effective_dimension": ("count", "exp of the entropy of the normalised covariance spectrum "
                            "of the per-patch float outputs (eqs. 9-10); 0 for zero variance",
                            "capture's `covariance_positions` (16 per sample)"),
    "complexity_estimator": ("text", complexity_column_text(), ""),
}
_RELEVANCE = {
    "h_s": ("bits", "resolution H[s] of the per-sample binarised states (Song, Marsili & Jo "
            "eq. 1)", "at most log2 M (every sample its own state)"),
    "h_k": ("bits", "relevance H[k] (eq. 2)", "at most H[s], and about log2 sqrt(2M) (the "
            "maximal relevance curve)"),
    "h_s_norm": ("fraction", "H[s] / log2 M", "1"),
    "h_k_norm": ("fraction", "H[k] / log2 M", "about 1/2"),
    "beta_mle": ("exponent", "beta of m_k ~ k^-(beta+1), discrete power-law maximum likelihood "
                 "over k_s >= k_min; empty (NaN) when undefined: fewer than 3 distinct "
                 "frequencies", ""),
    "beta_ls": ("exponent", "the same beta by least squares of log m_k on log k; NaN with "
                "fewer than 3 distinct frequencies or every m_k = 1", ""),
    "n_states": ("count", "distinct per-sample states", "at most M"),
    "classification_error": ("fraction", "1 - (1/M) sum_s max_y count(s, y): error of the "
                             "majority label of each state (fig. 2d)", "needs labels"),
}
_KDE = {
    "kde_h": ("bits", "H(Σ), Hamming-kernel KDE entropy of the per-sample gates (Ren et al. 2022, "
              "eq. 2), kernel exp(-h / (2 s2))", "`kde_rows` (2,000); ceiling log2 n = "
              "`kde_h_max`, see `kde_saturated`"),
    "kde_h_given_y": ("bits", "H(Σ|Y), per-class KDE, same s2", "`kde_rows`; needs labels"),
    "kde_i_xy": ("bits", "I(X;Σ;Y) = H(Σ) - H(Σ|Y)", "ceiling H(Y) = `kde_h_y`, see "
                 "`kde_i_xy_saturated`"),
    "kde_tc": ("bits", "total correlation against n synthetic independent rows, leave-one-out "
               "numerator (eq. 28; see docs/decisions.md); for comparisons, not an absolute",
               "`kde_rows`"),
    "kde_s2": ("bits²", "kernel variance s2 = alpha * V, V = d (gate bits, default) or "
               "sum p(1-p) (`bandwidth=\"var\"`)", ""),
    "kde_alpha": ("factor", "alpha: 0.04 for convolutional outputs, 0.01 for linear ones", ""),
    "kde_h_concat": ("bits", "KDE H(Σ_l..Σ_L) of this layer concatenated with all later ones",
                     "`kde_rows`"),
}
_EXTRA = {
    "sample_bits": ("count", "gate bits per sample (C*H*W; twice that for sigmoid/tanh)", ""),
    "rows_kde": ("count", "n, samples the KDE group used (seeded subsample)", "`kde_rows`"),
    "beta_across": ("exponent", "-dH[k]/dH[s] from this layer to the next", ""),
    "plugin_h_concat": ("bits", "plug-in H(Σ_l..Σ_L) over all M samples (exact form of "
                        "Prop. 2: non-increasing in l)", "at most log2 M"),
    "complexity_bound_log2_rows": ("bits", "log2(rows_patch): the entropy of rows that are all "
                                   "distinct", ""),
    "complexity_exceeds_log2_rows": ("flag", "complexity > log2(rows_patch): the chain rule's "
                                     "upper bound exceeds what the rows can show; read it as a "
                                     "bound, not a measurement", ""),
    "kde_h_max": ("bits", "log2 n, the ceiling of kde_h", ""),
    "kde_saturated": ("flag", "kde_h within 0.01 bits of log2 n: every state alone at this "
                      "bandwidth; the value then says only that the states are far apart", ""),
    "kde_h_y": ("bits", "H(Y), plug-in entropy of the labels of the KDE rows (ceiling of "
                "kde_i_xy)", ""),
    "kde_i_xy_saturated": ("flag", "kde_i_xy within 0.01 bits of H(Y)", ""),
    "complexity_lo": ("bits", "the lowest of the chain rule's per-fold estimates of H(Z) (each "
                      "fold's test rows alone; xgb only): the fold-to-fold error bar's low end",
                      "as complexity"),
    "complexity_hi": ("bits", "the highest per-fold estimate of H(Z) (xgb only)", "as complexity"),
    "complexity_fold_std": ("bits", "standard deviation (ddof 1) of the per-fold estimates of "
                            "H(Z); complexity is their mean weighted by fold size (xgb only)",
                            "`folds` (2)"),
    "effective_dimension_lo": ("count", "bootstrap percentile interval of effective_dimension, "
                               "low end (opt-in: `pycx.bootstrap_intervals`, rows resampled)",
                               ""),
    "effective_dimension_hi": ("count", "the same interval's high end", ""),
    "h_s_lo": ("bits", "bootstrap percentile interval of h_s, low end (opt-in: samples "
               "resampled; duplicates pull a resample's H[s] down)", ""),
    "h_s_hi": ("bits", "the same interval's high end", ""),
    "h_k_lo": ("bits", "bootstrap percentile interval of h_k, low end (opt-in)", ""),
    "h_k_hi": ("bits", "the same interval's high end", ""),
    "kde_h_lo": ("bits", "bootstrap percentile interval of kde_h, low end (opt-in: the KDE "
                 "rows resampled; duplicates pull a resample's H(Σ) down)", ""),
    "kde_h_hi": ("bits", "the same interval's high end", ""),
}
# Written by the report (`pycx.report.write_report`'s metrics.csv), after the table's columns.
_REPORT = {
    "complexity_not_measured": ("flag", "complexity is not a measurement: above "
                                "log2(rows_patch) (`complexity_exceeds_log2_rows`) or above the "
                                "sum of the unit entropies (ntc < 0, impossible for an entropy). "
                                "complexity and complexity_per_neuron are then only upper bounds "
                                "and ntc a lower bound (or impossible, when negative); figures "
                                "draw these points hollow, and the summary's network sums leave "
                                "them out (the sum over all layers is shown as a bound)", ""),
    "h_s_saturated": ("flag", "h_s within 0.01 bits of its ceiling log2(rows_sample): every "
                      "sample (nearly) its own state, so H[s] measures the number of samples, "
                      "not the layer, and H[k] is (near) 0. Figures draw these points hollow; "
                      "the summary counts them and fits beta across layers without them "
                      "(`beta_across_layers_measured`)", ""),
    "effective_dimension_undefined": ("flag", "effective_dimension is 0: zero total variance "
                                      "(every output constant), a convention rather than a "
                                      "count of directions (a defined value lies in [1, C]). "
                                      "Figures draw these points as grey crosses in squares; "
                                      "the mean effective dimension over layers leaves them out",
                                      ""),
}
REPORT_COLUMNS = list(_REPORT)
# The per-layer table of the report schema, in its order: the identity columns and each metric
# group's values (the report's figures read it: `pycx.report.figures.frame`).
SCHEMA_COLUMNS = (*_IDENTITY, *_JANIK, *_RELEVANCE, *_KDE)
COLUMN_GUIDE = {**_IDENTITY, **_JANIK, **_RELEVANCE, **_KDE, **_EXTRA, **_REPORT}
_GROUPS = [("Identity and sizes", _IDENTITY), ("Janik & Witaszczyk (`metrics=\"janik\"`)", _JANIK),
           ("Song, Marsili & Jo (`metrics=\"relevance\"`)", _RELEVANCE),
           ("Transformation complexity, KDE (`metrics=\"kde\"`)", _KDE),
           ("Added columns (bounds, saturation, extras)", _EXTRA),
           ("Added by the report (`write_report`'s metrics.csv only)", _REPORT)]


def columns_markdown() -> str:
    """The column guide as Markdown (the text of ``docs/columns.md``).

    >>> "| `kde_saturated` | flag |" in columns_markdown()
    True
    """
    out = ["# Columns of `metrics.csv`", "",
           "One row per model, epoch and gating layer (`pycx.Report.to_csv`, `pycx analyze`, "
           "`pycx demo`). Empty cells: not computed (a metric group not asked for, or a value "
           "that needs labels). Flags are True/False. Caps are the `analyze` arguments that "
           "bound a value, with their defaults; every cap used is in the report's settings.",
           ""]
    for title, group in _GROUPS:
        out += [f"## {title}", "", "| column | unit | what it is | cap / ceiling |",
                "|---|---|---|---|"]
        for col, (unit, what, cap) in group.items():
            out.append(f"| `{col}` | {unit} | {what} | {cap} |")
        out.append("")
    return "\n".join(out)
