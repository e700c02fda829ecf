"""Paper 002 (Badias & Banerjee 2021), Fig. 9 (section 7.3): the GCIP gap between ResNet-d and
its PlainNet twin against their test-accuracy gap after training, over depth.

The paper trains ImageNet-style ResNet/PlainNet 18-152 on CIFAR-10 and shows that the GCIP
difference and the accuracy difference share their trend over depth (PlainNet-101/152 did not
train at all). Offline, pycx trains the CIFAR ResNets of He et al. and their PlainNet twins
(`pycx.models.cifar_resnet`, ``residual=True / False``: the same layers without shortcuts) on
scikit-learn's 8x8 digits coloured by `pycx.datasets.Colorize` (size 8, so colour only: one
random colour per image with per-pixel noise; 1,348 training and 449 test images), and measures
GCIP with `pycx.layer_algebra` on the same 3x8x8 input.

Training (decided here; the paper gives none): SGD, momentum 0.9, learning rate 0.1 annealed
to 0 by a cosine over the epochs, weight decay 5e-4, batch 64, Kaiming initialisation (the
model's), one seeded shuffle per seed; the same seed trains both twins. Full run: depths
20/32/44/56, two seeds, 4 epochs (what fits ~15 minutes on two cores); quick: depths 8/20, one
seed, one epoch on 300 images.

Claims: the GCIP gap log10 GCIP(ResNet) - log10 GCIP(Plain) grows with depth; ResNet is more
accurate than its PlainNet twin at every depth; the two gaps share their trend over depth
(Spearman rho of the accuracy gap against the GCIP gap over the depths >= 0.8).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _badias2021 as B
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = "ResNet vs PlainNet on coloured digits: GCIP gap against accuracy gap over depth (fig. 9)"
PAPER = B.PAPER
FULL = {"depths": [20, 32, 44, 56], "n_seeds": 2, "epochs": 4, "n_train": None}
QUICK = {"depths": [8, 20], "n_seeds": 1, "epochs": 1, "n_train": 300}
TRAIN = {"optimizer": "SGD", "lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4,
         "schedule": "cosine to 0 over the epochs (per epoch)", "batch_size": 64}
SIDE = 8
RHO_TRUE = 0.8


def data(seed: int, n_train):
    """(train, test) TensorDatasets of coloured 8x8 digits (3x8x8)."""
    from pycx import datasets

    from ._janik2020 import subset
    split = datasets.digits()
    colour = datasets.Colorize(size=SIDE, upsample=1, seed=seed)
    train = subset(split.train, n_train, seed)
    return datasets.materialize(train, colour), datasets.materialize(split.test, colour)


def train_one(depth: int, residual: bool, train, test, seed: int, epochs: int) -> float:
    """Test accuracy of cifar_resnet(depth, residual) after training (see the docstring)."""
    import torch

    from pycx.models import cifar_resnet

    from ._janik2020 import evaluate
    from ._janik2020 import train as fit
    torch.manual_seed(seed)
    model = cifar_resnet(depth, 10, residual=residual)
    opt = torch.optim.SGD(model.parameters(), lr=TRAIN["lr"], momentum=TRAIN["momentum"],
                          weight_decay=TRAIN["weight_decay"])
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    fit(model, train, epochs=epochs, optimizer=opt, batch_size=TRAIN["batch_size"], seed=seed,
        scheduler=sched)
    return float(evaluate(model, test)[1])


def gcip_log10(depth: int, residual: bool) -> float:
    from pycx.models import cifar_resnet
    s, _ = B.measure(cifar_resnet(depth, 10, residual=residual), (1, 3, SIDE, SIDE),
                     B.DEFAULT_READING)
    return float(s["gcip_log10"])


def _gcip_gap_rule(m: dict):
    gap = B.nums(m["gcip_gap_log10"])
    if B.strictly_monotone(gap, +1):
        return True
    return "partly" if gap and all(g > 0 for g in gap) else False


def _per_seed_gaps(m: dict) -> list:
    return [B.nums(g) for g in m["accuracy_gap_per_seed"]]


RULE_GCIP_GAP = Rule(
    "gcip_gap_grows_with_depth",
    "the GCIP gap between ResNet and PlainNet grows with depth (fig. 9 top)",
    "log10 GCIP(ResNet-d) - log10 GCIP(Plain-d) strictly increasing over the depths: true; "
    "positive at every depth but not increasing: partly; else false",
    _gcip_gap_rule)
RULE_MORE_ACCURATE = Rule(
    "resnet_more_accurate",
    "ResNet reaches a higher test accuracy than its PlainNet twin (fig. 9 bottom)",
    "per seed: test accuracy(ResNet-d) > accuracy(Plain-d) at every depth; true for every "
    "seed, partly for at least half, else false",
    lambda m: fraction_verdict([bool(g) and all(x > 0 for x in g) for g in _per_seed_gaps(m)]))
RULE_SAME_TREND = Rule(
    "gaps_share_trend",
    "the GCIP gap and the accuracy gap show similar trends over depth",
    f"per seed: Spearman rho of the accuracy gap against the GCIP gap over the depths >= "
    f"{RHO_TRUE:g}; true for every seed, partly for at least half, else false",
    lambda m: fraction_verdict([B.num(r) >= RHO_TRUE if r is not None else False
                                for r in m["spearman_per_seed"]]))
RULES = (RULE_GCIP_GAP, RULE_MORE_ACCURATE, RULE_SAME_TREND)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    depths = cfg["depths"]
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    gcip = {fam: [gcip_log10(d, fam == "resnet") for d in depths] for fam in ("resnet", "plain")}
    gcip_gap = [r - p for r, p in zip(gcip["resnet"], gcip["plain"])]
    acc = {s: {"resnet": [], "plain": []} for s in seeds}
    for s in seeds:
        train, test = data(s, cfg["n_train"])
        for d in depths:
            for fam in ("resnet", "plain"):
                acc[s][fam].append(train_one(d, fam == "resnet", train, test, s, cfg["epochs"]))
                if progress:
                    print(f"badias2021-fig9: seed {s} {fam}-{d}: test accuracy "
                          f"{acc[s][fam][-1]:.3f}", flush=True)
    acc_gap = {s: [r - p for r, p in zip(acc[s]["resnet"], acc[s]["plain"])] for s in seeds}
    rho = {s: B.spearman(gcip_gap, acc_gap[s]) for s in seeds}
    common = {"depths": depths, "seeds": seeds}
    claims = [
        RULE_GCIP_GAP({**common, "gcip_gap_log10": gcip_gap,
                       "resnet_gcip_log10": gcip["resnet"], "plain_gcip_log10": gcip["plain"]}),
        RULE_MORE_ACCURATE({**common, "accuracy_gap_per_seed": [acc_gap[s] for s in seeds],
                            "resnet_accuracy_per_seed": [acc[s]["resnet"] for s in seeds],
                            "plain_accuracy_per_seed": [acc[s]["plain"] for s in seeds],
                            "accuracy_gap_by_depth": {str(d): spread([acc_gap[s][i]
                                                                      for s in seeds])
                                                      for i, d in enumerate(depths)}}),
        RULE_SAME_TREND({**common, "gcip_gap_log10": gcip_gap,
                         "accuracy_gap_per_seed": [acc_gap[s] for s in seeds],
                         "spearman_per_seed": [rho[s] for s in seeds],
                         "spearman": spread([rho[s] for s in seeds])}),
    ]
    figures = _plot(out, depths, gcip_gap, acc_gap)
    findings = make_findings(
        "badias2021-fig9", PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, **TRAIN, "data": "scikit-learn digits, Colorize(size=8, upsample=1), "
                  "75/25 split (split seed 0)", "input": [1, 3, SIDE, SIDE],
                  "models": "pycx.models.cifar_resnet(depth, 10, residual=True / False)",
                  "conv_kernel": B.DEFAULT_READING},
        claims=claims, figures=figures, accuracy={str(s): acc[s] for s in seeds},
        wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _plot(out, depths, gcip_gap, acc_gap):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .findings import save_figure
    fig, ax = plt.subplots(2, 1, figsize=(6, 6), sharex=True)
    ax[0].bar([str(d) for d in depths], gcip_gap)
    ax[0].set(ylabel="log10 GCIP(ResNet) - log10 GCIP(Plain)", title="GCIP gap (fig. 9 top)")
    gaps = np.array(list(acc_gap.values()))
    ax[1].bar([str(d) for d in depths], gaps.mean(0), yerr=gaps.std(0) if len(gaps) > 1 else None)
    ax[1].set(xlabel="depth", ylabel="accuracy(ResNet) - accuracy(Plain)",
              title="test-accuracy gap, coloured digits")
    return save_figure(fig, out, "gcip_gap_vs_accuracy_gap")
