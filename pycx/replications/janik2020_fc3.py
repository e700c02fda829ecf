"""Paper 000, figure 6: FC3 (L1 = 14 neurons, L2 = N) on MNIST for widths N = 4 ... 512.

Measured with `pycx.analyze` (XGBoost chain rule, paper 000's settings) on the test images:
complexity per neuron of L2 against N with the fit ``a / N^b + c`` (b with its standard error
and its spread over seeds), the flat L1 curve, and the average linearity of both layers.
Training as in the paper's supplement: Adadelta (lr 1), batch 64, 10 epochs.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import claim, make_findings, spread, write_findings

TITLE = "FC3 width scaling: complexity per neuron a/N^b + c of L2, flat L1, linearity (fig. 6)"
PAPER = J.PAPER

FULL = {"widths": [4, 8, 16, 32, 64, 128, 256, 512], "n_seeds": 3, "epochs": 10,
        "n_train": None, "n_eval": None, "trees": 100}
# Quick: four widths (the three-parameter fit needs more points than parameters), shorter
# training, fewer evaluation images, 20 trees instead of the paper's 100.
QUICK = {"widths": [4, 16, 64, 256], "n_seeds": 2, "epochs": 3, "n_train": 2000, "n_eval": 300,
         "trees": 20}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    import torch

    from pycx.models import FC3

    start = time.perf_counter()
    cfg = dict(QUICK if quick else FULL)
    split, data_name = J.load_digits_data()
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    widths = cfg["widths"]
    in_features = split.side * split.side
    # per seed: width -> {"l1_cpn", "l2_cpn", "l1_lin", "l2_lin", "accuracy"}
    table = {s: {} for s in seeds}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(seeds) * len(widths), desc="janik2020-fc3")
    for s in seeds:
        train_ds, test_ds = J.flat_split(split, cfg["n_train"], seed=s)
        test_ds = J.subset(test_ds, cfg["n_eval"], seed=s + 1)
        for n in widths:
            J.seeded(s * 1000 + n)
            model = FC3(l1=14, l2=n, in_features=in_features, n_classes=split.n_classes)
            opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
            J.train(model, train_ds, epochs=cfg["epochs"], optimizer=opt, batch_size=64, seed=s)
            _, acc = J.evaluate(model, test_ds)
            rows = {r["layer"]: r for r in J.janik_table(
                model, test_ds, layers=["l1_relu", "l2_relu"], patch_rows=None, seed=s,
                trees=cfg["trees"])}
            table[s][n] = {"l1_cpn": rows["l1_relu"]["complexity_per_neuron"],
                           "l2_cpn": rows["l2_relu"]["complexity_per_neuron"],
                           "l1_lin": rows["l1_relu"]["linearity"],
                           "l2_lin": rows["l2_relu"]["linearity"], "accuracy": acc}
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()

    def per_seed(key):
        return np.array([[table[s][n][key] for n in widths] for s in seeds])

    l1, l2 = per_seed("l1_cpn"), per_seed("l2_cpn")
    lin1, lin2 = per_seed("l1_lin"), per_seed("l2_lin")
    acc = per_seed("accuracy")
    a, b, c, b_err = J.fit_power_law(widths, l2.mean(0))
    b_seeds = [J.fit_power_law(widths, l2[i])[1] for i in range(len(seeds))]
    rho_l2 = J.spearman(widths, l2.mean(0))

    def rel_range(v):
        return float((v.max() - v.min()) / abs(v.mean())) if v.mean() else math.nan

    claims = []
    power_ok = bool(np.isfinite(b) and b > 0 and np.isfinite(b_err) and b > 2 * b_err
                    and rho_l2 < 0)
    claims.append(claim(
        "complexity per neuron of L2 falls with the width N as a power law a/N^b + c",
        {"widths": widths, "l2_complexity_per_neuron_mean": l2.mean(0).tolist(),
         "l2_complexity_per_neuron_per_seed": l2.tolist(), "a": a, "b": b, "b_stderr": b_err,
         "c": c, "b_per_seed": spread(b_seeds), "spearman_n_vs_l2": rho_l2},
        power_ok,
        expected="b > 0 (fig. 6 right), b more than 2 standard errors from 0"))
    r1, r2 = rel_range(l1.mean(0)), rel_range(l2.mean(0))
    claims.append(claim(
        "complexity per neuron of L1 (fixed at 14) hardly depends on the width of L2",
        {"l1_complexity_per_neuron_mean": l1.mean(0).tolist(),
         "l1_complexity_per_neuron_per_seed": l1.tolist(),
         "l1_relative_range": r1, "l2_relative_range": r2},
        bool(r1 < 0.5 * r2), expected="relative range (max-min)/mean of L1 below half of L2's"))
    d1 = float(lin1.mean(0).max() - lin1.mean(0).min())
    d2 = float(lin2.mean(0).max() - lin2.mean(0).min())
    both = d1 >= 0.05 and d2 >= 0.05
    claims.append(claim(
        "average linearity changes substantially with the L2 width, for both layers",
        {"l1_linearity_mean": lin1.mean(0).tolist(), "l2_linearity_mean": lin2.mean(0).tolist(),
         "l1_linearity_per_seed": lin1.tolist(), "l2_linearity_per_seed": lin2.tolist(),
         "l1_linearity_range": d1, "l2_linearity_range": d2,
         "spearman_n_vs_l1_linearity": J.spearman(widths, lin1.mean(0)),
         "spearman_n_vs_l2_linearity": J.spearman(widths, lin2.mean(0))},
        True if both else ("partly" if (d1 >= 0.05 or d2 >= 0.05) else False),
        expected="range of the mean linearity over N at least 0.05 in each layer (fig. 6 left)"))

    plt = J.plt()
    figures = []
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for v, name in ((lin1, "L1"), (lin2, "L2")):
        ax[0].errorbar(widths, v.mean(0), yerr=v.std(0), marker="o", capsize=3, label=name)
    ax[0].set(xscale="log", xlabel="L2 width N", ylabel="average linearity",
              title="FC3 linearity (fig. 6 left)")
    ax[0].legend()
    for v, name in ((l1, "L1"), (l2, "L2")):
        ax[1].errorbar(widths, v.mean(0), yerr=v.std(0), marker="o", capsize=3, label=name)
    if np.isfinite(b):
        grid = np.geomspace(widths[0], widths[-1], 100)
        ax[1].plot(grid, a * grid ** -b + c, "k--",
                   label=f"a/N^b + c, b = {b:.2f} ± {b_err:.2f}")
    ax[1].set(xscale="log", xlabel="L2 width N", ylabel="complexity per neuron (bits)",
              title="FC3 complexity per neuron (fig. 6 right)")
    ax[1].legend()
    figures += J.save_figure(fig, out, "fc3_width_scaling")

    settings = {**cfg, "seeds": seeds, "data": data_name,
                "n_train_used": cfg["n_train"] or len(split.train),
                "n_test": cfg["n_eval"] or len(split.test), "l1": 14,
                "optimizer": "Adadelta lr 1.0", "batch_size": 64,
                "estimator": f"xgb chain rule, 2 folds, {cfg['trees']} trees, depth 3, "
                             "rate 0.1",
                "rows": "all test images (linear layers: one row per image)",
                "test_accuracy": {"per_seed": acc.tolist(), "min": float(acc.min())}}
    findings = make_findings("janik2020-fc3", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings
