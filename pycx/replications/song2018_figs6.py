"""Song, Marsili & Jo fig. S6: a variational autoencoder also has an optimal dimension N_z of
its latent variables for generation ability (the paper's Eq. (9), docs/definitions.md §7).

Protocol (per seed and latent dimension N_z): a VAE 784-500(ReLU)-500(tanh)-N_z-500(tanh)-
500(ReLU)-784(sigmoid), the paper's architecture (the encoder's last 500 tanh units feed one
linear layer giving the posterior means and log-variances, 2 N_z values), is trained on the
training images of `song2018-fig2` (the 3750 training images of the bundled 5000 MNIST images,
grey levels in [0, 1]). Then `gen_samples` latent vectors are drawn from the prior N(0, I) and
decoded; the generated images (the decoder's Bernoulli means) are labelled by the classifier
of `song2018-fig3` (multinomial logistic regression trained on the same training images) and
the generation ability is ``1 / KL(P || Q)`` in bits with Q smoothed by +1/2 per class,
`pycx.estimators.generation.generation_ability`, exactly as for the DBN layers of fig. 3.

Where the paper is silent (**decisions**, also in docs/decisions.md):

- Likelihood: Bernoulli (binary cross-entropy summed over pixels) on the grey levels in
  [0, 1], not binarised, as in Kingma & Welling's MNIST experiments and as the DBNs of
  `song2018-fig2`/`-fig3` see the same images; the KL term is the closed form for a diagonal
  Gaussian posterior against N(0, I); one reparameterised sample per image; loss = negative
  ELBO averaged over the batch.
- Training: Adam, rate 1e-3, batch 100, `epochs` epochs (50 in the full run: 1875 steps on
  3750 images), PyTorch's default initialisation, seeded by (seed, N_z).
- Generated images: the decoder's means (sigmoid outputs) of prior samples, not Bernoulli
  draws, as the DBN's generated images are mean-field probabilities.
- The N_z grid: the paper shows 1, 5 and 500; the run scans 1, 2, 5, 10, 20, 50, 500.

The reference of the claims: the classifier's labels of held-out *real* images give the
generation ability a generator as good as the data would reach with this classifier
(``real_image_reference``), and their distance from P the floor of the label-distribution
distances.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("Song et al. 2018 fig. S6: generation ability of a variational autoencoder vs the "
         "latent dimension N_z")
PAPER = S.PAPER
NAME = "song2018-figs6"

HIDDEN = 500
FULL = dict(n_z=(1, 2, 5, 10, 20, 50, 500), n_seeds=3, n_images=None, epochs=50,
            gen_samples=5000)
QUICK = dict(n_z=(1, 5, 500), n_seeds=2, n_images=1000, epochs=5, gen_samples=1000)
BATCH = 100
LR = 1e-3
SHOWN_N_Z = (1, 5, 500)  # the paper's panels a-c / d-f

# Rules' constants, fixed before the full run.
PEAK_MARGIN = 1.2          # the peak's generation ability >= 1.2 x that at either end
PAPER_PEAK_N_Z = 5         # the panel between the extremes (fig. S6b)
PEAK_WINDOW = (2, 10)      # "near N_z = 5": the grid points within a factor 2.5 of it
TV_THRESHOLD = 0.1         # total variation of N_z = 1's labels from P ...
TV_BASELINE_FACTOR = 2.0   # ... and at least twice that of the classifier on real images


def total_variation(counts, p) -> float:
    """Total variation distance ``0.5 sum_c |q_c - p_c|`` between the label frequencies
    `counts` (raw, unsmoothed) and the distribution `p`.

    >>> total_variation([5, 5, 0], [0.5, 0.25, 0.25])
    0.25
    """
    q = np.asarray(counts, dtype=float)
    if q.ndim != 1 or q.sum() <= 0:
        raise ValueError(f"counts: expected a 1-D array of label counts with a positive sum, "
                         f"got shape {q.shape} sum {q.sum()}")
    p = np.asarray(p, dtype=float)
    if p.shape != q.shape:
        raise ValueError(f"p: expected shape {q.shape} (one value per class), got {p.shape}")
    return float(0.5 * np.abs(q / q.sum() - p).sum())


# ---------------------------------------------------------------- verdict rules

def _kl_row(row):
    return [np.inf if v is None else float(v) for v in row]


def _peak_inside(m, strict: bool) -> list:
    flags = []
    for row in m["kl_bits_per_seed"]:
        kl = _kl_row(row)
        i = int(np.argmin(kl))  # argmax of 1/KL
        inside = 0 < i < len(kl) - 1
        if strict:
            # 1/KL_peak >= margin / KL_end for both ends (a KL of 0 is an infinite ability)
            inside = inside and all(kl[j] >= m["margin"] * kl[i] for j in (0, len(kl) - 1))
        flags.append(inside)
    return flags


def _v_inside(m):
    if fraction_verdict(_peak_inside(m, True), true_at=1.0) is True:
        return True
    return "partly" if fraction_verdict(_peak_inside(m, False), partly_at=0.5) else False


def _v_near5(m):
    lo, hi = m["window"]
    return fraction_verdict([b is not None and lo <= b <= hi for b in m["best_n_z_per_seed"]],
                            true_at=1.0, partly_at=0.5)


def _v_nonuniform(m):
    bar = max(m["threshold"], m["baseline_factor"] * m["real_image_tv"])
    return fraction_verdict([tv is not None and tv >= bar for tv in m["tv_n_z_1_per_seed"]],
                            true_at=1.0, partly_at=0.5)


RULE_INSIDE = Rule(
    "generation_peaks_inside",
    "A variational autoencoder has an optimal latent dimension for generation ability: it "
    "peaks at an intermediate N_z, lower at N_z = 1 and at N_z = 500",
    f"per seed, the generation ability 1/KL over the N_z grid is largest neither at the "
    f"smallest nor at the largest N_z, and the largest is at least {PEAK_MARGIN} x both ends' "
    "(so that a flat curve does not pass by noise): every seed true; an interior largest value "
    "(any margin) for at least half the seeds partly; else false", _v_inside)
RULE_NEAR5 = Rule(
    "peak_near_nz5",
    "The optimum lies near N_z = 5 (inferred: fig. S6 shows N_z = 1, 5 and 500 as fig. 3 shows "
    "a shallow, the best and a deep layer; the text gives no value)",
    f"per seed, the N_z of the largest generation ability within [{PEAK_WINDOW[0]}, "
    f"{PEAK_WINDOW[1]}] (the grid points within a factor 2.5 of 5): every seed true; at least "
    "half partly; else false", _v_near5)
RULE_NONUNIFORM = Rule(
    "nz1_labels_nonuniform",
    "N_z = 1 generates a label distribution far from the training one (fig. S6d)",
    f"per seed, the total variation between N_z = 1's generated label frequencies and the "
    f"training label distribution P at least max({TV_THRESHOLD}, {TV_BASELINE_FACTOR} x that "
    "of the classifier's labels of held-out real images); 0.1 is what one class missing "
    "entirely gives and several times the sampling noise of the frequencies: every seed true; "
    "at least half partly; else false", _v_nonuniform)

RULES = (RULE_INSIDE, RULE_NEAR5, RULE_NONUNIFORM)


# ---------------------------------------------------------------- the model

def _task_seed(seed: int, n_z: int) -> int:
    # One stream per (seed, N_z), whatever the order or process the tasks run in.
    return int(np.random.SeedSequence([int(seed), int(n_z)]).generate_state(1)[0])


def build_vae(n_in: int, n_z: int, hidden: int = HIDDEN):
    """The paper's VAE ``n_in-500(ReLU)-500(tanh)-n_z-500(tanh)-500(ReLU)-n_in(sigmoid)``
    (torch modules; the decoder returns logits, its sigmoid is the image)."""
    from torch import nn

    class VAE(nn.Module):
        def __init__(self):
            super().__init__()
            self.n_z = n_z
            self.encoder = nn.Sequential(nn.Linear(n_in, hidden), nn.ReLU(),
                                         nn.Linear(hidden, hidden), nn.Tanh(),
                                         nn.Linear(hidden, 2 * n_z))
            self.decoder = nn.Sequential(nn.Linear(n_z, hidden), nn.Tanh(),
                                         nn.Linear(hidden, hidden), nn.ReLU(),
                                         nn.Linear(hidden, n_in))

        def posterior(self, x):
            mu, log_var = self.encoder(x).chunk(2, dim=1)
            return mu, log_var

    return VAE()


def negative_elbo(model, x, generator):
    """(loss averaged over the batch, its reconstruction part, its KL part), nats per image:
    Bernoulli likelihood of the grey levels, one reparameterised sample per image."""
    import torch
    import torch.nn.functional as F

    mu, log_var = model.posterior(x)
    eps = torch.randn(mu.shape, generator=generator)
    z = mu + eps * (0.5 * log_var).exp()
    rec = F.binary_cross_entropy_with_logits(model.decoder(z), x, reduction="sum") / len(x)
    kl = -0.5 * (1 + log_var - mu ** 2 - log_var.exp()).sum() / len(x)
    return rec + kl, rec, kl


def train_and_generate(n_z, s, x, xt, y, cfg, clf, n_classes, keep_samples, side, progress):
    """Trains one VAE and measures its generated samples (one task of the run)."""
    import torch

    from pycx.estimators.generation import generation_ability, label_images

    with S.single_thread():
        t = time.process_time()
        torch.manual_seed(_task_seed(s, n_z))  # the initialisation
        g = torch.Generator().manual_seed(_task_seed(s, n_z) + 1)
        model = build_vae(x.shape[1], n_z)
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        for _ in range(cfg["epochs"]):
            order = torch.randperm(len(x), generator=g)
            total = 0.0
            for i in range(0, len(x), BATCH):
                xb = x[order[i:i + BATCH]]
                loss = negative_elbo(model, xb, g)[0]
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(xb)
        train_loss = total / len(x)
        model.eval()
        with torch.no_grad():
            ge = torch.Generator().manual_seed(_task_seed(s, n_z) + 2)
            test_loss, test_rec, test_kl = (float(v) for v in negative_elbo(model, xt, ge))
            mu_test = model.posterior(xt)[0]
            # Active units (Burda et al. 2016): latent dimensions whose posterior mean varies
            # over the inputs (variance > 0.01); the others have collapsed onto the prior.
            active = int((mu_test.var(dim=0) > 0.01).sum())
            z = torch.randn(cfg["gen_samples"], n_z, generator=ge)
            gen = torch.sigmoid(model.decoder(z))
        labels = label_images(gen, clf)
        r = generation_ability(y, labels, n_classes)
        seconds = time.process_time() - t
    if progress:
        print(f"  VAE N_z={n_z} seed {s}: test -ELBO {test_loss:.1f} nats, {active} active, "
              f"1/KL {r.generation_ability:.3g} ({seconds:.0f} s CPU)", file=sys.stderr,
              flush=True)
    return {"n_z": n_z, "seed": s, "generation_ability": r.generation_ability,
            "kl_bits": r.kl_bits, "generated_label_counts": r.generated_counts.tolist(),
            "tv_from_p": total_variation(r.generated_counts, r.p),
            "train_neg_elbo": train_loss, "test_neg_elbo": test_loss,
            "test_reconstruction": test_rec, "test_kl": test_kl, "active_units": active,
            "cpu_s": seconds,
            "samples": gen[:64].reshape(-1, side, side).numpy() if keep_samples else None}


def _task(n_z, s, x, xt, y, cfg, clf, n_classes, keep, side, progress):
    return train_and_generate(n_z, s, x, xt, y, cfg, clf, n_classes, keep, side, progress)


# ---------------------------------------------------------------- the run

def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    with S.single_thread():
        return _run(Path(out), quick=quick, seed=seed, progress=progress)


def _run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from pycx.estimators.generation import default_classifier, generation_ability

    clock = S.Clock()
    cfg = dict(QUICK if quick else FULL)
    t = time.perf_counter()
    x, y, xt, yt, dataset, side = S.load_data(cfg["n_images"], seed)
    n_classes = int(max(y.max(), yt.max())) + 1
    clock.add("data", t)
    t = time.perf_counter()
    clf = default_classifier(x, y, test_images=xt, test_labels=yt, seed=seed)
    clock.add("classifier", t)
    # The reference: the classifier's labels of held-out real images.
    real = generation_ability(y, clf.predict(xt), n_classes)
    real_tv = total_variation(real.generated_counts, real.p)

    seeds = [seed + i for i in range(cfg["n_seeds"])]
    grid = list(cfg["n_z"])
    workers = S.n_workers()
    show = progress and workers == 1
    tasks = [(n_z, s, x, xt, y, cfg, clf, n_classes, s == seeds[0] and n_z in SHOWN_N_Z, side,
              show) for s in seeds for n_z in grid]
    t = time.perf_counter()
    results = {(r["seed"], r["n_z"]): r for r in S.map_tasks(_task, tasks, workers)}
    clock.add("train_and_generate", t)
    clock.parts["train_and_generate_cpu"] = sum(r["cpu_s"] for r in results.values())

    kl = [[results[(s, n)]["kl_bits"] for n in grid] for s in seeds]
    ga = [[results[(s, n)]["generation_ability"] for n in grid] for s in seeds]
    best = [grid[int(np.argmin(row))] for row in kl]
    i1 = grid.index(1) if 1 in grid else None
    tv1 = [results[(s, 1)]["tv_from_p"] if i1 is not None else None for s in seeds]
    ga_arr = np.array(ga, float)
    reference = {"generation_ability": real.generation_ability, "kl_bits": real.kl_bits,
                 "tv_from_p": real_tv, "label_counts": real.generated_counts.tolist(),
                 "n_images": int(len(yt))}

    claims = [
        RULE_INSIDE({"n_z_grid": grid, "kl_bits_per_seed": kl, "margin": PEAK_MARGIN,
                     "best_n_z_per_seed": best,
                     "generation_ability_per_n_z": {str(n): spread(ga_arr[:, j])
                                                    for j, n in enumerate(grid)},
                     "real_image_reference": reference}),
        RULE_NEAR5({"best_n_z_per_seed": best, "window": list(PEAK_WINDOW),
                    "paper_panel_n_z": PAPER_PEAK_N_Z, "n_z_grid": grid}),
        RULE_NONUNIFORM({"tv_n_z_1_per_seed": tv1, "threshold": TV_THRESHOLD,
                         "baseline_factor": TV_BASELINE_FACTOR, "real_image_tv": real_tv,
                         "tv_per_n_z": {str(n): spread([results[(s, n)]["tv_from_p"]
                                                        for s in seeds]) for n in grid},
                         "label_counts_n_z_1_per_seed":
                             [results[(s, 1)]["generated_label_counts"] if i1 is not None
                              else None for s in seeds]}),
    ]

    t = time.perf_counter()
    p = np.bincount(y, minlength=n_classes) / len(y)
    figures = _figure(out, results, seeds, grid, ga_arr, p, n_classes, real.generation_ability)
    clock.add("figures", t)
    per_seed = [{"seed": s, "best_n_z": b,
                 "per_n_z": [{k: v for k, v in results[(s, n)].items()
                              if k not in ("samples", "seed")} for n in grid]}
                for s, b in zip(seeds, best)]
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "dataset": dataset, "M": int(len(y)), "side": side,
                  "architecture": f"{x.shape[1]}-{HIDDEN}(ReLU)-{HIDDEN}(tanh)-N_z-"
                                  f"{HIDDEN}(tanh)-{HIDDEN}(ReLU)-{x.shape[1]}(sigmoid)",
                  "likelihood": "Bernoulli (BCE summed over pixels) on grey levels in [0, 1]",
                  "posterior": "diagonal Gaussian, one reparameterised sample per image",
                  "optimizer": "Adam", "lr": LR, "batch_size": BATCH,
                  "init": "PyTorch default", "generated_images": "decoder means of z ~ N(0, I)",
                  "classifier": clf.description, "classifier_test_accuracy": clf.test_accuracy,
                  "classifier_train_accuracy": clf.train_accuracy,
                  "generation_ability": "1/KL(P||Q) in bits, Q smoothed by +1/2 per class",
                  "torch_threads": 1, "workers": workers},
        claims=claims, figures=figures, per_seed=per_seed, real_image_reference=reference,
        timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _canvas(imgs):
    side = imgs.shape[-1]
    n = int(np.ceil(np.sqrt(len(imgs))))
    canvas = np.ones((n * (side + 1), n * (side + 1)))
    for i, im in enumerate(imgs):
        r, c = divmod(i, n)
        canvas[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = im
    return canvas


def _figure(out, results, seeds, grid, ga, p, n_classes, real_ga):
    plt = S.plt()
    fig = plt.figure(figsize=(12, 11))
    spec = fig.add_gridspec(3, 3, height_ratios=[1.1, 0.8, 1.0])
    shown = [n for n in SHOWN_N_Z if n in grid]
    for col, n_z in enumerate(shown):
        r = results[(seeds[0], n_z)]
        ax = fig.add_subplot(spec[0, col])
        ax.imshow(_canvas(r["samples"]), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(f"({'abc'[col]}) generated, N_z = {n_z}")
        ax.axis("off")
        ax = fig.add_subplot(spec[1, col])
        q = np.asarray(r["generated_label_counts"], float)
        ax.bar(np.arange(n_classes), q / q.sum(), color="tab:gray")
        ax.step(np.arange(n_classes + 1) - 0.5, np.append(p, p[-1]), "k:", where="post")
        ax.set(xlabel="label", ylabel="frequency", xticks=range(n_classes),
               title=f"({'def'[col]}) labels, N_z = {n_z}")
    ax = fig.add_subplot(spec[2, :])
    finite = np.where(np.isfinite(ga), ga, np.nan)
    for row, s in zip(finite, seeds):
        ax.plot(grid, row, "o", color="grey", mfc="none", ms=5)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(finite, 0)
        err = np.nanstd(finite, 0, ddof=1) if len(seeds) > 1 else np.zeros(len(grid))
    ax.errorbar(grid, mean, yerr=err, fmt="s-", color="k", label="mean +- sd over seeds")
    if np.isfinite(real_ga):
        ax.axhline(real_ga, color="tab:blue", ls=":",
                   label="classifier on held-out real images (reference)")
    ax.set(xscale="log", yscale="log", xlabel="N_z (latent dimension)",
           ylabel="generation ability 1/KL (1/bits)",
           title="(g) generation ability of the VAE vs N_z (open circles: seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_figs6")
