"""`pycx bench`: a self-contained timing harness (no pytest needed).

Each kernel and estimator is timed against its numpy reference (`pycx.reference`) and, where
installed, a peer library doing the same job, called as its users call it (its defaults, named
in the row): faiss's binary flat index for Hamming distances, ``np.unique(axis=0)`` for state
counts, ``np.cov`` for the covariance, scikit-learn's ``PCA()`` for the effective dimension. Where
a peer is faster, a line under the table says why pycx is slower. Ratios
are reference (or peer) time / pycx time, measured in the same run. The Hamming kernels also
report the fraction of this machine's xor+popcount peak they reach (``pycx._cpu.
xor_popcount_peak``: register-blocked kernel of the active SIMD level on in-L1 data, all
threads). GPU rows are added when a GPU is usable.

pycx timings are the best of several rounds after a warm-up; references run once or twice at
sizes chosen to keep them to seconds (``--quick`` shrinks everything to stay under ~30 s).
"""
from __future__ import annotations

import importlib.util
import inspect
import json
import math
import os
import sys
import time
from typing import Callable, Optional

import numpy as np

__all__ = ["run_bench", "BenchRow"]


class BenchRow(dict):
    """One result: benchmark, size, impl (pycx / reference / peer name), seconds, ratio
    (reference time over this time, for pycx rows and peers), peak_fraction (Hamming kernels),
    note."""


def _best_time(fn: Callable, budget: float, max_rounds: int, warmup: bool = True) -> float:
    """Best wall time of up to ``max_rounds`` calls within about ``budget`` seconds."""
    if warmup:
        fn()
    best = math.inf
    start = time.perf_counter()
    for _ in range(max_rounds):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        if time.perf_counter() - start > budget:
            break
    return best


