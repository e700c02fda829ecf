"""Paper 000, figure 6: FC3 (L1 = 14 neurons, L2 = N) on MNIST for widths N = 4 ... 256.

Training as in the paper's supplement (Adadelta with initial learning rate 1, batch 64), but
for as many epochs as it takes to reach the paper's 95% test accuracy (checked after every
epoch, at most `max_epochs`); the accuracy reached is recorded per net and scored by its own
rule. The paper trained on MNIST's 60,000 images; offline there are 5,000, so to come near
95% the nets train on 90% of them (4,500; the other 500 are the test set, standard error of
an accuracy of 0.95 on them 0.010), the learning rate follows a cosine from 1 to 0 over
`max_epochs` (per epoch; the paper's "initial learning rate" implies a decay it does not
give), and every epoch sees the training images shifted by a random whole number of pixels in
-`shift_px`..`shift_px` along each axis (zero fill; the paper mentions no augmentation). A net
is measured at the first epoch whose test accuracy reaches the target, else after
`max_epochs`; stopping on the test accuracy favours the nets by up to about one standard
error. Measured with `pycx.analyze` (XGBoost chain rule, paper 000's settings) on the test
images: complexity per neuron of L2 against N, the flat L1 curve, and the average linearity of
both layers.

The power law ``a / N^b + c`` has a degenerate direction: as b -> 0 with a b fixed it becomes
the log decline ``alpha - beta ln N``. So the power law is compared with the log decline by
AICc (Gaussian errors, the seeds' points pooled; 3 against 2 parameters), and b's 95% interval
is the profile-likelihood one: for each b on a grid the model is linear in (a, c), and the
interval holds the b whose residual sum of squares RSS(b) has n ln(RSS(b) / RSS_min) <= 3.84
(chi-square, 1 degree of freedom). An interval reaching the grid's lower end (b = 0.001) does
not exclude the log decline.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from . import _janik2020 as J
from .findings import Rule, fraction_verdict, make_findings, spread, write_findings

TITLE = "FC3 width scaling: complexity per neuron a/N^b + c of L2, flat L1, linearity (fig. 6)"
PAPER = J.PAPER
NAME = "janik2020-fc3"

# Training settings chosen by a feasibility check before the full run (seed 0, 4,500/500
# images, best test accuracy over the epochs): without augmentation N = 256 peaked at 0.93
# (0.94 with a cosine schedule) and N = 4 at 0.89; with +-2 px shifts and the cosine N = 256
# reached 0.95 at epoch 20 (peak 0.97), N = 8 peaked at 0.94 and N = 4 at 0.93 (150 epochs).
FULL = {"widths": [4, 8, 16, 32, 64, 128, 256], "n_seeds": 3, "max_epochs": 100,
        "target_accuracy": 0.95, "train_fraction": 0.9, "shift_px": 2, "n_train": None,
        "n_eval": None, "trees": 100}
# Quick: four widths (the three-parameter fit needs more points than parameters), shorter
# training, fewer evaluation images, 20 trees instead of the paper's 100.
QUICK = {"widths": [4, 16, 64, 256], "n_seeds": 2, "max_epochs": 3, "target_accuracy": 0.95,
         "train_fraction": 0.9, "shift_px": 2, "n_train": 2000, "n_eval": 300, "trees": 20}

B_GRID = np.concatenate([np.geomspace(1e-3, 0.05, 40), np.linspace(0.05, 4.0, 400)[1:]])
CHI2_95 = 3.841458820694124  # chi-square quantile, 1 degree of freedom, 0.95
AIC_MARGIN = 2.0


# ---------------------------------------------------------------------------- training

def random_shift(x, max_shift, generator):
    """`x` (N, C, H, W) with every image shifted by its own random whole number of pixels in
    -max_shift..max_shift along each axis, the uncovered border filled with zeros."""
    import torch
    import torch.nn.functional as F

    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"argument 'x' must be a (N, C, H, W) tensor, got shape "
                         f"{tuple(getattr(x, 'shape', ()))}")
    k = int(max_shift)
    if k < 0 or 2 * k >= min(x.shape[-2:]):
        raise ValueError(f"argument 'max_shift' must be in 0..{(min(x.shape[-2:]) - 1) // 2}, "
                         f"got {max_shift!r}")
    if k == 0:
        return x
    side = 2 * k + 1
    code = torch.randint(0, side * side, (len(x),), generator=generator)
    padded = F.pad(x, (k, k, k, k))
    out = torch.empty_like(x)
    h, w = x.shape[-2:]
    for c in range(side * side):
        # offset (dy, dx) - k of the window in the padded image: the image moves by k - (dy, dx)
        dy, dx = divmod(c, side)
        idx = torch.nonzero(code == c).squeeze(1)
        out[idx] = padded[idx, :, dy:dy + h, dx:dx + w]
    return out


def cosine_lr(epoch, epochs, lr0=1.0):
    """Learning rate of epoch `epoch` (0-based) of `epochs`: a cosine from lr0 down towards 0.

    >>> cosine_lr(0, 100), round(cosine_lr(50, 100), 3)
    (1.0, 0.5)
    """
    return lr0 * 0.5 * (1.0 + math.cos(math.pi * epoch / epochs))


def train_fc3(model, train_ds, test_ds, *, max_epochs, target, shift_px, seed):
    """Train until the test accuracy reaches `target` (checked after every epoch) or for
    `max_epochs`; returns (accuracy, epochs, best accuracy over the epochs)."""
    import torch
    from torch.utils.data import TensorDataset

    opt = torch.optim.Adadelta(model.parameters(), lr=1.0)
    x, y = train_ds.tensors
    gen = torch.Generator().manual_seed(int(seed))
    acc, best, epochs = 0.0, 0.0, 0
    while epochs < max_epochs and acc < target:
        for g in opt.param_groups:
            g["lr"] = cosine_lr(epochs, max_epochs)
        # one epoch at a time, each with its own shifted copy and shuffle seed
        J.train(model, TensorDataset(random_shift(x, shift_px, gen), y), epochs=1,
                optimizer=opt, batch_size=64, seed=seed + epochs)
        epochs += 1
        _, acc = J.evaluate(model, test_ds)
        best = max(best, acc)
    return acc, epochs, best


# ---------------------------------------------------------------------- fits (pure numpy)

def _points(widths, per_seed):
    n = np.array([w for row in per_seed for w in widths], float)
    y = np.array([math.nan if v is None else float(v) for row in per_seed for v in row], float)
    ok = np.isfinite(y)
    return n[ok], y[ok]


def _lstsq_rss(cols, y):
    X = np.column_stack(cols)
    coef, *_ = np.linalg.lstsq(X, y, rcond=None)
    r = y - X @ coef
    return float(r @ r), coef


def profile_power_law(n, y):
    """{b, a, c, rss, b_low, b_high, b_low_at_grid_edge, b_high_at_grid_edge}: the profile
    likelihood of b for ``a N^-b + c`` over `B_GRID`."""
    rss = np.array([_lstsq_rss([n ** -b, np.ones_like(n)], y)[0] for b in B_GRID])
    k = int(np.argmin(rss))
    _, (a, c) = _lstsq_rss([n ** -B_GRID[k], np.ones_like(n)], y)
    inside = len(n) * np.log(np.maximum(rss, 1e-300) / max(rss[k], 1e-300)) <= CHI2_95
    idx = np.flatnonzero(inside)
    return {"b": float(B_GRID[k]), "a": float(a), "c": float(c), "rss": float(rss[k]),
            "b_low": float(B_GRID[idx.min()]), "b_high": float(B_GRID[idx.max()]),
            "b_low_at_grid_edge": bool(idx.min() == 0),
            "b_high_at_grid_edge": bool(idx.max() == len(B_GRID) - 1)}


def aicc(rss, n, k):
    """AICc of a least-squares fit with Gaussian errors (k fitted parameters + the variance)."""
    k = k + 1
    if n - k - 1 <= 0 or rss <= 0:
        return math.nan
    return n * math.log(rss / n) + 2 * k + 2 * k * (k + 1) / (n - k - 1)


def compare_fits(widths, per_seed):
    """The power-law profile, the log decline's fit and both AICc (pooled seeds' points)."""
    n, y = _points(widths, per_seed)
    p = profile_power_law(n, y)
    rss_log, (alpha, beta) = _lstsq_rss([np.ones_like(n), -np.log(n)], y)
    out = dict(p, n_points=int(len(n)), log_alpha=float(alpha), log_beta=float(beta),
               log_rss=rss_log, aicc_power=aicc(p["rss"], len(n), 3),
               aicc_log=aicc(rss_log, len(n), 2))
    out["delta_aicc_log_minus_power"] = out["aicc_log"] - out["aicc_power"]
    return out


def _v_power(m):
    f = compare_fits(m["widths"], m["l2_complexity_per_neuron_per_seed"])
    d = f["delta_aicc_log_minus_power"]
    falls = J.spearman(m["widths"], np.nanmean(np.array(
        m["l2_complexity_per_neuron_per_seed"], float), axis=0)) < 0
    if not (np.isfinite(d) and falls):
        return False
    if d > AIC_MARGIN and not f["b_low_at_grid_edge"] and not f["b_high_at_grid_edge"]:
        return True
    return "partly" if d >= -AIC_MARGIN else False


def _rel_range(v):
    v = np.asarray(v, float)
    return float((v.max() - v.min()) / abs(v.mean())) if v.mean() else math.nan


def _v_l1_flat(m):
    l1 = np.nanmean(np.array(m["l1_complexity_per_neuron_per_seed"], float), axis=0)
    l2 = np.nanmean(np.array(m["l2_complexity_per_neuron_per_seed"], float), axis=0)
    return bool(_rel_range(l1) < 0.5 * _rel_range(l2))


def _v_linearity(m):
    d = [float(np.ptp(np.nanmean(np.array(m[k], float), axis=0)))
         for k in ("l1_linearity_per_seed", "l2_linearity_per_seed")]
    return True if all(x >= 0.05 for x in d) else ("partly" if any(x >= 0.05 for x in d)
                                                   else False)


def _v_accuracy(m):
    acc = [a for row in m["test_accuracy_per_seed"] for a in row]
    return fraction_verdict([a is not None and a >= m["target_accuracy"] for a in acc])


RULES = (
    Rule("fc3_trained_to_paper_accuracy",
         "every FC3 variant is trained to 95% test accuracy before measuring",
         "fraction of (width, seed) nets with test accuracy >= 0.95 after training (at most "
         "max_epochs, stopped at 0.95): all: true; at least half: partly; else false "
         "(section 7)", _v_accuracy),
    Rule("fc3_l2_cpn_power_law",
         "complexity per neuron of L2 falls with the width N as a power law a/N^b + c",
         f"the seeds' points pooled: CPN falls (Spearman of N and the seed mean < 0), the power "
         f"law beats the log decline alpha - beta ln N by AICc by more than {AIC_MARGIN:g}, and "
         f"b's 95% profile-likelihood interval lies inside the grid (0.001, 4): true; falls "
         f"and AICc within {AIC_MARGIN:g} of the log decline's or better: partly; else false "
         "(fig. 6 right)", _v_power),
    Rule("fc3_l1_cpn_flat",
         "complexity per neuron of L1 (fixed at 14) hardly depends on the width of L2",
         "relative range (max-min)/mean over N of the seed-mean L1 CPN below half of L2's "
         "(fig. 6 right)", _v_l1_flat),
    Rule("fc3_linearity_changes_with_width",
         "average linearity changes substantially with the L2 width, for both layers",
         "range over N of the seed-mean linearity at least 0.05 in each layer: true; in one "
         "layer: partly; else false (fig. 6 left)", _v_linearity),
)


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from pycx.models import FC3

    start = time.perf_counter()
    cfg = dict(QUICK if quick else FULL)
    split, data_name = J.load_digits_data(train_fraction=cfg["train_fraction"])
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    widths = cfg["widths"]
    in_features = split.side * split.side
    # per seed: width -> {"l1_cpn", "l2_cpn", "l1_lin", "l2_lin", "accuracy"}
    table = {s: {} for s in seeds}
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(seeds) * len(widths), desc="janik2020-fc3")
    for s in seeds:
        train_ds, test_ds = J.flat_split(split, cfg["n_train"], seed=s)
        test_ds = J.subset(test_ds, cfg["n_eval"], seed=s + 1)
        for n in widths:
            J.seeded(s * 1000 + n)
            model = FC3(l1=14, l2=n, in_features=in_features, n_classes=split.n_classes)
            acc, epochs, best = train_fc3(model, train_ds, test_ds,
                                          max_epochs=cfg["max_epochs"],
                                          target=cfg["target_accuracy"],
                                          shift_px=cfg["shift_px"], seed=s * 1000 + n)
            rows = {r["layer"]: r for r in J.janik_table(
                model, test_ds, layers=["l1_relu", "l2_relu"], patch_rows=None, seed=s,
                trees=cfg["trees"])}
            table[s][n] = {"l1_cpn": rows["l1_relu"]["complexity_per_neuron"],
                           "l2_cpn": rows["l2_relu"]["complexity_per_neuron"],
                           "l1_lin": rows["l1_relu"]["linearity"],
                           "l2_lin": rows["l2_relu"]["linearity"], "accuracy": acc,
                           "best_accuracy": best, "epochs": epochs}
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()

    def per_seed(key):
        return np.array([[table[s][n][key] for n in widths] for s in seeds])

    l1, l2 = per_seed("l1_cpn"), per_seed("l2_cpn")
    lin1, lin2 = per_seed("l1_lin"), per_seed("l2_lin")
    acc, ep, best = per_seed("accuracy"), per_seed("epochs"), per_seed("best_accuracy")
    n_test = len(test_ds)
    fit = compare_fits(widths, l2.tolist())
    fits_seed = [compare_fits(widths, [row]) for row in l2.tolist()]
    a, b, c = fit["a"], fit["b"], fit["c"]
    measured_acc = {"test_accuracy_per_seed": acc.tolist(), "epochs_per_seed": ep.tolist(),
                    "target_accuracy": cfg["target_accuracy"], "widths": widths,
                    "test_accuracy": spread(acc.ravel()),
                    "best_test_accuracy_per_seed": best.tolist(), "n_test": n_test,
                    "standard_error_at_target": math.sqrt(
                        cfg["target_accuracy"] * (1 - cfg["target_accuracy"]) / n_test)}
    measured_power = {"widths": widths, "l2_complexity_per_neuron_per_seed": l2.tolist(),
                      "l2_complexity_per_neuron_mean": l2.mean(0).tolist(), "fit": fit,
                      "b_per_seed": spread([f["b"] for f in fits_seed]),
                      "delta_aicc_per_seed": spread([f["delta_aicc_log_minus_power"]
                                                     for f in fits_seed]),
                      "interval": "95% profile likelihood of b, seeds' points pooled"}
    measured_l1 = {"l1_complexity_per_neuron_per_seed": l1.tolist(),
                   "l2_complexity_per_neuron_per_seed": l2.tolist(),
                   "l1_relative_range": _rel_range(l1.mean(0)),
                   "l2_relative_range": _rel_range(l2.mean(0))}
    measured_lin = {"l1_linearity_per_seed": lin1.tolist(), "l2_linearity_per_seed": lin2.tolist(),
                    "l1_linearity_range": float(np.ptp(lin1.mean(0))),
                    "l2_linearity_range": float(np.ptp(lin2.mean(0))),
                    "spearman_n_vs_l1_linearity": J.spearman(widths, lin1.mean(0)),
                    "spearman_n_vs_l2_linearity": J.spearman(widths, lin2.mean(0))}
    r_acc, r_pow, r_l1, r_lin = RULES
    claims = [r_acc(measured_acc), r_pow(measured_power), r_l1(measured_l1),
              r_lin(measured_lin)]

    plt = J.plt()
    figures = []
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    for v, name in ((lin1, "L1"), (lin2, "L2")):
        ax[0].errorbar(widths, v.mean(0), yerr=v.std(0), marker="o", capsize=3, label=name)
    ax[0].set(xscale="log", xlabel="L2 width N", ylabel="average linearity",
              title="FC3 linearity (fig. 6 left)")
    ax[0].legend()
    for v, name in ((l1, "L1"), (l2, "L2")):
        ax[1].errorbar(widths, v.mean(0), yerr=v.std(0), marker="o", capsize=3, label=name)
    if np.isfinite(b):
        grid = np.geomspace(widths[0], widths[-1], 100)
        ax[1].plot(grid, a * grid ** -b + c, "k--",
                   label=f"a/N^b + c, b = {b:.2f} [{fit['b_low']:.2f}, {fit['b_high']:.2f}]")
        ax[1].plot(grid, fit["log_alpha"] - fit["log_beta"] * np.log(grid), "k:",
                   label=f"alpha - beta ln N (dAICc = {fit['delta_aicc_log_minus_power']:.1f})")
    ax[1].set(xscale="log", xlabel="L2 width N", ylabel="complexity per neuron (bits)",
              title="FC3 complexity per neuron (fig. 6 right)")
    ax[1].legend()
    figures += J.save_figure(fig, out, "fc3_width_scaling")

    settings = {**cfg, "seeds": seeds, "data": data_name,
                "n_train_used": cfg["n_train"] or len(split.train),
                "n_test": n_test, "l1": 14,
                "optimizer": "Adadelta, lr from 1.0 down a cosine over max_epochs (per epoch)",
                "batch_size": 64,
                "augmentation": f"every epoch a random whole-pixel shift in +-{cfg['shift_px']} "
                                "px per axis and image, zero fill (not in the paper)",
                "training": "epochs until the test accuracy reaches target_accuracy, at most "
                            "max_epochs; measured there",
                "estimator": f"xgb chain rule, 2 folds, {cfg['trees']} trees, depth 3, "
                             "rate 0.1",
                "rows": "all test images (linear layers: one row per image)",
                "test_accuracy": {"per_seed": acc.tolist(), "min": float(acc.min())},
                "epochs": ep.tolist()}
    findings = make_findings(NAME, PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures,
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings
