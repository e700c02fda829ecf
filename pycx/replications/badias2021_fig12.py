"""Paper 002 (Badias & Banerjee 2021), Fig. 12 (supplementary A.1): the intrinsic power of a
convolution against the variance of its output, Monte Carlo.

Protocol (as printed): N_V = 100 vectors of length 15,000 drawn from N(0, 1), each filtered by a
1-D convolution of size K = 1..500 whose weights are all 1/K ("valid" convolution, no padding,
stride 1); the output variance is averaged over the N_V vectors. The intrinsic power of the
same convolution is `pycx.layer_algebra`'s local p of ``nn.Conv1d(1, 1, K)`` on a
``(1, 1, 15000)`` input (eq. 8: ``p = S_out / (K * S_in)``), scaled by the variance of the
first vector, as the paper scales it. Seeds: the full run repeats the draw for three seeds.

Claims: the two curves are "almost identical for a wide range of the filter size"; and the
output variance falls as 1/K (what eq. 8's ``1/K`` stands for).

Decisions where the paper is silent: "almost identical" is read as within 5% of the scaled
power at every K; each vector's variance is the population variance (ddof 0) of its output;
the 1/K fall is the least-squares slope of log10 variance on log10 K, within 0.05 of -1.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = "Conv intrinsic power against the Monte Carlo output variance over filter size (fig. 12)"
PAPER = B.PAPER
FULL = {"n_vectors": 100, "length": 15000, "max_k": 500, "n_seeds": 3}
QUICK = {"n_vectors": 20, "length": 3000, "max_k": 100, "n_seeds": 1}
REL_TOL = 0.05         # "almost identical": within 5% of the scaled power
PARTLY_FRACTION = 0.9  # within it at >= 90% of the filter sizes: partly
SLOPE_TOL = 0.05       # the log-log slope of the variance within 0.05 of -1


def output_variance(x: np.ndarray, k: int) -> float:
    """Mean over the rows of `x` of the population variance of the valid convolution of the
    row with a length-`k` filter of weights 1/k (a moving average, by cumulative sums).

    >>> x = np.array([[1.0, 2.0, 3.0, 4.0]])
    >>> output_variance(x, 1), output_variance(x, 2)   # var(1..4), var(1.5, 2.5, 3.5)
    (1.25, 0.6666666666666666)
    """
    c = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    out = (c[:, k:] - c[:, :-k]) / k
    return float(out.var(axis=1).mean())


def conv_power(k: int, length: int) -> float:
    """`pycx.layer_algebra`'s local intrinsic power of ``Conv1d(1, 1, k)`` on ``length``
    inputs (no padding, stride 1)."""
    from torch import nn
    s, alg = B.measure(nn.Conv1d(1, 1, k, bias=False), (1, 1, length), B.DEFAULT_READING)
    (row,) = [r for r in alg.layers if r["kind"] == "layer"]
    return float(row["p"])


def _within(m: dict) -> list:
    """Per seed: the fraction of filter sizes where the variance is within REL_TOL."""
    return [B.num(f) for f in m["fraction_within_tolerance"]["values"]]


def _tracks(m: dict):
    fractions = _within(m)
    if not fractions:
        return False
    if all(f >= 1.0 for f in fractions):
        return True
    return "partly" if all(f >= PARTLY_FRACTION for f in fractions) else False


RULE_TRACKS = Rule(
    "variance_tracks_power",
    "the conv layer's intrinsic power curve and the Monte Carlo output variance are almost "
    "identical over a wide range of filter sizes (K = 1..500)",
    f"per seed: |mean output variance - p * var(first vector)| <= {REL_TOL:g} of the scaled "
    f"power at every K: true when every seed does; at >= {PARTLY_FRACTION:.0%} of the K for "
    "every seed: partly; else false",
    _tracks)
RULE_SLOPE = Rule(
    "variance_falls_as_one_over_k",
    "the output variance falls as 1/K, as the conv layer's intrinsic power does",
    f"per seed: least-squares slope of log10 variance on log10 K within {SLOPE_TOL:g} of -1: "
    "true for every seed; for at least half: partly; else false",
    lambda m: fraction_verdict([abs(B.num(s) + 1) <= SLOPE_TOL
                                for s in m["log_log_slope"]["values"]]))
RULES = (RULE_TRACKS, RULE_SLOPE)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    ks = np.arange(1, cfg["max_k"] + 1)
    power = np.array([conv_power(int(k), cfg["length"]) for k in ks])
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    per_seed = {}
    for s in seeds:
        x = np.random.default_rng(s).standard_normal((cfg["n_vectors"], cfg["length"]))
        var = np.array([output_variance(x, int(k)) for k in ks])
        scaled = power * float(x[0].var())
        rel = np.abs(var - scaled) / scaled
        slope = float(np.polyfit(np.log10(ks), np.log10(var), 1)[0])
        per_seed[s] = {"variance": var, "scaled_power": scaled, "relative_deviation": rel,
                       "first_vector_variance": float(x[0].var()), "slope": slope}
        if progress:
            print(f"badias2021-fig12: seed {s}: max relative deviation {rel.max():.3f}, "
                  f"log-log slope {slope:.3f}", flush=True)

    def col(key, f=lambda v: v):
        return spread([f(per_seed[s][key]) for s in seeds])

    claims = [
        RULE_TRACKS({"seeds": seeds, "k_range": [1, int(ks[-1])],
                     "fraction_within_tolerance": col("relative_deviation",
                                                      lambda r: float(np.mean(r <= REL_TOL))),
                     "max_relative_deviation": col("relative_deviation", lambda r: float(r.max())),
                     "k_of_max_deviation": [int(ks[np.argmax(per_seed[s]["relative_deviation"])])
                                            for s in seeds],
                     "median_relative_deviation": col("relative_deviation",
                                                      lambda r: float(np.median(r))),
                     "first_vector_variance": col("first_vector_variance")}),
        RULE_SLOPE({"seeds": seeds, "log_log_slope": col("slope"),
                    "power_log_log_slope": float(np.polyfit(np.log10(ks), np.log10(power),
                                                            1)[0])}),
    ]
    figures = _plot(out, ks, per_seed[seeds[0]])
    curve_ks = [k for k in (1, 2, 5, 10, 20, 50, 100, 200, 500) if k <= ks[-1]]
    findings = make_findings(
        "badias2021-fig12", PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "filter": "1-D valid convolution, stride 1, weights 1/K",
                  "power": "pycx.layer_algebra local p of Conv1d(1, 1, K) on (1, 1, length), "
                           "times the first vector's variance",
                  "variance": "population variance per vector, mean over the vectors"},
        claims=claims, figures=figures,
        curves={"k": curve_ks, "power": [float(power[k - 1]) for k in curve_ks],
                **{f"seed_{s}": {"variance": [float(per_seed[s]["variance"][k - 1])
                                              for k in curve_ks],
                                 "scaled_power": [float(per_seed[s]["scaled_power"][k - 1])
                                                  for k in curve_ks]} for s in seeds}},
        wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _plot(out, ks, res):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    fig, ax = plt.subplots(1, 2, figsize=(11, 4))
    ax[0].plot(ks, res["variance"], label="mean output variance (Monte Carlo)")
    ax[0].plot(ks, res["scaled_power"], "--", label="intrinsic power x var(first vector)")
    ax[0].set(xscale="log", yscale="log", xlabel="filter size K", ylabel="variance",
              title="conv power vs output variance (fig. 12)")
    ax[0].legend(fontsize=8)
    ax[1].plot(ks, res["relative_deviation"])
    ax[1].axhline(REL_TOL, color="k", lw=0.5)
    ax[1].set(xlabel="filter size K", ylabel="|variance - power| / power",
              title="relative deviation")
    return save_figure(fig, out, "power_vs_variance")
