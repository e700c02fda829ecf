"""Paper 004, fig. 3: in networks without skip connections, H(Sigma_l) and I(X;Sigma;Y) first
fall, then rise during training (MLP-MNIST 784-1024-256-128-64-10 and LeNet-5; minimum at
epoch 55 of 500 in the paper), explained by the activation-rate histograms (fig. 3c: random
activations at epoch 0, removed by the minimum); a VGG-style net's complexity rises
monotonically (the paper: VGG-16 on Pascal VOC, "increased monotonously during the early
stage ... and saturated later").

Here: MLP-MNIST, LeNet-5 and a small VGG-style net (`_ren2022.vgg_small` at half width: 3x3
convolutions 8-8-pool-16-16-pool-32-32-pool, fc 64) trained on the 3750 mnist5k training
images with SGD (`_ren2022.TRAJ_FULL`: 12 epochs, 14 checkpoints dense early), measured
per ReLU layer on 1000 training images with pycx's KDE (default bandwidth). Every (seed,
layer) curve over the checkpoints is one case.

Decisions (the paper is silent): a curve "falls then rises" when its minimum is at neither
end and it falls by at least 0.1 bits from the first checkpoint to the minimum and rises by at
least 0.1 bits from the minimum to the last; it "rises monotonically" when the last value is
at least 0.1 bits above the first and it never drops more than 0.1 bits below its running
maximum; a curve saturated (every state alone) at every checkpoint says nothing and is left
out. "Rates explain the minimum" is read as: at the minimum the units' rates are more decided
than at epoch 0, i.e. the mean binary entropy of the rates, C_l / d = mean_i h2(p_i), is lower
at the minimum than at the start (units firing for about half the inputs at random have
moved towards always-on / always-off).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _ren2022 as R
from .findings import Rule, fraction_verdict

TITLE = ("H(Sigma_l) and I(X;Sigma;Y) fall then rise in an MLP and LeNet-5, rise in a "
         "VGG-style net (fig. 3)")
PAPER = R.PAPER
MODELS = ("mlp", "lenet5", "vgg_small")
DELTA = 0.1  # bits: the smallest fall / rise / drawdown that counts


def _clean(v):
    return [math.nan if a is None else float(a) for a in v]


def _excluded(sat) -> bool:
    return bool(sat) and all(bool(s) for s in sat)


def falls_then_rises(v) -> bool:
    """Minimum at neither end, a fall >= DELTA before it and a rise >= DELTA after it."""
    v = _clean(v)
    if len(v) < 3 or not all(math.isfinite(a) for a in v):
        return False
    i = int(np.argmin(v))
    return 0 < i < len(v) - 1 and v[0] - v[i] >= DELTA and v[-1] - v[i] >= DELTA


def rises(v) -> bool:
    """Last >= first + DELTA, never more than DELTA below the running maximum."""
    v = _clean(v)
    if len(v) < 2 or not all(math.isfinite(a) for a in v):
        return False
    drawdown = max(m - a for m, a in zip(np.maximum.accumulate(v), v))
    return v[-1] - v[0] >= DELTA and drawdown <= DELTA


def _cases(m, test):
    return [test(c) for c, s in zip(m["curves"], m["saturated"]) if not _excluded(s)]


def _v_fall_rise(m):
    return fraction_verdict(_cases(m, falls_then_rises), true_at=2 / 3, partly_at=1 / 3)


def _v_rises(m):
    return fraction_verdict(_cases(m, rises), true_at=2 / 3, partly_at=1 / 3)


def _v_rates(m):
    flags = []
    for c, s, u in zip(m["curves"], m["saturated"], m["unit_entropy"]):
        c = _clean(c)
        if _excluded(s) or not all(math.isfinite(a) for a in c):
            continue
        i = int(np.argmin(c))
        if i > 0:
            flags.append(float(u[i]) < float(u[0]))
    return fraction_verdict(flags, true_at=2 / 3, partly_at=1 / 3)


_FR = ("per (seed, layer) curve over the checkpoints (curves saturated at every checkpoint "
       "left out): minimum at neither end, a fall of >= 0.1 bits from the first checkpoint to "
       "the minimum and a rise of >= 0.1 bits after it; true when at least 2/3 of the curves "
       "do so, 'partly' when at least 1/3, false otherwise")
_RISE = ("per (seed, layer) curve (curves saturated at every checkpoint left out): last value "
         ">= first + 0.1 bits and never more than 0.1 bits below its running maximum; true "
         "when at least 2/3 of the curves do so, 'partly' when at least 1/3, false otherwise")
_RATES = ("per (seed, layer) H(Sigma_l) curve whose minimum is after the first checkpoint "
          "(saturated curves left out): the mean binary entropy of the units' activation "
          "rates, mean_i h2(p_i), is lower at the minimum than at epoch 0; true when at least "
          "2/3 of these curves, 'partly' when at least 1/3, false otherwise (and false when no "
          "curve falls)")

RULES = (
    Rule("mlp_h_falls_then_rises", "MLP-MNIST: H(Sigma_l) first falls, then rises during "
         "training", _FR, _v_fall_rise),
    Rule("mlp_i_falls_then_rises", "MLP-MNIST: I(X;Sigma_l;Y) first falls, then rises during "
         "training", _FR, _v_fall_rise),
    Rule("lenet5_h_falls_then_rises", "LeNet-5: H(Sigma_l) first falls, then rises during "
         "training", _FR, _v_fall_rise),
    Rule("lenet5_i_falls_then_rises", "LeNet-5: I(X;Sigma_l;Y) first falls, then rises during "
         "training", _FR, _v_fall_rise),
    Rule("mlp_rates_decided_at_min", "MLP-MNIST: at the minimum of H(Sigma_l) the noisy "
         "(random) activations of epoch 0 have been removed (activation-rate histograms)",
         _RATES, _v_rates),
    Rule("lenet5_rates_decided_at_min", "LeNet-5: at the minimum of H(Sigma_l) the noisy "
         "(random) activations of epoch 0 have been removed (activation-rate histograms)",
         _RATES, _v_rates),
    Rule("vgg_small_h_rises", "VGG-style net: H(Sigma_l) rises monotonically during training "
         "(and may saturate)", _RISE, _v_rises),
    Rule("vgg_small_i_rises", "VGG-style net: I(X;Sigma_l;Y) rises monotonically during "
         "training (and may saturate)", _RISE, _v_rises),
)
_TABLE = {r.key: r for r in RULES}


def curves_of(recs, quantity: str, *, alpha_scale: float = 1.0) -> dict:
    """The per-(seed, layer) curves of `quantity` ("H" or "I_xsy") over the checkpoints of the
    trajectories `recs`, with their saturation flags, mean unit entropies and the epoch of
    each curve's minimum (shared with fig. 9)."""
    sat_key = "H_saturated" if quantity == "H" else "I_saturated"
    curves, sat, unit, where, labels = [], [], [], [], []
    epochs = list(recs[0]["epochs"])
    for k, r in enumerate(recs):
        meas = R.measured(r, alpha_scale=alpha_scale, tc=alpha_scale == 1.0)
        for li in range(len(meas[0])):
            c = R.curve(meas, li, quantity)
            curves.append(c)
            sat.append(R.curve(meas, li, sat_key))
            unit.append([m[li]["C"] / m[li]["n_units"] for m in meas])
            finite = [math.nan if a is None else a for a in c]
            where.append(epochs[int(np.nanargmin(finite))] if np.isfinite(finite).any() else None)
            labels.append(f"seed {k}, {meas[0][li]['name']}")
    return {"epochs": epochs, "curves": curves, "saturated": sat, "unit_entropy": unit,
            "argmin_epoch": where, "curve_labels": labels}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from .findings import make_findings, write_findings

    t0 = time.perf_counter()
    trajs, seeds, data_name = R.trajectories(MODELS, quick=quick, seed=seed, progress=progress,
                                             desc="ren2022-fig3")
    got = {m: {q: curves_of(trajs[m], q) for q in ("H", "I_xsy")} for m in MODELS}
    for m in MODELS:
        for q in ("H", "I_xsy"):
            g = got[m][q]
            g["falls_then_rises"] = [falls_then_rises(c) for c in g["curves"]]
            g["rises"] = [rises(c) for c in g["curves"]]
            g["left_out_saturated"] = [_excluded(s) for s in g["saturated"]]
    claims = []
    for key, model, q in (("mlp_h_falls_then_rises", "mlp", "H"),
                          ("mlp_i_falls_then_rises", "mlp", "I_xsy"),
                          ("lenet5_h_falls_then_rises", "lenet5", "H"),
                          ("lenet5_i_falls_then_rises", "lenet5", "I_xsy"),
                          ("mlp_rates_decided_at_min", "mlp", "H"),
                          ("lenet5_rates_decided_at_min", "lenet5", "H"),
                          ("vgg_small_h_rises", "vgg_small", "H"),
                          ("vgg_small_i_rises", "vgg_small", "I_xsy")):
        claims.append(_TABLE[key](dict(got[model][q], model=model, quantity=q)))
    summary = {}
    for m in MODELS:
        rec_meas = [R.measured(r, tc=True) for r in trajs[m]]
        summary[m] = {
            "layers": [x["name"] for x in rec_meas[0][0]],
            "n_units": [x["n_units"] for x in rec_meas[0][0]],
            "epochs": trajs[m][0]["epochs"],
            "per_seed": [{"train_loss": r["train_loss"], "train_acc": r["train_acc"],
                          "test_loss": r["test_loss"], "test_acc": r["test_acc"],
                          "train_time_s": round(r["train_time_s"], 1),
                          "TC": [[x["TC"] for x in ck] for ck in meas],
                          "rate_mean": [[x["rate_mean"] for x in ck] for ck in meas],
                          "rate_hist": [[x["rate_hist"] for x in ck] for ck in meas]}
                         for r, meas in zip(trajs[m], rec_meas)]}
    figures = _figure(out, got, summary)
    settings = {"data": data_name, "models": list(MODELS), **R.traj_settings(quick),
                "kde": {"bandwidth": "d", "alpha": "0.04 conv / 0.01 linear"},
                "gating_layers": "ReLU layers", "delta_bits": DELTA,
                "vgg_small": "3x3 convs (16,16)-pool-(32,32)-pool-(64,64)-pool, fc 128, "
                             "times width_scale"}
    findings = make_findings("ren2022-fig3", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures, summary=summary,
                             wall_time_s=round(time.perf_counter() - t0, 1))
    write_findings(out, findings)
    return findings


