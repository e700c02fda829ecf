"""Song, Marsili & Jo fig. S4: sparseness of a restricted Boltzmann machine with 50 hidden
nodes. Sparse connectivity (an L2 penalty on the weights) and sparse activity (an L2 penalty
pulling each hidden unit's mean activity towards a target p) move the hidden layer in the
H[s]-H[k] plane; "the frequency distribution of their hidden states also followed power laws,
although too strong sparsity lead to small H[s] and H[k] as well".

Protocol (per seed s in seed, seed+1, ...): an RBM 784-50 (``pycx.models.RBM``'s machine,
W ~ N(0, 0.01^2), zero biases) is trained by PCD-1 (batch 100, rate 0.1, the paper's and the
DBN replications' settings; 200 epochs, the paper's count) on the training images with the
caption's cost ``C = -log L / M + lambda_c sum W^2 + lambda_a sum_j (p - q_j)^2``,
``q_j = M^-1 sum_mu P(h_j = 1 | v_mu)`` (`_song2018.train_sparse_rbm`). Two sweeps, one
penalty at a time as in the caption: connectivity (``lambda_a = 0``) over `LAMBDA_C` and
activity (``lambda_c = 0``) over `LAMBDA_A`; lambda = 0 is the same unregularised RBM in both.
The hidden states ``P(h | v) > 0.5`` of the training images give H[s], H[k] (normalised by
log2 M), beta and the power-law test of `_song2018.power_law_test`.

Decisions where the paper is silent (each also in docs/decisions.md): the target activity is
``p = 0.05`` (`_song2018.SPARSE_TARGET`; the caption gives none); ``-log L`` is the mean over
the images (the CD gradient's scale), so lambda_c is the usual weight decay / 2; ``q_j`` is
estimated on each mini-batch and the activity penalty's exact gradient reaches W and the
hidden biases; the lambda grids (the paper gives none) are decades from negligible to
dominating the likelihood gradient; "moderate" sparsity is every lambda strictly between 0
and the sweep's largest, "too strong" the largest.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("Song et al. 2018 fig. S4: sparse connectivity and sparse activity of an RBM with 50 "
         "hidden nodes in the H[s]-H[k] plane")
PAPER = S.PAPER
NAME = "song2018-figs4"

N_HIDDEN = 50
LAMBDA_C = (0.0, 1e-3, 1e-2, 1e-1, 1.0)     # connectivity sweep (lambda_a = 0)
LAMBDA_A = (0.0, 1e-2, 1e-1, 1.0, 10.0)     # activity sweep (lambda_c = 0)
QUICK_LAMBDA_C = (0.0, 1e-2, 1.0)
QUICK_LAMBDA_A = (0.0, 1e-1, 10.0)
FULL = dict(epochs=200, batch_size=100, lr=0.1, k=1, persistent=True, n_seeds=3,
            n_images=None, power_law_bootstrap=200)
QUICK = dict(epochs=15, batch_size=100, lr=0.1, k=1, persistent=True, n_seeds=2,
             n_images=1000, power_law_bootstrap=50)
MARGIN = 0.02             # of log2 M: smaller differences are ties
CURVE_GAP = 0.1           # of log2 M: "near" the maximal relevance curve
MID = (0.1, 0.9)          # intermediate resolution
P_PLAUSIBLE = 0.1         # a power law is plausible at bootstrap p >= 0.1
SWEEPS = ("connectivity", "activity")


def _num(v) -> float:
    return float("nan") if v is None else float(v)


# ------------------------------------------------------------------------------------ rules

def _v_strong(m):
    both, either = [], []
    for c in m["cases"]:
        hs_low = _num(c["h_s_strongest"]) < _num(c["h_s_unregularised"]) - m["margin"]
        hk_low = _num(c["h_k_strongest"]) < _num(c["h_k_max_weaker"]) - m["margin"]
        both.append(hs_low and hk_low)
        either.append(hs_low or hk_low)
    if not both:
        return False
    if all(both):
        return True
    return "partly" if sum(both) >= len(both) / 2 or all(either) else False


def _v_power_law(m):
    ok = [t["p_value"] is not None and t["p_value"] >= m["p_threshold"] for t in m["tests"]]
    return fraction_verdict(ok, true_at=0.8, partly_at=0.5)


def _v_curve(m):
    gaps = [_num(p["gap_to_curve"]) for p in m["mid_points"]]
    if not gaps:
        return False
    thr = m["threshold"]
    if all(g < thr for g in gaps):  # NaN compares False: an undefined gap fails
        return True
    return "partly" if float(np.mean(gaps)) < thr else False


RULE_STRONG = Rule(
    "strong_sparsity_small_entropies",
    "Too strong sparsity (of connectivity or of activity) leads to small H[s] and H[k]",
    f"per sweep (connectivity: lambda_c in {list(LAMBDA_C)}, lambda_a = 0; activity: lambda_a "
    f"in {list(LAMBDA_A)}, lambda_c = 0, target p = {S.SPARSE_TARGET}) and seed, at the "
    f"sweep's largest lambda: H[s] more than {MARGIN} of log2 M below the unregularised RBM's "
    f"and H[k] more than {MARGIN} below the largest H[k] of the sweep's weaker settings "
    "(lambda = 0 included). Both in every case: true; both in at least half the cases, or at "
    "least one of the two in every case: partly; else false", _v_strong)
RULE_POWER_LAW = Rule(
    "sparse_states_power_law",
    "The frequency distributions of the hidden states of sparse RBMs follow power laws",
    f"power law plausible (Clauset-Shalizi-Newman bootstrap of the KS distance, k_min = 1, "
    f"p >= {P_PLAUSIBLE}) at every moderate sparsity (lambda strictly between 0 and the "
    "sweep's largest, both sweeps) and seed: >= 80% of the cases true; >= 50% partly; else "
    "false. An undefined test (fewer than 30 states or 3 distinct frequencies: no tail, e.g. "
    "every image in its own state) counts as not plausible", _v_power_law)
RULE_CURVE = Rule(
    "sparse_near_max_relevance",
    "Sparse RBMs' hidden layers lie near the maximal relevance curve (the paper's general "
    "claim for trained networks, applied to fig. S4a,b)",
    f"curve H[k] minus the layer's H[k] (at its H[s]) below {CURVE_GAP} of log2 M for every "
    f"setting (both sweeps, lambda = 0 included) and seed with {MID[0]} <= H[s]/log2 M <= "
    f"{MID[1]}: true; mean gap below it: partly; else, or no setting at intermediate "
    "resolution (the ends sit on the curve by construction), false", _v_curve)

RULES = (RULE_STRONG, RULE_POWER_LAW, RULE_CURVE)


# -------------------------------------------------------------------------------------- run

def _settings_list(cfg) -> list:
    """(sweep, lambda_c, lambda_a) of every distinct training (lambda = 0 once)."""
    out = [("none", 0.0, 0.0)]
    out += [("connectivity", lc, 0.0) for lc in cfg["lambda_c"] if lc > 0]
    out += [("activity", 0.0, la) for la in cfg["lambda_a"] if la > 0]
    return out


def _train_measure(s: int, sweep: str, lambda_c: float, lambda_a: float, x, y, cfg: dict,
                   keep_weights: bool) -> dict:
    """One RBM of one seed and setting, trained and measured (one task of the run)."""
    import torch

    import pycx
    from pycx.kernels.state_counts import state_counts

    with S.single_thread():
        t = time.process_time()
        rbm = S.train_sparse_rbm(x, N_HIDDEN, epochs=cfg["epochs"], batch_size=cfg["batch_size"],
                                 lr=cfg["lr"], k=cfg["k"], persistent=cfg["persistent"], seed=s,
                                 lambda_c=lambda_c, lambda_a=lambda_a, target=cfg["target"])
        train_s = time.process_time() - t
        with torch.no_grad():
            p = rbm.p_h_given_v(x)
        bits = pycx.pack_bits(p, 0.5)
        rr = pycx.resolution_relevance(bits, y)
        counts = np.asarray(state_counts(bits).counts, dtype=np.int64)
        pl = S.power_law_test(counts, len(y), n_boot=cfg["power_law_bootstrap"], seed=s)
        on = (p > 0.5).float()
        row = {"seed": s, "sweep": sweep, "lambda_c": lambda_c, "lambda_a": lambda_a,
               "h_s": rr.h_s_normalized, "h_k": rr.h_k_normalized,
               "beta": S.defined_beta([{"beta": rr.beta_mle, "k": rr.k.tolist()}])[0],
               "n_states": rr.n_states, "classification_error": rr.classification_error,
               "p_value": pl["p_value"], "ks": pl["ks"], "lr_vs_geometric": pl["lr_vs_geometric"],
               "mean_activity": float(p.mean()),
               "mean_active_units": float(on.sum(1).mean()),
               "dead_units": int((on.sum(0) == 0).sum()),
               "weight_rms": float(rbm.W.square().mean().sqrt()),
               "reconstruction_error": rbm.history[-1]["reconstruction_error"]
               if rbm.history else None,
               "k": rr.k.tolist(), "m_k": rr.m_k.tolist(), "train_cpu_s": train_s}
        if keep_weights:
            row["W"] = rbm.W.numpy().copy()
    return row


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    with S.single_thread():
        return _run(out, quick=quick, seed=seed, progress=progress)


def _run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    import pycx

    clock = S.Clock()
    cfg = dict(QUICK if quick else FULL)
    cfg.update(lambda_c=list(QUICK_LAMBDA_C if quick else LAMBDA_C),
               lambda_a=list(QUICK_LAMBDA_A if quick else LAMBDA_A), target=S.SPARSE_TARGET,
               n_hidden=N_HIDDEN)
    t = time.perf_counter()
    x, y, _, _, dataset, side = S.load_data(cfg["n_images"], seed)
    clock.add("data", t)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    M = int(x.shape[0])
    workers = S.n_workers()
    # The features panel shows the activity sweep's weights of the first seed.
    tasks = [(s, sw, lc, la, x, y, cfg, s == seeds[0] and sw in ("activity", "none"))
             for s in seeds for sw, lc, la in _settings_list(cfg)]
    if progress:
        print(f"{NAME}: {len(tasks)} RBMs ({len(seeds)} seeds) on {M} images, "
              f"{workers} worker(s)", flush=True)
    t = time.perf_counter()
    rows = S.map_tasks(_train_measure, tasks, workers)
    clock.add("train_and_measure", t)
    clock.parts["train_cpu"] = sum(r.pop("train_cpu_s") for r in rows)

    def sweep_rows(sweep, s):
        """The sweep's rows of seed s in increasing lambda (lambda = 0 first)."""
        key = "lambda_c" if sweep == "connectivity" else "lambda_a"
        mine = [r for r in rows if r["seed"] == s and r["sweep"] in ("none", sweep)]
        return sorted(mine, key=lambda r: r[key])

    curve = pycx.max_relevance_curve(M)
    at_curve = lambda h_s: S.curve_at(curve.h_s_normalized, curve.h_k_normalized, h_s)

    cases, tests, mid_points = [], [], []
    for sweep in SWEEPS:
        key = "lambda_c" if sweep == "connectivity" else "lambda_a"
        for s in seeds:
            sr = sweep_rows(sweep, s)
            strongest, weaker = sr[-1], sr[:-1]
            cases.append({"sweep": sweep, "seed": s, "lambda_strongest": strongest[key],
                          "h_s_strongest": strongest["h_s"], "h_k_strongest": strongest["h_k"],
                          "h_s_unregularised": sr[0]["h_s"],
                          "h_k_max_weaker": max(r["h_k"] for r in weaker),
                          "lambda_of_max_h_k_weaker": max(weaker, key=lambda r: r["h_k"])[key]})
            for r in sr[1:-1]:
                tests.append({"sweep": sweep, "seed": s, "lambda": r[key],
                              "p_value": r["p_value"], "ks": r["ks"], "beta": r["beta"],
                              "n_states": r["n_states"], "lr_vs_geometric": r["lr_vs_geometric"]})
    for r in rows:
        if MID[0] <= r["h_s"] <= MID[1]:
            mid_points.append({"sweep": r["sweep"], "seed": r["seed"], "lambda_c": r["lambda_c"],
                               "lambda_a": r["lambda_a"], "h_s": r["h_s"], "h_k": r["h_k"],
                               "gap_to_curve": at_curve(r["h_s"]) - r["h_k"]})

    def per_setting(sweep):
        key = "lambda_c" if sweep == "connectivity" else "lambda_a"
        lams = cfg[key]
        table = {}
        for lam in lams:
            mine = [r for s in seeds for r in sweep_rows(sweep, s) if r[key] == lam]
            table[f"{key}={lam:g}"] = {f: spread([_num(r[f]) for r in mine])
                                       for f in ("h_s", "h_k", "beta", "mean_activity",
                                                 "mean_active_units", "dead_units")}
        return table

    claims = [
        RULE_STRONG({"cases": cases, "margin": MARGIN,
                     "per_setting": {sw: per_setting(sw) for sw in SWEEPS}}),
        RULE_POWER_LAW({"tests": tests, "p_threshold": P_PLAUSIBLE}),
        RULE_CURVE({"mid_points": mid_points, "threshold": CURVE_GAP,
                    "n_settings_total": len(rows),
                    "curve": f"pycx.max_relevance_curve({M}), {curve.method}"}),
    ]

    t = time.perf_counter()
    figures = _figure(out, rows, seeds, cfg, curve)
    clock.add("figures", t)
    public = [{k: v for k, v in r.items() if k not in ("k", "m_k", "W")} for r in rows]
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "dataset": dataset, "M": M, "side": side, "workers": workers,
                  "torch_threads": 1, "architecture": f"RBM {x.shape[1]}-{N_HIDDEN}",
                  "init": "W ~ N(0, 0.01^2), zero biases",
                  "cost": "mean negative log-likelihood (PCD gradient) + lambda_c sum W^2 + "
                          "lambda_a sum_j (p - q_j)^2, q_j the mini-batch mean of P(h_j=1|v)",
                  "binarisation": "P(h=1|v) > 0.5",
                  "beta": "discrete power-law MLE, k_min=1; undefined (NaN) with fewer than 3 "
                          "distinct frequencies",
                  "power_law_test": "truncated discrete power law on 1..M, KS distance, "
                                    f"{cfg['power_law_bootstrap']} bootstrap samples, "
                                    f"plausible at p >= {P_PLAUSIBLE}"},
        claims=claims, figures=figures, per_rbm=public, timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _features(ax_grid, W, side, title, fig):
    """49 hidden units' weights W_j^T as side x side images, each scaled to [0, 1] (caption)."""
    for i, ax in enumerate(ax_grid):
        w = W[:, i]
        lo, hi = float(w.min()), float(w.max())
        img = (w - lo) / (hi - lo) if hi > lo else np.zeros_like(w)
        ax.imshow(img.reshape(side, side), cmap="gray", vmin=0, vmax=1)
        ax.set_xticks([])
        ax.set_yticks([])
    ax_grid[3].set_title(title, fontsize=8)


