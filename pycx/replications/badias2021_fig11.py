"""Paper 002 (Badias & Banerjee 2021), Fig. 11: global complexity against the ImageNet
accuracies printed in its Tables 1-3 (package data, `_badias2021.tables`).

Architectures from torchvision (rows matched by name, kept when the parameter counts agree
within 2%); GCC, GSC and GWC = GCC * GSC from `pycx.layer_algebra` under both readings of a
grouped convolution's kernel size. The paper's fit form: a power function ``acc = a * GWC^b``
(least squares on the accuracy), with R^2 = 0.751 (top-1) and 0.755 (top-5). Claims: that
R^2 on Table 1 (the PyTorch models, the set torchvision provides in full) and on Tables 1-3;
GCC and GSC correlate with accuracy (Fig. 11 a, b); GWC ranks the models better than GCC or
GSC alone (the reason the paper gives for GWC). Verdicts for the default reading
(``conv_kernel="per_group"``); the other reading's values and verdicts are in ``measured``.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, make_findings, write_findings

TITLE = "GWC, GCC, GSC against the printed ImageNet top-1/top-5: power-fit R^2, ranking (fig. 11)"
PAPER = B.PAPER
METRICS = ("gwc", "gcc", "gsc")


def subsets(rows) -> dict:
    usable = [r for r in rows if r["params_match"]]
    return {"table1": [r for r in usable if r["table"] == 1], "tables123": usable}


def analyse(rows, reading: str) -> dict:
    """Fits and rank correlations of one subset under one reading."""
    from scipy.stats import spearmanr
    out = {"n": len(rows), "models": [f"T{r['table']} {r['model']}" for r in rows]}
    for acc in ("top1", "top5"):
        y = np.array([r[acc] for r in rows])
        res = {}
        for m in METRICS:
            x = np.array([r["zoo"][reading][f"{m}_log10"] for r in rows])
            ok = np.isfinite(x) & np.isfinite(y)
            fit = B.power_fit(x[ok], y[ok])
            rho, pval = spearmanr(x[ok], y[ok]) if ok.sum() >= 3 else (math.nan, math.nan)
            res[m] = {"power_fit": fit, "spearman": float(rho), "spearman_p": float(pval),
                      "n": int(ok.sum())}
        out[acc] = res
    return out


def _fit_verdict(acc: str):
    return lambda m: B.rule_r2(m["table1"]["gwc_fit"]["r2"], B.PAPER_R2[acc])


def _correlate(m: dict):
    t1 = m["table1"]
    return B.rule_fraction([B.num(t1[x]["spearman"]) > 0 and B.num(t1[x]["spearman_p"]) < 0.05
                            for x in ("gcc", "gsc")], part=0.5)


def _ranks_best(m: dict):
    return B.combine(B.rule_best_ranker({x: m["table1"][acc][x] for x in METRICS})
                     for acc in ("top1", "top5"))


# Each rule reads the default reading's values at the top of the claim's measured dict
# (``table1`` and ``tables123``, see `_measured`); the other reading's values and the verdict
# the same rule gives them are under "other_reading".
RULE_FIT1 = Rule(
    "gwc_power_fit_top1",
    "a power function of GWC fits top-1 accuracy with R^2 = 0.751",
    "Table 1 (n as measured): R^2 of acc = a GWC^b >= 0.701 (paper - 0.05): true; >= 0.501: "
    "partly; below: false. Tables 1-3 reported beside it",
    _fit_verdict("top1"))
RULE_FIT5 = Rule(
    "gwc_power_fit_top5",
    "a power function of GWC fits top-5 accuracy with R^2 = 0.755",
    "Table 1: R^2 >= 0.705: true; >= 0.505: partly; below: false. Tables 1-3 reported",
    _fit_verdict("top5"))
RULE_CORRELATE = Rule(
    "gcc_gsc_correlate",
    "GCC and GSC both correlate with the accuracy (fig. 11 a, b)",
    "Table 1, top-1: Spearman rho > 0 with p < 0.05 for both GCC and GSC: true; for one: "
    "partly; none: false",
    _correlate)
RULE_RANKS = Rule(
    "gwc_ranks_best",
    "GWC = GCC * GSC relates to accuracy more tightly than GCC or GSC alone",
    "Table 1: Spearman rho(GWC, acc) above both rho(GCC) and rho(GSC) for top-1 and top-5: "
    "true; above at least one of them for either: partly; else false",
    _ranks_best)
RULES = (RULE_FIT1, RULE_FIT5, RULE_CORRELATE, RULE_RANKS)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    rows = B.zoo_rows(quick, progress, "badias2021-fig11")
    rows = [r for r in rows if math.isfinite(r["top1"])]
    sets = subsets(rows)
    other = [x for x in B.READINGS if x != B.DEFAULT_READING][0]
    an = {reading: {name: analyse(s, reading) for name, s in sets.items()}
          for reading in B.READINGS}
    claims = []
    for rule in RULES:
        theirs = _measured(rule.key, an[other])
        claims.append(rule({"reading": B.DEFAULT_READING, "paper_r2": B.PAPER_R2,
                            **_measured(rule.key, an[B.DEFAULT_READING]),
                            "other_reading": {"reading": other,
                                              "reproduces": rule(theirs)["reproduces"],
                                              **theirs}}))
    figures = _plot(out, sets["tables123"], an)
    r2_table = {reading: {name: {acc: {m: an[reading][name][acc][m]["power_fit"]["r2"]
                                       for m in METRICS} for acc in ("top1", "top5")}
                          for name in sets} for reading in B.READINGS}
    settings = {"readings": list(B.READINGS), "verdict_reading": B.DEFAULT_READING,
                "fit": "acc = a * x^b, least squares on acc (scipy curve_fit), R^2 on acc",
                "params_tolerance": B.PARAMS_TOLERANCE,
                "rows_dropped_params": [f"T{r['table']} {r['model']}" for r in rows
                                        if not r["params_match"]],
                "n": {name: len(s) for name, s in sets.items()},
                "tables_source": B.source_line()}
    findings = make_findings("badias2021-fig11", PAPER, TITLE, quick=quick, seeds=[seed],
                             settings=settings, claims=claims, figures=figures,
                             r2_table=r2_table,
                             rows=[{k: r[k] for k in ("table", "model", "top1", "top5", "params",
                                                      "torchvision", "params_match")}
                                   | {f"{m}_log10_{rd}": r["zoo"][rd][f"{m}_log10"]
                                      for m in METRICS for rd in B.READINGS}
                                   for r in rows],
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _measured(key, a):
    if key.startswith("gwc_power_fit"):
        acc = key.rsplit("_", 1)[1]
        return {name: {"n": a[name][acc]["gwc"]["n"], "gwc_fit": a[name][acc]["gwc"]["power_fit"],
                       "r2_by_metric": {m: a[name][acc][m]["power_fit"]["r2"] for m in METRICS}}
                for name in a}
    if key == "gcc_gsc_correlate":
        return {name: {m: {k: a[name]["top1"][m][k] for k in ("spearman", "spearman_p", "n")}
                       for m in ("gcc", "gsc")} for name in a}
    return {name: {acc: {m: a[name][acc][m]["spearman"] for m in METRICS}
                   for acc in ("top1", "top5")} for name in a}


def _plot(out, rows, an):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    fig, ax = plt.subplots(2, 2, figsize=(11, 8))
    reading = B.DEFAULT_READING
    gsc = np.array([r["zoo"][reading]["gsc_log10"] for r in rows])
    for j, acc in enumerate(("top1", "top5")):
        y = np.array([r[acc] for r in rows])
        x = np.array([r["zoo"][reading]["gcc_log10"] for r in rows])
        sc = ax[0, j].scatter(x, y, c=gsc, cmap="viridis", s=18)
        ax[0, j].set(xlabel="log10 GCC", ylabel=f"{acc} (%)", title=f"GCC vs {acc} (fig. 11)")
        fig.colorbar(sc, ax=ax[0, j], label="log10 GSC")
        xg = np.array([r["zoo"][reading]["gwc_log10"] for r in rows])
        ax[1, j].scatter(xg, y, s=18, c=[hash(B.family_of(r["torchvision"])) % 20 for r in rows],
                         cmap="tab20")
        f = an[reading]["tables123"][acc]["gwc"]["power_fit"]
        if math.isfinite(f["b"]):
            grid = np.linspace(np.nanmin(xg), np.nanmax(xg), 100)
            ax[1, j].plot(grid, f["a"] * 10 ** (f["b"] * grid), color="tab:orange",
                          label=f"a GWC^b, R² = {f['r2']:.2f} (paper {B.PAPER_R2[acc]})")
            ax[1, j].legend(fontsize=8)
        ax[1, j].set(xlabel="log10 GWC", ylabel=f"{acc} (%)", title=f"GWC vs {acc}")
    return save_figure(fig, out, "complexity_vs_accuracy")
