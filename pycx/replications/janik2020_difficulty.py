"""Paper 000, figures 2-5 (left) and S1: one CIFAR ResNet trained on tasks of graded difficulty.

A ResNet-20 (`pycx.models.cifar_resnet(20)`, the paper used ResNet-56; 20 fits on 2 cores) is
trained with the paper's protocol, shortened, on C-MNIST, C-MNIST_T8 and C-MNIST with random
labels (the paper's memorisation task is CIFAR-10 with random labels; no CIFAR is available
offline). Measured with `pycx.analyze` on held-out images (on training images for random
labels, as in the paper): effective dimension and complexity per neuron of the topmost ReLUs
against depth (figs. 2-3), the top block in the effective-dimension-complexity plane (fig. 4
left; residual-branch ReLUs: fig. S1), linearity per block (fig. 4 right) and normalised total
correlation (fig. 5 left).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import claim, make_findings, spread, verdict, write_findings

TITLE = ("ResNet-20 on C-MNIST, C-MNIST_T8 and random labels: effective dimension, complexity, "
         "linearity, total correlation by depth (figs. 2-5)")
PAPER = J.PAPER

FULL = {"n_seeds": 2, "n_train": 1000, "n_eval": 500, "epochs": 10, "patch_rows": 20000,
        "layers": "all", "trees": 100}
# Quick: a smoke run of the whole pipeline (4 SGD steps per task); its numbers mean nothing.
QUICK = {"n_seeds": 1, "n_train": 192, "n_eval": 100, "epochs": 2, "patch_rows": 1000,
         "layers": "top", "trees": 20}
BLOCKS = ("block 2", "block 3", "block 4")


def train_task(task, split, seed, cfg, progress):
    model, opt, sched, train_ds, eval_ds = J.resnet_for_task(task, split, seed, cfg)
    t0 = time.perf_counter()
    J.train(model, train_ds, epochs=cfg["epochs"], optimizer=opt, scheduler=sched,
            batch_size=128, seed=seed, progress=progress, desc=f"{task} seed {seed}")
    train_s = time.perf_counter() - t0
    loss, acc = J.evaluate(model, eval_ds)
    t0 = time.perf_counter()
    rows = J.janik_table(model, eval_ds, layers=J.resnet_layers(cfg["layers"]),
                         patch_rows=cfg["patch_rows"], seed=seed, trees=cfg["trees"])
    return {"rows": rows, "accuracy": acc, "loss": loss, "train_s": round(train_s, 1),
            "analysis_s": round(time.perf_counter() - t0, 1)}


def summarise(rows):
    """Per-depth topmost curves and block averages of one trained model."""
    top = [r for r in rows if r["layer"] == "relu" or r["layer"].endswith(":1")]
    res = [r for r in rows if r["layer"].startswith("layer") and not r["layer"].endswith(":1")]
    out = {"layers": [r["layer"] for r in top],
           "ed": [r["effective_dimension"] for r in top],
           "cpn": [r["complexity_per_neuron"] for r in top],
           "ntc": [r["ntc"] for r in top],
           "linearity": [r["linearity"] for r in top]}
    for b in BLOCKS:
        members = [r for r in top if J.block_of(r["layer"]) == b]
        for key, col in (("ed", "effective_dimension"), ("cpn", "complexity_per_neuron"),
                         ("ntc", "ntc"), ("linearity", "linearity")):
            out[f"{key}_{b}"] = float(np.mean([r[col] for r in members]))
    members = [r for r in res if J.block_of(r["layer"]) == "block 4"]
    out["residual_ed_block 4"] = float(np.mean([r["effective_dimension"] for r in members])) \
        if members else float("nan")
    out["residual_cpn_block 4"] = float(np.mean([r["complexity_per_neuron"] for r in members])) \
        if members else float("nan")
    return out


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = dict(QUICK if quick else FULL)
    split, data_name = J.load_digits_data()
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    results = {t: {} for t in J.TASKS}
    for s in seeds:
        for task in J.TASKS:
            results[task][s] = train_task(task, split, s, cfg, progress)
    summ = {t: {s: summarise(results[t][s]["rows"]) for s in seeds} for t in J.TASKS}

    def per_seed(task, key):
        return [summ[task][s][key] for s in seeds]

    def values(key):
        return {t: spread(per_seed(t, key)) for t in J.TASKS}

    cm, t8, rl = J.TASKS
    claims = []
    rho = {t: [J.spearman(range(len(summ[t][s]["ed"])), summ[t][s]["ed"]) for s in seeds]
           for t in J.TASKS}
    claims.append(claim(
        "effective dimension of the topmost ReLUs rises with depth (image tasks)",
        {"spearman_depth_vs_ed": {t: spread(rho[t]) for t in J.TASKS},
         "ed_by_depth": {t: per_seed(t, "ed") for t in J.TASKS}},
        verdict([rho[cm][i] > 0.5 and rho[t8][i] > 0.5 for i in range(len(seeds))]),
        expected="Spearman(depth, ED) > 0.5 for C-MNIST and C-MNIST_T8 (fig. 2)"))
    ed4 = {t: per_seed(t, "ed_block 4") for t in J.TASKS}
    claims.append(claim(
        "the top block's effective dimension is higher for the harder task",
        {"ed_block4": values("ed_block 4")},
        verdict([ed4[t8][i] > ed4[cm][i] for i in range(len(seeds))]),
        expected="ED(block 4): C-MNIST_T8 > C-MNIST (figs. 2, 4)"))
    low = {t: [(summ[t][s]["ed_block 3"] + summ[t][s]["ed_block 4"]) / 2 for s in seeds]
           for t in J.TASKS}
    claims.append(claim(
        "memorisation keeps the effective dimension low in the low-resolution stages",
        {"ed_blocks_3_4": {t: spread(low[t]) for t in J.TASKS}},
        verdict([low[rl][i] < min(low[cm][i], low[t8][i]) for i in range(len(seeds))]),
        expected="mean ED of blocks 3-4: random labels below both image tasks (fig. 2)"))
    rise = {t: [summ[t][s]["cpn_block 4"] - summ[t][s]["cpn_block 2"] for s in seeds]
            for t in J.TASKS}
    claims.append(claim(
        "complexity per neuron is flatter on C-MNIST and rises with the stage for the harder task",
        {"cpn_block4_minus_block2": {t: spread(rise[t]) for t in J.TASKS},
         "cpn_by_depth": {t: per_seed(t, "cpn") for t in J.TASKS}},
        verdict([rise[t8][i] > 0 and rise[t8][i] > rise[cm][i] for i in range(len(seeds))]),
        expected="CPN(block 4) - CPN(block 2) > 0 for C-MNIST_T8 and larger than C-MNIST's "
                 "(fig. 3)"))
    cpn4 = {t: per_seed(t, "cpn_block 4") for t in J.TASKS}
    claims.append(claim(
        "in the effective dimension-complexity plane the torn task lies further up and right",
        {"ed_block4": values("ed_block 4"), "cpn_block4": values("cpn_block 4")},
        verdict([ed4[t8][i] > ed4[cm][i] and cpn4[t8][i] > cpn4[cm][i]
                 for i in range(len(seeds))]),
        expected="block-4 averages: ED and CPN both larger for C-MNIST_T8 (fig. 4 left)"))
    lin = {t: {b: per_seed(t, f"linearity_{b}") for b in BLOCKS} for t in J.TASKS}
    claims.append(claim(
        "image tasks run the lower blocks more linearly; memorisation reverts to lower values",
        {"linearity_by_block": {t: {b: spread(lin[t][b]) for b in BLOCKS} for t in J.TASKS}},
        verdict([lin[cm]["block 2"][i] > lin[cm]["block 4"][i]
                 and lin[t8]["block 2"][i] > lin[t8]["block 4"][i]
                 and lin[rl]["block 2"][i] < min(lin[cm]["block 2"][i], lin[t8]["block 2"][i])
                 for i in range(len(seeds))]),
        expected="linearity block 2 > block 4 for both image tasks, and random labels' block 2 "
                 "below theirs (fig. 4 right)"))
    top_range = [max(lin[t]["block 4"][i] for t in J.TASKS)
                 - min(lin[t]["block 4"][i] for t in J.TASKS) for i in range(len(seeds))]
    claims.append(claim(
        "at the top block the mean linearity is about the same for every task",
        {"block4_linearity_range_across_tasks": spread(top_range)},
        verdict([r < 0.05 for r in top_range]),
        expected="max - min over tasks of block-4 linearity below 0.05 (fig. 4 right)"))
    ntc4 = {t: per_seed(t, "ntc_block 4") for t in J.TASKS}
    claims.append(claim(
        "top-level neurons are less correlated for the harder task",
        {"ntc_block4": values("ntc_block 4"), "ntc_by_depth": {t: per_seed(t, "ntc")
                                                                for t in J.TASKS}},
        verdict([ntc4[t8][i] < ntc4[cm][i] for i in range(len(seeds))]),
        expected="normalised total correlation (block 4): C-MNIST_T8 < C-MNIST (fig. 5 left)"))

    figures = _figures(out, summ, seeds, cfg)
    settings = {**cfg, "seeds": seeds, "data": data_name, "model": "cifar_resnet(20)",
                "tasks": list(J.TASKS),
                "protocol": "SGD lr 0.1, momentum 0.9, weight decay 1e-4 (0 for random labels), "
                            "batch 128, lr / 10 at 80% and 90% of the epochs",
                "colorize": "Colorize(size=32, seed=training seed)",
                "tear": "Tear(tile=8, seed=training seed)",
                "evaluation": "test images (random labels: training images with their labels)",
                "estimator": f"xgb chain rule, 2 folds, {cfg['trees']} trees, depth 3, "
                             "rate 0.1",
                "accuracy": {t: {str(s): results[t][s]["accuracy"] for s in seeds}
                             for t in J.TASKS},
                "times_s": {t: {str(s): {"train": results[t][s]["train_s"],
                                         "analysis": results[t][s]["analysis_s"]}
                                for s in seeds} for t in J.TASKS}}
    findings = make_findings("janik2020-difficulty", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             table={t: {str(s): results[t][s]["rows"] for s in seeds}
                                    for t in J.TASKS},
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figures(out, summ, seeds, cfg):
    plt = J.plt()
    fig, ax = plt.subplots(2, 3, figsize=(15, 8))
    ax = ax.ravel()
    colours = dict(zip(J.TASKS, ("tab:blue", "tab:orange", "tab:green")))
    for t in J.TASKS:
        for k, s in enumerate(seeds):
            d = summ[t][s]
            depth = np.arange(len(d["ed"]))
            lab = t if k == 0 else None
            ax[0].plot(depth, d["ed"], "o-", color=colours[t], label=lab, alpha=0.8)
            ax[1].plot(depth, d["cpn"], "o-", color=colours[t], label=lab, alpha=0.8)
            ax[2].scatter(d["cpn_block 4"], d["ed_block 4"], color=colours[t], label=lab, s=50)
            ax[3].plot(range(2, 5), [d[f"linearity_{b}"] for b in BLOCKS], "o-",
                       color=colours[t], label=lab, alpha=0.8)
            ax[4].plot(depth, d["ntc"], "o-", color=colours[t], label=lab, alpha=0.8)
            if np.isfinite(d["residual_ed_block 4"]):
                ax[5].scatter(d["residual_cpn_block 4"], d["residual_ed_block 4"],
                              color=colours[t], label=lab, s=50)
    ax[0].set(xlabel="topmost ReLU (from the input)", ylabel="effective dimension",
              title="fig. 2: effective dimension")
    ax[1].set(xlabel="topmost ReLU (from the input)", ylabel="complexity per neuron (bits)",
              title="fig. 3: complexity per neuron")
    ax[2].set(xlabel="complexity per neuron", ylabel="effective dimension",
              title="fig. 4 left: top block")
    ax[3].set(xlabel="block", ylabel="average linearity", title="fig. 4 right: linearity",
              xticks=[2, 3, 4])
    ax[4].set(xlabel="topmost ReLU (from the input)", ylabel="normalised total correlation",
              title="fig. 5 left: total correlation")
    ax[5].set(xlabel="complexity per neuron", ylabel="effective dimension",
              title="fig. S1: residual-branch ReLUs, top block")
    for a in ax:
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=8)
    if not ax[5].has_data():  # the residual-branch layers are analysed only with layers="all"
        ax[5].text(0.5, 0.5, f"not computed (layers={cfg.get('layers')!r};\nthe full run analyses them)",
                   ha="center", va="center", transform=ax[5].transAxes, color="0.4")
    fig.suptitle(f"ResNet-20, {cfg['epochs']} epochs on {cfg['n_train']} images, seeds {seeds}")
    fig.tight_layout()  # titles of the lower row clear the x labels of the upper row
    return J.save_figure(fig, out, "difficulty")
