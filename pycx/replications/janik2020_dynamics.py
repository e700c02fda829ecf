"""Paper 000, figures 7, S6 and S7: the dip of the effective dimension at the abrupt jump of
the test accuracy (highway networks, a small CNN).

Highway (fig. 7): an 11-layer, 28-wide highway network on MNIST (Adadelta lr 0.8, batch 64).
Every `eval_every` steps: test loss and accuracy, the effective dimension of each highway
layer's output, and (11x28 only) the complexity per neuron of each layer's nonlinear part
(the ReLU of H). The transform gates' biases start at 0 (`gate_bias`): the paper gives no
value, 0 is what its code would have had with a plain linear gate, and with it the net sits at
chance before it jumps, as in the paper's figure (a negative bias, -2 as in the highway paper's
advice for very deep nets, removes that plateau: the accuracy rises at the first evaluation).
The paper's jump is around epoch 5 of 60,000 images (~4,700 steps); the offline set is 16x
smaller, so the budget is counted in steps.

Fig. S6: the same for 11x36 and 10x36 (effective dimension only).

Fig. S7: the small CNN [4-8-8]-[64-32-10] (3x3 kernels, stride 1, max pooling after each
convolution) trained with Adadelta at a low learning rate, 0.03: the paper's 0.0003 left the
net at chance with unchanged effective dimensions for the first 600 steps here, and its 15
epochs of 60,000 images (14,000 steps) do not fit the budget; the pixel-wise effective
dimension (over the channels at one output pixel, rows = test images) of each convolution's
pooled ReLU output at two pixels (one for the last, 1x1, map).

What the rules call a plateau: at least `PLATEAU_EVALS` evaluations after step 0 with test
accuracy below `CHANCE_HI`; the jump's onset is the first evaluation after that at or above
`CHANCE_HI`. A dip is an interior minimum at least a stated fraction below both ends.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("Highway networks' and a small CNN's effective dimension dips at the abrupt jump of "
         "the test accuracy after a plateau (figs. 7, S6, S7)")
PAPER = J.PAPER
NAME = "janik2020-dynamics"

CHANCE_HI = 0.2      # test accuracy below this = still at chance (10 classes)
PLATEAU_EVALS = 3    # evaluations after step 0 at chance that make a plateau
JUMP_EVALS = 4       # from the last plateau evaluation to >= 0.6 accuracy within this many
ED_DIP = 0.2         # the ED minimum at least 20% below both ends
CPN_DIP = 0.1
NEAR_EVALS = 2       # "at the jump": within two evaluations

FULL = {"highway": {"n_seeds": 3, "steps": 3000, "eval_every": 150, "n_eval": 1000,
                    "cpn_rows": 500, "trees": 100, "gate_bias": 0.0,
                    "main": [11, 28], "s6": [[11, 36], [10, 36]]},
        "cnn": {"n_seeds": 2, "steps": 6000, "eval_every": 300, "n_eval": 1000, "lr": 0.03}}
# Quick: a smoke run (a few hundred steps, 20 trees instead of 100); its numbers mean nothing.
QUICK = {"highway": {"n_seeds": 1, "steps": 300, "eval_every": 100, "n_eval": 200,
                     "cpn_rows": 200, "trees": 20, "gate_bias": 0.0,
                     "main": [11, 28], "s6": [[10, 36]]},
         "cnn": {"n_seeds": 1, "steps": 300, "eval_every": 100, "n_eval": 200, "lr": 0.03}}

CNN_PIXELS = {"conv2d_0": [[6, 6], [3, 9]], "conv2d_1": [[2, 2], [1, 3]], "conv2d_2": [[0, 0]]}


# ------------------------------------------------------------------ curve rules (pure numpy)

def _arr(v):
    return np.array([math.nan if x is None else float(x) for x in v], dtype=float)


def plateau_onset(acc):
    """(plateau length in evaluations after step 0, index of the jump's onset or None)."""
    acc = _arr(acc)
    k = 1
    while k < len(acc) and acc[k] < CHANCE_HI:
        k += 1
    plateau = k - 1
    return plateau, (k if k < len(acc) else None)


def dip(values, depth):
    """(interior minimum at least `depth` below both ends, index of the minimum, depth)."""
    v = _arr(values)
    if v.size < 3 or not np.all(np.isfinite(v)):
        return False, None, math.nan
    k = int(np.argmin(v))
    ends = min(v[0], v[-1])
    rel = float((ends - v[k]) / ends) if ends > 0 else math.nan
    return bool(0 < k < len(v) - 1 and rel >= depth), k, rel


def abrupt_jump(acc):
    """A plateau at chance, then >= 0.6 accuracy within `JUMP_EVALS` evaluations of its end."""
    plateau, onset = plateau_onset(acc)
    if plateau < PLATEAU_EVALS or onset is None:
        return False
    a = _arr(acc)
    after = a[onset - 1: onset - 1 + JUMP_EVALS + 1]
    return bool(np.nanmax(after) >= 0.6)


def ed_dip_at_jump(acc, ed):
    """The mean ED dips (>= ED_DIP) within NEAR_EVALS evaluations of the jump after a plateau."""
    plateau, onset = plateau_onset(acc)
    ok, k, _ = dip(ed, ED_DIP)
    return bool(plateau >= PLATEAU_EVALS and onset is not None and ok
                and abs(k - onset) <= NEAR_EVALS)


def _per_seed(measured):
    return list((measured.get("per_seed") or {}).values())


def _v_jump(m):
    return fraction_verdict([abrupt_jump(d["accuracy"]) for d in _per_seed(m)])


def _v_ed_dip(m):
    return fraction_verdict([ed_dip_at_jump(d["accuracy"], d["ed_mean"]) for d in _per_seed(m)])


def _v_cpn_dip(m):
    flags = []
    for d in _per_seed(m):
        ok_c, kc, _ = dip(d["cpn_mean"], CPN_DIP)
        ok_e, ke, _ = dip(d["ed_mean"], ED_DIP)
        flags.append(ok_c and ke is not None and abs(kc - ke) <= NEAR_EVALS)
    return fraction_verdict(flags)


def _v_s6_every(m):
    return fraction_verdict([ed_dip_at_jump(d["accuracy"], d["ed_mean"])
                             for runs in (m.get("architectures") or {}).values()
                             for d in runs.values()])


def _ed_min_steps(m):
    out = {}
    for arch, runs in (m.get("architectures") or {}).items():
        steps = []
        for d in runs.values():
            _, k, _ = dip(d["ed_mean"], ED_DIP)
            if k is not None:
                steps.append(float(d["steps"][k]))
        out[arch] = steps
    return out


def _v_s6_shift(m):
    mins = {a: s for a, s in _ed_min_steps(m).items() if s}
    if len(mins) < 2:
        return False
    means = [float(np.mean(s)) for s in mins.values()]
    shift = max(means) - min(means)
    if shift < float(m["eval_every"]):
        return False
    var = [float(np.var(s, ddof=1)) for s in mins.values() if len(s) > 1]
    n = min(len(s) for s in mins.values())
    se = math.sqrt(float(np.mean(var)) / n) if var else math.inf
    return True if shift > 2 * math.sqrt(2) * se else "partly"


def _cnn_dips(d):
    """Per layer: does any of its pixel curves dip (>= CPN_DIP, the 10% rule), and where."""
    out = {}
    for layer, curves in d["pixel_ed"].items():
        hits = [dip(c, CPN_DIP) for c in curves.values()]
        good = [k for ok, k, _ in hits if ok]
        out[layer] = good
    return out


def _v_s7_dip(m):
    return fraction_verdict([all(v for v in _cnn_dips(d).values()) for d in _per_seed(m)])


def _v_s7_sync(m):
    flags = []
    for d in _per_seed(m):
        dips = _cnn_dips(d)
        if not all(dips.values()):
            flags.append(False)
            continue
        # Synchronised: some choice of one dipping pixel per layer within NEAR_EVALS evaluations
        # (the earliest minimum of each layer, as the paper's figure reads them).
        firsts = [min(v) for v in dips.values()]
        flags.append(max(firsts) - min(firsts) <= NEAR_EVALS)
    return fraction_verdict(flags)


RULE_JUMP = Rule(
    "fig7_abrupt_jump_after_plateau",
    "highway network (11x28): the test accuracy stays at chance, then jumps abruptly",
    f"per seed: at least {PLATEAU_EVALS} evaluations after step 0 with test accuracy below "
    f"{CHANCE_HI}, then accuracy >= 0.6 within {JUMP_EVALS} evaluations of the plateau's last "
    "one; true when every seed shows it, partly when at least half, else false (fig. 7 right)",
    _v_jump)
RULE_ED_DIP = Rule(
    "fig7_ed_dip_at_jump",
    "highway network (11x28): the effective dimension dips at the abrupt jump of the test "
    "accuracy",
    f"per seed: a plateau as in fig7_abrupt_jump_after_plateau (no plateau: the seed fails), "
    f"and the mean over layers of the ED has an interior minimum at least {ED_DIP:.0%} below "
    f"both ends within {NEAR_EVALS} evaluations of the jump's onset (first evaluation at or "
    f"above {CHANCE_HI}); true when every seed shows it, partly when at least half (fig. 7 left)",
    _v_ed_dip)
RULE_CPN_DIP = Rule(
    "fig7_cpn_dip_with_ed",
    "highway network (11x28): the complexity per neuron of the nonlinear part dips at the same "
    "time",
    f"per seed: the mean over layers of the CPN of H's ReLU has an interior minimum at least "
    f"{CPN_DIP:.0%} below both ends within {NEAR_EVALS} evaluations of the mean ED's minimum; "
    "true when every seed shows it, partly when at least half (fig. 7 middle)",
    _v_cpn_dip)
RULE_S6_EVERY = Rule(
    "s6_dip_in_every_architecture",
    "the collective quench of the effective dimension is seen for 11x28, 11x36 and 10x36",
    "the fig7_ed_dip_at_jump test on every (architecture, seed) run; true when all pass, partly "
    "when at least half (fig. S6)",
    _v_s6_every)
RULE_S6_SHIFT = Rule(
    "s6_minima_shift_with_architecture",
    "changing depth/width shifts the dip to earlier or later training times",
    "per architecture the mean over seeds of the step of the mean ED's minimum; its range over "
    "architectures at least one evaluation interval and more than 2 standard errors of a "
    "difference of two seed means (pooled within-architecture variance): true; at least one "
    "interval but within seed noise: partly; else false (fig. S6)",
    _v_s6_shift)
RULE_S7_DIP = Rule(
    "s7_cnn_pixel_ed_dips",
    "a small CNN at a very low learning rate shows the dip in the pixel-wise effective "
    "dimension of its convolutional layers",
    f"per seed: in each of the three conv layers at least one measured pixel's ED curve has an "
    f"interior minimum at least {CPN_DIP:.0%} below both ends; true when every seed shows it, "
    "partly when at least half (fig. S7)",
    _v_s7_dip)
RULE_S7_SYNC = Rule(
    "s7_cnn_minima_synchronised",
    "the conv layers' minima are synchronised",
    f"per seed: every layer dips (s7_cnn_pixel_ed_dips) and the earliest dipping minimum of the "
    f"three layers lie within {NEAR_EVALS} evaluations of each other; true when every seed, "
    "partly when at least half (fig. S7)",
    _v_s7_sync)
RULES = (RULE_JUMP, RULE_ED_DIP, RULE_CPN_DIP, RULE_S6_EVERY, RULE_S6_SHIFT, RULE_S7_DIP,
         RULE_S7_SYNC)


# --------------------------------------------------------------------------- highway runs

def highway_trajectory(split, seed, depth, width, cfg, progress, with_cpn):
    import torch

    import pycx
    from pycx.models import Highway

    train_ds, test_ds = J.flat_split(split, None, seed=seed)
    test_ds = J.subset(test_ds, cfg["n_eval"], seed + 1)
    cpn_ds = J.subset(test_ds, cfg["cpn_rows"], seed + 2)
    J.seeded(seed)
    model = Highway(width=width, depth=depth, in_features=split.side * split.side,
                    n_classes=split.n_classes, gate_bias=cfg["gate_bias"])
    opt = torch.optim.Adadelta(model.parameters(), lr=0.8)
    outputs = {}
    hooks = [layer.register_forward_hook(
        lambda m, i, o, k=k: outputs.__setitem__(k, o.detach())) for k, layer in
        enumerate(model.layers)]
    relus = [f"layers.{k}.relu" for k in range(depth)]
    points = []

    def record(step, epoch):
        if step > cfg["steps"] or (step % cfg["eval_every"] and step != cfg["steps"]):
            return
        if points and points[-1]["step"] == step:
            return
        loss, acc = J.evaluate(model, test_ds, batch_size=len(test_ds))  # fills `outputs`
        eds = [float(pycx.effective_dimension(outputs[k].numpy().astype(np.float64)))
               for k in range(depth)]
        p = {"step": step, "loss": loss, "accuracy": acc, "ed": eds}
        if with_cpn:
            rows = J.janik_table(model, cpn_ds, layers=relus, patch_rows=None, seed=seed,
                                 trees=cfg["trees"])
            p["cpn"] = [r["complexity_per_neuron"] for r in rows]
        points.append(p)

    steps_per_epoch = math.ceil(len(train_ds) / 64)
    epochs = math.ceil(cfg["steps"] / steps_per_epoch)
    J.train(model, train_ds, epochs=epochs, optimizer=opt, batch_size=64, seed=seed,
            every_steps=cfg["eval_every"], callback=record, progress=progress,
            desc=f"highway {depth}x{width} seed {seed}", max_steps=cfg["steps"])
    for h in hooks:
        h.remove()
    return points


def curves(points):
    out = {"steps": [p["step"] for p in points], "accuracy": [p["accuracy"] for p in points],
           "loss": [p["loss"] for p in points],
           "ed_mean": [float(np.mean(p["ed"])) for p in points],
           "ed_layer_min_steps": [points[int(np.argmin([p["ed"][k] for p in points]))]["step"]
                                  for k in range(len(points[0]["ed"]))]}
    if "cpn" in points[0]:
        out["cpn_mean"] = [float(np.nanmean(p["cpn"])) for p in points]
    return out


# ------------------------------------------------------------------------------ small CNN

def small_cnn(n_classes=10):
    """[4-8-8]-[64-32-10]: three 3x3 convolutions (stride 1), each followed by ReLU and 2x2
    max pooling (28 -> 13 -> 5 -> 1), then 64 and 32 ReLU units and the output."""
    import torch.nn as nn

    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(8, 64), nn.ReLU(), nn.Linear(64, 32),
                         nn.ReLU(), nn.Linear(32, n_classes))


