"""Shared parts of the badias2021 replications (paper 002: Badias & Banerjee 2021, *Neural
Network Layer Algebra*): the paper's ImageNet tables as package data, the torchvision zoo
measured with `pycx.layer_algebra` under both readings of a grouped convolution's kernel size,
the power fit of Fig. 11 and the rules of every claim (pure numpy, unit-tested with one case
that must hold and one that must not: tests/test_replications_badias2021.py)."""
from __future__ import annotations

import csv
import math
import warnings
from pathlib import Path

import numpy as np

PAPER = "002: Badias & Banerjee, Neural Network Layer Algebra (arXiv 2107.01081)"
TABLES_CSV = Path(__file__).parent / "data" / "badias2021_imagenet.csv"
READINGS = ("per_group", "all_inputs")   # pycx.layer_algebra's conv_kernel
DEFAULT_READING = "per_group"
# Fig. 11's printed R^2 of the power fit of accuracy against GWC.
PAPER_R2 = {"top1": 0.751, "top5": 0.755}


def tables() -> list:
    """The paper's Tables 1-3, one dict per row: ``table`` (1-3), ``model``, ``top1``, ``top5``
    (float, NaN where not printed), ``params`` (int), ``torchvision`` (constructor name or "").

    >>> rows = tables()
    >>> len(rows), rows[0]["model"], rows[0]["top1"], rows[0]["params"]
    (110, 'AlexNet', 56.518, 61100840)
    """
    with open(TABLES_CSV, newline="") as f:
        lines = [line for line in f if not line.startswith("#")]
    out = []
    for r in csv.DictReader(lines):
        out.append({"table": int(r["table"]), "model": r["model"],
                    "top1": float(r["top1"]) if r["top1"] else math.nan,
                    "top5": float(r["top5"]) if r["top5"] else math.nan,
                    "params": int(float(r["params"])), "torchvision": r["torchvision"]})
    return out


def source_line() -> str:
    """The source comment of the tables file (its first line)."""
    with open(TABLES_CSV) as f:
        return f.readline().lstrip("# ").strip()


def require_torchvision(replication: str):
    """torchvision, or one ModuleNotFoundError line saying what to install
    (``pycx replicate`` prints it as its one error line)."""
    try:
        import torchvision
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"{replication} builds the paper's architectures with torchvision, which is not "
            "installed: pip install torchvision (the version matching your torch; README: "
            "'Model-zoo suite')", name="torchvision") from exc
    return torchvision


def input_side(tv_name: str) -> int:
    return 299 if tv_name == "inception_v3" else 224


def measure(model, shape, reading: str) -> dict:
    """`pycx.layer_algebra` summary of `model` (unknown-op warnings kept in ``unknown_ops``)."""
    import pycx
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        alg = pycx.layer_algebra(model, shape, conv_kernel=reading)
    s = alg.summary()
    s["n_nodes"] = len(alg.layers)
    return s, alg


_ZOO_CACHE: dict = {}


