"""Song, Marsili & Jo fig. S5: discriminative networks. The binarised states of the hidden
layer of a trained MLP (sigmoid or ReLU) and CNN follow power laws, and hidden layers whose
exponent beta is below 1 have a high classification error.

Protocol (per seed and hidden width N_H): an MLP 784-N_H-10 (sigmoid, or ReLU, hidden
layer) and a CNN (5x5 convolution, 8 channels, ReLU, 2x2 max-pooling, 3x3 convolution, 16
channels, ReLU, 2x2 max-pooling, fully connected hidden layer of N_H sigmoid units, 10 outputs;
"same" padding so that 8x8 digits fit too) are trained with the cross-entropy, Adam and Xavier
initialisation (the paper's choices; rate 1e-3, batch 64, zero biases) on the training images.
The hidden layer's states on the training images are binarised (sigmoid > 0.5 as for the DBN;
ReLU > 0, its gate, **decision**: the paper does not say where it cut ReLU units) and give
H[s], H[k], beta, the power-law test of `_song2018.power_law_test` and the classification error
of definitions §3 (the error of predicting a training image's label by the majority label of
its state). The paper's N_H values are not given; the run scans a range from a few states to
nearly every image alone.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("Song et al. 2018 fig. S5: power laws of binarised hidden states of MLPs and CNNs; "
         "beta < 1 and classification error")
PAPER = S.PAPER
NAME = "song2018-figs5"

MODELS = ("mlp_sigmoid", "mlp_relu", "cnn")
FULL = dict(widths=(2, 3, 4, 6, 8, 12, 16, 24, 32), epochs=10, cnn_epochs=5, n_seeds=3,
            n_images=None, power_law_bootstrap=300)
QUICK = dict(widths=(2, 4, 8, 16), epochs=2, cnn_epochs=2, n_seeds=2, n_images=1000,
             power_law_bootstrap=50)
BATCH = 64
LR = 1e-3
P_PLAUSIBLE = 0.1
ERROR_MARGIN = 0.05


def _v_power_law(m):
    per_model = []
    for rows in m["tests_per_model"].values():
        tested = [r for r in rows if r["p_value"] is not None]
        per_model.append(sum(r["p_value"] >= m["p_threshold"] for r in tested) / len(tested)
                         if tested else 0.0)
    tested = [r for rows in m["tests_per_model"].values() for r in rows
              if r["p_value"] is not None]
    if not tested:
        return False
    if per_model and all(f >= 0.8 for f in per_model):
        return True
    overall = sum(r["p_value"] >= m["p_threshold"] for r in tested) / len(tested)
    return "partly" if overall >= 0.5 else False


def _v_error(m):
    flags = []
    for row in m["per_model_seed"]:
        lo, hi = row["mean_error_beta_below_1"], row["mean_error_beta_at_least_1"]
        flags.append(lo is not None and hi is not None and lo >= hi + m["margin"])
    return fraction_verdict(flags, true_at=1.0, partly_at=0.5)


RULE_POWER_LAW = Rule(
    "binarised_states_power_law",
    "The frequency distributions of binarised hidden states of MLPs (sigmoid, ReLU) and CNNs "
    "follow power laws",
    f"power law plausible (bootstrap KS p >= {P_PLAUSIBLE}, k_min = 1) for >= 80% of the tested "
    "widths and seeds of every model: true; for >= 50% of all tested cases: partly; else "
    "false. Widths whose states have fewer than 3 distinct frequencies (every image alone, or "
    "one state) have no tail to test and are left out", _v_power_law)
RULE_ERROR = Rule(
    "beta_below_one_high_error",
    "Hidden layers with beta < 1 have a significant classification error",
    f"per model and seed, the mean classification error of the widths with beta < 1 at least "
    f"{ERROR_MARGIN} above that of the widths with beta >= 1 (undefined beta left out; a group "
    "left empty fails): every model and seed true; at least half partly; else false", _v_error)

RULES = (RULE_POWER_LAW, RULE_ERROR)


def _build(kind: str, n_in: int, side: int, width: int, n_classes: int):
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            if kind == "cnn":
                self.features = nn.Sequential(
                    nn.Conv2d(1, 8, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
                n_feat = 16 * (side // 4) ** 2
            else:
                self.features = nn.Identity()
                n_feat = n_in
            self.fc = nn.Linear(n_feat, width)
            self.act = nn.ReLU() if kind == "mlp_relu" else nn.Sigmoid()
            self.out = nn.Linear(width, n_classes)
            for mod in self.modules():
                if isinstance(mod, (nn.Linear, nn.Conv2d)):
                    nn.init.xavier_uniform_(mod.weight)
                    nn.init.zeros_(mod.bias)

        def hidden(self, x):
            if kind == "cnn":
                x = x.reshape(x.shape[0], 1, side, side)
            return self.act(self.fc(self.features(x)))

        def forward(self, x):
            return self.out(self.hidden(x))

    return Net()


def train_and_measure(kind, width, x, y, xt, yt, side, seed, epochs, n_boot, n_classes):
    """Trains one network and measures its binarised hidden layer (a dict)."""
    import torch
    import torch.nn.functional as F

    import pycx
    from pycx.kernels.state_counts import state_counts

    torch.manual_seed(seed)
    net = _build(kind, x.shape[1], side, width, n_classes)
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    g = torch.Generator().manual_seed(seed)
    yt_ = torch.as_tensor(y)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), BATCH):
            j = order[i:i + BATCH]
            opt.zero_grad()
            F.cross_entropy(net(x[j]), yt_[j]).backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        h = net.hidden(x)
        train_acc = float((net.out(h).argmax(1).numpy() == y).mean())
        test_acc = float((net(xt).argmax(1).numpy() == yt).mean())
    bits = pycx.pack_bits(h, 0.0 if kind == "mlp_relu" else 0.5)
    rr = pycx.resolution_relevance(bits, y)
    counts = np.asarray(state_counts(bits).counts, dtype=np.int64)
    beta = S.defined_beta([{"beta": rr.beta_mle, "k": rr.k.tolist()}])[0]
    pl = S.power_law_test(counts, len(y), n_boot=n_boot, seed=seed)
    return {"model": kind, "width": width, "seed": seed, "h_s": rr.h_s_normalized,
            "h_k": rr.h_k_normalized, "beta": beta, "n_states": rr.n_states,
            "classification_error": rr.classification_error, "train_accuracy": train_acc,
            "test_accuracy": test_acc, "p_value": pl["p_value"], "ks": pl["ks"],
            "lr_vs_geometric": pl["lr_vs_geometric"], "k": rr.k.tolist(), "m_k": rr.m_k.tolist()}


def _model_seed(kind, s, cfg, x, y, xt, yt, side, n_classes) -> list:
    """Every width of one model and seed (one task of the run)."""
    epochs = cfg["cnn_epochs"] if kind == "cnn" else cfg["epochs"]
    with S.single_thread():
        return [train_and_measure(kind, w, x, y, xt, yt, side, s, epochs,
                                  cfg["power_law_bootstrap"], n_classes) for w in cfg["widths"]]


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    with S.single_thread():
        return _run(out, quick=quick, seed=seed, progress=progress)


def _run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    clock = S.Clock()
    cfg = dict(QUICK if quick else FULL)
    t = time.perf_counter()
    x, y, xt, yt, dataset, side = S.load_data(cfg["n_images"], seed)
    n_classes = int(max(y.max(), yt.max())) + 1
    clock.add("data", t)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    workers = S.n_workers()
    tasks = [(kind, s, cfg, x, y, xt, yt, side, n_classes) for kind in MODELS for s in seeds]
    rows = [r for part in S.map_tasks(_model_seed, tasks, workers) for r in part]

    tests = {kind: [{k: r[k] for k in ("width", "seed", "beta", "p_value", "ks", "n_states",
                                       "lr_vs_geometric")}
                    for r in rows if r["model"] == kind] for kind in MODELS}
    claims = [RULE_POWER_LAW({"tests_per_model": tests, "p_threshold": P_PLAUSIBLE})]
    per = []
    for kind in MODELS:
        for s in seeds:
            mine = [r for r in rows if r["model"] == kind and r["seed"] == s]
            lo = [r["classification_error"] for r in mine if np.isfinite(r["beta"])
                  and r["beta"] < 1]
            hi = [r["classification_error"] for r in mine if np.isfinite(r["beta"])
                  and r["beta"] >= 1]
            per.append({"model": kind, "seed": s,
                        "mean_error_beta_below_1": float(np.mean(lo)) if lo else None,
                        "mean_error_beta_at_least_1": float(np.mean(hi)) if hi else None,
                        "n_below_1": len(lo), "n_at_least_1": len(hi),
                        "beta_and_error": [(r["width"], r["beta"], r["classification_error"])
                                           for r in mine]})
    claims.append(RULE_ERROR({"per_model_seed": per, "margin": ERROR_MARGIN}))

    t = time.perf_counter()
    figures = _figure(out, rows, cfg["widths"], seeds)
    clock.add("figures", t)
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "dataset": dataset, "M": int(len(y)), "side": side,
                  "models": list(MODELS), "batch_size": BATCH, "lr": LR,
                  "optimizer": "Adam", "init": "Xavier uniform, zero biases",
                  "binarisation": "sigmoid > 0.5; ReLU > 0", "torch_threads": 1,
                  "workers": workers},
        claims=claims, figures=figures,
        per_network=[{k: v for k, v in r.items() if k not in ("k", "m_k")} for r in rows],
        timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _figure(out, rows, widths, seeds):
    plt = S.plt()
    fig, axes = plt.subplots(4, 3, figsize=(12, 14))
    colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(widths)))
    for col, kind in enumerate(MODELS):
        mine = [r for r in rows if r["model"] == kind]
        first = [r for r in mine if r["seed"] == seeds[0]]
        ax = axes[0, col]
        for r, c in zip(first, colours):
            ax.loglog(r["k"], r["m_k"], "o", mfc="none", color=c, ms=4, label=f"N_H={r['width']}")
        ax.set(xlabel="k", ylabel="m_k", title=f"{kind}: m_k (first seed)")
        ax.legend(fontsize=6)
        ax = axes[1, col]
        ax.scatter([r["h_s"] for r in mine], [r["h_k"] for r in mine], c="k", s=12)
        ax.set(xlabel="H[s] / log M", ylabel="H[k] / log M", xlim=(-0.02, 1.02),
               ylim=(-0.02, 1.02), title=f"{kind}: resolution vs relevance")
        ax = axes[2, col]
        for key, style in (("train_accuracy", "s-"), ("test_accuracy", "o--")):
            m = [np.mean([r[key] for r in mine if r["width"] == w]) for w in widths]
            ax.plot(widths, m, style, label=key.replace("_", " "))
        ax.set(xscale="log", xlabel="N_H", ylabel="accuracy", title=f"{kind}: accuracy")
        ax.legend(fontsize=7)
        ax = axes[3, col]
        ax.scatter([r["beta"] for r in mine], [r["classification_error"] for r in mine], c="k",
                   s=12)
        ax.axvline(1.0, color="grey", ls=":", lw=1)
        ax.set(xlabel="beta", ylabel="classification error (states)",
               title=f"{kind}: error vs beta")
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_figs5")
