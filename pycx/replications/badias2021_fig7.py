"""Paper 002 (Badias & Banerjee 2021), Fig. 7: a completely symmetric autoencoder with linear
activations. Architecture only: `pycx.models.linear_autoencoder` (784-256-64-256-784) and a
symmetric convolutional autoencoder (two stride-2 convolutions, two transposed convolutions
with the same kernels), measured with `pycx.layer_algebra`. Claims (section 7.2): GCIP returns
to 1 at the output; the cumulative complexity rises through most layers; a non-symmetric or
non-linear autoencoder does not return to GCIP = 1.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, make_findings, write_findings

TITLE = "Symmetric linear autoencoder: GCIP returns to 1, GCC rises (fig. 7)"
PAPER = B.PAPER
TOL_LOG10 = 1e-9   # float round-off of a product of ~10 ratios


def _models():
    from torch import nn

    from pycx.models import linear_autoencoder
    conv = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1),
                         nn.ConvTranspose2d(32, 16, 3, stride=2, padding=1, output_padding=1),
                         nn.ConvTranspose2d(16, 1, 3, stride=2, padding=1, output_padding=1))
    relu = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 64), nn.ReLU(),
                         nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 784))
    return {"linear_fc": (linear_autoencoder((784, 256, 64)), (1, 784)),
            "linear_conv": (conv, (1, 1, 28, 28)),
            "relu_fc": (relu, (1, 784)),
            "asymmetric_fc": (linear_autoencoder((784, 256, 64))[:-1], (1, 784))}


def rule_returns_to_one(gcip_log10: dict, tol: float = TOL_LOG10):
    """|log10 GCIP| <= tol for every symmetric linear model (True), some ("partly"), none.

    >>> rule_returns_to_one({"a": 0.0, "b": 1e-12}), rule_returns_to_one({"a": 0.3})
    (True, False)
    """
    return B.rule_fraction([abs(B.num(v)) <= tol for v in gcip_log10.values()], part=1e-9)


def rule_gcc_rises(curves: dict):
    """The cumulative complexity rises at >= half of the local layers and ends above its
    first value, for every model (True), some ("partly"), none (False).

    >>> rule_gcc_rises({"a": [1.0, 2.0, 3.0, 3.0]}), rule_gcc_rises({"a": [3.0, 2.0, 1.0]})
    (True, False)
    """
    flags = []
    for c in curves.values():
        c = B.nums(c)
        d = np.diff(c)
        flags.append(bool(len(d) and np.mean(d > 0) >= 0.5 and c[-1] > c[0]))
    return B.rule_fraction(flags, part=1e-9)


def rule_differs(gcip_log10: dict, min_abs: float = 0.01):
    """Non-symmetric or non-linear variants end away from GCIP = 1: |log10| > min_abs for all
    (True), some ("partly"), none (False).

    >>> rule_differs({"relu": -0.7}), rule_differs({"relu": 0.0})
    (True, False)
    """
    return B.rule_fraction([abs(B.num(v)) > min_abs for v in gcip_log10.values()], part=1e-9)


# The rules read the claim's measured dict: ``{model: {"gcip_log10": ..., ...}}``.
RULE_RETURNS = Rule(
    "gcip_returns_to_one",
    "the symmetric linear autoencoder returns to GCIP = 1 at the output",
    f"|log10 GCIP| <= {TOL_LOG10:g} for the FC and the conv autoencoder: true; one: partly; "
    "none: false",
    lambda m: rule_returns_to_one({n: v["gcip_log10"] for n, v in m.items()}))
RULE_GCC = Rule(
    "gcc_rises",
    "the cumulative complexity rises through most layers (GCC > 0)",
    "cumulative log10 complexity rises at >= half of the layers and ends above its first "
    "value, for both: true; one: partly; none: false",
    lambda m: rule_gcc_rises({n: v["complexity_curve_log10"] for n, v in m.items()}))
RULE_VARIANTS = Rule(
    "variants_differ",
    "a non-linear or non-symmetric autoencoder does not return to GCIP = 1",
    "|log10 GCIP| > 0.01 for the ReLU and the truncated variant: true; one: partly; none: "
    "false",
    lambda m: rule_differs({n: v["gcip_log10"] for n, v in m.items()}))
RULES = (RULE_RETURNS, RULE_GCC, RULE_VARIANTS)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    res = {}
    for name, (model, shape) in _models().items():
        s, alg = B.measure(model, shape, B.DEFAULT_READING)
        rows = [r for r in alg.nodes if r["kind"] in ("layer", "resample")]
        res[name] = dict(s, local_p=[r["p"] for r in rows], local_c=[r["c"] for r in rows],
                         power_curve_log10=[r["power_log10"] for r in rows],
                         complexity_curve_log10=[r["complexity_log10"] for r in rows])
    sym = ("linear_fc", "linear_conv")
    var = ("relu_fc", "asymmetric_fc")
    claims = [
        RULE_RETURNS({n: {"gcip_log10": res[n]["gcip_log10"], "local_p": res[n]["local_p"]}
                      for n in sym}),
        RULE_GCC({n: {"complexity_curve_log10": res[n]["complexity_curve_log10"],
                      "gcc_log10": res[n]["gcc_log10"]} for n in sym}),
        RULE_VARIANTS({n: {"gcip_log10": res[n]["gcip_log10"]} for n in var}),
    ]
    figures = _plot(out, res, sym)
    findings = make_findings("badias2021-fig7", PAPER, TITLE, quick=quick, seeds=[seed],
                             settings={"models": {n: str(m[1]) for n, m in _models().items()},
                                       "conv_kernel": B.DEFAULT_READING},
                             claims=claims, figures=figures,
                             per_model={n: {k: v for k, v in r.items()} for n, r in res.items()},
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _plot(out, res, names):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    fig, ax = plt.subplots(2, 2, figsize=(10, 6))
    for j, (key_l, key_c, label) in enumerate((("local_p", "power_curve_log10", "power"),
                                               ("local_c", "complexity_curve_log10",
                                                "complexity"))):
        for n in names:
            ax[1, j].plot(np.log10(res[n][key_l]), "o-", label=n)
            ax[0, j].plot(res[n][key_c], "o-", label=n)
        ax[0, j].set(ylabel=f"log10 cumulative {label}", title=f"cumulative {label} (fig. 7)")
        ax[1, j].set(xlabel="layer", ylabel=f"log10 local {label}")
        ax[0, j].legend(fontsize=8)
    return save_figure(fig, out, "autoencoder")
