"""Paper 002 (Badias & Banerjee 2021), Fig. 8: ResNet against PlainNet 18/34/50/101/152.

Architecture only (no data, no training): the ImageNet ResNets of `pycx.models.imagenet_resnet`
and their PlainNet twins (the same layers without the shortcuts), measured with
`pycx.layer_algebra` at 224x224. Claims (section 7.3): GCC nearly equal between the twins and
rising with depth; GCIP(ResNet) above GCIP(PlainNet), every PlainNet below every ResNet; GCIP
falling with depth in each family; "waves" of the ResNet power curve at the residual merges;
a steeper power curve for 18/34 than for the deeper models. The x axis of the curves is the
index of the local layers (layers, merges and resamplings; pass-through nodes left out).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, make_findings, write_findings

TITLE = "ResNet vs PlainNet 18-152: GCC equal, GCIP(ResNet) > GCIP(Plain), waves, slopes (fig. 8)"
PAPER = B.PAPER
FULL = {"depths": [18, 34, 50, 101, 152]}
QUICK = {"depths": [18, 34, 50]}   # the slope rule then compares 18/34 with 50 alone
LOCAL_KINDS = ("layer", "merge", "resample")


def curve(alg) -> dict:
    """Cumulative power and complexity (log10) over the local layers, and the residual merges:
    ``rises`` counts the merges where the power curve goes up (the shortcut's larger value
    wins the maximum)."""
    rows = [r for r in alg.nodes if r["kind"] in LOCAL_KINDS]
    power = [r["power_log10"] for r in rows]
    merges = [i for i, r in enumerate(rows) if r["kind"] == "merge"]
    rises = sum(1 for i in merges if i > 0 and power[i] > power[i - 1] + 1e-12)
    return {"power_log10": power, "complexity_log10": [r["complexity_log10"] for r in rows],
            "n_local": len(rows), "n_merges": len(merges), "rises_at_merges": rises}


def rule_waves(resnet_fraction: dict, plain_merges: dict):
    """Waves at the merges: in every ResNet the power curve rises at >= half of its merges
    and no PlainNet has a merge (True); some ResNets only ("partly"); none (False).

    >>> rule_waves({18: 0.9, 34: 0.7}, {18: 0, 34: 0}), rule_waves({18: 0.0}, {18: 0})
    (True, False)
    """
    flags = [B.num(f) >= 0.5 for f in resnet_fraction.values()]
    if all(flags) and flags and not any(plain_merges.values()):
        return True
    return "partly" if any(flags) else False



FAMILIES = ("resnet", "plainnet")


def _per_depth(m: dict, key: str) -> dict:
    return dict(zip(m["depths"], m[key]))


def _steeper(m: dict):
    small = tuple(d for d in m["depths"] if d in (18, 34))
    large = tuple(d for d in m["depths"] if d not in (18, 34))
    return B.combine(B.rule_steeper_small(_per_depth(m, f"{f}_slope"), small, large)
                     for f in FAMILIES)


# The rules read the claim's measured dict (lists over ``depths``).
RULE_GCC_EQUAL = Rule(
    "gcc_nearly_equal",
    "GCC of ResNet-d and PlainNet-d nearly equal (fig. 8 right: 'very small differences')",
    "|log10 GCC(ResNet) - log10 GCC(Plain)| <= 5% of log10 GCC(Plain) at every depth: true; "
    "at some depths: partly; none: false",
    lambda m: B.rule_gcc_equal(m["resnet_gcc_log10"], m["plainnet_gcc_log10"]))
RULE_GCC_DEPTH = Rule(
    "gcc_rises_with_depth",
    "GCC rises with depth in both families",
    "log10 GCC strictly increasing over the depths in each family: true for both; one: "
    "partly; none: false",
    lambda m: B.rule_monotone({f: m[f"{f}_gcc_log10"] for f in FAMILIES}, +1))
RULE_GCIP_ABOVE = Rule(
    "gcip_resnet_above_plain",
    "GCIP(ResNet) above GCIP(PlainNet); every PlainNet compresses more than any ResNet",
    "min GCIP(ResNet) > max GCIP(Plain): true; GCIP(ResNet-d) > GCIP(Plain-d) at some depth "
    "only: partly; at none: false",
    lambda m: B.rule_separated(m["resnet_gcip_log10"], m["plainnet_gcip_log10"]))
RULE_GCIP_DEPTH = Rule(
    "gcip_falls_with_depth",
    "GCIP falls with depth within each family",
    "log10 GCIP strictly decreasing over the depths in each family: true for both; one: "
    "partly; none: false",
    lambda m: B.rule_monotone({f: m[f"{f}_gcip_log10"] for f in FAMILIES}, -1))
RULE_WAVES = Rule(
    "waves_at_merges",
    "the ResNet power curve makes 'waves' at the merges (the shortcut's power wins)",
    "power curve rises at >= half the merges of every ResNet and PlainNets have no merge: "
    "true; for some ResNets: partly; none: false",
    lambda m: rule_waves(_per_depth(m, "resnet_fraction_rising"),
                         _per_depth(m, "plainnet_merges")))
RULE_STEEPER = Rule(
    "steeper_small_models",
    "the power curves of 18/34 are steeper than those of the deeper models",
    "per family: every |slope| of 18/34 above every |slope| of the deeper models true, mean "
    "above mean partly; claim true when both families are true, partly when either is at "
    "least partly, else false",
    _steeper)
RULES = (RULE_GCC_EQUAL, RULE_GCC_DEPTH, RULE_GCIP_ABOVE, RULE_GCIP_DEPTH, RULE_WAVES,
         RULE_STEEPER)

def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from pycx.models import imagenet_resnet

    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    depths = cfg["depths"]
    res = {"resnet": {}, "plainnet": {}}
    for d in depths:
        for fam, residual in (("resnet", True), ("plainnet", False)):
            s, alg = B.measure(imagenet_resnet(d, residual=residual), (1, 3, 224, 224),
                               B.DEFAULT_READING)
            res[fam][d] = dict(s, **curve(alg))
            if progress:
                print(f"badias2021-fig8: {fam}-{d}: log10 GCIP {s['gcip_log10']:.2f}, "
                      f"log10 GCC {s['gcc_log10']:.2f}", flush=True)

    def col(fam, key):
        return [res[fam][d][key] for d in depths]

    gcip = {f: col(f, "gcip_log10") for f in res}
    gcc = {f: col(f, "gcc_log10") for f in res}
    slopes = {f: {d: res[f][d]["gcip_log10"] / res[f][d]["n_local"] for d in depths}
              for f in res}
    frac = {d: res["resnet"][d]["rises_at_merges"] / max(res["resnet"][d]["n_merges"], 1)
            for d in depths}
    claims = [
        RULE_GCC_EQUAL({"depths": depths, "resnet_gcc_log10": gcc["resnet"],
                        "plainnet_gcc_log10": gcc["plainnet"],
                        "relative_difference_of_log10": [abs(r - p) / abs(p) for r, p in
                                                         zip(gcc["resnet"], gcc["plainnet"])]}),
        RULE_GCC_DEPTH({"depths": depths, **{f"{f}_gcc_log10": gcc[f] for f in res}}),
        RULE_GCIP_ABOVE({"depths": depths, **{f"{f}_gcip_log10": gcip[f] for f in res}}),
        RULE_GCIP_DEPTH({"depths": depths, **{f"{f}_gcip_log10": gcip[f] for f in res}}),
        RULE_WAVES({"depths": depths, "resnet_merges": col("resnet", "n_merges"),
                    "resnet_rises_at_merges": col("resnet", "rises_at_merges"),
                    "resnet_fraction_rising": [frac[d] for d in depths],
                    "plainnet_merges": col("plainnet", "n_merges")}),
        RULE_STEEPER({"depths": depths,
                      "slope_definition": "log10 GCIP / number of local layers",
                      **{f"{f}_slope": [slopes[f][d] for d in depths] for f in res},
                      **{f"{f}_n_local": col(f, "n_local") for f in res}}),
    ]

    figures = _plot(out, res, depths)
    settings = {**cfg, "input": [1, 3, 224, 224], "models": "pycx.models.imagenet_resnet "
                "(residual=True / False)", "conv_kernel": B.DEFAULT_READING,
                "local_layers": list(LOCAL_KINDS)}
    findings = make_findings("badias2021-fig8", PAPER, TITLE, quick=quick, seeds=[seed],
                             settings=settings, claims=claims, figures=figures,
                             per_model={f"{f}-{d}": {k: v for k, v in res[f][d].items()
                                                     if k not in ("power_log10",
                                                                  "complexity_log10")}
                                        for f in res for d in depths},
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _plot(out, res, depths):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = plt.cm.viridis(np.linspace(0, 0.9, len(depths)))
    for c, d in zip(colors, depths):
        for fam, ls in (("resnet", "-"), ("plainnet", "--")):
            p = res[fam][d]["power_log10"]
            ax[0].plot(np.arange(len(p)), p, ls, color=c, lw=1,
                       label=f"{'ResNet' if fam == 'resnet' else 'PlainNet'}-{d}")
            cc = res[fam][d]["complexity_log10"]
            ax[1].plot(np.arange(len(cc)), cc, ls, color=c, lw=1)
    ax[0].set(xlabel="local layer", ylabel="log10 cumulative intrinsic power",
              title="cumulative power (fig. 8 left)")
    ax[0].legend(fontsize=7, ncol=2)
    ax[1].set(xlabel="local layer", ylabel="log10 cumulative complexity",
              title="cumulative complexity (fig. 8 right)")
    return save_figure(fig, out, "resnet_vs_plainnet")
