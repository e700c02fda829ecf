"""Paper 002 (Badias & Banerjee 2021), Fig. 6 (section 7.1): the layer algebra's global
cumulative complexity (GCC) against the VC dimension of simple fully-connected and
convolutional ReLU networks. Architecture only (no data, no training).

The paper names neither its architectures nor the exact bounds (it cites nearly-tight bounds
for fully-connected [44] and convolutional ReLU networks [45]; the figure is an image). Pycx
decides: four families on 28x28 one-channel inputs, each growing in one direction,

- ``fc_width``: 784-w-w-10, w = 16, 32, 64, 128, 256, 512;
- ``fc_depth``: 784-64x d-10, d = 1..6 hidden layers;
- ``conv_width``: two 3x3 convolutions of c channels (padding 1), each followed by ReLU and a
  2x2 max-pool, then a linear layer to 10, c = 4, 8, 16, 32, 64;
- ``conv_depth``: d 3x3 convolutions of 16 channels (padding 1) with ReLU, a 4x4 max-pool and
  a linear layer to 10, d = 1..5;

and the VC dimension is the order of the nearly-tight bound of Bartlett, Harvey, Liaw &
Mehrabian (2019) for piecewise-linear networks, ``W * L * log2(W)`` (W parameters, shared
weights counted once; L layers with weights; constants dropped), which holds for convolutional
networks too. Quick runs measure the first three members of each family.

Claims (section 7.1): GCC follows the same monotonically increasing trend as the VC dimension
in every family; its magnitude grows at a substantially slower rate ("substantially" read as
at most half the VC dimension's growth in decades over the family).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, fraction_verdict, make_findings, write_findings

TITLE = "GCC against the VC-dimension bound of simple FC and conv ReLU nets (fig. 6)"
PAPER = B.PAPER
FAMILIES = {"fc_width": [16, 32, 64, 128, 256, 512], "fc_depth": [1, 2, 3, 4, 5, 6],
            "conv_width": [4, 8, 16, 32, 64], "conv_depth": [1, 2, 3, 4, 5]}
INPUT = (1, 1, 28, 28)
SLOWER = 0.5   # "substantially slower": at most half the VC dimension's growth in decades


def build(family: str, size: int):
    """The network of `family` at `size` (width, depth or channels; see the docstring)."""
    from torch import nn
    if family == "fc_width":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, size), nn.ReLU(), nn.Linear(size, size),
                             nn.ReLU(), nn.Linear(size, 10))
    if family == "fc_depth":
        layers, width = [nn.Flatten()], 784
        for _ in range(size):
            layers += [nn.Linear(width, 64), nn.ReLU()]
            width = 64
        return nn.Sequential(*layers, nn.Linear(64, 10))
    if family == "conv_width":
        return nn.Sequential(nn.Conv2d(1, size, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(size, size, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Flatten(), nn.Linear(size * 49, 10))
    if family == "conv_depth":
        layers, channels = [], 1
        for _ in range(size):
            layers += [nn.Conv2d(channels, 16, 3, padding=1), nn.ReLU()]
            channels = 16
        return nn.Sequential(*layers, nn.MaxPool2d(4), nn.Flatten(), nn.Linear(16 * 49, 10))
    raise ValueError(f"argument 'family' must be one of {sorted(FAMILIES)}, got {family!r}")


def vc_order_log10(n_params: int, n_layers: int) -> float:
    """log10 of ``W * L * log2(W)``, the order of the nearly-tight VC-dimension bound of
    piecewise-linear networks (Bartlett et al. 2019), constants dropped.

    >>> round(vc_order_log10(1024, 2), 4) == round(math.log10(1024 * 2 * 10), 4)
    True
    """
    return math.log10(n_params) + math.log10(n_layers) + math.log10(math.log2(n_params))


def measure_family(family: str, sizes) -> dict:
    from torch import nn
    gcc, vc, params, layers = [], [], [], []
    for size in sizes:
        model = build(family, size)
        s, _ = B.measure(model, INPUT, B.DEFAULT_READING)
        w = int(sum(p.numel() for p in model.parameters()))
        n_layers = sum(isinstance(m, (nn.Linear, nn.Conv2d)) for m in model.modules())
        gcc.append(s["gcc_log10"])
        vc.append(vc_order_log10(w, n_layers))
        params.append(w)
        layers.append(n_layers)
    return {"sizes": list(sizes), "gcc_log10": gcc, "vc_order_log10": vc, "params": params,
            "weight_layers": layers}


def _same_trend(m: dict):
    return fraction_verdict([B.strictly_monotone(f["gcc_log10"], +1)
                             and B.strictly_monotone(f["vc_order_log10"], +1)
                             for f in m["families"].values()])


def _growth(values) -> float:
    v = B.nums(values)
    return v[-1] - v[0] if len(v) >= 2 else math.nan


def _slower(m: dict):
    flags = []
    for f in m["families"].values():
        g, v = _growth(f["gcc_log10"]), _growth(f["vc_order_log10"])
        flags.append(bool(math.isfinite(g) and math.isfinite(v) and v > 0 and g <= SLOWER * v))
    return fraction_verdict(flags)


RULE_TREND = Rule(
    "same_monotone_trend",
    "GCC follows the same monotonically increasing trend as the VC dimension for all the "
    "architectures",
    "in each family (FC width, FC depth, conv width, conv depth) both log10 GCC and log10 "
    "W L log2 W strictly increase along the family: true for every family; for at least half: "
    "partly; else false",
    _same_trend)
RULE_SLOWER = Rule(
    "gcc_grows_slower",
    "GCC increases at a substantially slower rate than the VC dimension",
    f"per family, the growth of log10 GCC from the first to the last member is at most "
    f"{SLOWER:g} of the growth of log10 W L log2 W: true for every family; for at least half: "
    "partly; else false",
    _slower)
RULES = (RULE_TREND, RULE_SLOWER)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    fams = {f: (s[:3] if quick else s) for f, s in FAMILIES.items()}
    res = {}
    for family, sizes in fams.items():
        res[family] = measure_family(family, sizes)
        if progress:
            print(f"badias2021-fig6: {family}: log10 GCC "
                  f"{', '.join(f'{v:.1f}' for v in res[family]['gcc_log10'])}", flush=True)
    growth = {f: {"gcc_decades": _growth(r["gcc_log10"]),
                  "vc_decades": _growth(r["vc_order_log10"])} for f, r in res.items()}
    claims = [
        RULE_TREND({"families": {f: {k: r[k] for k in ("sizes", "gcc_log10", "vc_order_log10")}
                                 for f, r in res.items()}}),
        RULE_SLOWER({"families": {f: {k: r[k] for k in ("sizes", "gcc_log10", "vc_order_log10")}
                                  for f, r in res.items()},
                     "growth": growth}),
    ]
    figures = _plot(out, res)
    findings = make_findings(
        "badias2021-fig6", PAPER, TITLE, quick=quick, seeds=[seed],
        settings={"families": fams, "input": list(INPUT), "conv_kernel": B.DEFAULT_READING,
                  "vc_dimension": "W * L * log2(W), the order of Bartlett et al. 2019's "
                                  "nearly-tight bound (W parameters, L weight layers)"},
        claims=claims, figures=figures, per_family=res,
        wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _plot(out, res):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    fig, axes = plt.subplots(1, len(res), figsize=(4 * len(res), 3.6))
    for ax, (family, r) in zip(np.atleast_1d(axes), res.items()):
        ax.plot(r["sizes"], r["gcc_log10"], "o-", label="log10 GCC")
        ax.plot(r["sizes"], r["vc_order_log10"], "s--", label="log10 W L log2 W")
        ax.set(xlabel=family.split("_")[1], title=family)
        ax.legend(fontsize=8)
    return save_figure(fig, out, "gcc_vs_vc")
