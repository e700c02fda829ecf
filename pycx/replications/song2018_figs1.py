"""Song, Marsili & Jo fig. S1 (MNIST half): H[s] and H[k] of the standard deep network's
hidden layers over an ensemble of independently initialised networks, before learning
(epoch 0) and after. The caption: "the uncertainty (standard deviation) of the two entropies
for 12 ensembles decreased after learning for the MNIST data"; the main text: before learning
"layers that happen to be at an intermediate value of H[s] also feature high values of H[k]
and a power law".

Protocol (per weight scale std in `_song2018.RANDOM_INIT_STDS` and ensemble member s in
seed, seed+1, ...): a DBN (``pycx.models.DBN``, the paper's 784-500-250-120-60-30-25-20-15-10-5
in the full run) with W ~ N(0, std^2) and zero biases is read before training ("epoch 0"),
then trained greedily by PCD-1 exactly as song2018-fig2 trains it (batch 100, rate 0.1, 20
epochs per RBM; the paper trains 200 epochs on 60,000 images) and read again. States are
``P(h | v) > 0.5`` of the mean-field upward pass on the M training images; H[s] and H[k] are
normalised by log2 M. The spread is the standard deviation over the ensemble (ddof = 1) of
each layer's H[s] and of its H[k].

Decisions where the paper is silent (each stated in the rules' words and in
docs/decisions.md): the paper's initial weight scale is not given, so both scales of
song2018-fig2's epoch-0 control are run, each trained from its own epoch 0; a layer whose
H[s] (or H[k]) has a standard deviation below `NO_SPREAD` both before and after learning
(a layer pinned at a bound, e.g. every image alone or one state) is a tie and is left out of
the comparison; intermediate resolution is ``0.1 <= H[s] / log2 M <= 0.9`` and "high H[k]"
within 0.1 of log2 M of the maximal relevance curve, as in song2018-fig2.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from . import _song2018 as S
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = ("Song et al. 2018 fig. S1: spread of H[s] and H[k] over 12 DBN ensembles before and "
         "after learning; relevant intermediate layers at epoch 0")
PAPER = S.PAPER
NAME = "song2018-figs1"

N_ENSEMBLES = 12          # the caption's
QUICK_ENSEMBLES = 3
NO_SPREAD = 0.005         # of log2 M: a standard deviation below it is no spread
CURVE_GAP = 0.1           # of log2 M: "high H[k]": near the maximal relevance curve
MID = (0.1, 0.9)          # intermediate resolution: 0.1 <= H[s] / log2 M <= 0.9
P_PLAUSIBLE = 0.1         # a power law is plausible at bootstrap p >= 0.1
ENTROPIES = ("h_s", "h_k")


def _num(v) -> float:
    return float("nan") if v is None else float(v)


# ------------------------------------------------------------------------------------ rules

def _pairs(m):
    """(std before, std after) of every layer, entropy and weight scale."""
    return [(_num(r[f"std_{e}_before"]), _num(r[f"std_{e}_after"]))
            for fam in m["families"].values() for r in fam for e in ENTROPIES]


def _v_spread(m):
    eps = m["no_spread"]
    pairs = _pairs(m)
    decided = [(b, a) for b, a in pairs if max(b, a) >= eps]
    if not decided:
        return False
    verdict = fraction_verdict([a < b for b, a in decided], true_at=0.8, partly_at=0.5)
    if verdict is not False:
        return verdict
    spread_before = [a < b for b, a in decided if b >= eps]
    return "partly" if spread_before and fraction_verdict(spread_before, true_at=0.8) is True \
        else False


def _v_epoch0(m):
    layers = m["mid_layers"]
    if not layers:
        return False
    ok = [_num(r["gap_to_curve"]) < m["gap_threshold"] and r["p_value"] is not None
          and r["p_value"] >= m["p_threshold"] for r in layers]
    return fraction_verdict(ok, true_at=1.0, partly_at=0.5)


RULE_SPREAD = Rule(
    "spread_decreases_after_learning",
    "The uncertainty (standard deviation over 12 ensembles) of H[s] and H[k] decreases after "
    "learning (MNIST)",
    f"per hidden layer, entropy (H[s], H[k]) and initial weight scale (std in "
    f"{list(S.RANDOM_INIT_STDS)}): the standard deviation over the ensembles after learning "
    f"below the one at epoch 0; pairs where both are below {NO_SPREAD} of log2 M (a layer "
    "pinned at a bound both times) are ties, left out. Of the decided pairs >= 80% decreased: "
    "true; >= 50%, or >= 80% of the pairs with epoch-0 spread (std before >= "
    f"{NO_SPREAD}), partly; else, or no decided pair, false", _v_spread)
RULE_EPOCH0 = Rule(
    "epoch0_mid_layers_relevant",
    "Before learning, the layers that happen to sit at intermediate H[s] also feature high "
    "H[k] and a power-law m_k",
    f"every epoch-0 layer (all ensembles and weight scales) with {MID[0]} <= H[s]/log2 M <= "
    f"{MID[1]} within {CURVE_GAP} of log2 M of the maximal relevance curve and with a "
    f"plausible power law (bootstrap KS p >= {P_PLAUSIBLE}; undefined counts as not "
    "plausible): all true; at least half partly; fewer, or no such layer (nothing to show), "
    "false", _v_epoch0)

RULES = (RULE_SPREAD, RULE_EPOCH0)


# -------------------------------------------------------------------------------------- run

def _strip(rows) -> list:
    keep = ("layer", "units", "h_s", "h_k", "beta", "classification_error", "n_states")
    return [{k: r[k] for k in keep} for r in rows]


def _member(std: float, s: int, x, y, cfg: dict, progress: bool) -> dict:
    """One ensemble member: the DBN at epoch 0 and after training, measured (one task)."""
    with S.single_thread():
        t = time.process_time()
        before = S.layer_stats(S.train_dbn(x, cfg, s, False, epochs=0, init_std=std), x, y)
        for r in before:
            if MID[0] <= r["h_s"] <= MID[1]:
                r["power_law"] = S.power_law_test(r["counts"], len(y),
                                                  n_boot=cfg["power_law_bootstrap"], seed=s)
        t_before = time.process_time() - t
        t = time.process_time()
        after = S.layer_stats(S.train_dbn(x, cfg, s, progress, init_std=std), x, y)
        t_train = time.process_time() - t
    pl = {r["layer"]: {k: r["power_law"][k] for k in ("p_value", "ks", "beta", "n_states",
                                                      "lr_vs_geometric")}
             | {"beta_mle": S.defined_beta([r])[0]}
          for r in before if "power_law" in r}
    mk = {r["layer"]: {"k": r["k"], "m_k": r["m_k"]} for r in before if "power_law" in r}
    return {"init_std": std, "seed": s, "before": _strip(before), "after": _strip(after),
            "power_law_before": pl, "m_k_before": mk, "cpu_s": {"epoch0_cpu": t_before,
                                                              "train_cpu": t_train}}


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
    n_ens = QUICK_ENSEMBLES if quick else N_ENSEMBLES
    seeds = [seed + i for i in range(n_ens)]
    stds = tuple(cfg["random_init_stds"])
    M = int(x.shape[0])
    L = len(cfg["sizes"]) - 1
    workers = S.n_workers()
    tasks = [(std, s, x, y, cfg, progress and workers == 1) for std in stds for s in seeds]
    if progress:
        print(f"{NAME}: {len(tasks)} DBNs ({n_ens} ensembles x {len(stds)} weight scales) on "
              f"{M} images, {workers} worker(s)", flush=True)
    t = time.perf_counter()
    members = S.map_tasks(_member, tasks, workers)
    clock.add("members", t)
    for mem in members:
        for part, secs in mem.pop("cpu_s").items():
            clock.parts[part] = clock.parts.get(part, 0.0) + secs

    curve = pycx.max_relevance_curve(M)
    at_curve = lambda h_s: S.curve_at(curve.h_s_normalized, curve.h_k_normalized, h_s)

    families, mid_layers = {}, []
    for std in stds:
        mine = [m for m in members if m["init_std"] == std]
        rows = []
        for l in range(L):
            row = {"layer": l + 1, "units": cfg["sizes"][l + 1]}
            for when in ("before", "after"):
                for e in ENTROPIES:
                    sp = spread([m[when][l][e] for m in mine])
                    row[f"{e}_{when}"] = sp["values"]
                    row[f"mean_{e}_{when}"] = sp["mean"]
                    row[f"std_{e}_{when}"] = sp["std"]
            rows.append(row)
        families[f"std={std:g}"] = rows
        for m in mine:
            for r in m["before"]:
                if MID[0] <= r["h_s"] <= MID[1]:
                    pl = m["power_law_before"][r["layer"]]
                    mid_layers.append({"init_std": std, "seed": m["seed"], "layer": r["layer"],
                                       "h_s": r["h_s"], "h_k": r["h_k"],
                                       "gap_to_curve": at_curve(r["h_s"]) - r["h_k"],
                                       "beta": pl["beta_mle"],
                                       "p_value": pl["p_value"], "ks": pl["ks"],
                                       "lr_vs_geometric": pl["lr_vs_geometric"]})
    pairs = [(r[f"std_{e}_before"], r[f"std_{e}_after"]) for fam in families.values()
             for r in fam for e in ENTROPIES]
    decided = [(b, a) for b, a in pairs if max(b, a) >= NO_SPREAD]
    summary = {
        "decided_pairs": len(decided), "tied_pairs": len(pairs) - len(decided),
        "decreased": sum(a < b for b, a in decided),
        "pairs_with_epoch0_spread": sum(b >= NO_SPREAD for b, _ in decided),
        "decreased_among_epoch0_spread": sum(a < b for b, a in decided if b >= NO_SPREAD),
        "mean_std_before": float(np.mean([b for b, _ in pairs])),
        "mean_std_after": float(np.mean([a for _, a in pairs])),
    }
    claims = [
        RULE_SPREAD({"families": families, "no_spread": NO_SPREAD, "n_ensembles": n_ens,
                     "summary": summary}),
        RULE_EPOCH0({"mid_layers": mid_layers, "gap_threshold": CURVE_GAP,
                     "p_threshold": P_PLAUSIBLE, "n_ensembles": n_ens}),
    ]

    t = time.perf_counter()
    figures = _figure(out, members, families, stds, curve, L)
    clock.add("figures", t)
    findings = make_findings(
        NAME, PAPER, TITLE, quick=quick, seeds=seeds,
        settings={**cfg, "n_ensembles": n_ens, "random_init_stds": list(stds),
                  "dataset": dataset, "M": M, "side": side, "workers": workers,
                  "torch_threads": 1, "binarisation": "P(h=1|v) > 0.5",
                  "propagation": "mean_field", "spread": "std over ensembles, ddof = 1",
                  "power_law_test": "truncated discrete power law on 1..M, KS distance, "
                                    f"{cfg['power_law_bootstrap']} bootstrap samples, "
                                    f"plausible at p >= {P_PLAUSIBLE}"},
        claims=claims, figures=figures,
        members=[{k: m[k] for k in ("init_std", "seed", "before", "after")} for m in members],
        timing=clock.summary())
    findings["wall_time_s"] = findings["timing"]["total_s"]
    write_findings(out, findings)
    return findings


def _figure(out, members, families, stds, curve, L):
    plt = S.plt()
    fig, axes = plt.subplots(2, 2, figsize=(11, 9.5))
    for ax, std in zip(axes[0], stds):
        mine = [m for m in members if m["init_std"] == std]
        ax.plot(curve.h_s_normalized, curve.h_k_normalized, "k:", lw=1,
                label="maximal relevance")
        for when, style in (("before", dict(color="tab:blue", marker="s", mfc="none")),
                            ("after", dict(color="k", marker="s"))):
            rows = [m[when] for m in mine]
            hs, hs_e = S.mean_std(rows, "h_s")
            hk, hk_e = S.mean_std(rows, "h_k")
            ax.errorbar(hs, hk, xerr=hs_e, yerr=hk_e, ls="-", lw=0.8, ms=5, capsize=2,
                        label=f"{'epoch 0' if when == 'before' else 'trained'} "
                              f"(mean +- std, {len(mine)} ensembles)", **style)
            for l in range(L):
                ax.annotate(str(l + 1), (hs[l], hk[l]), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color=style["color"])
        ax.set(xlabel="H[s] / log M", ylabel="H[k] / log M", xlim=(-0.02, 1.02),
               ylim=(-0.02, 1.02), title=f"initial W ~ N(0, {std:g}^2)")
        ax.legend(fontsize=7)
    layers = np.arange(1, L + 1)
    for ax, e, name in zip(axes[1], ENTROPIES, ("H[s]", "H[k]")):
        for (fam, rows), colour in zip(families.items(), ("tab:blue", "tab:purple")):
            ax.plot(layers, [r[f"std_{e}_before"] for r in rows], "s--", mfc="none",
                    color=colour, label=f"epoch 0, {fam}")
            ax.plot(layers, [r[f"std_{e}_after"] for r in rows], "s-", color=colour,
                    label=f"trained, {fam}")
        ax.axhline(NO_SPREAD, color="grey", ls=":", lw=1)
        ax.set(xlabel="hidden layer", ylabel=f"std of {name} / log M over ensembles",
               title=f"spread of {name} before and after learning")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return S.save_figure(fig, out, "song2018_figs1")