class _Suite:
    def __init__(self, quick: bool, quiet: bool):
        self.quick = quick
        self.quiet = quiet
        self.rows: list = []
        self.budget = 0.4 if quick else 1.5
        self.rounds = 5 if quick else 10

    def say(self, text: str) -> None:
        if not self.quiet:
            print(text, file=sys.stderr, flush=True)

    def group(self, name: str, size: str, pycx_fn: Callable, reference: Optional[Callable],
              peers: tuple = (), work: Optional[float] = None,
              ref_rounds: int = 1, note: str = "", impl: str = "pycx",
              reference_label: str = "numpy reference", why_slower: str = "") -> None:
        """Times pycx_fn (best of rounds), the reference (``ref_rounds`` calls, no warm-up) and
        the peers (each named with the settings it runs at: its users' defaults); ``work`` =
        64-bit word pairs xor+popcounted per call, for the peak fraction; ``why_slower``: the
        line printed under the table when a peer is faster than pycx."""
        self.say(f"  {name} [{size}]")
        t_pycx = _best_time(pycx_fn, self.budget, self.rounds)
        t_ref = None
        if reference is not None:
            t_ref = _best_time(reference, 0.0, ref_rounds, warmup=False)
        row = BenchRow(benchmark=name, size=size, impl=impl, seconds=t_pycx,
                       ratio=(t_ref / t_pycx) if t_ref else None, peak_fraction=None, note=note)
        if work is not None:
            row["word_pairs"] = work  # the peak fraction is filled in once the peak is known
        self.rows.append(row)
        if t_ref is not None:
            self.rows.append(BenchRow(benchmark=name, size=size, impl=reference_label,
                                      seconds=t_ref, ratio=1.0, peak_fraction=None, note=""))
        for peer_name, peer_fn in peers:
            t_peer = _best_time(peer_fn, self.budget / 2, max(2, self.rounds // 2))
            slower = t_peer < t_pycx
            note = (f"pycx is {t_pycx / t_peer:.3g}x slower" if slower else
                    f"pycx is {t_peer / t_pycx:.3g}x faster")
            self.rows.append(BenchRow(benchmark=name, size=size, impl=peer_name, seconds=t_peer,
                                      ratio=(t_ref / t_peer) if t_ref else None,
                                      peak_fraction=None, note=note,
                                      why_slower=(why_slower or "not measured: no reason "
                                                  "recorded") if slower else ""))


def _have(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _low_entropy_bits(rng, n, d, prototypes=32, flip=0.01):
    protos = rng.random((prototypes, d)) < 0.5
    z = protos[rng.integers(0, prototypes, n)]
    return (z ^ (rng.random((n, d)) < flip)).astype(np.uint8)


def _suite(s: _Suite) -> None:
    import pycx
    from ..reference import covariance as ref_cov
    from ..reference import entropy as ref_entropy
    from ..reference import janik as ref_janik
    from ..reference import kde as ref_kde
    from ..reference import kde_sums as ref_kde_sums
    from ..reference import pack_bits as ref_pack
    from ..reference import relevance as ref_relevance
    from ..reference import state_counts as ref_state_counts

    q = s.quick
    rng = np.random.default_rng(0)

    # pack_bits: float activations -> gate bits
    n, d = (4000, 1024) if q else (20000, 4096)
    x = rng.standard_normal((n, d)).astype(np.float32)
    s.group("pack_bits", f"{n}x{d} float32", lambda: pycx.pack_bits(x),
            lambda: ref_pack.pack_bits(x), ref_rounds=2)

    # Hamming distances, all pairs
    n, d = (800, 1024) if q else (2000, 2048)
    g = (rng.random((n, d)) < 0.5).astype(np.uint8)
    packed = pycx.pack_bits(g)
    peers = []
    if _have("faiss"):
        import faiss
        index = faiss.IndexBinaryFlat(d)
        codes = np.ascontiguousarray(packed.words).view(np.uint8)  # same bits, same distances
        index.add(codes)
        peers.append(("faiss IndexBinaryFlat defaults, search k=8",
                      lambda: index.search(codes, 8)))
    s.group("hamming_distances", f"{n}x{d} bits", lambda: pycx.hamming_distances(packed),
            lambda: ref_kde_sums.hamming_distances(g), peers=tuple(peers),
            work=float(n) * n * packed.n_words, ref_rounds=2)

    # Hamming-kernel sums (the n^2 core of the KDE estimators)
    n, d = (1000, 1024) if q else (2000, 8192)
    g = (rng.random((n, d)) < 0.3).astype(np.uint8)
    packed = pycx.pack_bits(g)
    s2 = 0.01 * d
    s.group("kde_sums", f"{n}x{d} bits", lambda: pycx.kde_sums(packed, s2=s2),
            lambda: ref_kde_sums.kde_sums(g, s2=s2), work=n * (n + 1) / 2 * packed.n_words,
            note="symmetric: n(n+1)/2 row pairs")

    # State counts of low-entropy rows
    n, d = (50000, 64) if q else (500000, 128)
    g = _low_entropy_bits(rng, n, d)
    packed = pycx.pack_bits(g)
    s.group("state_counts", f"{n}x{d} bits", lambda: pycx.state_counts(packed),
            lambda: ref_state_counts.state_counts(g),
            peers=(("np.unique(axis=0, return_inverse, return_counts)",
                    lambda: np.unique(packed.words, axis=0, return_inverse=True,
                                      return_counts=True)),))

    # Streaming covariance
    n, d = (50000, 64) if q else (400000, 128)
    f = rng.standard_normal((n, d)).astype(np.float32)
    s.group("covariance", f"{n}x{d} float32",
            lambda: pycx.Covariance(d).update(f).covariance(), lambda: ref_cov.covariance(f),
            peers=(("np.cov(rowvar=False), defaults otherwise",
                    lambda: np.cov(f, rowvar=False)),), ref_rounds=2,
            why_slower="np.cov runs one float32 matrix product (BLAS); pycx accumulates "
            "streaming moments in float64 (batches of any number, any order, same result)")

    # Effective dimension from float outputs
    n, d = (20000, 64) if q else (200000, 128)
    f = (rng.standard_normal((n, d)) @ rng.standard_normal((d, d))).astype(np.float32)
    peers = []
    if _have("sklearn"):
        from sklearn.decomposition import PCA

        def pca_dimension():
            # As its users call it: PCA() at its defaults (svd_solver="auto", which picks
            # "covariance_eigh" for tall, narrow data in scikit-learn >= 1.5); the solver it
            # picked is named in the row. svd_solver="full" (before: 2.42 s against 128 ms at
            # the default) flattered the ratio 20-40x.
            lam = PCA().fit(f).explained_variance_
            qv = lam[lam > 0] / lam.sum()
            return math.exp(-(qv * np.log(qv)).sum())
        solver = getattr(PCA().fit(f[:max(2000, 20 * d)]), "_fit_svd_solver", "auto")
        peers.append((f"sklearn PCA() (svd_solver auto: {solver})", pca_dimension))
    s.group("effective_dimension", f"{n}x{d} float32", lambda: pycx.effective_dimension(f),
            lambda: ref_janik.effective_dimension(f), peers=tuple(peers), ref_rounds=2,
            why_slower="pycx converts to float64, centres in two passes and checks that every "
            "value is finite (the same value at any scale, to float64 precision); PCA() works "
            "in the input's float32")

    # Estimators on gate rows
    n, d = (50000, 64) if q else (500000, 64)
    g = _low_entropy_bits(rng, n, d, prototypes=200)
    packed = pycx.pack_bits(g)
    s.group("plugin_entropy", f"{n}x{d} bits", lambda: pycx.plugin_entropy(packed),
            lambda: ref_entropy.plugin_entropy(g),
            peers=(("np.unique(axis=0, return_counts) + plug-in", lambda: _unique_plugin(g)),))
    labels = rng.integers(0, 10, n)
    s.group("resolution_relevance", f"{n}x{d} bits",
            lambda: pycx.resolution_relevance(packed, labels),
            lambda: _ref_relevance(ref_state_counts, ref_relevance, g, labels))

    n, d = (600, 1024) if q else (2000, 4096)
    g = (rng.random((n, d)) < 0.2).astype(np.uint8)
    alpha = 0.01
    s2 = ref_kde.kde_bandwidth(g, alpha)
    s.group("kde_entropy", f"{n}x{d} bits", lambda: pycx.kde_entropy(g, alpha=alpha),
            lambda: ref_kde.kde_entropy(g, s2))
    s.group("kde_total_correlation", f"{n}x{d} bits",
            lambda: pycx.kde_total_correlation(g, alpha=alpha),
            lambda: ref_kde.kde_total_correlation(g, s2))

    if _have("xgboost"):
        n, d = (20000, 16) if q else (100000, 32)
        g = _low_entropy_bits(rng, n, d, prototypes=40)
        settings = dict(folds=2, n_estimators=10 if q else 30, max_depth=3, seed=0)
        s.group("xgb_entropy", f"{n}x{d} bits, {settings['n_estimators']} trees",
                lambda: pycx.xgb_entropy(g, **settings),
                lambda: pycx.xgb_entropy(g, dedup=False, **settings),
                reference_label="chain rule without merging duplicates")
    else:
        s.say("  xgb_entropy skipped: xgboost is not installed (pip install \"pycx[xgboost]\")")

    _gpu_rows(s, rng)


def _unique_plugin(g):
    _, counts = np.unique(g, axis=0, return_counts=True)
    p = counts / counts.sum()
    return float(-(p * np.log2(p)).sum())


def _ref_relevance(ref_state_counts, ref_relevance, g, labels):
    sc = ref_state_counts.state_counts(g)
    out = ref_relevance.resolution_relevance(sc.counts)
    ref_relevance.beta_mle(sc.counts)
    ref_relevance.classification_error(sc.inverse, labels)
    return out


def _gpu_rows(s: _Suite, rng) -> None:
    import pycx

    info = pycx.build_info()
    if not info.get("gpu_usable"):
        s.say(f"  GPU rows skipped: {info.get('gpu_reason') or 'no usable GPU'}")
        return
    q = s.quick
    # Kernels that take a device argument run on the GPU directly.
    n, d = (2000, 2048) if q else (8000, 8192)
    g = (rng.random((n, d)) < 0.3).astype(np.uint8)
    packed = pycx.pack_bits(g)
    for name, args, kwargs in (("kde_sums", (packed,), {"s2": 0.01 * d}),
                               ("hamming_distances", (packed,), {}),
                               ("kde_entropy", (g,), {"alpha": 0.01})):
        fn = getattr(pycx, name)
        if "device" not in inspect.signature(fn).parameters:
            continue
        s.group(f"{name} (GPU)", f"{n}x{d} bits", lambda fn=fn, a=args, k=kwargs:
                fn(*a, device="cuda", **k), lambda fn=fn, a=args, k=kwargs: fn(*a, **k),
                impl=f"pycx cuda ({info.get('gpu_name')})", reference_label="pycx cpu")
    if _have("xgboost"):
        n, d = (50000, 32) if q else (500000, 32)
        g = _low_entropy_bits(rng, n, d, prototypes=40, flip=0.02)
        settings = dict(folds=2, n_estimators=20, max_depth=3, seed=0)
        s.group("xgb_entropy (GPU)", f"{n}x{d} bits",
                lambda: pycx.xgb_entropy(g, device="cuda", **settings),
                lambda: pycx.xgb_entropy(g, **settings), impl="pycx, xgboost on cuda",
                reference_label="pycx, xgboost on the cpu")


def _format(rows, peak) -> str:
    w = max([36] + [len(r["impl"]) for r in rows])  # peers carry their settings in the name
    head = f"{'benchmark':<24} {'size':<24} {'implementation':<{w}} {'time':>10} {'ratio':>8} {'peak':>6}"
    lines = [head, "-" * len(head)]
    last = None
    for r in rows:
        name = r["benchmark"] if r["benchmark"] != last else ""
        last = r["benchmark"]
        t = r["seconds"]
        t_text = "" if t is None else (f"{t * 1e3:.2f} ms" if t < 1 else f"{t:.2f} s")
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.3g}x"
        pk = "" if r["peak_fraction"] is None else f"{100 * r['peak_fraction']:.0f}%"
        lines.append(f"{name:<24} {(r['size'] if name else ''):<24} {r['impl']:<{w}} "
                     f"{t_text:>10} {ratio:>8} {pk:>6}")
    lines.append("")
    lines.append("ratio: reference time / this time (same run); peak: fraction of this "
                 f"machine's xor+popcount peak ({peak / 1e9:.2f} G word pairs/s, all threads).")
    lines.append("Peers run at their users' defaults (the settings are in their names).")
    for r in rows:
        if r.get("why_slower"):
            lines.append(f"{r['benchmark']}: {r['note']} than {r['impl']}: {r['why_slower']}.")
    return "\n".join(lines)


def run_bench(quick: bool = False, json_path: Optional[str] = None, quiet: bool = False) -> list:
    """Runs the suite, prints the table to stdout, optionally writes JSON; returns the rows."""
    import pycx
    from .._cpu import xor_popcount_peak

    if json_path is not None:
        parent = os.path.dirname(os.path.abspath(json_path))
        if not os.path.isdir(parent):
            from ._util import UserError
            raise UserError(f"--json: folder does not exist: {parent}")
    s = _Suite(quick, quiet)
    t0 = time.perf_counter()
    s.say(f"pycx bench{' --quick' if quick else ''}: SIMD {pycx.simd_level()}, "
          f"{os.cpu_count()} logical CPUs")
    peak_seconds = 0.2 if quick else 0.5
    peak = max(xor_popcount_peak(peak_seconds, 0) for _ in range(2))
    _suite(s)
    # A second peak measurement after the suite: a busy moment must not flatter the fractions.
    peak = max(peak, xor_popcount_peak(peak_seconds, 0))
    for r in s.rows:
        if "word_pairs" in r:
            r["peak_fraction"] = r["word_pairs"] / r["seconds"] / peak
    print(_format(s.rows, peak))
    elapsed = time.perf_counter() - t0
    s.say(f"done in {elapsed:.1f} s")
    if json_path is not None:
        info = pycx.build_info()
        from .._io import atomic_write_text

        atomic_write_text(json_path, json.dumps(
            {"quick": quick, "seconds": elapsed, "simd": pycx.simd_level(), "build_info": info,
             "peak_word_pairs_per_s": peak, "rows": [dict(r) for r in s.rows]}, indent=1))
    return s.rows
