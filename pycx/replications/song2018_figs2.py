"""Song, Marsili & Jo fig. S2: network structure and generation ability. Deep and gradually
narrowing DBNs generate best; deep but not narrowing, shallow narrowing and shallow (one RBM)
networks generate worse and reach a lower relevance H[k], though their state frequencies still
look like power laws.

Protocol (per seed): every architecture of `ARCHITECTURES` is trained as in `song2018-fig2`
(PCD-1, batch 100, rate 0.1, 20 epochs per layer in the full run) on the training images; per
hidden layer, H[s], H[k], beta and the power-law test of `_song2018.power_law_test` of the
states ``P(h | v) > 0.5`` (mean-field upward pass), and the generation ability of samples
generated from that layer as in `song2018-fig3` (fewer chains: `gen_samples`). An
architecture's generation ability is that of its best layer, its relevance its largest H[k].
**Decisions** (the paper gives no sizes for the other structures): deep but not narrowing =
ten hidden layers of 60 units; shallow and narrowing = 784-250-30; shallow = single RBMs with
30 and with 500 hidden units (the smallest and largest widths of the deep stack's range).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("Song et al. 2018 fig. S2: deep narrowing vs deep wide vs shallow DBNs, relevance and "
         "generation ability")
PAPER = S.PAPER
NAME = "song2018-figs2"

DEEP = "deep_narrowing"


def architectures(quick: bool, visible: int) -> dict:
    """Name -> layer sizes (the visible size first)."""
    if quick:
        return {DEEP: [visible] + S.QUICK_SIZES[1:], "deep_not_narrowing": [visible] + [25] * 7,
                "shallow_narrowing": [visible, 100, 15], "rbm_15": [visible, 15],
                "rbm_200": [visible, 200]}
    return {DEEP: [visible] + S.PAPER_SIZES[1:], "deep_not_narrowing": [visible] + [60] * 10,
            "shallow_narrowing": [visible, 250, 30], "rbm_30": [visible, 30],
            "rbm_500": [visible, 500]}


P_PLAUSIBLE = 0.1


def _beats(m, key):
    flags = []
    for row in m["per_seed"]:
        deep = row[DEEP][key]
        for name, v in row.items():
            if name not in (DEEP, "seed"):
                flags.append(deep is not None and v[key] is not None and deep > v[key])
    return fraction_verdict(flags, true_at=1.0, partly_at=0.5)


def _v_generation(m):
    return _beats(m, "best_generation_ability")


def _v_relevance(m):
    return _beats(m, "max_h_k")


def _v_power_law(m):
    flags = [r["p_value"] is not None and r["p_value"] >= m["p_threshold"] for r in m["tests"]]
    return fraction_verdict(flags, true_at=0.8, partly_at=0.5)


RULE_GENERATION = Rule(
    "deep_narrowing_generates_best",
    "Deep and gradually narrowing networks have the highest generation ability; deep but not "
    "narrowing, and shallow, networks generate poorly",
    "per seed and other architecture, the deep narrowing DBN's best-layer generation ability "
    "above the other's best layer's: every comparison true; at least half partly; else false",
    _v_generation)
RULE_RELEVANCE = Rule(
    "others_lower_relevance",
    "The other structures' H[k] stays low compared with the deep and gradually narrowing "
    "network",
    "per seed and other architecture, its largest H[k] over layers below the deep narrowing "
    "DBN's largest: every comparison true; at least half partly; else false", _v_relevance)
RULE_POWER_LAW = Rule(
    "others_power_law_like",
    "The other structures still show power-law-like frequency distributions of hidden states",
    f"for each other architecture and seed, its layer of largest H[k]: power law plausible "
    f"(bootstrap KS p >= {P_PLAUSIBLE}, k_min = 1; an undefined test counts as not plausible) "
    "in >= 80% of the cases true; >= 50% partly; else false", _v_power_law)

RULES = (RULE_GENERATION, RULE_RELEVANCE, RULE_POWER_LAW)


def _arch_seed(name, sizes, s, x, y, cfg, clf, n_classes, M, progress) -> dict:
    """One architecture and seed: train, layer statistics, generation from every layer."""
    from pycx.estimators.generation import generation_ability, label_images

    with S.single_thread():
        t = time.process_time()
        dbn = S.train_dbn(x, cfg, s, progress, sizes=sizes)
        seconds = {"train": time.process_time() - t}
        rows = S.layer_stats(dbn, x, y)
        t = time.process_time()
        for r in rows:
            gen = dbn.generate(r["layer"], cfg["gen_samples"], steps=cfg["gen_steps"],
                               seed=1000 * s + r["layer"], progress=progress)
            g = generation_ability(y, label_images(gen, clf), n_classes)
            r["generation_ability"] = g.generation_ability
            r["kl_bits"] = g.kl_bits
        seconds["generate"] = time.process_time() - t
        best = int(np.argmin([r["kl_bits"] for r in rows]))  # largest 1 / KL
        top = int(np.argmax([r["h_k"] for r in rows]))
        pl = S.power_law_test(rows[top]["counts"], M, n_boot=cfg["power_law_bootstrap"], seed=s)
    return {"sizes": sizes, "rows": rows, "best_layer": best + 1,
            "best_generation_ability": rows[best]["generation_ability"],
            "max_h_k": rows[top]["h_k"], "max_h_k_layer": top + 1, "power_law": pl,
            "critical_layer": S.critical_layer(rows), "seconds": seconds}


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    with S.single_thread():
        return _run(out, quick=quick, seed=seed, progress=progress)


def _run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from pycx.estimators.generation import default_classifier

    clock = S.Clock()
    cfg0 = S.settings(quick, "mnist")
    t = time.perf_counter()
    x, y, xt, yt, dataset, side = S.load_data(cfg0["n_images"], seed)
    cfg = dict(S.settings(quick, dataset))
    # Fewer seeds and chains than fig. 3: five architectures are trained and sampled per seed.
    cfg.update(n_seeds=2, gen_samples=cfg["gen_samples"] // 2,
               power_law_bootstrap=cfg["power_law_bootstrap"] // 2)
    n_classes = int(max(y.max(), yt.max())) + 1
    M = int(x.shape[0])
    clock.add("data", t)
    t = time.perf_counter()
    clf = default_classifier(x, y, test_images=xt, test_labels=yt, seed=seed)
    clock.add("classifier", t)
    archs = architectures(quick, int(x.shape[1]))
    seeds = [seed + i for i in range(cfg["n_seeds"])]

    workers = S.n_workers()
    tasks = [(name, sizes, s, x, y, cfg, clf, n_classes, M, progress and workers == 1)
             for s in seeds for name, sizes in archs.items()]
    done = iter(S.map_tasks(_arch_seed, tasks, workers))
    results = [{name: next(done) for name in archs} for _ in seeds]  # per seed: {arch: ...}
    for per in results:
        for name, a in per.items():
            for part, secs in a.pop("seconds").items():
                key = f"{part}_{name}_cpu"
                clock.parts[key] = clock.parts.get(key, 0.0) + secs

    def table(keys):
        return [{"seed": s, **{name: {k: a[k] for k in keys} for name, a in per.items()}}
                for s, per in zip(seeds, results)]

    claims = [
        RULE_GENERATION({"per_seed": table(("best_generation_ability", "best_layer",
                                            "critical_layer")),
                         "mean_best_generation_ability": {
                             name: spread([per[name]["best_generation_ability"]
                                           for per in results]) for name in archs}}),
        RULE_RELEVANCE({"per_seed": table(("max_h_k", "max_h_k_layer")),
                        "mean_max_h_k": {name: spread([per[name]["max_h_k"] for per in results])
                                         for name in archs}}),
        RULE_POWER_LAW({"p_threshold": P_PLAUSIBLE, "tests": [
            {"seed": s, "architecture": name, "layer": a["max_h_k_layer"],
             **{k: a["power_law"][k] for k in ("p_value", "beta", "ks", "n_states",
                                                "lr_vs_geometric")}}
            for s, per in zip(seeds, results) for name, a in per.items() if name != DEEP]}),
    ]
    t = time.perf_counter()
    figures = _figure(out, results, archs, M)
    clock.add("figures", t)
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "architectures": archs, "dataset": dataset, "M": M, "side": side,
                  "torch_threads": 1, "workers": workers, "classifier": clf.description,
                  "classifier_test_accuracy": clf.test_accuracy,
                  "binarisation": "P(h=1|v) > 0.5, mean-field upward pass",
                  "generation_ability": "1/KL(P||Q) in bits, Q smoothed by +1/2 per class"},
        claims=claims, figures=figures,
        per_seed=[{"seed": s, **{name: {"layers": [
            {k: r[k] for k in ("layer", "units", "h_s", "h_k", "beta", "classification_error",
                               "n_states", "generation_ability", "kl_bits")}
            for r in a["rows"]]} for name, a in per.items()}} for s, per in zip(seeds, results)],
        timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _figure(out, results, archs, M):
    import pycx

    plt = S.plt()
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    curve = pycx.max_relevance_curve(M)
    ax = axes[0]
    ax.plot(curve.h_s_normalized, curve.h_k_normalized, "k:", lw=1, label="maximal relevance")
    colours = dict(zip(archs, ("k", "tab:blue", "tab:green", "tab:orange", "tab:red")))
    for name in archs:
        rows = results[0][name]["rows"]
        ax.plot([r["h_s"] for r in rows], [r["h_k"] for r in rows], "s-", color=colours[name],
                ms=4, mfc="none", label=f"{name} ({'-'.join(map(str, archs[name]))})")
    ax.set(xlabel="H[s] / log M", ylabel="H[k] / log M", xlim=(-0.02, 1.02), ylim=(-0.02, 1.02),
           title="(a) resolution vs relevance (first seed)")
    ax.legend(fontsize=6)
    ax = axes[1]
    for name in archs:
        rows = results[0][name]["rows"]
        ga = [min(r["generation_ability"], 1e3) for r in rows]
        ax.plot([r["layer"] for r in rows], ga, "s-", color=colours[name], ms=4, label=name)
    ax.set(xlabel="hidden layer", ylabel="generation ability 1/KL (1/bits)", yscale="log",
           title="(b) generation ability per layer (first seed)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_figs2")
