"""Paper 004, fig. 1 (Proposition 2): the complexity of transforming layer l's feature to the
output, H(Sigma_l, ..., Sigma_L), decreases as l grows, at every epoch of training.

The paper shows it for MLP-alpha (784-1024-1024-512-512-256-256-128-128-64-16-10, 10 ReLU
layers) on MNIST over training. Here: MLP-alpha and LeNet-5 trained on the 3750 mnist5k
training images (SGD, `_ren2022.TRAJ_FULL`), measured at 14 checkpoints over 12 epochs on 1000
training images. H(Sigma_l..Sigma_L) is the KDE entropy of the concatenated gate rows of layers
l..L with the default bandwidth of the concatenation (``s2 = alpha_l * bits of l..L``, alpha of
layer l's kind; `_ren2022.measure_rows`), the paper's estimate; the exact plug-in entropy of
the concatenated states, for which Prop. 2 is a theorem, is reported beside it.

Decisions (the paper is silent): a step up of at most 0.01 bits (the estimator's saturation
margin) counts as no increase; the LeNet-5 check is added because its layers mix the two
kinds of alpha, which the MLP's do not.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _ren2022 as R
from .findings import Rule, fraction_verdict

TITLE = "H(Sigma_l, ..., Sigma_L) decreases with l at every epoch (Proposition 2, fig. 1)"
PAPER = R.PAPER
MODELS = ("mlp_alpha", "lenet5")
TOL = 0.01  # bits: an increase this small is within the estimator's saturation margin


def _curves_hold(measured: dict, key: str = "H_concat"):
    """Per (seed, checkpoint) curve of `key` over l: does it never rise by more than TOL?"""
    flags = []
    for per_seed in measured[key]:
        for values in per_seed:
            v = [math.nan if a is None else float(a) for a in values]
            flags.append(all(b <= a + TOL for a, b in zip(v, v[1:])
                             if math.isfinite(a) and math.isfinite(b)))
    return flags


def _verdict_kde(m):
    return fraction_verdict(_curves_hold(m), true_at=1.0, partly_at=0.5)


def _verdict_plugin(m):
    return fraction_verdict(_curves_hold(m, "H_concat_plugin"), true_at=1.0, partly_at=1.0)


_EXPECTED_KDE = ("for every seed and checkpoint, the KDE H(Sigma_l..Sigma_L) never rises by "
                 "more than 0.01 bits from l to l + 1: true when every curve holds; 'partly' "
                 "when at least half of the (seed, checkpoint) curves hold; false otherwise")

RULE_MLP = Rule(
    "mlp_alpha_h_concat_decreases",
    "MLP-alpha: H(Sigma_l, ..., Sigma_L) (KDE) decreases as l grows, at every epoch",
    _EXPECTED_KDE, _verdict_kde)
RULE_LENET = Rule(
    "lenet5_h_concat_decreases",
    "LeNet-5: H(Sigma_l, ..., Sigma_L) (KDE) decreases as l grows, at every epoch",
    _EXPECTED_KDE, _verdict_kde)
RULE_PLUGIN = Rule(
    "plugin_h_concat_decreases",
    "Proposition 2 itself: the exact (plug-in) entropy of the concatenated gate states "
    "decreases as l grows, at every epoch, in both networks",
    "every (model, seed, checkpoint) curve of the plug-in H(Sigma_l..Sigma_L) never rises by "
    "more than 0.01 bits: true; any curve that rises: false",
    _verdict_plugin)
RULES = (RULE_MLP, RULE_LENET, RULE_PLUGIN)


def _measured_for(trajs, model):
    recs = trajs[model]
    meas = [R.measured(r, tc=True) for r in recs]
    n_layers = len(meas[0][0])
    hc = [[[layer["H_concat"] for layer in ck] for ck in ms] for ms in meas]
    sat = [[[layer["H_concat_saturated"] for layer in ck] for ck in ms] for ms in meas]
    pl = [[[layer["H_concat_plugin"] for layer in ck] for ck in ms] for ms in meas]
    return {"epochs": recs[0]["epochs"], "layers": [x["name"] for x in meas[0][0]],
            "n_layers": n_layers, "H_concat": hc, "H_concat_saturated": sat,
            "H_concat_plugin": pl, "H_max": meas[0][0][0]["H_max"],
            "curves_holding": sum(_curves_hold({"H_concat": hc})),
            "curves": len(_curves_hold({"H_concat": hc}))}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from .findings import make_findings, write_findings

    t0 = time.perf_counter()
    trajs, seeds, data_name = R.trajectories(MODELS, quick=quick, seed=seed, progress=progress,
                                             desc="ren2022-fig1")
    m_mlp = _measured_for(trajs, "mlp_alpha")
    m_lenet = _measured_for(trajs, "lenet5")
    plugin = {"H_concat_plugin": m_mlp["H_concat_plugin"] + m_lenet["H_concat_plugin"],
              "models": ["mlp_alpha"] * len(seeds) + ["lenet5"] * len(seeds)}
    claims = [RULE_MLP(m_mlp), RULE_LENET(m_lenet), RULE_PLUGIN(plugin)]
    figures = _figure(out, {"mlp_alpha": m_mlp, "lenet5": m_lenet})
    training = {m: [{"epochs": r["epochs"], "train_loss": r["train_loss"],
                     "test_acc": r["test_acc"], "train_time_s": round(r["train_time_s"], 1)}
                    for r in trajs[m]] for m in MODELS}
    settings = {"data": data_name, "models": list(MODELS), **R.traj_settings(quick),
                "kde": {"bandwidth": "d", "alpha": "0.04 conv / 0.01 linear (of layer l's kind)",
                        "concat": "s2 = alpha_l * bits of layers l..L"},
                "gating_layers": "ReLU layers", "tolerance_bits": TOL}
    findings = make_findings("ren2022-fig1", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             training=training, wall_time_s=round(time.perf_counter() - t0, 1))
    write_findings(out, findings)
    return findings


def _figure(out, data):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    fig, axes = plt.subplots(1, len(data), figsize=(5.5 * len(data), 4), squeeze=False)
    for ax, (model, m) in zip(axes[0], data.items()):
        epochs = m["epochs"]
        cmap = plt.get_cmap("viridis")
        ls = np.arange(1, m["n_layers"] + 1)
        for i, e in enumerate(epochs):
            ax.plot(ls, m["H_concat"][0][i], marker=".", color=cmap(i / max(1, len(epochs) - 1)),
                    label=f"epoch {e:g}" if i in (0, len(epochs) // 2, len(epochs) - 1) else None)
        ax.axhline(m["H_max"], color="grey", ls=":", lw=1, label="log2 n (saturated)")
        ax.set_xlabel("l")
        ax.set_ylabel("H(Σ_l, …, Σ_L) KDE [bits]")
        ax.set_title(f"{model} (first seed)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig1")
