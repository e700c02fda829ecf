"""Paper 000, figures 2-5 (left) and S1: one CIFAR ResNet trained on tasks of graded difficulty.

A ResNet-20 (`pycx.models.cifar_resnet(20)`, the paper used ResNet-56; 20 fits on 2 cores) is
trained with the paper's protocol, shortened, on six tasks: scikit-learn's digits colourised
(C-digits), C-MNIST, C-MNIST torn into 16, 8 and 4 pixel tiles (C-MNIST_T16/T8/T4) and C-MNIST
with random labels (the paper's memorisation task is CIFAR-10 with random labels; no CIFAR is
available offline). The random-label net gets `n_train_random` images and `epochs_random`
epochs so that it memorises its training set (training accuracy >= 0.95 is checked, weight
decay 0); the image tasks get `n_train` images and `epochs` epochs. Measured with `pycx.analyze` on
held-out images (on training images for random labels, as in the paper): effective dimension
and complexity per neuron of the topmost ReLUs against depth (figs. 2-3), the top block in the
effective-dimension-complexity plane (fig. 4 left, with a line fitted through the six tasks;
residual-branch ReLUs: fig. S1), linearity per block (fig. 4 right) and normalised total
correlation (fig. 5 left).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("ResNet-20 on six tasks of graded difficulty (C-digits, C-MNIST, its tears into 16, 8 "
         "and 4 pixel tiles, random labels): effective dimension, complexity, linearity, total "
         "correlation by depth (figs. 2-5, S1)")
PAPER = J.PAPER
NAME = "janik2020-difficulty"

# The images are cut so that the random-label net memorises within the budget: 128 training
# images for 60 epochs (one SGD step each); the image tasks get 512 images for 20 epochs (80
# steps; 30 one-step epochs on 128 images left them at 0.18-0.22 test accuracy). These are the
# departures from the paper's equal settings. Three seeds (the paper shows one realisation per
# task): every rule is scored per seed, so one seed could only ever give true or false.
FULL = {"n_seeds": 3, "n_train": 512, "n_eval": 256, "epochs": 20, "n_train_random": 128,
        "epochs_random": 60, "patch_rows": 1000, "layers": "top+residual4", "trees": 100}
# Quick: a smoke run of the whole pipeline (a few SGD steps per task); its numbers mean nothing.
QUICK = {"n_seeds": 1, "n_train": 128, "n_eval": 64, "epochs": 2, "patch_rows": 500,
         "layers": "top+residual4", "trees": 20}
BLOCKS = ("block 2", "block 3", "block 4")
IMAGE_TASKS = ("C-digits", "C-MNIST", "C-MNIST_T16", "C-MNIST_T8", "C-MNIST_T4")
TEARS = ("C-MNIST_T16", "C-MNIST_T8", "C-MNIST_T4")
MEMORISED = 0.95   # training accuracy that counts as memorised
BAND_R2 = 0.8      # R^2 of the line that counts as a linear band


def train_task(task, split, seed, cfg, progress):
    model, opt, sched, train_ds, eval_ds = J.resnet_for_task(task, split, seed, cfg)
    t0 = time.perf_counter()
    J.train(model, train_ds, epochs=J.task_epochs(task, cfg), optimizer=opt, scheduler=sched,
            batch_size=128, seed=seed, progress=progress, desc=f"{task} seed {seed}")
    train_s = time.perf_counter() - t0
    loss, acc = J.evaluate(model, eval_ds)
    _, train_acc = J.evaluate(model, train_ds)
    t0 = time.perf_counter()
    if cfg["layers"] == "top+residual4":
        top = J.resnet_layers("top")
        layers = lambda name, kind: top(name, kind) or name.startswith("layer3.")  # noqa: E731
    else:
        layers = J.resnet_layers(cfg["layers"])
    rows = J.janik_table(model, eval_ds, layers=layers,
                         patch_rows=cfg["patch_rows"], seed=seed, trees=cfg["trees"])
    return {"rows": rows, "accuracy": acc, "loss": loss, "train_accuracy": train_acc,
            "train_s": round(train_s, 1),
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


def _r2(x, y):
    """R^2 of the least-squares line y ~ x (NaN for fewer than 3 finite points)."""
    x = np.array([math.nan if v is None else float(v) for v in x])
    y = np.array([math.nan if v is None else float(v) for v in y])
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or np.ptp(x[ok]) == 0:
        return math.nan, math.nan
    slope, icpt = np.polyfit(x[ok], y[ok], 1)
    resid = y[ok] - (slope * x[ok] + icpt)
    tot = float(((y[ok] - y[ok].mean()) ** 2).sum())
    return (1.0 - float((resid ** 2).sum()) / tot if tot > 0 else math.nan), float(slope)


def _seeds(m):
    return list((m.get("per_seed") or {}).values())


def _memorised(d):
    return d.get("train_accuracy_random_labels") is not None and \
        d["train_accuracy_random_labels"] >= MEMORISED


def _v_ed_depth(m):
    return fraction_verdict([d["spearman_depth_ed"]["C-MNIST"] > 0.5
                             and d["spearman_depth_ed"]["C-MNIST_T8"] > 0.5 for d in _seeds(m)])


def _v_ed_harder(m):
    return fraction_verdict([d["ed_block4"]["C-MNIST_T8"] > d["ed_block4"]["C-MNIST"]
                             for d in _seeds(m)])


def _v_mem_low(m):
    return fraction_verdict([_memorised(d) and d["ed_blocks_3_4"]["random labels"]
                             < min(d["ed_blocks_3_4"]["C-MNIST"], d["ed_blocks_3_4"]["C-MNIST_T8"])
                             for d in _seeds(m)])


def _v_cpn_rise(m):
    return fraction_verdict([d["cpn_rise"]["C-MNIST_T8"] > 0
                             and d["cpn_rise"]["C-MNIST_T8"] > d["cpn_rise"]["C-MNIST"]
                             for d in _seeds(m)])


def _v_torn(m):
    flags = [d["ed_block4"][t] > d["ed_block4"]["C-MNIST"]
             and d["cpn_block4"][t] > d["cpn_block4"]["C-MNIST"]
             for d in _seeds(m) for t in TEARS]
    return fraction_verdict(flags)


def _v_order(m):
    flags = []
    for d in _seeds(m):
        ranks = list(range(len(IMAGE_TASKS)))
        flags.append(J.spearman(ranks, [d["ed_block4"][t] for t in IMAGE_TASKS]) >= 0.7
                     and J.spearman(ranks, [d["cpn_block4"][t] for t in IMAGE_TASKS]) >= 0.7)
    return fraction_verdict(flags)


def _v_band(m):
    flags = []
    for d in _seeds(m):
        r2, slope = _r2([d["cpn_block4"][t] for t in d["cpn_block4"]],
                        [d["ed_block4"][t] for t in d["cpn_block4"]])
        flags.append(bool(np.isfinite(r2) and r2 >= BAND_R2 and slope > 0))
    return fraction_verdict(flags)


def _v_s1(m):
    flags = []
    for d in _seeds(m):
        top, _ = _r2([d["cpn_block4"][t] for t in d["cpn_block4"]],
                     [d["ed_block4"][t] for t in d["cpn_block4"]])
        res, _ = _r2([d["residual_cpn_block4"][t] for t in d["residual_cpn_block4"]],
                     [d["residual_ed_block4"][t] for t in d["residual_cpn_block4"]])
        flags.append(bool(np.isfinite(top) and np.isfinite(res) and res < top))
    return fraction_verdict(flags)


def _v_lin_blocks(m):
    flags = []
    for d in _seeds(m):
        lin = d["linearity"]
        flags.append(_memorised(d)
                     and all(lin[t]["block 2"] > lin[t]["block 4"]
                             for t in ("C-MNIST", "C-MNIST_T8"))
                     and lin["random labels"]["block 2"]
                     < min(lin["C-MNIST"]["block 2"], lin["C-MNIST_T8"]["block 2"]))
    return fraction_verdict(flags)


def _v_lin_top(m):
    flags = []
    for d in _seeds(m):
        v = [d["linearity"][t]["block 4"] for t in d["linearity"]]
        flags.append(max(v) - min(v) < 0.05)
    return fraction_verdict(flags)


def _v_ntc(m):
    return fraction_verdict([d["ntc_block4"]["C-MNIST_T8"] < d["ntc_block4"]["C-MNIST"]
                             for d in _seeds(m)])


def _v_memorised(m):
    return fraction_verdict([_memorised(d) for d in _seeds(m)])


_PER_SEED = "per seed; true when every seed, partly when at least half, else false"
RULES = (
    Rule("fig2_ed_rises_with_depth",
         "effective dimension of the topmost ReLUs rises with depth (image tasks)",
         f"Spearman(depth, ED) > 0.5 for C-MNIST and C-MNIST_T8, {_PER_SEED} (fig. 2)",
         _v_ed_depth),
    Rule("fig2_top_ed_higher_for_harder_task",
         "the top block's effective dimension is higher for the harder task",
         f"ED(block 4): C-MNIST_T8 > C-MNIST, {_PER_SEED} (figs. 2, 4)", _v_ed_harder),
    Rule("memorisation_reached",
         "the random-label net memorises its training set (precondition of the memorisation "
         "claims)",
         f"training accuracy of the random-label net >= {MEMORISED}, {_PER_SEED}",
         _v_memorised),
    Rule("fig2_memorisation_low_ed_in_low_resolution_stages",
         "memorisation keeps the effective dimension low in the low-resolution stages",
         f"mean ED of blocks 3-4: random labels below both C-MNIST and C-MNIST_T8, and the "
         f"random-label net memorised (training accuracy >= {MEMORISED}; a seed that did not "
         f"fails), {_PER_SEED} (fig. 2)", _v_mem_low),
    Rule("fig3_cpn_rises_with_stage_for_harder_task",
         "complexity per neuron is flatter on C-MNIST and rises with the stage for the harder task",
         f"CPN(block 4) - CPN(block 2) > 0 for C-MNIST_T8 and larger than C-MNIST's, {_PER_SEED} "
         "(fig. 3)", _v_cpn_rise),
    Rule("fig4_left_torn_tasks_up_and_right",
         "in the effective dimension-complexity plane the torn tasks lie further up and right",
         "block-4 averages: ED and CPN both larger than C-MNIST's for each tear (tiles 16, 8, "
         "4); true when every (tear, seed) pair, partly when at least half (fig. 4 left)",
         _v_torn),
    Rule("fig4_left_difficulty_order",
         "the top block's effective dimension and complexity correlate with the difficulty of "
         "the task",
         "image tasks in the assumed order of difficulty C-digits < C-MNIST < T16 < T8 < T4: "
         f"Spearman(order, block-4 ED) >= 0.7 and Spearman(order, block-4 CPN) >= 0.7, "
         f"{_PER_SEED} (fig. 4 left)", _v_order),
    Rule("fig4_left_linear_band",
         "the tasks lie on a linear band in the effective dimension-complexity plane",
         f"block-4 (CPN, ED) of all six tasks: R^2 of the least-squares line >= {BAND_R2} with a "
         f"positive slope, {_PER_SEED} (fig. 4 left)", _v_band),
    Rule("s1_band_not_automatic",
         "the band is not automatic: the residual-branch ReLUs do not lie on it as well",
         f"R^2 of the line through the six tasks' block-4 residual-branch (CPN, ED) below the "
         f"topmost ReLUs' R^2, {_PER_SEED} (fig. S1)", _v_s1),
    Rule("fig4_right_linearity_by_block",
         "image tasks run the lower blocks more linearly; memorisation reverts to lower values",
         f"linearity block 2 > block 4 for C-MNIST and C-MNIST_T8, random labels' block 2 below "
         f"theirs, and the random-label net memorised, {_PER_SEED} (fig. 4 right)",
         _v_lin_blocks),
    Rule("fig4_right_top_linearity_equal",
         "at the top block the mean linearity is about the same for every task",
         f"max - min over the six tasks of block-4 linearity below 0.05, {_PER_SEED} "
         "(fig. 4 right)", _v_lin_top),
    Rule("fig5_left_ntc_lower_for_harder_task",
         "top-level neurons are less correlated for the harder task",
         f"normalised total correlation (block 4): C-MNIST_T8 < C-MNIST, {_PER_SEED} "
         "(fig. 5 left)", _v_ntc),
)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = dict(QUICK if quick else FULL)
    split, data_name = J.load_digits_data()
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    tasks = J.GRADED_TASKS
    results = {t: {} for t in tasks}
    for s in seeds:
        for task in tasks:
            results[task][s] = train_task(task, split, s, cfg, progress)
    summ = {t: {s: summarise(results[t][s]["rows"]) for s in seeds} for t in tasks}

    per_seed = {}
    for s in seeds:
        g = {t: summ[t][s] for t in tasks}
        per_seed[str(s)] = {
            "spearman_depth_ed": {t: J.spearman(range(len(g[t]["ed"])), g[t]["ed"])
                                  for t in tasks},
            "ed_block4": {t: g[t]["ed_block 4"] for t in tasks},
            "cpn_block4": {t: g[t]["cpn_block 4"] for t in tasks},
            "residual_ed_block4": {t: g[t]["residual_ed_block 4"] for t in tasks},
            "residual_cpn_block4": {t: g[t]["residual_cpn_block 4"] for t in tasks},
            "ed_blocks_3_4": {t: (g[t]["ed_block 3"] + g[t]["ed_block 4"]) / 2 for t in tasks},
            "cpn_rise": {t: g[t]["cpn_block 4"] - g[t]["cpn_block 2"] for t in tasks},
            "linearity": {t: {b: g[t][f"linearity_{b}"] for b in BLOCKS} for t in tasks},
            "ntc_block4": {t: g[t]["ntc_block 4"] for t in tasks},
            "train_accuracy_random_labels": results["random labels"][s]["train_accuracy"],
            "ed_by_depth": {t: g[t]["ed"] for t in tasks},
            "cpn_by_depth": {t: g[t]["cpn"] for t in tasks},
            "ntc_by_depth": {t: g[t]["ntc"] for t in tasks}}
    band = {}
    for s, d in per_seed.items():
        r2, slope = _r2(list(d["cpn_block4"].values()), list(d["ed_block4"].values()))
        rr2, _ = _r2(list(d["residual_cpn_block4"].values()),
                     list(d["residual_ed_block4"].values()))
        band[s] = {"r2_top": r2, "slope_top": slope, "r2_residual": rr2}
    measured = {"per_seed": per_seed,
                "band": {k: spread([band[s][k] for s in band]) for k in
                         ("r2_top", "slope_top", "r2_residual")},
                "ed_block4": {t: spread([summ[t][s]["ed_block 4"] for s in seeds]) for t in tasks},
                "cpn_block4": {t: spread([summ[t][s]["cpn_block 4"] for s in seeds])
                               for t in tasks},
                "train_accuracy_random_labels": spread(
                    [results["random labels"][s]["train_accuracy"] for s in seeds])}
    claims = [r(measured) for r in RULES]

    figures = _figures(out, summ, seeds, cfg)
    settings = {**cfg, "seeds": seeds, "data": data_name, "model": "cifar_resnet(20)",
                "tasks": list(tasks),
                "protocol": "SGD lr 0.1, momentum 0.9, weight decay 1e-4 (0 for random labels), "
                            "batch 128, lr / 10 at 80% and 90% of the epochs; epochs_random "
                            "epochs for random labels, epochs for the others",
                "colorize": "Colorize(size=32, seed=training seed)",
                "tear": "Tear(tile=k, seed=training seed), k = 16, 8, 4",
                "evaluation": "test images (random labels: training images with their labels)",
                "layers": "topmost ReLUs of every stage and the stem; residual-branch ReLUs of "
                          "block 4 (fig. S1)",
                "estimator": f"xgb chain rule, 2 folds, {cfg['trees']} trees, depth 3, "
                             "rate 0.1",
                "accuracy": {t: {str(s): results[t][s]["accuracy"] for s in seeds}
                             for t in tasks},
                "train_accuracy": {t: {str(s): results[t][s]["train_accuracy"] for s in seeds}
                                   for t in tasks},
                "times_s": {t: {str(s): {"train": results[t][s]["train_s"],
                                         "analysis": results[t][s]["analysis_s"]}
                                for s in seeds} for t in tasks}}
    findings = make_findings(NAME, PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             table={t: {str(s): results[t][s]["rows"] for s in seeds}
                                    for t in tasks},
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figures(out, summ, seeds, cfg):
    plt = J.plt()
    fig, ax = plt.subplots(2, 3, figsize=(15, 8))
    ax = ax.ravel()
    colours = dict(zip(J.GRADED_TASKS, ("tab:purple", "tab:blue", "tab:cyan", "tab:orange",
                                        "tab:red", "tab:green")))
    for t in J.GRADED_TASKS:
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
        ax[5].text(0.5, 0.5, f"not computed (layers={cfg.get('layers')!r})",
                   ha="center", va="center", transform=ax[5].transAxes, color="0.4")
    fig.suptitle(f"ResNet-20, {cfg['epochs']} epochs ({J.task_epochs('random labels', cfg)} for "
                 f"random labels) on {cfg['n_train']} images, seeds {seeds}")
    fig.tight_layout()  # titles of the lower row clear the x labels of the upper row
    return J.save_figure(fig, out, "difficulty")