def _figure(out, got, summary):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    fig, axes = plt.subplots(len(MODELS), 3, figsize=(15, 3.6 * len(MODELS)), squeeze=False)
    for row, m in enumerate(MODELS):
        layers = summary[m]["layers"]
        for col, (q, label) in enumerate((("H", "H(Σ_l) KDE [bits]"),
                                          ("I_xsy", "I(X;Σ_l;Y) KDE [bits]"))):
            ax = axes[row, col]
            g = got[m][q]
            x = [e if e > 0 else 0.05 for e in g["epochs"]]
            for li, name in enumerate(layers):  # first seed's curves
                ax.plot(x, g["curves"][li], marker=".", label=name)
            ax.set_xscale("log")
            ax.set_xlabel("epoch (log axis; 0 drawn at 0.05)")
            ax.set_ylabel(label)
            ax.set_title(m)
            ax.legend(fontsize=7)
        ax = axes[row, 2]
        g = got[m]["H"]
        hist = summary[m]["per_seed"][0]["rate_hist"]
        li = 1 if len(layers) > 1 else 0
        i_min = int(np.nanargmin(_clean(g["curves"][li])))
        edges = np.linspace(0, 1, R.HIST_BINS + 1)
        for i, style in ((0, "-"), (i_min, "--"), (len(g["epochs"]) - 1, ":")):
            ax.step(edges[:-1], hist[i][li], where="post", ls=style,
                    label=f"epoch {g['epochs'][i]:g}")
        ax.set_xlabel(f"activation rate ({layers[li]}, first seed)")
        ax.set_ylabel("units")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig3")
