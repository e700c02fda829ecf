"""Paper 002 (Badias & Banerjee 2021), Fig. 10: GCIP and GCC of the architectures of its
Tables 1-3 that torchvision provides (random weights on the meta device; 224x224, Inception V3
299x299), under both readings of a grouped convolution's kernel size (definitions §6:
``conv_kernel="per_group"``, the default, and ``"all_inputs"``).

The paper states in words (sections 7.3 and 8; Fig. 10's caption): within a family, intrinsic
power falls (compression grows) and complexity rises with depth, and low GCIP means a strong
transformation of the data. Claims: GCIP falls and GCC rises with depth in every depth family
(`_badias2021.DEPTH_FAMILIES`), and every architecture compresses (GCIP < 1). Each verdict is
for the default reading; the other reading's values and verdict are in ``measured``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, make_findings, write_findings

TITLE = "GCIP and GCC of the tables' torchvision architectures, family orderings (fig. 10)"
PAPER = B.PAPER


def family_series(models: dict, reading: str, key: str, families: dict) -> dict:
    return {fam: [models[n][reading][key] for n in names if n in models]
            for fam, names in families.items()
            if sum(n in models for n in names) >= 2}


def measurements(models: dict, reading: str) -> dict:
    """The measured values of each claim under one reading (what its rule reads)."""
    gcip = family_series(models, reading, "gcip_log10", B.DEPTH_FAMILIES)
    gcc = family_series(models, reading, "gcc_log10", B.DEPTH_FAMILIES)
    every = {n: m[reading]["gcip_log10"] for n, m in models.items()}
    return {
        "gcip_falls_with_depth": {
            "families_gcip_log10": gcip,
            "strictly_falling": {f: B.strictly_monotone(v, -1) for f, v in gcip.items()}},
        "gcc_rises_with_depth": {
            "families_gcc_log10": gcc,
            "strictly_rising": {f: B.strictly_monotone(v, +1) for f, v in gcc.items()}},
        "every_model_compresses": {
            "gcip_log10": every,
            "gcip_above_1": sorted(n for n, v in every.items() if v >= 0),
            "width_families_gcip_log10": family_series(models, reading, "gcip_log10",
                                                       B.WIDTH_FAMILIES)},
    }


# Each rule reads the default reading's values at the top of the claim's measured dict; the
# other reading's values (and the verdict the same rule gives them) are under "other_reading".
RULE_GCIP = Rule(
    "gcip_falls_with_depth",
    "within each family GCIP falls (compression grows) with depth",
    "log10 GCIP strictly decreasing along each depth family (ResNet, VGG, VGG-BN, DenseNet "
    "121/169/201, ResNeXt, Wide ResNet, EfficientNet B0-B7): true for all, partly for at "
    "least half, else false",
    lambda m: B.rule_monotone(m["families_gcip_log10"], -1))
RULE_GCC = Rule(
    "gcc_rises_with_depth",
    "within each family GCC rises with depth",
    "log10 GCC strictly increasing along each depth family: true for all, partly for at "
    "least half, else false",
    lambda m: B.rule_monotone(m["families_gcc_log10"], +1))
RULE_COMPRESSES = Rule(
    "every_model_compresses",
    "every architecture compresses its input: GCIP < 1 (the paper's reading that "
    "compression grows along the network)",
    "log10 GCIP < 0 for every architecture: true; for at least 80%: partly; else false",
    lambda m: B.rule_compresses(m["gcip_log10"]))
RULES = (RULE_GCIP, RULE_GCC, RULE_COMPRESSES)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    rows = B.zoo_rows(quick, progress, "badias2021-fig10")
    models = {}
    for r in rows:
        models.setdefault(r["torchvision"], r["zoo"])
    other = [x for x in B.READINGS if x != B.DEFAULT_READING][0]
    mine, theirs = measurements(models, B.DEFAULT_READING), measurements(models, other)
    claims = [rule(dict(mine[rule.key], reading=B.DEFAULT_READING,
                        other_reading={"reading": other,
                                       "reproduces": rule(theirs[rule.key])["reproduces"],
                                       **theirs[rule.key]}))
              for rule in RULES]
    figures = _plot(out, models)
    settings = {"models": sorted(models), "quick_models": B.QUICK_MODELS if quick else None,
                "readings": list(B.READINGS), "verdict_reading": B.DEFAULT_READING,
                "depth_families": B.DEPTH_FAMILIES, "width_families": B.WIDTH_FAMILIES,
                "weights": "random, meta device (the algebra reads shapes only)",
                "tables_source": B.source_line()}
    per_model = {n: {"family": B.family_of(n), **m} for n, m in models.items()}
    findings = make_findings("badias2021-fig10", PAPER, TITLE, quick=quick, seeds=[seed],
                             settings=settings, claims=claims, figures=figures,
                             per_model=per_model,
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _plot(out, models):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    names = sorted(models, key=lambda n: (B.family_of(n), models[n]["params"]))
    fams = sorted({B.family_of(n) for n in names})
    cmap = dict(zip(fams, plt.cm.tab20(np.linspace(0, 1, len(fams)))))
    fig, ax = plt.subplots(3, 1, figsize=(max(8, 0.3 * len(names)), 10), sharex=True)
    x = np.arange(len(names))
    colors = [cmap[B.family_of(n)] for n in names]
    for i, (reading, key, label) in enumerate((
            ("per_group", "gcip_log10", "log10 GCIP, K = k C_in / groups"),
            ("all_inputs", "gcip_log10", "log10 GCIP, K = k C_in"),
            ("per_group", "gcc_log10", "log10 GCC"))):
        ax[i].bar(x, [models[n][reading][key] for n in names], color=colors)
        ax[i].set_ylabel(label)
        ax[i].axhline(0, color="k", lw=0.5)
    ax[0].set_title("GCIP and GCC of the tables' torchvision architectures (fig. 10)")
    ax[2].set_xticks(x)
    ax[2].set_xticklabels(names, rotation=90, fontsize=7)
    return save_figure(fig, out, "gcip_gcc_zoo")