def _figure(out, rows, seeds, cfg, curve):
    plt = S.plt()
    lam_a_show = [la for la in cfg["lambda_a"] if la > 0]
    shown = [lam_a_show[0], lam_a_show[len(lam_a_show) // 2], lam_a_show[-1]]
    shown = list(dict.fromkeys(shown))
    fig = plt.figure(figsize=(12, 9.5))
    gs = fig.add_gridspec(2, 1, height_ratios=[1.05, 1.0], hspace=0.25)
    top = gs[0].subgridspec(1, 2, wspace=0.25)
    for col, sweep in enumerate(SWEEPS):
        ax = fig.add_subplot(top[col])
        key = "lambda_c" if sweep == "connectivity" else "lambda_a"
        ax.plot(curve.h_s_normalized, curve.h_k_normalized, "k:", lw=1,
                label="maximal relevance")
        lams = cfg[key]
        colours = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(lams)))
        for lam, c in zip(lams, colours):
            mine = [r for r in rows if r[key] == lam and r["sweep"] in ("none", sweep)]
            hs = [r["h_s"] for r in mine]
            hk = [r["h_k"] for r in mine]
            ax.errorbar(np.mean(hs), np.mean(hk),
                        xerr=np.std(hs, ddof=1) if len(hs) > 1 else 0,
                        yerr=np.std(hk, ddof=1) if len(hk) > 1 else 0, fmt="o", color=c,
                        ms=6, label=f"{key} = {lam:g}")
            ax.plot(hs, hk, ".", color=c, ms=3)
        ax.set(xlabel="H[s] / log M", ylabel="H[k] / log M", xlim=(-0.02, 1.02),
               ylim=(-0.02, 1.02),
               title=f"({'ab'[col]}) sparse {sweep} "
                     f"({'lambda_a' if col == 0 else 'lambda_c'} = 0)")
        ax.legend(fontsize=7)
    side = int(round(np.sqrt(rows[0]["W"].shape[0]))) if "W" in rows[0] else None
    bottom = gs[1].subgridspec(1, len(shown), wspace=0.08)
    for col, la in enumerate(shown):
        r = next((r for r in rows if r["seed"] == seeds[0] and r["sweep"] == "activity"
                  and r["lambda_a"] == la and "W" in r), None)
        if r is None or side is None or side * side != r["W"].shape[0]:
            continue
        cell = bottom[col].subgridspec(7, 7, wspace=0.04, hspace=0.04)
        axes = [fig.add_subplot(cell[i // 7, i % 7]) for i in range(49)]
        _features(axes, r["W"], side,
                  f"({'cde'[col]}) features, lambda_a = {la:g} (p = {cfg['target']:g})", fig)
    return S.save_figure(fig, out, "song2018_figs4")
