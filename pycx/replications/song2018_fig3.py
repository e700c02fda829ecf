"""Song, Marsili & Jo fig. 3: samples generated from each hidden layer of a deep belief
network, their label histograms, and the generation ability (1 / KL of label distributions,
docs/definitions.md §7) and classification error against the exponent beta.

Protocol (per seed, the DBN of `song2018-fig2`): from each hidden layer H_l, `gen_samples`
chains start at uniformly random binary states of H_l, run `gen_steps` Gibbs sweeps between
H_l and H_{l-1}, and are propagated down to V by mean field (``DBN.generate``). The generated
images are labelled by a multinomial logistic regression trained on the same training images
(its held-out accuracy is in the findings; the paper's classifier had 1.6% error). The
critical and Zipf layers of the claims come from the mean-field states (as in
`song2018-fig2`); those of binary propagation are reported per seed beside them. The paper's
best layer (H_6) is tested with a tolerance of one layer.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = "Song et al. 2018 fig. 3: generated samples, label histograms, generation ability vs beta"
PAPER = S.PAPER
NAME = "song2018-fig3"

PAPER_BEST_LAYER = 6  # "layer H_6 ... was found to have the best generation ability"
LAYER_TOLERANCE = 1


def _same_or_near(best, other):
    same = [o is not None and b == o for b, o in zip(best, other)]
    near = [o is not None and abs(b - o) <= 1 for b, o in zip(best, other)]
    if same and all(same):
        return True
    return "partly" if any(same) or (near and all(near)) else False


def _v_critical(m):
    return _same_or_near(m["best_generation_layer_per_seed"], m["critical_layer_per_seed"])


def _v_zipf(m):
    return _same_or_near(m["best_generation_layer_per_seed"], m["zipf_layer_per_seed"])


def _v_inside(m):
    n = m["n_layers"]
    return fraction_verdict([1 < b < n for b in m["best_generation_layer_per_seed"]],
                            true_at=1.0, partly_at=1e-9)


def _v_h6(m):
    return fraction_verdict([abs(b - m["paper_best_layer"]) <= m["tolerance"]
                             for b in m["best_generation_layer_per_seed"]],
                            true_at=1.0, partly_at=0.5)


RULE_CRITICAL = Rule(
    "best_generation_is_critical",
    "The layer with the best generation ability is the critical layer (largest H[s] + H[k])",
    "same layer for every seed: true; for some seed, or within one layer for every seed: "
    "partly; else false (an undefined critical layer never matches)", _v_critical)
RULE_ZIPF = Rule(
    "best_generation_is_zipf",
    "The layer with the best generation ability has beta closest to 1 (Zipf's law)",
    "best layer = the layer whose defined beta is closest to 1, every seed: true; for some "
    "seed, or within one layer for every seed: partly; else false", _v_zipf)
RULE_INSIDE = Rule(
    "generation_peaks_inside",
    "Generation ability peaks at an intermediate layer: shallow layers generate noisy samples "
    "and deep layers stereotyped ones, both with label distributions far from the training one",
    "best layer neither H_1 nor H_L: every seed true; some seeds partly; none false", _v_inside)
RULE_H6 = Rule(
    "best_generation_h6", "The best generation ability is at H_6 (fig. 3g)",
    f"best layer within H_{PAPER_BEST_LAYER} +- {LAYER_TOLERANCE}: every seed true; at least "
    "half the seeds partly; else false", _v_h6)

RULES = (RULE_CRITICAL, RULE_ZIPF, RULE_INSIDE, RULE_H6)


def _train(s, x, y, cfg, progress) -> dict:
    """One seed's trained DBN and its layer statistics (both propagations)."""
    with S.single_thread():
        t = time.process_time()
        dbn = S.train_dbn(x, cfg, s, progress)
        seconds = {"train_dbn_cpu": time.process_time() - t}
        stats = S.layer_stats(dbn, x, y)
        binary = S.layer_stats(dbn, x, y, propagation="binary")
    return {"dbn": dbn, "stats": stats, "binary": binary, "seconds": seconds}