def cnn_trajectory(split, seed, cfg, progress):
    import torch

    import pycx

    train_ds, test_ds = J.flat_split(split, None, seed=seed)
    test_ds = J.subset(test_ds, cfg["n_eval"], seed + 1)
    J.seeded(seed)
    model = small_cnn(split.n_classes)
    opt = torch.optim.Adadelta(model.parameters(), lr=cfg["lr"])
    outputs = {}
    pools = {"conv2d_0": model[2], "conv2d_1": model[5], "conv2d_2": model[8]}
    hooks = [m.register_forward_hook(lambda mod, i, o, k=k: outputs.__setitem__(k, o.detach()))
             for k, m in pools.items()]
    points = []

    def record(step, epoch):
        if step > cfg["steps"] or (step % cfg["eval_every"] and step != cfg["steps"]):
            return
        if points and points[-1]["step"] == step:
            return
        loss, acc = J.evaluate(model, test_ds, batch_size=len(test_ds))
        ed = {layer: {f"{i},{j}": float(pycx.effective_dimension(
            outputs[layer][:, :, i, j].numpy().astype(np.float64))) for i, j in pix}
            for layer, pix in CNN_PIXELS.items()}
        points.append({"step": step, "loss": loss, "accuracy": acc, "pixel_ed": ed})

    steps_per_epoch = math.ceil(len(train_ds) / 64)
    J.train(model, train_ds, epochs=math.ceil(cfg["steps"] / steps_per_epoch), optimizer=opt,
            batch_size=64, seed=seed, every_steps=cfg["eval_every"], callback=record,
            progress=progress, desc=f"small CNN seed {seed}", max_steps=cfg["steps"])
    for h in hooks:
        h.remove()
    return {"steps": [p["step"] for p in points], "accuracy": [p["accuracy"] for p in points],
            "loss": [p["loss"] for p in points],
            "pixel_ed": {layer: {px: [p["pixel_ed"][layer][px] for p in points]
                                 for px in points[0]["pixel_ed"][layer]}
                         for layer in CNN_PIXELS}}


