"""Song, Marsili & Jo fig. 2: resolution H[s] and relevance H[k] of a deep belief network's
hidden layers on MNIST, against random weights, shuffled pixels, k-means and the maximal
relevance curve; m_k for three layers; the exponent beta and the classification error per
layer.

Protocol (per seed s in seed, seed+1, ...): a DBN (``pycx.models.DBN``, the paper's
784-500-250-120-60-30-25-20-15-10-5 in the full run) is trained greedily by PCD-1 (batch 100,
rate 0.1) on the training images. "Epoch 0" is the same network before training, at each weight
scale of `_song2018.RANDOM_INIT_STDS` (W ~ N(0, std^2), zero biases; the paper does not give
its scale). "Shuffled" is a DBN trained the same way on images whose pixels are permuted
independently per image. States are ``P(h | v) > 0.5``; M = the number of training images.
The claims read the states of the mean-field upward pass (each RBM receives the
probabilities of the layer below, as in training); the same statistics with binary
propagation (each RBM receives the binarised state below) are reported beside them
(``binary_propagation``). k-means runs on the raw pixels, as the paper's.

Decisions where the paper is silent or its setting does not fit (each stated in the rule's
words): the DBN and k-means are compared only where they differ by more than a margin (0.02
of log2 M), since at low resolution both sit on the bound H[k] = H[s] and a strict ">" would
be decided by ties; the paper's layer numbers (H[k] peak at H_8, critical layer H_6, m_k of
H_3, H_6, H_9) are tested with a tolerance of one layer; the k-means reference of fig. 2b
(k = 2^12 at M = 60,000) is taken at the same mean cluster size
(`_song2018.kmeans_reference_k`); m_k is a power law when the Clauset-Shalizi-Newman
bootstrap p-value of the KS distance is at least 0.1 (`_song2018.power_law_test`).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, verdict, write_findings

TITLE = "Song et al. 2018 fig. 2: H[s]-H[k] plane, m_k, beta and classification error of a DBN"
PAPER = S.PAPER
NAME = "song2018-fig2"

PAPER_PEAK_LAYER = 8      # "H[k] increases up to the eighth hidden layer H_8 and then decreases"
PAPER_CRITICAL_LAYER = 6  # "layer H_6, which achieved the highest value of H[s] + H[k]"
PAPER_MK_LAYERS = (3, 6, 9)  # fig. 2b
LAYER_TOLERANCE = 1
KMEANS_MARGIN = 0.02      # of log2 M: closer than this, DBN and k-means are tied
CURVE_GAP = 0.1           # of log2 M: "nearly saturates" the maximal relevance curve
MID = (0.1, 0.9)          # intermediate resolution: 0.1 <= H[s] / log2 M <= 0.9
P_PLAUSIBLE = 0.1         # a power law is plausible at bootstrap p >= 0.1


def _num(v) -> float:
    """A measured number that may have gone through JSON (NaN -> None)."""
    return float("nan") if v is None else float(v)


def _mean(values) -> float:
    v = np.array([_num(x) for x in values], float)
    v = v[np.isfinite(v)]
    return float(v.mean()) if v.size else float("nan")


def _spearman(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3:
        return float("nan")
    ra = np.argsort(np.argsort(a[ok])).astype(float)
    rb = np.argsort(np.argsort(b[ok])).astype(float)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def _within(layers, target, tol=LAYER_TOLERANCE) -> list:
    return [l is not None and abs(int(l) - target) <= tol for l in layers]


# ------------------------------------------------------------------------------------ rules

def _v_h_s(m):
    return verdict(m["monotone_per_seed"])


def _v_peak(m):
    peaks, target, tol, n = (m["peak_layer_per_seed"], m["paper_peak_layer"], m["tolerance"],
                             m["n_layers"])
    near = _within(peaks, target, tol)
    if near and all(near):
        return True
    if (near and sum(near) >= len(near) / 2) or (peaks and all(1 < p < n for p in peaks)):
        return "partly"
    return False


def _v_kmeans(m):
    decided = m["dbn_higher"] + m["kmeans_higher"]
    if decided < 3:
        return False
    return fraction_verdict([True] * m["dbn_higher"] + [False] * m["kmeans_higher"],
                            true_at=0.8, partly_at=0.5)


def _v_curve(m):
    gaps = [_num(g) for seed in m["gaps_per_seed"] for g in seed]
    if not gaps:
        return False
    thr = m["threshold"]
    if all(g < thr for g in gaps):  # NaN compares False: an undefined gap fails
        return True
    return "partly" if _mean(gaps) < thr else False


def _v_random(m):
    trained = _mean(m["fraction_mid_trained"]["values"])
    flags = [_mean(s["values"]) <= 0.5 * trained for s in m["fraction_mid_random"].values()]
    return verdict(flags)


def _v_epoch0(m):
    layers = m["mid_layers"]
    if not layers:
        return False
    ok = [_num(r["gap_to_curve"]) < m["gap_threshold"] and r["p_value"] is not None
          and r["p_value"] >= m["p_threshold"] for r in layers]
    return fraction_verdict(ok, true_at=1.0, partly_at=0.5)


def _v_shuffled(m):
    fewer = _mean(m["fraction_mid_shuffled"]["values"]) < _mean(m["fraction_mid_trained"]["values"])
    lower = (_mean(m["max_hs_plus_hk_shuffled"]["values"])
             < _mean(m["max_hs_plus_hk_trained"]["values"]))
    return True if fewer and lower else ("partly" if fewer or lower else False)


def _v_power_law(m):
    dbn = [r["p_value"] is not None and r["p_value"] >= m["p_threshold"] for r in m["dbn"]]
    km = m["kmeans"]["p_value"]
    km_rejected = km is not None and km < m["p_threshold"]
    if not dbn:
        return False
    frac = sum(dbn) / len(dbn)
    if frac == 1.0 and km_rejected:
        return True
    return "partly" if (frac >= 0.5 and km_rejected) or frac == 1.0 else False


def _v_beta(m):
    rho = [_num(r) for r in m["spearman_layer_beta_per_seed"]]
    if rho and all(r < -0.8 for r in rho):
        return True
    return "partly" if _mean(rho) < -0.5 else False


def _v_error(m):
    rho = [_num(r) for r in m["spearman_layer_error_per_seed"]]
    if rho and all(r > 0.8 for r in rho):
        return True
    return "partly" if _mean(rho) > 0.5 else False


def _v_zipf(m):
    crit, zipf = m["critical_layer_per_seed"], m["zipf_layer_per_seed"]
    same = [c is not None and c == z for c, z in zip(crit, zipf)]
    near = [c is not None and z is not None and abs(c - z) <= 1 for c, z in zip(crit, zipf)]
    if same and all(same):
        return True
    return "partly" if any(same) or (near and all(near)) else False


def _v_critical(m):
    near = _within(m["critical_layer_per_seed"], m["paper_critical_layer"], m["tolerance"])
    return fraction_verdict(near, true_at=1.0, partly_at=0.5)


RULE_H_S = Rule(
    "h_s_decreases", "After training, H[s] decreases monotonically from layer to layer",
    "H[s] non-increasing over H_1..H_L: every seed true; some seeds partly; none false", _v_h_s)
RULE_PEAK = Rule(
    "h_k_peak_h8", "H[k] increases up to the eighth hidden layer H_8 and then decreases",
    f"the layer of largest H[k] within H_{PAPER_PEAK_LAYER} +- {LAYER_TOLERANCE}: every seed "
    "true; at least half the seeds, or every seed's peak strictly between H_1 and H_L (H_1 has "
    "every state distinct, so H[k] there is 0 by construction), partly; else false", _v_peak)
RULE_KMEANS = Rule(
    "dbn_above_kmeans",
    "At the same resolution the DBN's H[k] is significantly higher than k-means' (raw pixels)",
    f"per layer and seed with H[s] inside the k-means range: DBN higher when its H[k] exceeds "
    f"k-means' (interpolated at the same H[s]) by more than {KMEANS_MARGIN} of log2 M, k-means "
    "higher when the reverse, tied otherwise (both on the H[k] = H[s] bound); ties are left "
    "out; of the decided cases >= 80% DBN higher: true; >= 50%: partly; else, or fewer than 3 "
    "decided cases (comparison undefined), false", _v_kmeans)
RULE_CURVE = Rule(
    "near_max_relevance_to_h6",
    "Up to layer H_6 the DBN's H[k] almost saturates the maximal relevance curve",
    f"curve H[k] minus layer H[k] (at the layer's H[s]) below {CURVE_GAP} of log2 M for every "
    "layer H_1..H_6 (H_1..H_L if L < 6) and seed: true; mean gap below it: partly; else false "
    "(H_1, with every state distinct, sits on the curve's end by construction)", _v_curve)
RULE_RANDOM = Rule(
    "random_weights_extremes",
    "Before learning (random weights) most layers concentrate at the low or high end of the "
    "resolution scale",
    f"fraction of layers with {MID[0]} <= H[s]/log2 M <= {MID[1]} at epoch 0 (mean over seeds) "
    "at most half the trained network's, at each weight scale W ~ N(0, std^2) with std in "
    f"{list(S.RANDOM_INIT_STDS)}: at every scale true; at some partly; none false", _v_random)
RULE_EPOCH0 = Rule(
    "epoch0_mid_layers_relevant",
    "Before learning, the layers that happen to sit at intermediate H[s] feature high H[k] and "
    "a power-law m_k",
    f"every epoch-0 layer (all scales and seeds) with {MID[0]} <= H[s]/log2 M <= {MID[1]} "
    f"within {CURVE_GAP} of log2 M of the maximal relevance curve and with a plausible power "
    f"law (bootstrap KS p >= {P_PLAUSIBLE}): all true; at least half partly; fewer, or no such "
    "layer (nothing to show), false", _v_epoch0)
RULE_SHUFFLED = Rule(
    "shuffled_extremes",
    "On shuffled pixels the DBN finds mostly low- or high-resolution representations, far from "
    "optimal at intermediate resolution",
    f"fewer layers with {MID[0]} <= H[s]/log2 M <= {MID[1]} and a lower max H[s] + H[k] than on "
    "real images (means over seeds): both true; one partly; neither false", _v_shuffled)
RULE_POWER_LAW = Rule(
    "mk_power_law_dbn_not_kmeans",
    "m_k of the DBN's layers H_3, H_6, H_9 follows a power law m_k ~ k^-(beta+1); that of "
    "k-means (k = 2^12 of 60,000 images) does not",
    f"power law plausible (Clauset-Shalizi-Newman bootstrap of the KS distance, k_min = 1, "
    f"p >= {P_PLAUSIBLE}) for every layer and seed and rejected for k-means at the same mean "
    "cluster size: true; rejected for k-means with at least half the layers plausible, or "
    "every layer plausible: partly; else false (an undefined test counts as not plausible)",
    _v_power_law)
RULE_BETA = Rule(
    "beta_decreases", "The exponent beta of m_k ~ k^-(beta+1) decreases with depth (fig. 2c)",
    "Spearman correlation of the defined betas with the layer index below -0.8 for every "
    "seed: true; mean below -0.5: partly; else false", _v_beta)
RULE_ERROR = Rule(
    "error_grows", "The classification error grows with depth (fig. 2d)",
    "Spearman correlation of the error with the layer index above 0.8 for every seed: true; "
    "mean above 0.5: partly; else false", _v_error)
RULE_ZIPF = Rule(
    "critical_is_zipf",
    "The critical layer (largest H[s] + H[k]) has beta close to 1 (Zipf's law)",
    "critical layer = the layer with defined beta closest to 1, every seed: true; for some "
    "seed, or within one layer for every seed: partly; else false", _v_zipf)
RULE_CRITICAL = Rule(
    "critical_layer_h6", "The critical layer (largest H[s] + H[k]) is H_6",
    f"critical layer within H_{PAPER_CRITICAL_LAYER} +- {LAYER_TOLERANCE}: every seed true; at "
    "least half the seeds partly; else false", _v_critical)

RULES = (RULE_H_S, RULE_PEAK, RULE_KMEANS, RULE_CURVE, RULE_RANDOM, RULE_EPOCH0, RULE_SHUFFLED,
         RULE_POWER_LAW, RULE_BETA, RULE_ERROR, RULE_ZIPF, RULE_CRITICAL)


# -------------------------------------------------------------------------------------- run

def _mid_fraction(rows) -> float:
    return float(np.mean([MID[0] <= r["h_s"] <= MID[1] for r in rows]))


def _public(rows, keys=("layer", "units", "h_s", "h_k", "beta", "classification_error",
                        "n_states")):
    return [{k: r[k] for k in keys} for r in rows]


def _summary(rows) -> dict:
    hk = [r["h_k"] for r in rows]
    return {"h_k_peak_layer": int(np.argmax(hk)) + 1, "critical_layer": S.critical_layer(rows),
            "zipf_layer": S.zipf_layer(rows)}


def _task(kind, *args):
    if kind == "kmeans":
        x, seed, max_log2, k_ref, n_boot = args
        t = time.process_time()
        points = S.kmeans_points(x, seed, max_log2, keep_counts=(k_ref,))
        for p in points:
            if p["k_clusters"] == k_ref:
                p["power_law"] = S.power_law_test(p["counts"], len(x), n_boot=n_boot, seed=seed)
        return points, time.process_time() - t
    return _seed_work(*args)


def _seed_work(s: int, x, y, cfg: dict, progress: bool, part: str = "both") -> dict:
    """One seed's work: ``part="trained"``: the trained DBN's layers (both propagations), the
    epoch-0 controls and their power-law tests; ``"shuffled"``: the DBN trained on shuffled
    pixels; ``"both"``: all of it. CPU seconds per part in ``seconds``."""
    out, seconds = {"seconds": {}}, {}
    with S.single_thread():
        if part in ("trained", "both"):
            t = time.process_time()
            dbn = S.train_dbn(x, cfg, s, progress)
            seconds["train_dbn_cpu"] = time.process_time() - t
            trained = S.layer_stats(dbn, x, y)
            binary = S.layer_stats(dbn, x, y, propagation="binary")
            t = time.process_time()
            random_w = {std: S.layer_stats(S.train_dbn(x, cfg, s, False, epochs=0,
                                                       init_std=std), x, y)
                        for std in cfg["random_init_stds"]}
            seconds["random_weights_cpu"] = time.process_time() - t
            # The power-law tests of fig. 2b and of the epoch-0 layers at intermediate
            # resolution.
            t = time.process_time()
            n_boot, m = cfg["power_law_bootstrap"], len(y)
            tested = [trained[l - 1] for l in PAPER_MK_LAYERS if l <= len(trained)]
            tested += [r for rows in random_w.values() for r in rows
                       if MID[0] <= r["h_s"] <= MID[1]]
            for r in tested:
                r["power_law"] = S.power_law_test(r["counts"], m, n_boot=n_boot, seed=s)
            seconds["power_law_tests_cpu"] = time.process_time() - t
            out.update(trained=trained, binary=binary, random=random_w)
        if part in ("shuffled", "both"):
            t = time.process_time()
            xs = S.shuffled_pixels(x, s)
            out["shuffled"] = S.layer_stats(S.train_dbn(xs, cfg, s, progress), xs, y)
            seconds["train_shuffled_cpu"] = time.process_time() - t
    out["seconds"] = seconds
    return out


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
    L = len(cfg["sizes"]) - 1
    n_boot = cfg["power_law_bootstrap"]
    stds = tuple(cfg["random_init_stds"])

    workers = S.n_workers()
    k_ref = S.kmeans_reference_k(M)
    km_log2 = max(cfg["kmeans_max_log2"], int(np.log2(k_ref)))
    # k-means runs beside the seeds (one more task): its cost does not depend on the seed.
    # With several workers each seed's trained and shuffled DBNs are two tasks.
    parts = ("both",) if workers == 1 else ("trained", "shuffled")
    done = S.map_tasks(_task, [("kmeans", x.numpy(), seed, km_log2, k_ref, n_boot)] +
                       [("seed", s, x, y, cfg, progress and workers == 1, part)
                        for s in seeds for part in parts], workers)
    kmeans, clock.parts["kmeans_cpu"] = done.pop(0)
    if len(parts) == 2:
        done = [{**a, **b, "seconds": {**a["seconds"], **b["seconds"]}}
                for a, b in zip(done[0::2], done[1::2])]
    trained = [d["trained"] for d in done]
    binary = [d["binary"] for d in done]
    shuffled = [d["shuffled"] for d in done]
    random_w = {std: [d["random"][std] for d in done] for std in stds}
    for d in done:
        for part, secs in d["seconds"].items():
            clock.parts[part] = clock.parts.get(part, 0.0) + secs
    curve = pycx.max_relevance_curve(M)
    at_curve = lambda h_s: S.curve_at(curve.h_s_normalized, curve.h_k_normalized, h_s)
    critical = [S.critical_layer(rows) for rows in trained]
    zipf = [S.zipf_layer(rows) for rows in trained]

    # ---- claims ----
    hs = np.array([[r["h_s"] for r in rows] for rows in trained])
    hk = np.array([[r["h_k"] for r in rows] for rows in trained])
    claims = [RULE_H_S({"h_s_per_layer": [spread(hs[:, l]) for l in range(L)],
                        "monotone_per_seed": [bool(np.all(np.diff(h) <= 1e-9)) for h in hs]})]

    claims.append(RULE_PEAK({"h_k_per_layer": [spread(hk[:, l]) for l in range(L)],
                             "peak_layer_per_seed": [int(np.argmax(h)) + 1 for h in hk],
                             "paper_peak_layer": PAPER_PEAK_LAYER, "tolerance": LAYER_TOLERANCE,
                             "n_layers": L}))

    km_hs = np.array([p["h_s"] for p in kmeans])
    km_hk = np.array([p["h_k"] for p in kmeans])
    order = np.argsort(km_hs)
    pairs, counts = [], {"dbn_higher": 0, "kmeans_higher": 0, "tied": 0, "outside_range": 0}
    for s, rows in zip(seeds, trained):
        for r in rows:
            if len(kmeans) < 2 or not km_hs.min() <= r["h_s"] <= km_hs.max():
                counts["outside_range"] += 1
                continue
            other = float(np.interp(r["h_s"], km_hs[order], km_hk[order]))
            diff = r["h_k"] - other
            outcome = ("dbn_higher" if diff > KMEANS_MARGIN else
                       "kmeans_higher" if diff < -KMEANS_MARGIN else "tied")
            counts[outcome] += 1
            pairs.append({"seed": s, "layer": r["layer"], "h_s": r["h_s"], "h_k": r["h_k"],
                          "kmeans_h_k": other, "curve_h_k": at_curve(r["h_s"]),
                          "outcome": outcome})
    claims.append(RULE_KMEANS({**counts, "margin": KMEANS_MARGIN, "pairs": pairs,
                               "kmeans": [{k: p[k] for k in ("k_clusters", "h_s", "h_k")}
                                          for p in kmeans],
                               "kmeans_input": "raw pixels"}))

    n_upto = min(PAPER_CRITICAL_LAYER, L)
    gaps = [[at_curve(r["h_s"]) - r["h_k"] for r in rows[:n_upto]] for rows in trained]
    claims.append(RULE_CURVE({"gaps_per_seed": gaps, "layers_checked": n_upto,
                              "threshold": CURVE_GAP,
                              "gap_to_curve_per_layer": [spread(np.array(gaps)[:, l])
                                                         for l in range(n_upto)],
                              "curve_peak_h_k": float(np.max(curve.h_k_normalized)),
                              "curve": f"pycx.max_relevance_curve({M}), {curve.method}"}))

    mid_t = [_mid_fraction(r) for r in trained]
    claims.append(RULE_RANDOM({
        "fraction_mid_trained": spread(mid_t),
        "fraction_mid_random": {f"std={std:g}": spread([_mid_fraction(r) for r in random_w[std]])
                                for std in stds},
        "h_s_random_per_layer": {f"std={std:g}": [spread([rows[l]["h_s"] for rows in random_w[std]])
                                                  for l in range(L)] for std in stds}}))

    mid_layers, beta0 = [], {}
    for std in stds:
        beta0[f"std={std:g}"] = [spread([S.defined_beta(rows)[l] for rows in random_w[std]])
                                 for l in range(L)]
        for s, rows in zip(seeds, random_w[std]):
            for r in rows:
                if MID[0] <= r["h_s"] <= MID[1]:
                    pl = r["power_law"]
                    mid_layers.append({"init_std": std, "seed": s, "layer": r["layer"],
                                       "h_s": r["h_s"], "h_k": r["h_k"],
                                       "gap_to_curve": at_curve(r["h_s"]) - r["h_k"],
                                       "beta": S.defined_beta([r])[0], "p_value": pl["p_value"],
                                       "ks": pl["ks"]})
    claims.append(RULE_EPOCH0({"mid_layers": mid_layers, "gap_threshold": CURVE_GAP,
                               "p_threshold": P_PLAUSIBLE, "beta_epoch0_per_layer": beta0}))

    best_t = [max(r["h_s"] + r["h_k"] for r in rows) for rows in trained]
    claims.append(RULE_SHUFFLED({
        "fraction_mid_trained": spread(mid_t),
        "fraction_mid_shuffled": spread([_mid_fraction(r) for r in shuffled]),
        "max_hs_plus_hk_trained": spread(best_t),
        "max_hs_plus_hk_shuffled": spread([max(r["h_s"] + r["h_k"] for r in rows)
                                           for rows in shuffled])}))

    t = time.perf_counter()
    mk_layers = [l for l in PAPER_MK_LAYERS if l <= L]
    dbn_pl = []
    for s, rows in zip(seeds, trained):
        for l in mk_layers:
            pl = rows[l - 1]["power_law"]
            dbn_pl.append({"seed": s, "layer": l, **pl})
    km_row = next((p for p in kmeans if p["k_clusters"] == k_ref), None)
    km_pl = ({"k_clusters": k_ref, **km_row["power_law"]} if km_row is not None
             else {"k_clusters": k_ref, "p_value": None})
    clock.add("power_law_tests", t)
    claims.append(RULE_POWER_LAW({"layers": mk_layers, "dbn": dbn_pl, "kmeans": km_pl,
                                  "p_threshold": P_PLAUSIBLE,
                                  "paper_kmeans_k": S.PAPER_KMEANS_K, "paper_M": S.PAPER_M}))

    betas = [S.defined_beta(rows) for rows in trained]
    claims.append(RULE_BETA({"beta_per_layer": [spread([b[l] for b in betas]) for l in range(L)],
                             "spearman_layer_beta_per_seed":
                                 [_spearman(np.arange(1, L + 1), b) for b in betas]}))

    errs = [[r["classification_error"] for r in rows] for rows in trained]
    claims.append(RULE_ERROR({
        "classification_error_per_layer": [spread([e[l] for e in errs]) for l in range(L)],
        "spearman_layer_error_per_seed": [_spearman(np.arange(1, L + 1), e) for e in errs]}))

    claims.append(RULE_ZIPF({"critical_layer_per_seed": critical, "zipf_layer_per_seed": zipf,
                             "beta_at_critical_layer": spread(
                                 [b[c - 1] if c is not None else math.nan
                                  for b, c in zip(betas, critical)])}))
    claims.append(RULE_CRITICAL({"critical_layer_per_seed": critical,
                                 "paper_critical_layer": PAPER_CRITICAL_LAYER,
                                 "tolerance": LAYER_TOLERANCE, "n_layers": L}))

    # ---- figure ----
    t = time.perf_counter()
    figures = _figure(out, trained, binary, random_w, shuffled, kmeans, curve, L, mk_layers,
                      k_ref)
    clock.add("figures", t)

    per_seed = [{"seed": s, "critical_layer": c, "zipf_layer": z, "layers": _public(rows)}
                for s, c, z, rows in zip(seeds, critical, zipf, trained)]
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "random_init_stds": list(stds), "dataset": dataset, "torch_threads": 1,
                  "workers": workers,
                  "M": M, "side": side, "binarisation": "P(h=1|v) > 0.5",
                  "propagation_for_claims": "mean_field",
                  "kmeans": "raw pixels, sklearn Lloyd from k-means++ (1 candidate), 100 "
                            "iterations, k = 2^2.. below M",
                  "kmeans_reference_k": k_ref,
                  "beta": "discrete power-law MLE, k_min=1; undefined (NaN) with fewer than 3 "
                          "distinct frequencies",
                  "power_law_test": "truncated discrete power law on 1..M, KS distance, "
                                    f"{n_boot} bootstrap samples, plausible at p >= {P_PLAUSIBLE}"},
        claims=claims, figures=figures, per_seed=per_seed,
        binary_propagation=[{"seed": s, **_summary(rows), "layers": _public(rows)}
                            for s, rows in zip(seeds, binary)],
        mean_field_summary=[{"seed": s, **_summary(rows)} for s, rows in zip(seeds, trained)],
        random_weights={f"std={std:g}": [_public(rows, ("layer", "h_s", "h_k", "beta"))
                                         for rows in random_w[std]] for std in stds},
        shuffled=[_public(rows, ("layer", "h_s", "h_k", "beta")) for rows in shuffled],
        timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _figure(out, trained, binary, random_w, shuffled, kmeans, curve, L, mk_layers, k_ref):
    plt = S.plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 9))
    ax = axes[0, 0]
    ax.plot(curve.h_s_normalized, curve.h_k_normalized, "k:", lw=1, label="maximal relevance")
    series = [(trained, dict(color="k", marker="s"), "DBN trained (mean field)"),
              (binary, dict(color="tab:red", marker="x"), "DBN trained (binary propagation)")]
    blues = ("tab:blue", "tab:cyan", "tab:purple")
    for (std, rows), colour in zip(random_w.items(), blues):
        series.append((rows, dict(color=colour, marker="s", mfc="none"),
                       f"DBN epoch 0 (std {std:g})"))
    series.append((shuffled, dict(color="tab:green", marker="o", mfc="none"), "shuffled pixels"))
    for rows_list, style, label in series:
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
                label="k-means (raw pixels)")
    ax.set(xlabel="H[s] / log M", ylabel="H[k] / log M", title="(a) resolution vs relevance",
           xlim=(-0.02, 1.02), ylim=(-0.02, 1.02))
    ax.legend(fontsize=7)

    ax = axes[0, 1]
    for layer, marker in zip(mk_layers, ("o", "s", "^")):
        r = trained[0][layer - 1]
        ax.loglog(r["k"], r["m_k"], marker, mfc="none", color="k", label=f"H_{layer}")
    km = next((p for p in kmeans if p["k_clusters"] == k_ref), None)
    if km is not None:
        ax.loglog(km["k"], km["m_k"], "^", color="tab:orange", label=f"k-means k={k_ref}")
    ax.set(xlabel="k", ylabel="m_k", title="(b) degeneracy of state frequencies (first seed)")
    ax.legend(fontsize=8)

    layers = np.arange(1, L + 1)
    ax = axes[1, 0]
    series = [(trained, dict(color="k", marker="s"), "trained")]
    for (std, rows), colour in zip(random_w.items(), blues):
        series.append((rows, dict(color=colour, marker="s", mfc="none"), f"epoch 0 (std {std:g})"))
    for rows_list, style, label in series:
        b = np.array([S.defined_beta(rows) for rows in rows_list], float)
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m, e = np.nanmean(b, 0), (np.nanstd(b, 0, ddof=1) if len(b) > 1 else 0 * b[0])
        ax.errorbar(layers, m, yerr=e, ls="-", label=label, **style)
    ax.axhline(1.0, color="grey", ls=":", lw=1)
    ax.set(xlabel="hidden layer", ylabel="beta", title="(c) exponent of m_k ~ k^-(beta+1)")
    ax.legend(fontsize=8)

    ax = axes[1, 1]
    for rows_list, style, label in series:
        m, e = S.mean_std(rows_list, "classification_error")
        ax.errorbar(layers, m, yerr=e, ls="-", label=label, **style)
    ax.set(xlabel="hidden layer", ylabel="classification error", title="(d) classification error")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_fig2")