def _generate(dbn, s, layers, y, cfg, clf, n_classes, side, keep_samples, progress) -> dict:
    """Generation ability of samples from each of `layers` of one seed's DBN (chains seeded
    by seed and layer, so the split of layers between tasks changes nothing)."""
    from pycx.estimators.generation import generation_ability, label_images

    with S.single_thread():
        t = time.process_time()
        out = {}
        for layer in layers:
            gen = dbn.generate(layer, cfg["gen_samples"], steps=cfg["gen_steps"],
                               seed=1000 * s + layer, progress=progress)
            r = generation_ability(y, label_images(gen, clf), n_classes)
            out[layer] = {"ga": r.generation_ability, "kl": r.kl_bits,
                          "q": r.generated_counts.tolist(),
                          "samples": gen[:64].reshape(-1, side, side).numpy() if keep_samples
                          else None}
    return {"layers": out, "seconds": time.process_time() - t}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    with S.single_thread():
        return _run(out, quick=quick, seed=seed, progress=progress)


def _run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from pycx.estimators.generation import default_classifier

    clock = S.Clock()
    cfg0 = S.settings(quick, "mnist")
    t = time.perf_counter()
    x, y, xt, yt, dataset, side = S.load_data(cfg0["n_images"], seed)
    cfg = S.settings(quick, dataset)
    n_classes = int(max(y.max(), yt.max())) + 1
    clock.add("data", t)
    t = time.perf_counter()
    clf = default_classifier(x, y, test_images=xt, test_labels=yt, seed=seed)
    clock.add("classifier", t)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    L = len(cfg["sizes"]) - 1

    workers = S.n_workers()
    show = progress and workers == 1
    trained = S.map_tasks(_train, [(s, x, y, cfg, show) for s in seeds], workers)
    stats = [d["stats"] for d in trained]
    binary = [d["binary"] for d in trained]
    # Generation in as many tasks as there are workers, each a share of (seed, layer) pairs.
    pairs = [(i, layer) for i in range(len(seeds)) for layer in range(1, L + 1)]
    chunks = [pairs[j::workers] for j in range(min(workers, len(pairs)))]
    tasks = []
    for chunk in chunks:
        for i in sorted({i for i, _ in chunk}):
            tasks.append((trained[i]["dbn"], seeds[i], [l for j, l in chunk if j == i], y, cfg,
                          clf, n_classes, side, i == 0, show))
    gen = {}
    for task, res in zip(tasks, S.map_tasks(_generate, tasks, workers)):
        for layer, r in res["layers"].items():
            gen[(task[1], layer)] = r
        clock.parts["generate_cpu"] = clock.parts.get("generate_cpu", 0.0) + res["seconds"]
    for d in trained:
        clock.parts["train_dbn_cpu"] = clock.parts.get("train_dbn_cpu", 0.0) + \
            d["seconds"]["train_dbn_cpu"]
    ga = [[gen[(s, l)]["ga"] for l in range(1, L + 1)] for s in seeds]
    kl = [[gen[(s, l)]["kl"] for l in range(1, L + 1)] for s in seeds]
    q_hist = [[gen[(s, l)]["q"] for l in range(1, L + 1)] for s in seeds]
    samples = {l: gen[(seeds[0], l)]["samples"] for l in range(1, L + 1)}

    critical = [S.critical_layer(rows) for rows in stats]
    betas = [S.defined_beta(rows) for rows in stats]
    zipf = [S.zipf_layer(rows) for rows in stats]
    best = [int(np.argmax(g)) + 1 for g in ga]
    ga_arr = np.array(ga, float)

    claims = [
        RULE_CRITICAL({"best_generation_layer_per_seed": best,
                       "critical_layer_per_seed": critical}),
        RULE_ZIPF({"best_generation_layer_per_seed": best, "zipf_layer_per_seed": zipf,
                   "beta_at_best_layer": spread([b[l - 1] for b, l in zip(betas, best)])}),
        RULE_INSIDE({"best_generation_layer_per_seed": best, "n_layers": L,
                     "generation_ability_per_layer": [spread(ga_arr[:, l]) for l in range(L)],
                     "kl_bits_per_layer": [spread(np.array(kl)[:, l]) for l in range(L)]}),
        RULE_H6({"best_generation_layer_per_seed": best, "paper_best_layer": PAPER_BEST_LAYER,
                 "tolerance": LAYER_TOLERANCE, "n_layers": L}),
    ]

    t = time.perf_counter()
    figures = _figure(out, samples, q_hist, y, n_classes, stats, betas, ga_arr, critical, L)
    clock.add("figures", t)
    per_seed = [{"seed": s, "critical_layer": c, "zipf_layer": z, "best_generation_layer": b,
                 "critical_layer_binary_propagation": S.critical_layer(bin_rows),
                 "zipf_layer_binary_propagation": S.zipf_layer(bin_rows),
                 "generation_ability": g, "kl_bits": k, "generated_label_counts": q,
                 "beta": bb, "classification_error": [r["classification_error"] for r in rows]}
                for s, c, z, b, g, k, q, bb, rows, bin_rows in zip(
                    seeds, critical, zipf, best, ga, kl, q_hist, betas, stats, binary)]
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "dataset": dataset, "torch_threads": 1, "M": int(x.shape[0]), "side": side,
                  "workers": workers,
                  "classifier": clf.description, "classifier_test_accuracy": clf.test_accuracy,
                  "classifier_train_accuracy": clf.train_accuracy,
                  "generation_ability": "1/KL(P||Q) in bits, Q smoothed by +1/2 per class"},
        claims=claims, figures=figures, per_seed=per_seed, timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _figure(out, samples, q_hist, y, n_classes, stats, betas, ga, critical, L):
    plt = S.plt()
    fig = plt.figure(figsize=(12, 11))
    grid = fig.add_gridspec(3, 3, height_ratios=[1.1, 0.8, 1.1])
    mid = critical[0] if critical[0] is not None else (L + 1) // 2  # undefined: the middle
    show = [min(2, L), mid, L]
    p = np.bincount(y, minlength=n_classes) / len(y)
    for col, layer in enumerate(show):
        ax = fig.add_subplot(grid[0, col])
        imgs = samples[layer]
        side = imgs.shape[-1]
        n = int(np.ceil(np.sqrt(len(imgs))))
        canvas = np.ones((n * (side + 1), n * (side + 1)))
        for i, im in enumerate(imgs):
            r, c = divmod(i, n)
            canvas[r * (side + 1): r * (side + 1) + side, c * (side + 1): c * (side + 1) + side] = im
        ax.imshow(canvas, cmap="gray_r", vmin=0, vmax=1)
        tag = " (critical)" if layer == critical[0] else ""
        ax.set_title(f"({'abc'[col]}) generated from H_{layer}{tag}")
        ax.axis("off")
        ax = fig.add_subplot(grid[1, col])
        q = np.asarray(q_hist[0][layer - 1], float)
        ax.bar(np.arange(n_classes), q / q.sum(), color="tab:gray")
        ax.step(np.arange(n_classes + 1) - 0.5, np.append(p, p[-1]), "k:", where="post")
        ax.set(xlabel="label", ylabel="frequency", title=f"({'def'[col]}) labels from H_{layer}",
               xticks=range(n_classes))
    ax = fig.add_subplot(grid[2, :])
    b = np.array(betas, float)
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        bm = np.nanmean(b, 0)
        finite_ga = np.where(np.isfinite(ga), ga, np.nan)
        gm = np.nanmean(finite_ga, 0)
        ge = np.nanstd(finite_ga, 0, ddof=1) if len(ga) > 1 else np.zeros(L)
    em, ee = S.mean_std(stats, "classification_error")
    ax.errorbar(bm, gm, yerr=ge, fmt="s", color="k", label="generation ability")
    for l in range(L):
        if np.isfinite(bm[l]) and np.isfinite(gm[l]):
            ax.annotate(str(l + 1), (bm[l], gm[l]), textcoords="offset points", xytext=(4, 4),
                        fontsize=8)
    ax.axvline(1.0, color="grey", ls=":", lw=1)
    ax.set(xlabel="beta", ylabel="generation ability 1/KL (1/bits)",
           title="(g) generation ability and classification error vs beta")
    ax2 = ax.twinx()
    ax2.errorbar(bm, em, yerr=ee, fmt="o", color="tab:blue", mfc="none",
                 label="classification error")
    ax2.set_ylabel("classification error", color="tab:blue")
    ax.legend(loc="upper left", fontsize=8)
    ax2.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_fig3")
