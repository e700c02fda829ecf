"""Restricted Boltzmann machines and deep belief networks (definitions §7; Song, Marsili & Jo).

Plain torch tensors on the model's device: parameters are ``nn.Parameter`` with
``requires_grad=False`` (CD updates them in place, autograd is never used), so ``.to(device)``
moves a model and `pycx.capture` finds its device. Every random draw goes through a
``torch.Generator`` seeded from the ``seed`` argument, on the model's device.

Gates for `pycx.capture`: `DBN.forward` runs each hidden layer's ``P(h = 1 | input)`` through
its own ``nn.Sigmoid`` module ``h1 .. hL``, so a capture records one sigmoid layer per hidden
layer, named as in the paper. Its ``record.binary`` (sigmoid output > 0.5) is exactly the
paper's zero-temperature state ``P(h = 1 | v) > 0.5``, the same bits as `DBN.transform`, and
it is what `pycx.analyze` uses for resolution and relevance; the ternary gate bits (saturated
low / linear / saturated high) serve the Janik metrics.
"""
from __future__ import annotations

import math
import numbers
import warnings
from typing import Optional, Sequence

import numpy as np
import torch
from torch import nn

from .._validate import check_bool, check_device, check_int, check_positive, describe

# Rows per chunk where a whole data set is pushed through a layer (bounds temporaries).
_CHUNK_ROWS = 16384

# Largest seeds: torch's generators take 64 bits; a DBN seeds RBM l with seed + l - 1, so its
# own seeds stop at 2^63 - 1, leaving room for any number of layers.
MAX_RBM_SEED = 2 ** 64 - 1
MAX_DBN_SEED = 2 ** 63 - 1


# Default training length: 10 epochs, and more on small data sets, so that every RBM gets at
# least this many mini-batch updates. Measured on scikit-learn's digits (1797 rows, batch 100,
# rate 0.1, docs/decisions.md): 10 epochs (180 updates) leave every unit of the second layer
# above 0.5 for every image, so layers 2..L collapse to one state; from about 1,000 updates no
# layer collapses (4 seeds, two stacks, CD and PCD, 300 to 1797 rows); 2,000 leaves a margin.
# At 60,000 rows 10 epochs are already 6,000 updates, so large data sets keep 10 epochs.
MIN_DEFAULT_UPDATES = 2000


class CollapsedLayerWarning(UserWarning):
    """A trained hidden layer gives one state (``P(h = 1 | v) > 0.5``) for every training row:
    its H[s] is 0 and its near-zero reconstruction error is no sign of success."""