def zoo(tv_name: str) -> dict:
    """Parameter count and the algebra's summary under both readings of one torchvision
    classification model (random weights built on the meta device, eval mode, 224x224 input,
    299x299 for Inception V3). Cached per process."""
    if tv_name in _ZOO_CACHE:
        return _ZOO_CACHE[tv_name]
    import torch
    tv = require_torchvision("badias2021")
    with torch.device("meta"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kwargs = {"init_weights": False} if tv_name in ("googlenet", "inception_v3") else {}
        if tv_name in ("googlenet", "inception_v3"):
            kwargs["aux_logits"] = False
        model = tv.models.get_model(tv_name, weights=None, **kwargs).eval()
    side = input_side(tv_name)
    out = {"torchvision": tv_name, "input": [1, 3, side, side],
           "params": int(sum(p.numel() for p in model.parameters()))}
    for reading in READINGS:
        out[reading], _ = measure(model, (1, 3, side, side), reading)
    _ZOO_CACHE[tv_name] = out
    return out


# ----------------------------------------------------------------------------------------------
# Statistics


def spearman(x, y) -> float:
    """Spearman rank correlation (average ranks for ties); NaN with fewer than 3 pairs.

    >>> spearman([1, 2, 3], [10, 30, 20])
    0.5
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3:
        return math.nan
    from scipy.stats import rankdata
    rx, ry = rankdata(x[ok]), rankdata(y[ok])
    if rx.std() == 0 or ry.std() == 0:
        return math.nan
    return float(np.corrcoef(rx, ry)[0, 1])


def power_fit(x_log10, y) -> dict:
    """The paper's "power function" fit ``y = a * x^b`` (least squares on y, as a curve-fitting
    tool fits it; x given as log10 since GWC reaches 10^600), with ``R^2 = 1 - SS_res / SS_tot``
    on y. Started from the log-log line.

    >>> f = power_fit(np.log10([1.0, 10.0, 100.0]), [2.0, 4.0, 8.0])
    >>> round(f["a"], 6), round(f["b"], 6), round(f["r2"], 6)
    (2.0, 0.30103, 1.0)
    """
    from scipy.optimize import curve_fit
    lx, y = np.asarray(x_log10, float), np.asarray(y, float)
    ok = np.isfinite(lx) & np.isfinite(y) & (y > 0)
    lx, y = lx[ok], y[ok]
    if len(y) < 3:
        return {"a": math.nan, "b": math.nan, "r2": math.nan, "n": int(len(y))}
    slope, icept = np.polyfit(lx, np.log10(y), 1)
    ln10 = math.log(10)

    def f(l, log_a, b):
        return np.exp(log_a + b * ln10 * l)
    try:
        (log_a, b), _ = curve_fit(f, lx, y, p0=(icept * ln10, slope), maxfev=20000)
    except RuntimeError:
        log_a, b = icept * ln10, slope
    pred = f(lx, log_a, b)
    ss_res = float(np.sum((y - pred) ** 2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    return {"a": float(math.exp(log_a)), "b": float(b),
            "r2": 1 - ss_res / ss_tot if ss_tot > 0 else math.nan, "n": int(len(y))}


# ----------------------------------------------------------------------------------------------
# Rules (stated before the full runs; each unit-tested with a true and a false case)


def num(v) -> float:
    """A measured number as float: None (how strict JSON writes NaN) becomes NaN, so a rule
    reads a findings.json the same way it reads the run's own dict.

    >>> num(None), num(2)
    (nan, 2.0)
    """
    return math.nan if v is None else float(v)


def nums(values) -> list:
    """`num` over a sequence.

    >>> nums([1, None])
    [1.0, nan]
    """
    return [num(v) for v in values]


def combine(verdicts):
    """One verdict from several sub-verdicts: True when all are True, "partly" when any is
    True or "partly", else False.

    >>> combine([True, True]), combine([True, False]), combine(["partly"]), combine([False])
    (True, 'partly', 'partly', False)
    """
    verdicts = list(verdicts)
    if verdicts and all(v is True for v in verdicts):
        return True
    return "partly" if any(v in (True, "partly") for v in verdicts) else False


def rule_fraction(flags, full: float = 1.0, part: float = 0.5):
    """True when at least `full` of the flags hold, "partly" when at least `part`, else False.

    >>> rule_fraction([True, True]), rule_fraction([True, False]), rule_fraction([False, False])
    (True, 'partly', False)
    """
    flags = [bool(f) for f in flags]
    if not flags:
        return False
    frac = sum(flags) / len(flags)
    return True if frac >= full else ("partly" if frac >= part else False)


def strictly_monotone(values, direction: int) -> bool:
    """Every step moves in `direction` (-1 falling, +1 rising)."""
    d = np.diff(np.asarray(nums(values), float))
    return bool(len(d) and np.all(d * direction > 0))


def rule_monotone(series: dict, direction: int):
    """Each named series (ordered by depth or size) strictly monotone in `direction`: True for
    all, "partly" for at least half, False otherwise.

    >>> rule_monotone({"a": [3, 2, 1], "b": [2, 1]}, -1), rule_monotone({"a": [1, 2]}, -1)
    (True, False)
    """
    return rule_fraction([strictly_monotone(v, direction) for v in series.values()])


def rule_r2(r2: float, paper: float, tol: float = 0.05):
    """The fit's R^2 reproduces the paper's when it is at least ``paper - tol``; "partly" when
    at least ``paper - 0.25`` (a clear but weaker relation); False below.

    >>> rule_r2(0.74, 0.751), rule_r2(0.6, 0.751), rule_r2(0.42, 0.751)
    (True, 'partly', False)
    """
    r2 = num(r2)
    if not math.isfinite(r2):
        return False
    return True if r2 >= paper - tol else ("partly" if r2 >= paper - 0.25 else False)


def rule_best_ranker(rho: dict, best: str = "gwc"):
    """`best` ranks the models best: its Spearman rho with accuracy is the largest of all
    metrics (True), larger than some but not all ("partly"), or larger than none (False).

    >>> rule_best_ranker({"gwc": 0.9, "gcc": 0.8, "gsc": 0.7})
    True
    >>> rule_best_ranker({"gwc": 0.8, "gcc": 0.7, "gsc": 0.92})
    'partly'
    """
    others = [num(v) for k, v in rho.items() if k != best]
    mine = num(rho[best])
    if not math.isfinite(mine):
        return False
    beaten = [mine > v for v in others if math.isfinite(v)]
    return rule_fraction(beaten, full=1.0, part=1e-9)


def rule_gcc_equal(resnet_log10, plain_log10, rel: float = 0.05):
    """GCC nearly equal per depth: |log10 GCC(ResNet) - log10 GCC(Plain)| at most `rel` of
    log10 GCC(Plain) at every depth (True), at some ("partly"), at none (False).

    >>> rule_gcc_equal([100.0, 200.0], [99.0, 199.0]), rule_gcc_equal([100.0], [50.0])
    (True, False)
    """
    flags = [abs(r - p) <= rel * abs(p) for r, p in zip(nums(resnet_log10), nums(plain_log10))]
    return rule_fraction(flags, part=1e-9)


def rule_above(higher, lower):
    """Pairwise ``higher[i] > lower[i]`` at every index (True), some ("partly"), none (False).

    >>> rule_above([2, 3], [1, 2]), rule_above([2, 1], [1, 2]), rule_above([0], [1])
    (True, 'partly', False)
    """
    return rule_fraction([h > lo for h, lo in zip(nums(higher), nums(lower))], part=1e-9)


def rule_separated(higher, lower):
    """Every value of `higher` above every value of `lower` (True); else the pairwise rule
    gives at most "partly".

    >>> rule_separated([5, 4], [3, 2]), rule_separated([5, 2], [3, 1]), rule_separated([1], [3])
    (True, 'partly', False)
    """
    higher, lower = nums(higher), nums(lower)
    finite = bool(higher and lower) and all(map(math.isfinite, higher + lower))
    if finite and min(higher) > max(lower):
        return True
    pair = rule_above(higher, lower)
    return "partly" if pair in (True, "partly") else False


def rule_steeper_small(slopes: dict, small=(18, 34), large=(50, 101, 152)):
    """The smaller models' curves fall more steeply per layer: every |slope| of `small` above
    every |slope| of `large` (True); the mean of the small above the mean of the large
    ("partly"); otherwise False. `slopes`: depth -> log10 GCIP per layer.

    >>> rule_steeper_small({18: -0.5, 34: -0.4, 50: -0.3, 101: -0.2, 152: -0.1})
    True
    >>> rule_steeper_small({18: -0.1, 34: -0.2, 50: -0.3, 101: -0.4, 152: -0.5})
    False
    """
    s = [abs(num(slopes[d])) for d in small]
    big = [abs(num(slopes[d])) for d in large]
    if not (s and big) or not all(map(math.isfinite, s + big)):
        return False
    if min(s) > max(big):
        return True
    return "partly" if np.mean(s) > np.mean(big) else False


def rule_compresses(gcip_log10: dict):
    """The paper's reading that compression grows along the network: GCIP < 1 (log10 < 0)
    for every model (True), at least 80% ("partly"), fewer (False).

    >>> rule_compresses({"a": -3.0, "b": -1.0}), rule_compresses({"a": 2.0, "b": 1.0})
    (True, False)
    """
    return rule_fraction([num(v) < 0 for v in gcip_log10.values()], part=0.8)


# ----------------------------------------------------------------------------------------------
# The zoo of the tables

# Families whose members differ in depth (the paper's "within each family ... with network
# depth"), in order of depth; width-multiplier families (MNasNet, ShuffleNet) are reported but
# not ruled on. DenseNet-161 is wider, not deeper, than 121/169/201.
DEPTH_FAMILIES = {
    "ResNet": ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"],
    "VGG": ["vgg11", "vgg13", "vgg16", "vgg19"],
    "VGG-BN": ["vgg11_bn", "vgg13_bn", "vgg16_bn", "vgg19_bn"],
    "DenseNet": ["densenet121", "densenet169", "densenet201"],
    "ResNeXt": ["resnext50_32x4d", "resnext101_32x8d"],
    "Wide ResNet": ["wide_resnet50_2", "wide_resnet101_2"],
    "EfficientNet": [f"efficientnet_b{i}" for i in range(8)],
}
WIDTH_FAMILIES = {
    "MNasNet": ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0", "mnasnet1_3"],
    "ShuffleNet V2": ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5",
                      "shufflenet_v2_x2_0"],
}
# Quick runs: the small members of a few families (pipeline check only).
QUICK_MODELS = ["resnet18", "resnet34", "vgg11", "vgg13", "squeezenet1_0", "squeezenet1_1",
                "mobilenet_v2", "shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "mnasnet0_5",
                "mnasnet1_0", "googlenet", "alexnet", "densenet121"]
# A table row is matched to its torchvision architecture when the parameter counts agree
# within this fraction (the TensorFlow rows are Keras builds of the same architectures).
PARAMS_TOLERANCE = 0.02


def family_of(tv_name: str) -> str:
    for fam, names in {**DEPTH_FAMILIES, **WIDTH_FAMILIES}.items():
        if tv_name in names:
            return fam
    return {"alexnet": "AlexNet", "googlenet": "GoogLeNet", "inception_v3": "Inception",
            "mobilenet_v2": "MobileNet", "densenet161": "DenseNet", "resnext101_64x4d": "ResNeXt",
            "squeezenet1_0": "SqueezeNet", "squeezenet1_1": "SqueezeNet"}.get(tv_name, "other")


def zoo_rows(quick: bool, progress: bool = False, label: str = "badias2021") -> list:
    """Every table row with a torchvision architecture (``quick``: those of `QUICK_MODELS`),
    with the zoo measurement attached under ``"zoo"`` and ``params_match`` (within
    `PARAMS_TOLERANCE`)."""
    rows = [dict(r) for r in tables() if r["torchvision"]
            and (not quick or r["torchvision"] in QUICK_MODELS)]
    for r in rows:
        if progress and r["torchvision"] not in _ZOO_CACHE:
            print(f"{label}: {r['torchvision']}", flush=True)
        r["zoo"] = zoo(r["torchvision"])
        r["params_relative_difference"] = abs(r["zoo"]["params"] - r["params"]) / r["params"]
        r["params_match"] = r["params_relative_difference"] <= PARAMS_TOLERANCE
    return rows
