"""Paper 000, figures 5 (right), S2 and 7: metrics along training.

Part 1 (figs. 5 right, S2): ResNet-20 on C-MNIST and on C-MNIST with random labels, the top
block's (topmost ReLUs of stage 3) effective dimension and complexity per neuron at several
points of training (shortened protocol of `janik2020-difficulty`).

Part 2 (fig. 7): an 11-layer, 28-wide highway network on MNIST (Adadelta lr 0.8, batch 64):
effective dimension of each highway layer's output, complexity per neuron of its nonlinear part
(the ReLU of H), test loss and accuracy, every `eval_every` steps. The paper's dip sits at the
abrupt jump of the test accuracy (around epoch 5 of 60,000 images, ~4,700 steps); the step
budget here is counted in steps, since the offline set is 12x smaller.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import claim, make_findings, spread, verdict, write_findings

TITLE = ("Training trajectories: ResNet-20 top block in the effective dimension-complexity "
         "plane (figs. 5, S2) and the highway network's dip (fig. 7)")
PAPER = J.PAPER

FULL = {"resnet": {"n_seeds": 2, "n_train": 1000, "n_eval": 300, "epochs": 10,
                   "analyse_at_epochs": [0, 1, 2, 4, 7, 10], "patch_rows": 10000, "trees": 100},
        "highway": {"n_seeds": 2, "width": 28, "depth": 11, "steps": 7000, "eval_every": 350,
                    "n_eval": 1000, "trees": 100}}
# Quick: a smoke run (a few steps, 20 trees instead of 100); its numbers mean nothing.
QUICK = {"resnet": {"n_seeds": 1, "n_train": 128, "n_eval": 64, "epochs": 2,
                    "analyse_at_epochs": [0, 1, 2], "patch_rows": 1000, "trees": 20},
         "highway": {"n_seeds": 1, "width": 28, "depth": 11, "steps": 400, "eval_every": 100,
                     "n_eval": 200, "trees": 20}}
RESNET_TASKS = ("C-MNIST", "random labels")


# ---------------------------------------------------------------------------- ResNet part

def resnet_trajectory(task, split, seed, cfg, progress):
    model, opt, sched, train_ds, eval_ds = J.resnet_for_task(task, split, seed, cfg)
    wanted = set(cfg["analyse_at_epochs"])
    points = []
    top4 = lambda name, kind: name.startswith("layer3.") and name.endswith(":1")  # noqa: E731

    def record(step, epoch):
        if not any(abs(epoch - e) < 1e-9 for e in wanted):
            return
        rows = J.janik_table(model, eval_ds, layers=top4, patch_rows=cfg["patch_rows"],
                             seed=seed, trees=cfg["trees"])
        loss, acc = J.evaluate(model, eval_ds)
        points.append({"epoch": epoch, "step": step, "loss": loss, "accuracy": acc,
                       "ed": float(np.mean([r["effective_dimension"] for r in rows])),
                       "cpn": float(np.mean([r["complexity_per_neuron"] for r in rows]))})

    J.train(model, train_ds, epochs=cfg["epochs"], optimizer=opt, scheduler=sched,
            batch_size=128, seed=seed, callback=record, progress=progress,
            desc=f"{task} seed {seed}")
    return points


# --------------------------------------------------------------------------- highway part

def highway_trajectory(split, seed, cfg, progress):
    import torch

    import pycx
    from pycx.models import Highway

    train_ds, test_ds = J.flat_split(split, None, seed=seed)
    test_ds = J.subset(test_ds, cfg["n_eval"], seed + 1)
    J.seeded(seed)
    model = Highway(width=cfg["width"], depth=cfg["depth"],
                    in_features=split.side * split.side, n_classes=split.n_classes)
    opt = torch.optim.Adadelta(model.parameters(), lr=0.8)
    outputs = {}
    hooks = [layer.register_forward_hook(
        lambda m, i, o, k=k: outputs.__setitem__(k, o.detach())) for k, layer in
        enumerate(model.layers)]
    relus = [f"layers.{k}.relu" for k in range(cfg["depth"])]
    points = []

    def record(step, epoch):
        if step % cfg["eval_every"] and step != cfg["steps"]:
            return
        loss, acc = J.evaluate(model, test_ds, batch_size=len(test_ds))  # fills `outputs`
        eds = [float(pycx.effective_dimension(outputs[k].numpy().astype(np.float64)))
               for k in range(cfg["depth"])]
        rows = J.janik_table(model, test_ds, layers=relus, patch_rows=None, seed=seed,
                             trees=cfg["trees"])
        points.append({"step": step, "loss": loss, "accuracy": acc, "ed": eds,
                       "cpn": [r["complexity_per_neuron"] for r in rows]})

    n = len(train_ds)
    steps_per_epoch = math.ceil(n / 64)
    epochs = math.ceil(cfg["steps"] / steps_per_epoch)
    # Whole epochs, rounded up past the step budget; nothing is recorded after cfg["steps"].
    J.train(model, train_ds, epochs=epochs,
            optimizer=opt, batch_size=64, seed=seed, every_steps=cfg["eval_every"],
            callback=lambda step, ep: record(step, ep) if step <= cfg["steps"] else None,
            progress=progress, desc=f"highway seed {seed}")
    for h in hooks:
        h.remove()
    return points


def dip_stats(points):
    """Where the mean (over layers) effective dimension and complexity per neuron reach their
    minimum, and where the test accuracy jumps most between two evaluations."""
    steps = np.array([p["step"] for p in points])
    ed = np.array([np.mean(p["ed"]) for p in points])
    cpn = np.array([np.nanmean(p["cpn"]) for p in points])
    acc = np.array([p["accuracy"] for p in points])
    jumps = np.diff(acc)
    j = int(np.argmax(jumps)) if jumps.size else 0
    out = {"steps": steps.tolist(), "ed_mean": ed.tolist(), "cpn_mean": cpn.tolist(),
           "accuracy": acc.tolist(), "loss": [p["loss"] for p in points],
           "jump_step": int(steps[j + 1]) if jumps.size else 0,
           "jump_size": float(jumps[j]) if jumps.size else 0.0,
           "jump_delayed": bool(jumps.size and j >= 1)}
    for key, v in (("ed", ed), ("cpn", cpn)):
        k = int(np.argmin(v))
        interior = 0 < k < len(v) - 1
        depth = float(min(v[0], v[-1]) - v[k]) / max(float(min(v[0], v[-1])), 1e-12)
        out[f"{key}_min_step"] = int(steps[k])
        out[f"{key}_interior_min"] = bool(interior)
        out[f"{key}_dip_depth"] = depth  # relative drop below the lower of both ends
    return out


# ------------------------------------------------------------------------------------ run

def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    split, data_name = J.load_digits_data()
    rcfg, hcfg = cfg["resnet"], cfg["highway"]
    rseeds = [seed + i for i in range(rcfg["n_seeds"])]
    hseeds = [seed + i for i in range(hcfg["n_seeds"])]
    traj = {t: {s: resnet_trajectory(t, split, s, rcfg, progress) for s in rseeds}
            for t in RESNET_TASKS}
    t_resnet = time.perf_counter() - start
    hw = {s: highway_trajectory(split, s, hcfg, progress) for s in hseeds}
    t_highway = time.perf_counter() - start - t_resnet
    dips = {s: dip_stats(hw[s]) for s in hseeds}

    claims = []
    cm, rl = RESNET_TASKS

    def rel(p0, p1, key):
        return (p1[key] - p0[key]) / max(abs(p0[key]), 1e-12)

    ed_up = [rel(traj[cm][s][0], traj[cm][s][-1], "ed") for s in rseeds]
    cpn_up = [rel(traj[cm][s][0], traj[cm][s][-1], "cpn") for s in rseeds]
    claims.append(claim(
        "during training the top block's effective dimension and complexity both increase, "
        "the dimension much more",
        {"relative_change_ed": spread(ed_up), "relative_change_cpn": spread(cpn_up),
         "trajectories": {str(s): traj[cm][s] for s in rseeds}},
        verdict([e > 0 and c > 0 and e > c for e, c in zip(ed_up, cpn_up)]),
        expected="C-MNIST: ED and CPN at the end above their start, ED's relative rise the "
                 "larger (fig. 5 right)"))
    # Early = the first analysis after the start; the memorisation task's dimension should lag.
    early_ed_rl = [rel(traj[rl][s][0], traj[rl][s][1], "ed") for s in rseeds]
    early_ed_cm = [rel(traj[cm][s][0], traj[cm][s][1], "ed") for s in rseeds]
    early_cpn_rl = [rel(traj[rl][s][0], traj[rl][s][1], "cpn") for s in rseeds]
    late_ed_rl = [rel(traj[rl][s][1], traj[rl][s][-1], "ed") for s in rseeds]
    claims.append(claim(
        "memorisation: early in training the dimension stays low while the complexity grows, "
        "then the dimension rises sharply",
        {"early_relative_change_ed_random": spread(early_ed_rl),
         "early_relative_change_ed_cmnist": spread(early_ed_cm),
         "early_relative_change_cpn_random": spread(early_cpn_rl),
         "late_relative_change_ed_random": spread(late_ed_rl),
         "trajectories": {str(s): traj[rl][s] for s in rseeds}},
        verdict([a < b and c > 0 and d > 0 for a, b, c, d in
                 zip(early_ed_rl, early_ed_cm, early_cpn_rl, late_ed_rl)]),
        expected="random labels: early ED change below C-MNIST's, early CPN change > 0, ED "
                 "rising afterwards (fig. S2)"))
    def dip_verdict(d):
        # The paper's jump comes after a plateau (~epoch 5): one in the first interval is just
        # the start of learning, so a dip there counts only "partly".
        coincide = (d["ed_interior_min"] and d["ed_dip_depth"] > 0.1
                    and abs(d["ed_min_step"] - d["jump_step"]) <= 2 * hcfg["eval_every"])
        return (True if d["jump_delayed"] else "partly") if coincide else False

    per_seed_dip = [dip_verdict(d) for d in dips.values()]
    claims.append(claim(
        "highway network: the effective dimension dips during training at the abrupt jump of "
        "the test accuracy",
        {str(s): {k: dips[s][k] for k in ("ed_min_step", "ed_interior_min", "ed_dip_depth",
                                          "jump_step", "jump_size", "jump_delayed")}
         for s in hseeds},
        True if all(v is True for v in per_seed_dip) else
        ("partly" if any(v for v in per_seed_dip) else False),
        expected="an interior minimum of the mean layer ED at least 10% below both ends, within "
                 "two evaluations of the largest accuracy jump, that jump after the first "
                 "evaluation interval (fig. 7 left; 'partly' if the jump is the initial one)"))
    claims.append(claim(
        "highway network: the complexity per neuron of the nonlinear part dips at the same time",
        {str(s): {k: dips[s][k] for k in ("cpn_min_step", "cpn_interior_min", "cpn_dip_depth",
                                          "ed_min_step", "jump_step")} for s in hseeds},
        verdict([d["cpn_interior_min"] and d["cpn_dip_depth"] > 0.1
                 and abs(d["cpn_min_step"] - d["ed_min_step"]) <= 2 * hcfg["eval_every"]
                 for d in dips.values()]),
        expected="an interior minimum of the mean CPN at least 10% below both ends, within two "
                 "evaluations of the ED minimum (fig. 7 middle)"))

    figures = _figures(out, traj, hw, rseeds, hseeds)
    settings = {"resnet": {**rcfg, "seeds": rseeds, "model": "cifar_resnet(20)",
                           "tasks": list(RESNET_TASKS), "layers": "topmost ReLUs of stage 3",
                           "protocol": "as janik2020-difficulty"},
                "highway": {**hcfg, "seeds": hseeds, "optimizer": "Adadelta lr 0.8",
                            "batch_size": 64, "gate_bias": -2.0,
                            "ed_of": "each highway layer's output",
                            "cpn_of": "each highway layer's ReLU (H)"},
                "data": data_name,
                "estimator": "xgb chain rule, 2 folds, depth 3, rate 0.1 (trees: see above)",
                "times_s": {"resnet": round(t_resnet, 1), "highway": round(t_highway, 1)}}
    findings = make_findings("janik2020-dynamics", PAPER, TITLE, quick=quick,
                             seeds=sorted(set(rseeds) | set(hseeds)), settings=settings,
                             claims=claims, figures=figures,
                             highway={str(s): hw[s] for s in hseeds},
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figures(out, traj, hw, rseeds, hseeds):
    plt = J.plt()
    names = []
    fig, ax = plt.subplots(1, 2, figsize=(11, 4.5))
    for a, task in zip(ax, RESNET_TASKS):
        for s in rseeds:
            p = traj[task][s]
            x, y = [q["cpn"] for q in p], [q["ed"] for q in p]
            a.plot(x, y, "o-", label=f"seed {s}")
            for q in p:
                a.annotate(f"{q['epoch']:g}", (q["cpn"], q["ed"]), fontsize=7)
        a.set(xlabel="complexity per neuron (top block)", ylabel="effective dimension (top block)",
              title=f"{task} ({'fig. S2' if task == 'random labels' else 'fig. 5 right'})")
        a.legend(fontsize=8)
    names += J.save_figure(fig, out, "resnet_trajectories")

    fig, ax = plt.subplots(len(hseeds), 3, figsize=(15, 4 * len(hseeds)), squeeze=False)
    for row, s in zip(ax, hseeds):
        p = hw[s]
        steps = [q["step"] for q in p]
        ed = np.array([q["ed"] for q in p])
        cpn = np.array([q["cpn"] for q in p])
        for k in range(ed.shape[1]):
            row[0].plot(steps, ed[:, k], label=f"layer {k + 1}")
            row[1].plot(steps, cpn[:, k], label=f"layer {k + 1}")
        row[0].set(xlabel="step", ylabel="effective dimension", title=f"fig. 7 left, seed {s}")
        row[1].set(xlabel="step", ylabel="complexity per neuron (H's ReLU)",
                   title="fig. 7 middle")
        row[2].plot(steps, [q["accuracy"] for q in p], "o-", label="test accuracy")
        r2 = row[2].twinx()
        r2.plot(steps, [q["loss"] for q in p], "s--", color="tab:red", label="test loss")
        row[2].set(xlabel="step", ylabel="accuracy", title="fig. 7 right")
        r2.set_ylabel("loss")
        row[0].legend(fontsize=6, ncol=2)
    names += J.save_figure(fig, out, "highway_dip")
    return names