def default_epochs(n_rows: int, batch_size: int) -> int:
    """The epochs of ``fit(epochs=None)``: 10, or more where 10 epochs of ``n_rows`` rows in
    batches of `batch_size` would give fewer than `MIN_DEFAULT_UPDATES` updates.

    >>> default_epochs(60000, 100), default_epochs(1797, 100), default_epochs(300, 100)
    (10, 112, 667)
    """
    n_rows = check_int("n_rows", n_rows, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    per_epoch = -(-n_rows // min(batch_size, n_rows))
    return max(10, -(-MIN_DEFAULT_UPDATES // per_epoch))


def _check_fit_args(epochs, batch_size, lr, k, momentum, weight_decay, seed,
                    max_seed: int = MAX_RBM_SEED) -> tuple:
    """The training settings of `RBM.fit` / `DBN.fit`, checked (``epochs=None`` stays None)."""
    if epochs is not None:
        epochs = check_int("epochs", epochs, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    k = check_int("k", k, minimum=1)
    lr = check_positive("lr", lr)
    momentum = check_positive("momentum", momentum, allow_zero=True)
    if momentum >= 1.0:
        raise ValueError(f"argument 'momentum' must be in [0, 1), got {momentum!r}")
    weight_decay = check_positive("weight_decay", weight_decay, allow_zero=True)
    seed = _check_seed(seed, max_seed)
    return epochs, batch_size, lr, k, momentum, weight_decay, seed


def _check_flags(**flags) -> tuple:
    return tuple(check_bool(name, value) for name, value in flags.items())


def _is_collapsed(x: torch.Tensor, p: torch.Tensor) -> bool:
    """True when the binarised states ``p > 0.5`` are one state for every row although the
    input rows `x` are not all equal (identical inputs have nothing to tell apart)."""
    if x.shape[0] < 2 or bool((x == x[:1]).all()):
        return False
    bits = p > 0.5
    return bool((bits.all(0) | ~bits.any(0)).all())


def _collapse_message(who: str, layers: str, n_rows: int, updates: int, batch_size: int,
                      lr: float) -> str:
    return (f"{who}: {layers} collapsed: every one of the {n_rows} training rows has the same "
            f"state P(h = 1 | input) > 0.5, so H[s] = 0 there (and a reconstruction error near "
            f"0 is no sign of success). Usually too few updates ({updates} per RBM, batch "
            f"{batch_size}, lr {lr:g}): train longer (epochs), or with a smaller batch_size or "
            f"a larger lr")


def _generator(device: torch.device, seed: int) -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def _check_seed(seed, maximum: int = MAX_RBM_SEED) -> int:
    seed = check_int("seed", seed, minimum=0)
    if seed > maximum:
        power = "2^64 - 1" if maximum == MAX_RBM_SEED else "2^63 - 1"
        raise ValueError(f"argument 'seed' must be <= {power}, got {seed}")
    return seed


def _check_dtype(dtype):
    if not (isinstance(dtype, torch.dtype) and dtype.is_floating_point):
        raise TypeError(f"argument 'dtype' must be a floating torch dtype, got {dtype!r}")
    return dtype


def _visible_tensor(name: str, x, n_visible: int, device, dtype) -> torch.Tensor:
    """Visible data as a ``(N, n_visible)`` tensor of the model's dtype on its device.

    Accepts a torch tensor or numpy array of a floating dtype (integers and bools are refused:
    pixel counts need an explicit scaling), shaped ``(N, n_visible)`` or ``(N, ...)`` with the
    trailing axes holding ``n_visible`` values (images are flattened). Values must be finite and
    in [0, 1] (they are read as probabilities).
    """
    if isinstance(x, np.ndarray):
        if x.dtype.kind != "f":
            raise TypeError(f"argument '{name}' must hold floating values in [0, 1], got {describe(x)}")
        x = torch.from_numpy(np.ascontiguousarray(x))
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"argument '{name}' must be a torch tensor or numpy array, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"argument '{name}' must hold floating values in [0, 1], got {describe(x)}")
    if x.ndim < 2 or x.shape[0] == 0 or math.prod(x.shape[1:]) != n_visible:
        raise ValueError(f"argument '{name}' must have shape (N, {n_visible}) or (N, ...) with "
                         f"{n_visible} values per row, N >= 1, got {describe(x)}")
    x = x.detach().reshape(x.shape[0], n_visible).to(device=device, dtype=dtype)
    lo, hi = torch.aminmax(x)
    lo, hi = float(lo), float(hi)
    if not (math.isfinite(lo) and math.isfinite(hi)) or bool(torch.isnan(x).any()):
        raise ValueError(f"argument '{name}' contains NaN or infinite values ({describe(x)})")
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"argument '{name}': visible values must lie in [0, 1] (read as "
                         f"probabilities), got min {lo:g}, max {hi:g} ({describe(x)})")
    return x


def _progress_bar(total: int, desc: str, progress: bool):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=desc, leave=False)


class RBM(nn.Module):
    """Bernoulli-Bernoulli restricted Boltzmann machine, ``E(v, h) = -a.v - b.h - v.W.h``.

    ``W`` is ``(n_visible, n_hidden)``, initialised ``N(0, init_std^2)`` from ``seed`` (drawn on
    the CPU in float64, so the same seed gives the same machine on every device); biases 0.
    Visible values may be real in [0, 1] (read as probabilities).

    >>> import torch
    >>> rbm = RBM(6, 3, seed=0)
    >>> x = (torch.rand(64, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    >>> rbm = rbm.fit(x, epochs=2, batch_size=16, progress=False)
    >>> tuple(rbm.p_h_given_v(x).shape), len(rbm.history)
    ((64, 3), 2)
    """

    def __init__(self, n_visible: int, n_hidden: int, *, seed: int = 0, init_std: float = 0.01,
                 device=None, dtype: torch.dtype = torch.float32):
        super().__init__()
        n_visible = check_int("n_visible", n_visible, minimum=1)
        n_hidden = check_int("n_hidden", n_hidden, minimum=1)
        seed = _check_seed(seed)
        init_std = check_positive("init_std", init_std, allow_zero=True)
        dtype = _check_dtype(dtype)
        device = check_device("device", device)
        g = torch.Generator().manual_seed(seed)
        w = (torch.randn(n_visible, n_hidden, generator=g, dtype=torch.float64) * init_std).to(dtype)
        if not bool(torch.isfinite(w).all()):
            raise ValueError(f"argument 'init_std' ({init_std!r}) gives weights beyond the "
                             f"range of {dtype}")
        self.W = nn.Parameter(w.to(device=device), requires_grad=False)
        self.a = nn.Parameter(torch.zeros(n_visible, device=device, dtype=dtype), requires_grad=False)
        self.b = nn.Parameter(torch.zeros(n_hidden, device=device, dtype=dtype), requires_grad=False)
        self.history: list = []          # one dict per training epoch
        self._chain: Optional[torch.Tensor] = None  # persistent-CD hidden states

    @property
    def n_visible(self) -> int:
        return self.W.shape[0]

    @property
    def n_hidden(self) -> int:
        return self.W.shape[1]

    def extra_repr(self) -> str:
        return f"n_visible={self.n_visible}, n_hidden={self.n_hidden}"

    def _visible(self, name: str, v) -> torch.Tensor:
        return _visible_tensor(name, v, self.n_visible, self.W.device, self.W.dtype)

    def _hidden(self, name: str, h) -> torch.Tensor:
        return _visible_tensor(name, h, self.n_hidden, self.W.device, self.W.dtype)

    # ---- conditionals and energies (inputs trusted: callers validated) ----
    def _pre_h(self, v: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.b, v, self.W)

    def _pre_v(self, h: torch.Tensor) -> torch.Tensor:
        return torch.addmm(self.a, h, self.W.t())

    def p_h_given_v(self, v) -> torch.Tensor:
        """``P(h_j = 1 | v) = sigmoid(b_j + (vW)_j)``, ``(N, n_hidden)``."""
        return torch.sigmoid(self._pre_h(self._visible("v", v)))

    def p_v_given_h(self, h) -> torch.Tensor:
        """``P(v_i = 1 | h) = sigmoid(a_i + (W h)_i)``, ``(N, n_visible)``; h in [0, 1]."""
        return torch.sigmoid(self._pre_v(self._hidden("h", h)))

    def free_energy(self, v) -> torch.Tensor:
        """``F(v) = -a.v - sum_j softplus(b_j + (vW)_j)`` (nats), one value per row."""
        v = self._visible("v", v)
        return -(v @ self.a) - torch.nn.functional.softplus(self._pre_h(v)).sum(dim=1)

    def reconstruction_error(self, v) -> float:
        """Mean squared error per visible unit of the mean-field reconstruction
        ``v -> P(h | v) -> P(v | h)``."""
        v = self._visible("v", v)
        return float(self._recon(v))

    def _recon(self, v: torch.Tensor) -> torch.Tensor:
        return (torch.sigmoid(self._pre_v(torch.sigmoid(self._pre_h(v)))) - v).square().mean()

    def forward(self, v: torch.Tensor) -> torch.Tensor:
        """``P(h = 1 | v)`` (no validation: the module call of a training/analysis loop)."""
        return torch.sigmoid(self._pre_h(v))

    def gibbs(self, v, steps: int, *, seed: int = 0, sample_visible: bool = True):
        """``steps`` Gibbs sweeps ``v -> h -> v`` from `v`; returns the last ``(v, h)``: h binary
        samples, v binary samples (or the probabilities ``P(v | h)`` with
        ``sample_visible=False``). ``steps = 0`` returns `v` and a sample of ``h | v``."""
        v = self._visible("v", v)
        steps = check_int("steps", steps, minimum=0)
        sample_visible = check_bool("sample_visible", sample_visible)
        g = _generator(self.W.device, _check_seed(seed))
        h = torch.bernoulli(torch.sigmoid(self._pre_h(v)), generator=g)
        for _ in range(steps):
            pv = torch.sigmoid(self._pre_v(h))
            v = torch.bernoulli(pv, generator=g) if sample_visible else pv
            h = torch.bernoulli(torch.sigmoid(self._pre_h(v)), generator=g)
        return v, h

    # ---- training ----
    def fit(self, data, *, epochs: Optional[int] = None, batch_size: int = 100, lr: float = 0.1,
            k: int = 1, persistent: bool = False, momentum: float = 0.0,
            weight_decay: float = 0.0, sample_visible: bool = False, seed: int = 0,
            progress: bool = True) -> "RBM":
        """Trains by CD-k (``persistent=False``) or persistent CD (Tieleman 2008).

        ``epochs=None`` (default): `default_epochs` (10, or more on small data sets: at least
        2,000 mini-batch updates). A `CollapsedLayerWarning` is issued when, after training,
        every training row gives the same hidden state.

        Per mini-batch ``v0`` (a seeded shuffle each epoch): ``h0 ~ P(h | v0)``; the negative
        chain starts from ``h0`` (CD) or from the persistent chains (PCD; ``batch_size`` chains,
        random at the start, kept across calls) and runs k sweeps ``h -> v -> h``. Visible
        negatives are the probabilities ``P(v | h)`` (the paper's "real mean values" for the
        visible units) unless ``sample_visible``; hidden states are binary samples. Gradient
        ``<v h>_data - <v h>_model`` with ``P(h | v)`` in both terms, scaled by ``lr /
        batch``; ``weight_decay`` adds ``-lr * weight_decay * W``; ``momentum`` keeps a
        velocity. Records ``history`` (per epoch: the reconstruction error of the first 128
        rows). Returns self.
        """
        x = self._visible("data", data)
        epochs, batch_size, lr, k, momentum, weight_decay, seed = _check_fit_args(
            epochs, batch_size, lr, k, momentum, weight_decay, seed)
        persistent, sample_visible, progress = _check_flags(persistent=persistent,
                                                            sample_visible=sample_visible,
                                                            progress=progress)
        if epochs is None:
            epochs = default_epochs(x.shape[0], batch_size)
        self._fit(x, epochs, batch_size, lr, k, persistent, momentum, weight_decay,
                  sample_visible, seed, progress)
        with torch.no_grad():
            p = torch.cat([torch.sigmoid(self._pre_h(c)) for c in x.split(_CHUNK_ROWS)])
        if epochs and _is_collapsed(x, p):
            updates = epochs * -(-x.shape[0] // min(batch_size, x.shape[0]))
            warnings.warn(_collapse_message("RBM.fit", "the hidden layer", x.shape[0], updates,
                                            batch_size, lr), CollapsedLayerWarning, stacklevel=2)
        return self

    def _fit(self, x: torch.Tensor, epochs: int, batch_size: int, lr: float, k: int,
             persistent: bool, momentum: float, weight_decay: float, sample_visible: bool,
             seed: int, progress: bool) -> None:
        """The training loop of `fit` on validated arguments."""
        dev = self.W.device
        g = _generator(dev, seed)
        n = x.shape[0]
        bs = min(batch_size, n)
        W, a, b = self.W.data, self.a.data, self.b.data
        use_velocity = momentum > 0.0 or weight_decay > 0.0
        if use_velocity:
            vW, va, vb = torch.zeros_like(W), torch.zeros_like(a), torch.zeros_like(b)
        if persistent and (self._chain is None or self._chain.shape != (bs, self.n_hidden)
                           or self._chain.device != dev or self._chain.dtype != W.dtype):
            self._chain = torch.bernoulli(torch.full((bs, self.n_hidden), 0.5, device=dev,
                                                     dtype=W.dtype), generator=g)
        monitor = x[:128]  # ~1-3% of an epoch's arithmetic at N >= 2000
        bar = _progress_bar(epochs, f"RBM {self.n_visible}-{self.n_hidden}", progress)
        try:
            for epoch in range(epochs):
                order = torch.randperm(n, generator=g, device=dev)
                for start in range(0, n, bs):
                    v0 = x.index_select(0, order[start:start + bs])
                    m = v0.shape[0]
                    ph0 = torch.sigmoid(torch.addmm(b, v0, W))
                    h = self._chain[:m] if persistent else torch.bernoulli(ph0, generator=g)
                    for _ in range(k):
                        pv = torch.sigmoid(torch.addmm(a, h, W.t()))
                        v = torch.bernoulli(pv, generator=g) if sample_visible else pv
                        phk = torch.sigmoid(torch.addmm(b, v, W))
                        h = torch.bernoulli(phk, generator=g)
                    if persistent:
                        self._chain[:m] = h
                    scale = lr / m
                    if use_velocity:
                        vW.mul_(momentum).addmm_(v0.t(), ph0, alpha=scale)
                        vW.addmm_(v.t(), phk, alpha=-scale).add_(W, alpha=-lr * weight_decay)
                        va.mul_(momentum).add_((v0 - v).sum(0), alpha=scale)
                        vb.mul_(momentum).add_((ph0 - phk).sum(0), alpha=scale)
                        W.add_(vW)
                        a.add_(va)
                        b.add_(vb)
                    else:
                        W.addmm_(v0.t(), ph0, alpha=scale).addmm_(v.t(), phk, alpha=-scale)
                        a.add_((v0 - v).sum(0), alpha=scale)
                        b.add_((ph0 - phk).sum(0), alpha=scale)
                err = float(self._recon(monitor))
                self.history.append({"epoch": len(self.history) + 1, "reconstruction_error": err})
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(recon=f"{err:.4f}")
        finally:
            if bar is not None:
                bar.close()
        if not all(bool(torch.isfinite(t).all()) for t in (W, a, b)):
            # Returned as they are, NaN weights would surface later as NaN states far away.
            raise ValueError(f"argument 'lr' ({lr:g}) made the training diverge: the RBM "
                             f"{self.n_visible}-{self.n_hidden} has non-finite weights after "
                             f"{len(self.history)} epochs; use a smaller lr")


PROPAGATIONS = ("mean_field", "binary")


def _check_propagation(propagation) -> bool:
    """True for binary propagation; a clear error for anything but the two names."""
    if not isinstance(propagation, str) or propagation not in PROPAGATIONS:
        raise ValueError(f"argument 'propagation' must be one of {PROPAGATIONS}, got "
                         f"{propagation!r}")
    return propagation == "binary"


def _check_sizes(sizes) -> list:
    if isinstance(sizes, (str, bytes)) or not isinstance(sizes, Sequence):
        raise TypeError(f"argument 'sizes' must be a sequence of layer sizes, got {type(sizes).__name__}")
    out = []
    for i, s in enumerate(sizes):
        if isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1:
            raise ValueError(f"argument 'sizes': entry {i} must be a positive integer, got {s!r}")
        out.append(int(s))
    if len(out) < 2:
        raise ValueError(f"argument 'sizes' needs the visible size and at least one hidden size, got {list(sizes)!r}")
    return out


class DBN(nn.Module):
    """Deep belief network: a greedy layer-wise stack of `RBM`, ``sizes = [visible, h1, ...]``
    (the paper's is 784-500-250-120-60-30-25-20-15-10-5). Hidden layers are numbered from 1
    as in the paper (``H_1 .. H_L``); RBM l (``rbms[l - 1]``) joins ``H_{l-1}`` and ``H_l``
    (``H_0 = V``). RBM l is initialised from ``seed + l - 1``.

    >>> import torch
    >>> dbn = DBN([16, 8, 4], seed=0)
    >>> x = (torch.rand(32, 16, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    >>> dbn = dbn.fit(x, epochs=10, batch_size=4, lr=1.0, progress=False)
    >>> dbn.transform(x, 2).n_bits, tuple(dbn.generate(2, 5, steps=3).shape)
    (4, (5, 16))
    """

    def __init__(self, sizes, *, seed: int = 0, init_std: float = 0.01, device=None,
                 dtype: torch.dtype = torch.float32):
        sizes = _check_sizes(sizes)
        seed = _check_seed(seed, MAX_DBN_SEED)
        dtype = _check_dtype(dtype)
        device = check_device("device", device)
        rbms = [RBM(sizes[i], sizes[i + 1], seed=seed + i, init_std=init_std, device=device,
                    dtype=dtype) for i in range(len(sizes) - 1)]
        super().__init__()
        self._setup(rbms)

    def _setup(self, rbms):
        self.rbms = nn.ModuleList(rbms)
        for l in range(1, len(rbms) + 1):
            setattr(self, f"h{l}", nn.Sigmoid())  # one gating module per hidden layer

    @classmethod
    def from_rbms(cls, rbms) -> "DBN":
        """A DBN from trained RBMs; each RBM's hidden size must be the next one's visible size,
        and all must share one device and dtype.

        >>> DBN.from_rbms([RBM(6, 4), RBM(4, 2)]).sizes
        [6, 4, 2]
        """
        if isinstance(rbms, (str, bytes)) or not hasattr(rbms, "__iter__"):
            raise TypeError(f"argument 'rbms' must be a non-empty sequence of RBM, got "
                            f"{type(rbms).__name__}")
        rbms = list(rbms)
        if not rbms or not all(isinstance(r, RBM) for r in rbms):
            raise TypeError("argument 'rbms' must be a non-empty sequence of RBM")
        for i in range(len(rbms) - 1):
            if rbms[i].n_hidden != rbms[i + 1].n_visible:
                raise ValueError(f"argument 'rbms': sizes do not chain: RBM {i + 1} has "
                                 f"{rbms[i].n_hidden} hidden units but RBM {i + 2} has "
                                 f"{rbms[i + 1].n_visible} visible units")
        first = rbms[0].W
        for i, r in enumerate(rbms):
            if r.W.device != first.device or r.W.dtype != first.dtype:
                raise ValueError(f"argument 'rbms': RBM {i + 1} is on {r.W.device} {r.W.dtype}, "
                                 f"RBM 1 on {first.device} {first.dtype}")
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._setup(rbms)
        return self

    @property
    def sizes(self) -> list:
        return [self.rbms[0].n_visible] + [r.n_hidden for r in self.rbms]

    @property
    def n_layers(self) -> int:
        """Number of hidden layers L."""
        return len(self.rbms)

    def _check_layer(self, layer, *, minimum: int = 1) -> int:
        if isinstance(layer, bool) or not isinstance(layer, numbers.Integral):
            raise TypeError(f"argument 'layer' must be an integer, got {type(layer).__name__}")
        if not minimum <= layer <= self.n_layers:
            raise ValueError(f"argument 'layer' must be a hidden layer in {minimum}..{self.n_layers} "
                             f"(H_1 is the first hidden layer), got {layer}")
        return int(layer)

    def _visible(self, name: str, x) -> torch.Tensor:
        w = self.rbms[0].W
        return _visible_tensor(name, x, self.rbms[0].n_visible, w.device, w.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Mean-field upward pass; each hidden layer's ``P(h = 1 | input)`` runs through its
        gating module ``h<l>``. Returns the top layer's probabilities."""
        p = x.reshape(x.shape[0], -1)
        for l, rbm in enumerate(self.rbms, start=1):
            p = getattr(self, f"h{l}")(rbm._pre_h(p))
        return p

    def _up(self, x: torch.Tensor, layer: int, binary: bool = False) -> torch.Tensor:
        for i, rbm in enumerate(self.rbms[:layer]):
            if binary and i:  # the layer below enters as its state, not its probabilities
                x = (x > 0.5).to(x.dtype)
            x = torch.cat([torch.sigmoid(rbm._pre_h(c)) for c in x.split(_CHUNK_ROWS)])
        return x

    def probabilities(self, x, layer: int, *, propagation: str = "mean_field") -> torch.Tensor:
        """``P(h_l = 1 | input)`` of hidden layer `layer` (1..L) for visible rows `x`.

        `propagation` says what each RBM above the first receives from the layer below:
        ``"mean_field"`` (default) its probabilities ``P(h_{l-1} = 1 | input)`` (the input
        the DBN is trained on, docs/definitions.md §7); ``"binary"`` its zero-temperature state
        ``P(h_{l-1} = 1 | input) > 0.5`` as 0/1 (the paper binarises each layer's state; it
        does not say whether the binarised or the mean value is passed up). Both read the
        visible rows as they are and agree on H_1.

        >>> import torch
        >>> dbn = DBN([4, 3, 2], seed=0)
        >>> x = torch.rand(5, 4, generator=torch.Generator().manual_seed(0))
        >>> first = dbn.probabilities(x, 1, propagation="binary")
        >>> bool(torch.equal(dbn.probabilities(x, 1), first))
        True
        """
        x = self._visible("x", x)
        return self._up(x, self._check_layer(layer), _check_propagation(propagation))

    def transform(self, x, layer: int, *, propagation: str = "mean_field"):
        """Binarised states ``P(h_l = 1 | x) > 0.5`` of hidden layer `layer` (1..L), the paper's
        zero-temperature reading, as `PackedBits` (on the model's device) for
        `pycx.resolution_relevance` and `pycx.analyze`. `propagation`: as in `probabilities`
        (``"mean_field"`` by default; ``"binary"`` passes each layer's state up)."""
        import pycx
        return pycx.pack_bits(self.probabilities(x, layer, propagation=propagation), 0.5)

    def fit(self, data, *, epochs: Optional[int] = None, batch_size: int = 100, lr: float = 0.1,
            k: int = 1, persistent: bool = False, momentum: float = 0.0,
            weight_decay: float = 0.0, sample_visible: bool = False, seed: int = 0,
            progress: bool = True) -> "DBN":
        """Greedy layer-wise training: RBM l is trained (`RBM.fit`, same settings, seed
        ``seed + l - 1``) on ``P(h_{l-1} = 1 | data)`` of the trained layers below. Returns
        self.

        ``epochs=None`` (default): `default_epochs` of the data (10, or more on small data sets
        so that every RBM gets at least 2,000 mini-batch updates: 10 epochs of batch 100 leave
        layers 2.. of a stack trained on the 1797 digits with one state for every image). One
        `CollapsedLayerWarning` names the hidden layers whose states are the same for every
        training row (H[s] = 0).
        """
        x = self._visible("data", data)
        epochs, batch_size, lr, k, momentum, weight_decay, seed = _check_fit_args(
            epochs, batch_size, lr, k, momentum, weight_decay, seed, MAX_DBN_SEED)
        persistent, sample_visible, progress = _check_flags(persistent=persistent,
                                                            sample_visible=sample_visible,
                                                            progress=progress)
        if epochs is None:
            epochs = default_epochs(x.shape[0], batch_size)
        collapsed = []
        bar = _progress_bar(self.n_layers, "DBN layers", progress)
        try:
            for l, rbm in enumerate(self.rbms, start=1):
                rbm._fit(x, epochs, batch_size, lr, k, persistent, momentum, weight_decay,
                         sample_visible, seed + l - 1, progress)
                with torch.no_grad():
                    p = torch.cat([torch.sigmoid(rbm._pre_h(c)) for c in x.split(_CHUNK_ROWS)])
                if epochs and _is_collapsed(x, p):
                    collapsed.append(f"H_{l}")
                x = p
                if bar is not None:
                    bar.update(1)
        finally:
            if bar is not None:
                bar.close()
        if collapsed:
            updates = epochs * -(-x.shape[0] // min(batch_size, x.shape[0]))
            layers = ("hidden layer " if len(collapsed) == 1 else "hidden layers ") + \
                ", ".join(collapsed)
            warnings.warn(_collapse_message("DBN.fit", layers, x.shape[0], updates, batch_size,
                                            lr), CollapsedLayerWarning, stacklevel=2)
        return self

    def generate(self, layer: int, n: int, *, steps: int = 1000, seed: int = 0,
                 batch_size: int = 10000, progress: bool = False) -> torch.Tensor:
        """The paper's sampling from hidden layer `layer`: `n` chains start from uniformly
        random binary states of ``H_l``, run `steps` Gibbs sweeps ``H_l -> H_{l-1} -> H_l`` of
        RBM l (binary samples on both sides), then the last ``H_l`` state is propagated down
        to V by mean field (``P(v = 1 | h)`` through RBM l and every RBM below). Returns the
        visible probabilities ``(n, n_visible)`` on the model's device. Chains run in batches
        of `batch_size`, all from one generator seeded with `seed`.
        """
        layer = self._check_layer(layer)
        n = check_int("n", n, minimum=1)
        steps = check_int("steps", steps, minimum=0)
        seed = _check_seed(seed, MAX_DBN_SEED)
        batch_size = check_int("batch_size", batch_size, minimum=1)
        progress = check_bool("progress", progress)
        rbm = self.rbms[layer - 1]
        dev, dtype = rbm.W.device, rbm.W.dtype
        g = _generator(dev, seed)
        out = []
        bar = _progress_bar(n, f"generate H{layer}", progress)
        try:
            with torch.no_grad():
                for start in range(0, n, batch_size):
                    m = min(batch_size, n - start)
                    h = torch.bernoulli(torch.full((m, rbm.n_hidden), 0.5, device=dev, dtype=dtype),
                                        generator=g)
                    for _ in range(steps):
                        v = torch.bernoulli(torch.sigmoid(rbm._pre_v(h)), generator=g)
                        h = torch.bernoulli(torch.sigmoid(rbm._pre_h(v)), generator=g)
                    p = h
                    for lower in reversed(self.rbms[:layer]):
                        p = torch.sigmoid(lower._pre_v(p))
                    out.append(p)
                    if bar is not None:
                        bar.update(m)
        finally:
            if bar is not None:
                bar.close()
        return torch.cat(out)


__all__ = ["DBN", "RBM", "CollapsedLayerWarning", "default_epochs"]
