"""End-to-end timing of `pycx.analyze` on a CIFAR ResNet-56 (run as a script, not a unit test).

ResNet-56 with random weights (``torch.manual_seed(seed)``; no training: this measures cost,
the values mean nothing), N random inputs of shape 3x32x32 (standard normal, seeded) with
random labels 0..9, every ReLU layer, metric groups janik + relevance + kde.

The work is split so that a partial run still reports something: one capture, then the
relevance and kde groups over all layers (the KDE concatenation profile needs them all), then
the janik group (the XGBoost chain rule, by far the largest cost) one ResNet stage at a time.
Each part is printed as soon as it ends; the sum of the parts is the end-to-end time of
``pycx.analyze(model, data, metrics="all")`` with the same caps.

    python3 benchmarks/analysis_resnet56.py --threads 2 [--n 10000] [--patch-rows 100000]
        [--kde-rows 2000] [--stages layer1,layer2,layer3] [--json out.json]
        [--executor none|threads|processes|dask] [--dask-workers 2]

``--patch-rows none`` analyses every per-patch row (the paper's setting: 10,240,000 /
2,560,000 / 640,000 rows per layer of the three stages at 10,000 inputs). ``--executor`` runs
the per-layer work units on a pool (threads or processes, one worker per core) or on a local
dask cluster (``--dask-workers`` processes, one thread each); compare two runs for the dask
overhead. Every part prints its wall time, the time per stage (``settings["timings"]``: summed
over layers, so with an executor the stages add up to more than the wall time) and the peak
resident memory of this process and of its largest child (pool workers).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import time



def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--patch-rows", type=lambda v: None if v.lower() == "none" else int(v),
                    default=100_000,  # pycx.analyze's default
                    help="per-patch rows per layer; 'none' = all")
    ap.add_argument("--kde-rows", type=int, default=2_000)
    ap.add_argument("--stages", default="stem,layer1,layer2,layer3",
                    help="ReLU groups for the janik part (stem = the first ReLU)")
    ap.add_argument("--per-stage-layers", type=int, default=0,
                    help="janik on only the first K ReLUs of each stage (0 = all) and extrapolate")
    ap.add_argument("--skip-rk", action="store_true", help="skip the relevance + kde part")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    ap.add_argument("--executor", default="none", choices=["none", "threads", "processes", "dask"])
    ap.add_argument("--dask-workers", type=int, default=2)
    ap.add_argument("--backend", default="xgboost", choices=["xgboost", "native"],
                    help="the chain rule's classifiers: XGBoost or pycx's native booster")
    ap.add_argument("--single", action="store_true",
                    help="one call pycx.analyze(model, loader, layers='relu') instead of parts")
    ap.add_argument("--sensitivity", action="store_true",
                    help="instead: how the estimates move with patch_rows and kde_rows on the "
                         "first ReLU of each stage")
    args = ap.parse_args()

    import torch

    import pycx
    from pycx.models import cifar_resnet

    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    torch.manual_seed(args.seed)
    model = cifar_resnet(56).eval()
    gen = torch.Generator().manual_seed(args.seed)
    x = torch.randn(args.n, 3, 32, 32, generator=gen)
    y = torch.randint(0, 10, (args.n,), generator=gen)
    loader = [(x[i:i + 250], y[i:i + 250]) for i in range(0, args.n, 250)]
    out = {"n": args.n, "threads": args.threads, "patch_rows": args.patch_rows,
           "kde_rows": args.kde_rows, "executor": args.executor,
           "load_at_start": os.getloadavg(), "parts": {}}
    executor = _executor(args)
    estimators = {"complexity": {"method": "xgb", "backend": args.backend}}
    out["backend"] = args.backend

    def report(part, seconds, extra=None):
        peak = {"peak_rss_gb": _peak_gb(resource.RUSAGE_SELF),
                "peak_rss_child_gb": _peak_gb(resource.RUSAGE_CHILDREN),
                "cpu_s_so_far": sum(os.times()[:4])}  # this process and its children
        out["parts"][part] = {"seconds": seconds, **peak, **(extra or {})}
        print(f"[{time.strftime('%H:%M:%S')}] {part}: {seconds:.1f} s  load={os.getloadavg()[0]:.1f}"
              f"  peak={peak['peak_rss_gb']:.2f} GB (child {peak['peak_rss_child_gb']:.2f} GB)"
              f"  cpu so far={peak['cpu_s_so_far']:.0f} s"
              + (f"  {extra}" if extra else ""), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1, default=float)

    if args.sensitivity:
        return sensitivity(model, loader, x, args)
    if args.single:
        t = time.perf_counter()
        r = pycx.analyze(model, loader, layers="relu", patch_rows=args.patch_rows,
                         kde_rows=args.kde_rows, seed=args.seed, progress=False,
                         executor=executor, estimators=estimators)
        report("single analyze call", time.perf_counter() - t,
               {"timings": r.settings["timings"], "rows": len(r.rows)})
        if args.json:
            r.to_json(args.json.replace(".json", "_report.json"))
        return None
    t = time.perf_counter()
    cap = pycx.capture(model, loader, layers="relu", progress=False, seed=args.seed)
    report("capture", time.perf_counter() - t, {"layers": len(cap.layers)})

    if not args.skip_rk:
        t = time.perf_counter()
        r = pycx.analyze(cap, x.reshape(args.n, -1).numpy(), metrics=["relevance", "kde"],
                         kde_rows=args.kde_rows, seed=args.seed, progress=False,
                         executor=executor)
        report("relevance+kde", time.perf_counter() - t,
               {"timings": r.settings["timings"], "k_used": r.settings["kmeans"].get("k_used")})
        out["relevance_kde_rows"] = r.to_pandas()[["layer", "h_s", "h_k", "n_states", "kde_h",
                                                   "kde_tc", "kde_h_concat", "plugin_h_concat"]
                                                  ].to_dict("list")

    names = cap.names

    def stage_of(name):
        return name.split(".")[0] if name.startswith("layer") else "stem"

    total_janik = 0.0
    for stage in args.stages.split(","):
        members = [n for n in names if stage_of(n) == stage]
        run = members[:args.per_stage_layers] if args.per_stage_layers else members
        if not run:
            continue
        t = time.perf_counter()
        chosen = set(run)  # a predicate: the stem's name "relu" is also a kind
        r = pycx.analyze(cap, metrics="janik", layers=lambda name, kind: name in chosen,
                         patch_rows=args.patch_rows, estimators=estimators,
                         seed=args.seed, progress=False, executor=executor)
        seconds = time.perf_counter() - t
        scaled = seconds * len(members) / len(run)
        total_janik += scaled
        df = r.to_pandas()
        report(f"janik {stage}", seconds,
               {"layers_run": len(run), "layers_in_stage": len(members),
                "extrapolated_stage_s": scaled, "timings": r.settings["timings"],
                "complexity": df["complexity"].round(3).tolist(),
                "units": df["units"].tolist()})
    out["janik_total_s"] = total_janik
    total = sum(p["seconds"] for k, p in out["parts"].items() if not k.startswith("janik")) + total_janik
    out["end_to_end_s"] = total
    report("end-to-end (janik extrapolated where partial)", total)


def _peak_gb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20  # Linux: kilobytes


def _executor(args):
    """None, or an executor kept for the whole run (pools are started once, not per part)."""
    if args.executor == "none":
        return None
    if args.executor == "dask":
        from dask.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=args.dask_workers, threads_per_worker=1,
                               processes=True, dashboard_address=None)
        return Client(cluster)
    import concurrent.futures as cf
    import multiprocessing

    if args.executor == "threads":
        return cf.ThreadPoolExecutor(args.threads)
    ctx = multiprocessing.get_context("forkserver")
    return cf.ProcessPoolExecutor(args.threads, mp_context=ctx)


def sensitivity(model, loader, x, args):
    """Janik values at patch_rows 2e4 / 1e5 / 1e6 and KDE values
    at kde_rows 1000 / 2000 / 4000, on layer1.0.relu, layer2.0.relu, layer3.0.relu."""
    import pycx

    names = ["layer1.0.relu", "layer2.0.relu", "layer3.0.relu"]
    cap = pycx.capture(model, loader, layers=names, progress=False, seed=args.seed)
    results = []

    def emit(entry):
        results.append(entry)
        print(json.dumps(entry), flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)

    for rows in (1000, 2000, 4000):
        t = time.perf_counter()
        r = pycx.analyze(cap, metrics=["kde"], kde_rows=rows, seed=args.seed, progress=False,
                         labels=None) if cap.labels is not None else None
        df = r.to_pandas()
        emit({"kde_rows": rows, "seconds": time.perf_counter() - t,
              **{c: df[c].round(3).tolist() for c in ("kde_h", "kde_tc", "kde_h_concat")}})
    for name in names:
        plans = [20_000, 100_000, 1_000_000]
        for rows in plans:
            t = time.perf_counter()
            r = pycx.analyze(cap, metrics="janik", layers=[name], patch_rows=rows,
                             seed=args.seed, progress=False)
            row = r.rows[0]
            emit({"layer": name, "patch_rows": rows, "seconds": time.perf_counter() - t,
                  "complexity": row["complexity"], "ntc": row["ntc"],
                  "linearity": row["linearity"], "units": row["units"]})


if __name__ == "__main__":
    main()