# ------------------------------------------------------------------------------------ run

def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    hcfg, ccfg = cfg["highway"], cfg["cnn"]
    split, data_name = J.load_digits_data()
    seeds = [seed + i for i in range(hcfg["n_seeds"])]
    cseeds = [seed + i for i in range(ccfg["n_seeds"])]
    archs = [tuple(hcfg["main"])] + [tuple(a) for a in hcfg["s6"]]
    hw = {a: {s: highway_trajectory(split, s, a[0], a[1], hcfg, progress,
                                    with_cpn=(a == archs[0])) for s in seeds} for a in archs}
    t_highway = time.perf_counter() - start
    cnn = {s: cnn_trajectory(split, s, ccfg, progress) for s in cseeds}
    t_cnn = time.perf_counter() - start - t_highway

    aname = {a: f"{a[0]}x{a[1]}" for a in archs}
    main = {str(s): curves(hw[archs[0]][s]) for s in seeds}
    every = hcfg["eval_every"]

    def with_stats(d):
        plateau, onset = plateau_onset(d["accuracy"])
        _, ke, de = dip(d["ed_mean"], ED_DIP)
        extra = {"plateau_evals": plateau,
                 "onset_step": d["steps"][onset] if onset is not None else None,
                 "ed_min_step": d["steps"][ke] if ke is not None else None,
                 "ed_dip_depth": de}
        if "cpn_mean" in d:
            _, kc, dc = dip(d["cpn_mean"], CPN_DIP)
            extra.update(cpn_min_step=d["steps"][kc] if kc is not None else None,
                         cpn_dip_depth=dc)
        return {**d, **extra}

    main_m = {"per_seed": {s: with_stats(d) for s, d in main.items()}, "eval_every": every}
    arch_m = {aname[a]: {str(s): with_stats(curves(hw[a][s])) for s in seeds} for a in archs}
    s6 = {"architectures": arch_m, "eval_every": every}
    mins = _ed_min_steps(s6)
    s6["ed_min_step_by_architecture"] = {a: spread(v) for a, v in mins.items()}
    cnn_m = {"per_seed": {str(s): cnn[s] for s in cseeds}, "eval_every": ccfg["eval_every"]}
    claims = [RULE_JUMP(main_m), RULE_ED_DIP(main_m), RULE_CPN_DIP(main_m), RULE_S6_EVERY(s6),
              RULE_S6_SHIFT(s6), RULE_S7_DIP(cnn_m), RULE_S7_SYNC(cnn_m)]

    figures = _figures(out, hw, archs, seeds, cnn, cseeds, aname)
    settings = {"highway": {**hcfg, "seeds": seeds, "optimizer": "Adadelta lr 0.8",
                            "batch_size": 64, "ed_of": "each highway layer's output",
                            "cpn_of": "each highway layer's ReLU (H), 11x28 only",
                            "train_images": len(split.train)},
                "cnn": {**ccfg, "seeds": cseeds, "optimizer": f"Adadelta lr {ccfg['lr']}",
                        "batch_size": 64, "pixels": CNN_PIXELS,
                        "ed_of": "channels at one pixel of each conv's pooled ReLU output"},
                "data": data_name,
                "thresholds": {"chance_hi": CHANCE_HI, "plateau_evals": PLATEAU_EVALS,
                               "jump_evals": JUMP_EVALS, "ed_dip": ED_DIP, "cpn_dip": CPN_DIP,
                               "near_evals": NEAR_EVALS},
                "estimator": f"xgb chain rule, 2 folds, {hcfg['trees']} trees, depth 3, rate 0.1",
                "times_s": {"highway": round(t_highway, 1), "cnn": round(t_cnn, 1)}}
    findings = make_findings(NAME, PAPER, TITLE, quick=quick,
                             seeds=sorted(set(seeds) | set(cseeds)),
                             settings=settings, claims=claims, figures=figures,
                             highway={aname[a]: {str(s): hw[a][s] for s in seeds} for a in archs},
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figures(out, hw, archs, seeds, cnn, cseeds, aname):
    plt = J.plt()
    names = []
    main = archs[0]
    fig, ax = plt.subplots(len(seeds), 3, figsize=(15, 4 * len(seeds)), squeeze=False)
    for row, s in zip(ax, seeds):
        p = hw[main][s]
        steps = [q["step"] for q in p]
        ed = np.array([q["ed"] for q in p])
        cpn = np.array([q["cpn"] for q in p])
        for k in range(ed.shape[1]):
            row[0].plot(steps, ed[:, k], label=f"layer {k + 1}")
            row[1].plot(steps, cpn[:, k], label=f"layer {k + 1}")
        row[0].set(xlabel="step", ylabel="effective dimension",
                   title=f"fig. 7 left ({aname[main]}), seed {s}")
        row[1].set(xlabel="step", ylabel="complexity per neuron (H's ReLU)",
                   title="fig. 7 middle")
        row[2].plot(steps, [q["accuracy"] for q in p], "o-", label="test accuracy")
        r2 = row[2].twinx()
        r2.plot(steps, [q["loss"] for q in p], "s--", color="tab:red", label="test loss")
        row[2].set(xlabel="step", ylabel="accuracy", title="fig. 7 right")
        r2.set_ylabel("loss")
        row[0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    names += J.save_figure(fig, out, "highway_dip")

    fig, ax = plt.subplots(len(archs), len(seeds), figsize=(5 * len(seeds), 3.6 * len(archs)),
                           squeeze=False)
    for i, a in enumerate(archs):
        for j, s in enumerate(seeds):
            p = hw[a][s]
            steps = [q["step"] for q in p]
            ed = np.array([q["ed"] for q in p])
            for k in range(ed.shape[1]):
                ax[i][j].plot(steps, ed[:, k], label=f"layer {k + 1}")
            ax[i][j].set(xlabel="step", ylabel="effective dimension",
                         title=f"fig. S6: {aname[a]}, seed {s}")
    ax[0][0].legend(fontsize=6, ncol=2)
    fig.tight_layout()
    names += J.save_figure(fig, out, "highway_s6")

    fig, ax = plt.subplots(1, len(cseeds), figsize=(5.5 * len(cseeds), 4), squeeze=False)
    for a, s in zip(ax[0], cseeds):
        d = cnn[s]
        for layer, px in d["pixel_ed"].items():
            for p, v in px.items():
                a.plot(d["steps"], v, label=f"{layer} ({p})")
        a2 = a.twinx()
        a2.plot(d["steps"], d["accuracy"], "k:", label="test accuracy")
        a2.set_ylabel("test accuracy")
        a.set(xlabel="step", ylabel="pixel-wise effective dimension",
              title=f"fig. S7: small CNN, seed {s}")
        a.legend(fontsize=6)
    fig.tight_layout()
    names += J.save_figure(fig, out, "cnn_s7")
    return names
