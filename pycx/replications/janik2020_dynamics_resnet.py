"""Paper 000, figures 5 (right), S2, S3, S4, S5 and S7's ResNet remark: a CIFAR ResNet's
observables along training.

A ResNet-20 (the paper's ResNet-56 does not fit the budget) is trained with the paper's
protocol, shortened (`janik2020-difficulty`), on two tasks: C-MNIST_T8 (the hardest image task
available offline, standing in for the paper's CIFAR-10 and C-FashionMNIST) and C-MNIST with
random labels (memorisation, weight decay 0; the paper's CIFAR-10 with random labels). At
`analyse_at_epochs` it records, on held-out images (training images for random labels):
the top block's (stage 3) topmost and residual-branch ReLUs' effective dimension, complexity
per neuron and normalised total correlation (XGBoost chain rule, paper 000's settings), and the
linearity of every topmost and residual-branch ReLU (a plug-in pass: linearity and the
effective dimension do not depend on the entropy estimator). The training accuracy is recorded
too (memorisation).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("ResNet-20 along training: top block in the effective dimension-complexity plane "
         "(figs. 5 right, S2, S3), linearity (S4), total correlation (S5), no dip (S7 remark)")
PAPER = J.PAPER
NAME = "janik2020-dynamics-resnet"
TASKS = ("C-MNIST_T8", "random labels")

# Three seeds (the paper shows a single realisation): every rule is scored per seed, so one
# seed could only ever give true or false. The image task: 512 training images, 20 epochs (4
# SGD steps each); random labels: 128 images, 60 epochs (one step each), to memorise. Each is
# analysed at the listed epochs it reaches.
FULL = {"n_seeds": 3, "n_train": 512, "n_eval": 256, "epochs": 20, "n_train_random": 128,
        "epochs_random": 60, "analyse_at_epochs": [0, 1, 3, 8, 15, 20, 30, 60],
        "patch_rows": 1000, "trees": 100}
# Quick: a smoke run (a few SGD steps, 20 trees); its numbers mean nothing.
QUICK = {"n_seeds": 1, "n_train": 128, "n_eval": 64, "epochs": 2,
         "analyse_at_epochs": [0, 1, 2], "patch_rows": 500, "trees": 20}
NO_DIP = 0.1  # a dip: an interior minimum at least 10% below both ends


def _rel(a, b):
    a, b = float(a), float(b)
    return (b - a) / abs(a) if a else math.nan


def _traj(m, task=None):
    t = m.get("trajectories") or {}
    return list((t[task] if task else t).values())


def _v_fig5(m):
    flags = []
    for p in _traj(m):
        e, c = _rel(p["ed"][0], p["ed"][-1]), _rel(p["cpn"][0], p["cpn"][-1])
        flags.append(e > 0 and c > 0 and e > c)
    return fraction_verdict(flags)


def _v_s2(m):
    flags = []
    for rl, im in zip(_traj(m, "random labels"), _traj(m, "image")):
        early_rl = _rel(rl["ed"][0], rl["ed"][1])
        early_im = _rel(im["ed"][0], im["ed"][1])
        early_cpn = _rel(rl["cpn"][0], rl["cpn"][1])
        late = _rel(rl["ed"][1], rl["ed"][-1])
        flags.append(early_rl < early_im and early_cpn > 0 and late > 0)
    return fraction_verdict(flags)


def _v_s3(m):
    return fraction_verdict([p["res_ed"][-1] > p["res_ed"][0] for p in _traj(m)])


def _v_s4(m):
    flags = []
    for p in _traj(m):
        d_res = p["lin_residual"][-1] - p["lin_residual"][0]
        d_top = p["lin_top"][-1] - p["lin_top"][0]
        flags.append(d_res <= -0.05 and abs(d_top) < abs(d_res))
    return fraction_verdict(flags)


def _v_s5(m):
    return fraction_verdict([p["ntc"][-1] <= 0.9 * p["ntc"][0] for p in _traj(m)])


def _dips(v):
    v = np.array([math.nan if x is None else float(x) for x in v])
    if v.size < 3 or not np.all(np.isfinite(v)):
        return False
    k = int(np.argmin(v))
    ends = min(v[0], v[-1])
    return bool(0 < k < len(v) - 1 and ends > 0 and (ends - v[k]) / ends >= NO_DIP)


def _v_no_dip(m):
    return fraction_verdict([not _dips(p["ed"]) for p in _traj(m)])


RULE_FIG5 = Rule(
    "fig5_top_block_ed_and_cpn_rise",
    "during training the top block's effective dimension and complexity both increase, the "
    "dimension much more",
    "C-MNIST_T8, per seed: the top block's mean ED and mean CPN at the last analysis above "
    "their values at the start, ED's relative rise the larger; true when every seed, partly "
    "when at least half (fig. 5 right)",
    _v_fig5)
RULE_S2 = Rule(
    "s2_memorisation_dimension_lags",
    "memorisation: early in training the dimension stays low while the complexity grows, then "
    "the dimension rises sharply",
    "per seed, from the start to the first analysis after it: random labels' relative ED "
    "change below C-MNIST_T8's and its CPN change > 0; from there to the end its ED rises; "
    "true when every seed, partly when at least half (fig. S2)",
    _v_s2)
RULE_S3 = Rule(
    "s3_residual_branch_ed_rises",
    "the residual-branch ReLUs of the top block: the effective dimension increases (complexity "
    "without a clear direction)",
    "C-MNIST_T8, per seed: the residual-branch ReLUs' mean ED at the end above the start; true "
    "when every seed, partly when at least half (fig. S3; the complexity's direction is "
    "reported, not scored, since the paper claims none)",
    _v_s3)
RULE_S4 = Rule(
    "s4_linearity_falls_in_residual_layers",
    "linearity falls strongly in the residual layers during training, mildly in the topmost",
    "C-MNIST_T8, per seed: mean linearity of all residual-branch ReLUs falls by at least 0.05 "
    "from the start to the end, and the topmost ReLUs' mean linearity changes by less (in "
    "absolute value); true when every seed, partly when at least half (fig. S4)",
    _v_s4)
RULE_S5 = Rule(
    "s5_total_correlation_decreases",
    "the normalised total correlation of the top neurons decreases markedly during training",
    "C-MNIST_T8, per seed: the top block's topmost ReLUs' mean normalised total correlation at "
    "the end at most 0.9 times its start value; true when every seed, partly when at least "
    "half (fig. S5)",
    _v_s5)
RULE_NO_DIP = Rule(
    "s7_no_dip_in_resnet",
    "the dip of the effective dimension is not seen in the ResNet",
    f"C-MNIST_T8, per seed: the top block's mean ED has no interior minimum {NO_DIP:.0%} or "
    "more below both ends; true when every seed, partly when at least half (section 7; a "
    "ResNet-20, not 56)",
    _v_no_dip)
RULES = (RULE_FIG5, RULE_S2, RULE_S3, RULE_S4, RULE_S5, RULE_NO_DIP)


def trajectory(task, split, seed, cfg, progress):
    model, opt, sched, train_ds, eval_ds = J.resnet_for_task(task, split, seed, cfg)
    wanted = set(cfg["analyse_at_epochs"])
    points = []
    top4 = lambda name, kind: name.startswith("layer3.")  # noqa: E731  (top + residual)
    lin_layers = lambda name, kind: name.startswith("layer")  # noqa: E731

    def record(step, epoch):
        if not any(abs(epoch - e) < 1e-9 for e in wanted):
            return
        rows = J.janik_table(model, eval_ds, layers=top4, patch_rows=cfg["patch_rows"],
                             seed=seed, trees=cfg["trees"])
        lin = J.janik_table(model, eval_ds, layers=lin_layers, patch_rows=cfg["patch_rows"],
                            seed=seed, method="plugin")
        top = [r for r in rows if r["layer"].endswith(":1")]
        res = [r for r in rows if not r["layer"].endswith(":1")]
        _, acc = J.evaluate(model, eval_ds)
        _, train_acc = J.evaluate(model, train_ds)
        points.append({
            "epoch": epoch, "step": step, "accuracy": acc, "train_accuracy": train_acc,
            "ed": float(np.mean([r["effective_dimension"] for r in top])),
            "cpn": float(np.mean([r["complexity_per_neuron"] for r in top])),
            "ntc": float(np.mean([r["ntc"] for r in top])),
            "ntc_last": float(top[-1]["ntc"]),
            "res_ed": float(np.mean([r["effective_dimension"] for r in res])),
            "res_cpn": float(np.mean([r["complexity_per_neuron"] for r in res])),
            "lin_top": float(np.mean([r["linearity"] for r in lin if r["layer"].endswith(":1")])),
            "lin_residual": float(np.mean([r["linearity"] for r in lin
                                           if not r["layer"].endswith(":1")]))})

    J.train(model, train_ds, epochs=J.task_epochs(task, cfg), optimizer=opt, scheduler=sched,
            batch_size=128, seed=seed, callback=record, progress=progress,
            desc=f"{task} seed {seed}")
    return {k: [p[k] for p in points] for k in points[0]}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = dict(QUICK if quick else FULL)
    split, data_name = J.load_digits_data()
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    traj = {t: {str(s): trajectory(t, split, s, cfg, progress) for s in seeds} for t in TASKS}
    im, rl = TASKS

    def changes(task, key):
        return spread([_rel(p[key][0], p[key][-1]) for p in traj[task].values()])

    img = {"trajectories": traj[im],
           "relative_change_ed": changes(im, "ed"), "relative_change_cpn": changes(im, "cpn"),
           "relative_change_residual_ed": changes(im, "res_ed"),
           "relative_change_residual_cpn": changes(im, "res_cpn"),
           "relative_change_ntc": changes(im, "ntc"),
           "change_linearity_residual": spread([p["lin_residual"][-1] - p["lin_residual"][0]
                                                for p in traj[im].values()]),
           "change_linearity_top": spread([p["lin_top"][-1] - p["lin_top"][0]
                                           for p in traj[im].values()])}
    s2 = {"trajectories": {"random labels": traj[rl], "image": traj[im]},
          "final_train_accuracy_random_labels": spread(
              [p["train_accuracy"][-1] for p in traj[rl].values()])}
    claims = [RULE_FIG5(img), RULE_S2(s2), RULE_S3(img), RULE_S4(img), RULE_S5(img),
              RULE_NO_DIP(img)]
    figures = _figures(out, traj, seeds)
    settings = {**cfg, "seeds": seeds, "data": data_name, "model": "cifar_resnet(20)",
                "tasks": list(TASKS), "protocol": "as janik2020-difficulty (SGD lr 0.1, "
                "momentum 0.9, weight decay 1e-4, 0 for random labels, batch 128, lr / 10 at "
                "80% and 90% of the epochs)",
                "layers": "stage 3 (block 4): topmost ReLUs (layerX.Y.relu:1) and residual-"
                          "branch ReLUs (layerX.Y.relu); linearity of every stage",
                "estimator": f"xgb chain rule, 2 folds, {cfg['trees']} trees, depth 3, rate 0.1"}
    findings = make_findings(NAME, PAPER, TITLE, quick=quick, seeds=seeds, settings=settings,
                             claims=claims, figures=figures,
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figures(out, traj, seeds):
    plt = J.plt()
    fig, ax = plt.subplots(2, 3, figsize=(15, 8.5))
    ax = ax.ravel()
    for t, marker in zip(TASKS, ("o", "s")):
        for s, p in traj[t].items():
            lab = f"{t}, seed {s}"
            ax[0 if t == TASKS[0] else 1].plot(p["cpn"], p["ed"], marker + "-", label=lab)
            for x, y, e in zip(p["cpn"], p["ed"], p["epoch"]):
                ax[0 if t == TASKS[0] else 1].annotate(f"{e:g}", (x, y), fontsize=7)
            if t == TASKS[0]:
                ax[2].plot(p["res_cpn"], p["res_ed"], marker + "-", label=lab)
                ax[3].plot(p["epoch"], p["lin_top"], marker + "-", label=f"topmost, seed {s}")
                ax[3].plot(p["epoch"], p["lin_residual"], marker + "--",
                           label=f"residual, seed {s}")
                ax[4].plot(p["epoch"], p["ntc"], marker + "-", label=lab)
                ax[5].plot(p["epoch"], p["ed"], marker + "-", label=lab)
    titles = ("fig. 5 right: top block (C-MNIST_T8)", "fig. S2: random labels",
              "fig. S3: residual-branch ReLUs (top block)", "fig. S4: linearity",
              "fig. S5: normalised total correlation", "no dip in the ResNet (section 7)")
    labels = (("complexity per neuron", "effective dimension"),) * 3 + (
        ("epoch", "mean linearity"), ("epoch", "normalised total correlation"),
        ("epoch", "effective dimension (top block)"))
    for a, title, (xl, yl) in zip(ax, titles, labels):
        a.set(title=title, xlabel=xl, ylabel=yl)
        if a.get_legend_handles_labels()[0]:
            a.legend(fontsize=7)
    fig.tight_layout()
    return J.save_figure(fig, out, "resnet_dynamics")
