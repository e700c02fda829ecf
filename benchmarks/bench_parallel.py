"""Concurrent chain rule (issue 18): `xgb_entropy` on a 512-unit layer, 5000 rows, paper 000
settings (2 folds, 100 trees, depth 3, rate 0.1), sequential (``executor=None``, one fit after
another) vs the (column, fold) fits on a thread pool of one worker per core, largest first, one
thread per fit. Goal: >= 1.8x on 2 cores, bit-identical estimate.

The gates: 5000 rows drawn around 50 random prototypes with 5% flipped bits, so that (almost)
every row is distinct and each fit sees ~2500 weighted points, as on a dense ReLU layer.

    pytest benchmarks/bench_parallel.py --benchmark-enable      # in the suite
    python benchmarks/bench_parallel.py [--rows 5000] [--units 512] [--trees 100]

The script form prints both times, their ratio, and the size of what one fit ships to a
process or cluster worker (the fold's distinct rows as packed bits, pickled).
"""
import argparse
import os
import pickle
import time

import numpy as np
import pytest

import pycx

ROWS = int(os.environ.get("PYCX_BENCH_PARALLEL_ROWS", 5000))
UNITS = 512


def gates(n_rows, n_units, seed=0, n_prototypes=50, flip=0.05):
    rng = np.random.default_rng(seed)
    protos = (rng.random((n_prototypes, n_units)) < 0.5).astype(np.uint8)
    z = protos[rng.integers(0, n_prototypes, n_rows)]
    return z ^ (rng.random(z.shape) < flip).astype(np.uint8)


def shipped_bytes(z, **kw):
    """Pickled size of the largest fit's arguments (train and test fold rows, packed): what a
    process or cluster worker receives per fit. (One tree per fit: only the payload counts.)"""
    from concurrent.futures import ThreadPoolExecutor

    sizes = []

    class Measuring(ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            if not sizes:  # submitted first: the largest
                sizes.append(len(pickle.dumps(args[1])))
            return super().submit(fn, *args, **kwargs)

    with Measuring(1) as pool:
        pycx.xgb_entropy(z, executor=pool, **{**kw, "n_estimators": 1})
    return sizes[0]


pytest.importorskip("xgboost")
Z = gates(ROWS, UNITS)
SETTINGS = dict(folds=2, n_estimators=100, max_depth=3, learning_rate=0.1, seed=0)
_results = {}


@pytest.mark.benchmark(group=f"xgb_entropy {ROWS}x{UNITS} concurrent fits")
def test_xgb_entropy_sequential(benchmark):
    benchmark.extra_info["role"] = "baseline"
    _results["seq"] = benchmark.pedantic(lambda: pycx.xgb_entropy(Z, **SETTINGS), rounds=1,
                                         iterations=1)


@pytest.mark.benchmark(group=f"xgb_entropy {ROWS}x{UNITS} concurrent fits")
def test_xgb_entropy_threads(benchmark):
    benchmark.extra_info.update(role="pycx", goal=1.8, cores=len(os.sched_getaffinity(0)),
                                load_at_start=os.getloadavg()[0])
    result = benchmark.pedantic(lambda: pycx.xgb_entropy(Z, executor="threads", **SETTINGS),
                                rounds=1, iterations=1)
    if "seq" in _results:
        np.testing.assert_array_equal(result.terms, _results["seq"].terms)  # bit-identical


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5000)
    ap.add_argument("--units", type=int, default=512)
    ap.add_argument("--trees", type=int, default=100)
    args = ap.parse_args()
    z = gates(args.rows, args.units)
    kw = {**SETTINGS, "n_estimators": args.trees}
    print(f"{args.rows} rows x {args.units} units, {args.trees} trees, "
          f"{len(os.sched_getaffinity(0))} cores, load {os.getloadavg()[0]:.1f}", flush=True)
    t = time.perf_counter()
    par = pycx.xgb_entropy(z, executor="threads", **kw)
    t_par = time.perf_counter() - t
    print(f"threads:    {t_par:.1f} s  H={par.entropy:.6f}  fits={par.n_fits}", flush=True)
    t = time.perf_counter()
    seq = pycx.xgb_entropy(z, **kw)
    t_seq = time.perf_counter() - t
    print(f"sequential: {t_seq:.1f} s  H={seq.entropy:.6f}", flush=True)
    print(f"ratio {t_seq / t_par:.2f}x, identical terms: {np.array_equal(seq.terms, par.terms)}, "
          f"load at end {os.getloadavg()[0]:.1f}")
    print(f"shipped per fit (train + test fold rows, packed, pickled): "
          f"{shipped_bytes(z, **kw) / 1e3:.0f} kB; unpacked 0/1 bytes would be "
          f"{z.shape[0] * z.shape[1] / 1e3:.0f} kB")


if __name__ == "__main__":
    main()
