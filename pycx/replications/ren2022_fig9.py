"""Paper 004, fig. 9 (appendix H): the change of the complexity during training does not depend
on the bandwidth factor alpha of the KDE (``s2 = alpha * V``).

The paper shows I(X;Sigma) (= H(Sigma) here: no sampling) and I(Sigma;Y) of MLP-alpha on MNIST
at several alpha. Here the fig. 1 and fig. 3 trajectories (MLP-alpha, MLP-MNIST, LeNet-5;
`_ren2022.TRAJ_FULL`, the same gate rows) are measured again with every layer's default alpha
(0.04 conv / 0.01 linear) multiplied by 0.25, 0.5, 2 and 4, and compared with the default.

Decisions (the paper is silent on its alpha values and on what "consistent" means): a curve's
trend is the same when the Spearman rank correlation over the checkpoints between the curve at
a scaled alpha and at the default is at least 0.8; pairs where either curve is saturated at
every checkpoint or moves by less than 0.01 bits over training (nothing to compare) are left
out. fig. 3's fall-then-rise verdict per curve (`ren2022_fig3.falls_then_rises`) must also be
the same at every alpha, and fig. 1's layerwise decrease must hold at every alpha.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _ren2022 as R
from .findings import Rule, fraction_verdict
from .ren2022_fig1 import TOL, _curves_hold
from .ren2022_fig3 import _excluded, falls_then_rises

TITLE = "The complexity's change during training is the same at every KDE alpha (fig. 9)"
PAPER = R.PAPER
MODELS = ("mlp_alpha", "mlp", "lenet5")
SCALES = (0.25, 0.5, 2.0, 4.0)   # times the default alpha of each layer's kind
MIN_RHO = 0.8
FLAT_BITS = 0.01


def _clean(v):
    return np.array([math.nan if a is None else float(a) for a in v], dtype=float)


def _ranks(v: np.ndarray) -> np.ndarray:
    """Average ranks (ties share their mean rank)."""
    order = np.argsort(v, kind="mergesort")
    r = np.empty(len(v))
    r[order] = np.arange(len(v), dtype=float)
    for val in np.unique(v):
        tie = v == val
        if tie.sum() > 1:
            r[tie] = r[tie].mean()
    return r


def spearman(a, b) -> float:
    """Spearman rank correlation of two curves (NaN when either is constant or not finite).

    >>> spearman([1, 2, 3, 4], [10, 20, 25, 40]), spearman([1, 2, 3], [3, 2, 1])
    (1.0, -1.0)
    """
    a, b = _clean(a), _clean(b)
    if len(a) != len(b) or len(a) < 3 or not (np.isfinite(a).all() and np.isfinite(b).all()):
        return math.nan
    ra, rb = _ranks(a), _ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _comparable(c) -> bool:
    """Both curves informative: not saturated throughout, moving by >= FLAT_BITS."""
    for curve, sat in ((c["base"], c["base_saturated"]), (c["alt"], c["alt_saturated"])):
        v = _clean(curve)
        if _excluded(sat) or not np.isfinite(v).all() or v.max() - v.min() < FLAT_BITS:
            return False
    return True


def _v_trend(m):
    flags = [spearman(c["base"], c["alt"]) >= MIN_RHO for c in m["cases"] if _comparable(c)]
    return fraction_verdict(flags, true_at=0.9, partly_at=0.5)


def _v_shape(m):
    flags = [falls_then_rises(c["base"]) == falls_then_rises(c["alt"]) for c in m["cases"]
             if not (_excluded(c["base_saturated"]) or _excluded(c["alt_saturated"]))]
    return fraction_verdict(flags, true_at=0.9, partly_at=0.5)


def _v_prop2(m):
    return fraction_verdict(_curves_hold(m), true_at=1.0, partly_at=0.5)


RULES = (
    Rule("trend_same_across_alpha",
         "the change of H(Sigma_l) and I(X;Sigma_l;Y) during training is the same at every "
         "alpha (MLP-alpha, MLP-MNIST, LeNet-5)",
         "per (model, seed, layer, quantity, alpha != default) pair of curves over the "
         "checkpoints, left out when either curve is saturated at every checkpoint or moves by "
         "< 0.01 bits: Spearman rank correlation with the default-alpha curve >= 0.8; true "
         "when >= 90% of the pairs, 'partly' when >= 50%, false otherwise", _v_trend),
    Rule("fall_rise_same_across_alpha",
         "fig. 3's fall-then-rise reading of each curve (MLP-MNIST, LeNet-5) does not depend "
         "on alpha",
         "per (model, seed, layer, quantity, alpha != default) pair (curves saturated at every "
         "checkpoint left out): fig. 3's falls-then-rises test gives the same answer as at the "
         "default alpha; true when >= 90% of the pairs agree, 'partly' when >= 50%, false "
         "otherwise", _v_shape),
    Rule("layerwise_decrease_across_alpha",
         "MLP-alpha: H(Sigma_l, ..., Sigma_L) decreases with l at every epoch at every alpha "
         "(fig. 1 at other alphas)",
         "every (seed, alpha, checkpoint) curve of the KDE H(Sigma_l..Sigma_L) over l never "
         "rises by more than 0.01 bits: true when all hold, 'partly' when at least half, false "
         "otherwise", _v_prop2),
)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from .findings import make_findings, write_findings
    from .ren2022_fig3 import curves_of

    t0 = time.perf_counter()
    trajs, seeds, data_name = R.trajectories(MODELS, quick=quick, seed=seed, progress=progress,
                                             desc="ren2022-fig9 (training)")
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(MODELS) * len(SCALES), desc="ren2022-fig9 (alphas)", unit="alpha")
    trend_cases, shape_cases, summary = [], [], {}
    concat = {"H_concat": [], "alpha_scale": [], "seed": []}
    for m in MODELS:
        base = {q: curves_of(trajs[m], q) for q in ("H", "I_xsy")}
        summary[m] = {"epochs": base["H"]["epochs"], "layers": base["H"]["curve_labels"],
                      "by_scale": {"1.0": {q: base[q]["curves"] for q in base}}}
        for s in SCALES:
            alt = {q: curves_of(trajs[m], q, alpha_scale=s) for q in ("H", "I_xsy")}
            summary[m]["by_scale"][str(s)] = {q: alt[q]["curves"] for q in alt}
            for q in ("H", "I_xsy"):
                for lab, b, bs, a, as_ in zip(base[q]["curve_labels"], base[q]["curves"],
                                               base[q]["saturated"], alt[q]["curves"],
                                               alt[q]["saturated"]):
                    case = {"model": m, "curve": lab, "quantity": q, "alpha_scale": s,
                            "base": b, "base_saturated": bs, "alt": a, "alt_saturated": as_}
                    trend_cases.append(case)
                    if m != "mlp_alpha":
                        shape_cases.append(case)
            if m == "mlp_alpha":
                for k, r in enumerate(trajs[m]):
                    meas = R.measured(r, alpha_scale=s, tc=False)
                    concat["H_concat"].append([[x["H_concat"] for x in ck] for ck in meas])
                    concat["alpha_scale"].append(s)
                    concat["seed"].append(seeds[k])
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    for k, r in enumerate(trajs["mlp_alpha"]):  # the default alpha too
        meas = R.measured(r, tc=True)
        concat["H_concat"].append([[x["H_concat"] for x in ck] for ck in meas])
        concat["alpha_scale"].append(1.0)
        concat["seed"].append(seeds[k])
    rhos = [spearman(c["base"], c["alt"]) for c in trend_cases]
    trend = {"cases": trend_cases, "spearman": rhos,
             "comparable": [_comparable(c) for c in trend_cases], "min_rho": MIN_RHO}
    shape = {"cases": shape_cases,
             "base_falls_then_rises": [falls_then_rises(c["base"]) for c in shape_cases],
             "alt_falls_then_rises": [falls_then_rises(c["alt"]) for c in shape_cases]}
    claims = [RULES[0](trend), RULES[1](shape), RULES[2](concat)]
    figures = _figure(out, summary)
    settings = {"data": data_name, "models": list(MODELS), **R.traj_settings(quick),
                "alpha_scales": [1.0, *SCALES],
                "kde": {"bandwidth": "d", "alpha": "scale x (0.04 conv / 0.01 linear)"},
                "gating_layers": "ReLU layers", "min_spearman": MIN_RHO,
                "flat_bits": FLAT_BITS, "tolerance_bits": TOL}
    findings = make_findings("ren2022-fig9", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures, summary=summary,
                             wall_time_s=round(time.perf_counter() - t0, 1))
    write_findings(out, findings)
    return findings


def _figure(out, summary):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    scales = ["0.25", "0.5", "1.0", "2.0", "4.0"]
    fig, axes = plt.subplots(len(MODELS), 2, figsize=(11, 3.4 * len(MODELS)), squeeze=False)
    cmap = plt.get_cmap("plasma")
    for row, m in enumerate(MODELS):
        x = [e if e > 0 else 0.05 for e in summary[m]["epochs"]]
        labels = summary[m]["layers"]
        li = min(1, len(labels) - 1)  # the second layer of the first seed
        for col, (q, lab) in enumerate((("H", "H(Σ_l)"), ("I_xsy", "I(X;Σ_l;Y)"))):
            ax = axes[row, col]
            for j, s in enumerate(scales):
                ax.plot(x, summary[m]["by_scale"][s][q][li], marker=".",
                        color=cmap(j / (len(scales) - 1)), label=f"α × {s}")
            ax.set_xscale("log")
            ax.set_xlabel("epoch (log axis; 0 drawn at 0.05)")
            ax.set_ylabel(f"{lab} KDE [bits]")
            ax.set_title(f"{m}: {labels[li]}")
            ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig9")
