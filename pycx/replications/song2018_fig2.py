"""Song, Marsili & Jo fig. 2: resolution H[s] and relevance H[k] of a deep belief network's
hidden layers on MNIST, against random weights, shuffled pixels, k-means and the maximal
relevance curve; m_k for three layers; the exponent beta and the classification error per
layer.

Protocol (per seed s in seed, seed+1, ...): a DBN (``pycx.models.DBN``, the paper's
784-500-250-120-60-30-25-20-15-10-5 in the full run) is trained greedily by PCD-1 (batch 100,
rate 0.1) on the training images; "epoch 0" is the same network before training (weights
N(0, 0.01^2)); "shuffled" is a DBN trained the same way on images whose pixels are permuted
independently per image. States are ``P(h | v) > 0.5``; M = the number of training images.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import claim, make_findings, spread, write_findings

TITLE = "Song et al. 2018 fig. 2: H[s]-H[k] plane, m_k, beta and classification error of a DBN"
PAPER = S.PAPER
NAME = "song2018-fig2"


def _spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a[ok])).astype(float)
    rb = np.argsort(np.argsort(b[ok])).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def _defined_beta(rows):
    """beta per layer, NaN where definitions §3 calls it undefined (< 3 distinct frequencies)."""
    return [r["beta"] if len(r["k"]) >= 3 and np.isfinite(r["beta"]) else np.nan for r in rows]


def _nanmean(v) -> float:
    v = np.asarray(v, float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _mid_fraction(rows, lo=0.1, hi=0.9) -> float:
    return float(np.mean([lo <= r["h_s"] <= hi for r in rows]))


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    with S.single_thread():
        return _run(out, quick=quick, seed=seed, progress=progress)


def _run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    import pycx

    clock = S.Clock()
    cfg0 = S.settings(quick, "mnist")
    t = time.perf_counter()
    x, y, _, _, dataset, side = S.load_data(cfg0["n_images"], seed)
    cfg = S.settings(quick, dataset)
    clock.add("data", t)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    M = int(x.shape[0])

    trained, random_w, shuffled, critical, zipf = [], [], [], [], []
    for s in seeds:
        t = time.perf_counter()
        dbn = S.train_dbn(x, cfg, s, progress)
        clock.add("train_dbn", t)
        rows = S.layer_stats(dbn, x, y)
        trained.append(rows)
        critical.append(S.critical_layer(rows))
        zipf.append(S.zipf_layer([dict(r, beta=b) for r, b in zip(rows, _defined_beta(rows))]))
        random_w.append(S.layer_stats(S.train_dbn(x, cfg, s, False, epochs=0), x, y))
        t = time.perf_counter()
        xs = S.shuffled_pixels(x, s)
        shuffled.append(S.layer_stats(S.train_dbn(xs, cfg, s, progress), xs, y))
        clock.add("train_shuffled", t)
    t = time.perf_counter()
    kmeans = S.kmeans_points(x.numpy(), seed, cfg["kmeans_max_log2"])
    clock.add("kmeans", t)
    curve = pycx.max_relevance_curve(M)
    L = len(cfg["sizes"]) - 1

    # ---- claims ----
    claims = []
    hs = np.array([[r["h_s"] for r in rows] for rows in trained])
    hk = np.array([[r["h_k"] for r in rows] for rows in trained])
    monotone = [bool(np.all(np.diff(h) <= 1e-9)) for h in hs]
    claims.append(claim(
        "After training, H[s] decreases monotonically from layer to layer",
        {"h_s_per_layer": [spread(hs[:, l]) for l in range(L)], "monotone_per_seed": monotone},
        True if all(monotone) else ("partly" if any(monotone) else False),
        expected="H[s] non-increasing over H_1..H_L for every seed"))

    peak = [int(np.argmax(h)) + 1 for h in hk]
    inner = [1 < p < L for p in peak]
    claims.append(claim(
        "H[k] rises to a maximum at an intermediate layer (H_8 of 10 in the paper), then falls",
        {"h_k_per_layer": [spread(hk[:, l]) for l in range(L)], "peak_layer_per_seed": peak},
        True if all(inner) else ("partly" if any(inner) else False),
        expected="the layer of largest H[k] is neither the first nor the last, every seed"))

    # k-means comparison at equal resolution, over the layers inside the k-means range.
    km_hs = np.array([p["h_s"] for p in kmeans])
    km_hk = np.array([p["h_k"] for p in kmeans])
    above, compared = [], 0
    if len(kmeans) >= 2:
        for rows in trained:
            for r in rows:
                if km_hs.min() <= r["h_s"] <= km_hs.max():
                    compared += 1
                    above.append(bool(r["h_k"] > np.interp(r["h_s"], km_hs, km_hk)))
    frac_above = float(np.mean(above)) if above else float("nan")
    claims.append(claim(
        "At the same resolution, the DBN's layers have a higher relevance H[k] than k-means",
        {"fraction_of_layers_above_kmeans": frac_above, "layers_compared": compared,
         "kmeans": [{k: p[k] for k in ("k_clusters", "h_s", "h_k")} for p in kmeans]},
        (True if frac_above >= 0.8 else "partly" if frac_above >= 0.5 else False)
        if above else False,
        expected=">= 80% of the layers whose H[s] lies in the k-means range lie above it"))

    n_upto = max(1, int(round(0.6 * L)))
    gaps = np.array([[S.curve_at(curve.h_s_normalized, curve.h_k_normalized, r["h_s"]) - r["h_k"]
                      for r in rows[:n_upto]] for rows in trained])
    claims.append(claim(
        f"Up to H_{n_upto} the DBN nearly saturates the maximal relevance curve",
        {"gap_to_curve_per_layer": [spread(gaps[:, l]) for l in range(n_upto)],
         "curve_peak_h_k": float(np.max(curve.h_k_normalized)),
         "curve": "pycx.max_relevance_curve(M)"},
        True if bool(np.all(gaps < 0.1)) else ("partly" if _nanmean(gaps) < 0.1 else False),
        expected="curve H[k] minus layer H[k] below 0.1 (normalised) for every such layer"))

    mid_t = [_mid_fraction(r) for r in trained]
    mid_r = [_mid_fraction(r) for r in random_w]
    mid_s = [_mid_fraction(r) for r in shuffled]
    claims.append(claim(
        "Before learning (random weights) the layers concentrate at the low or high end of the "
        "resolution scale",
        {"fraction_mid_resolution_trained": spread(mid_t), "fraction_mid_resolution_random":
         spread(mid_r), "h_s_random_per_layer":
         [spread([rows[l]["h_s"] for rows in random_w]) for l in range(L)]},
        True if np.mean(mid_r) <= 0.5 * np.mean(mid_t) else
        ("partly" if np.mean(mid_r) < np.mean(mid_t) else False),
        expected="fraction of layers with 0.1 <= H[s] <= 0.9 at most half the trained network's"))

    best_t = [max(r["h_s"] + r["h_k"] for r in rows) for rows in trained]
    best_s = [max(r["h_s"] + r["h_k"] for r in rows) for rows in shuffled]
    both = np.mean(mid_s) < np.mean(mid_t) and np.mean(best_s) < np.mean(best_t)
    claims.append(claim(
        "On shuffled pixels the DBN finds mostly low- or high-resolution representations, far "
        "from optimal at intermediate resolution",
        {"fraction_mid_resolution_shuffled": spread(mid_s),
         "max_hs_plus_hk_trained": spread(best_t), "max_hs_plus_hk_shuffled": spread(best_s)},
        True if both else ("partly" if (np.mean(mid_s) < np.mean(mid_t) or
                                        np.mean(best_s) < np.mean(best_t)) else False),
        expected="fewer mid-resolution layers and a lower max H[s]+H[k] than on real images"))

    betas = [_defined_beta(rows) for rows in trained]
    rho_beta = [_spearman(np.arange(1, L + 1), b) for b in betas]
    claims.append(claim(
        "The exponent beta of m_k ~ k^-(beta+1) decreases with depth (fig. 2c)",
        {"beta_per_layer": [spread([b[l] for b in betas]) for l in range(L)],
         "spearman_layer_beta_per_seed": rho_beta},
        True if all(r < -0.8 for r in rho_beta) else
        ("partly" if _nanmean(rho_beta) < -0.5 else False),
        expected="Spearman correlation of beta with the layer index below -0.8, every seed"))

    errs = [[r["classification_error"] for r in rows] for rows in trained]
    rho_err = [_spearman(np.arange(1, L + 1), e) for e in errs]
    claims.append(claim(
        "The classification error grows with depth (fig. 2d)",
        {"classification_error_per_layer": [spread([e[l] for e in errs]) for l in range(L)],
         "spearman_layer_error_per_seed": rho_err},
        True if all(r > 0.8 for r in rho_err) else
        ("partly" if _nanmean(rho_err) > 0.5 else False),
        expected="Spearman correlation of the error with the layer index above 0.8, every seed"))

    beta_at_crit = [b[c - 1] for b, c in zip(betas, critical)]
    same = [c == z for c, z in zip(critical, zipf)]
    near = [z is not None and abs(c - z) <= 1 for c, z in zip(critical, zipf)]
    claims.append(claim(
        "The critical layer (largest H[s] + H[k]) has beta close to 1 (Zipf's law)",
        {"critical_layer_per_seed": critical, "zipf_layer_per_seed": zipf,
         "beta_at_critical_layer": spread(beta_at_crit)},
        True if all(same) else ("partly" if any(same) or all(near) else False),
        expected="critical layer = layer with beta closest to 1, every seed (paper: H_6, "
                 "beta ~ 1)"))

    # ---- figure ----
    t = time.perf_counter()
    figures = _figure(out, trained, random_w, shuffled, kmeans, curve, L)
    clock.add("figures", t)

    per_seed = [{"seed": s, "critical_layer": c, "zipf_layer": z,
                 "layers": [{k: r[k] for k in ("layer", "units", "h_s", "h_k", "beta",
                                               "classification_error", "n_states")}
                            for r in rows]}
                for s, c, z, rows in zip(seeds, critical, zipf, trained)]
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "dataset": dataset, "torch_threads": 1, "M": M, "side": side,
                  "binarisation": "P(h=1|v) > 0.5", "beta": "discrete power-law MLE, k_min=1; "
                  "undefined (NaN) with fewer than 3 distinct frequencies"},
        claims=claims, figures=figures, per_seed=per_seed,
        random_weights=[[{k: r[k] for k in ("layer", "h_s", "h_k", "beta")} for r in rows]
                        for rows in random_w],
        shuffled=[[{k: r[k] for k in ("layer", "h_s", "h_k", "beta")} for r in rows]
                  for rows in shuffled],
        timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _figure(out, trained, random_w, shuffled, kmeans, curve, L):
    plt = S.plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    ax = axes[0, 0]
    ax.plot(curve.h_s_normalized, curve.h_k_normalized, "k:", lw=1, label="maximal relevance")
    for rows_list, style, label in ((trained, dict(color="k", marker="s"), "DBN trained"),
                                    (random_w, dict(color="tab:blue", marker="s", mfc="none"),
                                     "DBN epoch 0"),
                                    (shuffled, dict(color="tab:green", marker="o", mfc="none"),
                                     "shuffled pixels")):
        hs, hs_e = S.mean_std(rows_list, "h_s")
        hk, hk_e = S.mean_std(rows_list, "h_k")
        ax.errorbar(hs, hk, xerr=hs_e, yerr=hk_e, ls="-", lw=0.8, ms=5, label=label, **style)
    hs, _ = S.mean_std(trained, "h_s")
    hk, _ = S.mean_std(trained, "h_k")
    for l in range(L):
        ax.annotate(str(l + 1), (hs[l], hk[l]), textcoords="offset points", xytext=(4, 4),
                    fontsize=7)
    if kmeans:
        ax.plot([p["h_s"] for p in kmeans], [p["h_k"] for p in kmeans], "^", color="tab:orange",
                label="k-means")
    ax.set(xlabel="H[s] / log M", ylabel="H[k] / log M", title="(a) resolution vs relevance",
           xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax.legend(fontsize=8)

    ax = axes[0, 1]
    picks = sorted({max(1, min(L, int(round(f * L)))) for f in (0.3, 0.6, 0.9)})
    for layer, marker in zip(picks, ("o", "s", "^")):
        r = trained[0][layer - 1]
        ax.loglog(r["k"], r["m_k"], marker, mfc="none", color="k", label=f"H_{layer}")
    if kmeans:
        km = kmeans[min(len(kmeans) - 1, 8)]
        ax.loglog(km["k"], km["m_k"], "^", color="tab:orange", label=f"k-means k={km['k_clusters']}")
    ax.set(xlabel="k", ylabel="m_k", title="(b) degeneracy of state frequencies (first seed)")
    ax.legend(fontsize=8)

    layers = np.arange(1, L + 1)
    ax = axes[1, 0]
    for rows_list, style, label in ((trained, dict(color="k", marker="s"), "trained"),
                                    (random_w, dict(color="tab:blue", marker="s", mfc="none"),
                                     "epoch 0")):
        b = np.array([_defined_beta(rows) for rows in rows_list], float)
        with np.errstate(all="ignore"):
            import warnings
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                m, e = np.nanmean(b, 0), (np.nanstd(b, 0, ddof=1) if len(b) > 1 else 0 * b[0])
        ax.errorbar(layers, m, yerr=e, ls="-", label=label, **style)
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    ax.set(xlabel="hidden layer", ylabel="beta", title="(c) exponent of m_k ~ k^-(beta+1)")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    for rows_list, style, label in ((trained, dict(color="k", marker="s"), "trained"),
                                    (random_w, dict(color="tab:blue", marker="s", mfc="none"),
                                     "epoch 0")):
        m, e = S.mean_std(rows_list, "classification_error")
        ax.errorbar(layers, m, yerr=e, ls="-", label=label, **style)
    ax.set(xlabel="hidden layer", ylabel="classification error", title="(d) classification error")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_fig2")
