"""GPU benchmarks of pycx's CUDA kernels, written as JSON.

    python benchmarks/gpu_bench.py --json out.json [--quick] [--reference-budget 60]

Sizes (the project's goals): Hamming KDE sums of n = 50,000 rows x 16,384 bits, all pairs with
the exp-sum (goal < 0.1 s); state counts of 10,000,000 rows x 64 bits (goal < 50 ms); pack_bits
at >= 70% of the memory bandwidth; batched covariance. ``--quick`` (about a minute on one
H100/H200 with 16 cores, for tools/gpu_check.sh) keeps the goal sizes of the KDE sums and the
state counts, whose GPU runs take well under a second, shrinks pack_bits (1 GiB of float32)
and covariance, times 3 repeats, and gives each CPU/numpy baseline a 4 s budget (so they are
mostly extrapolated). An entry that raises is recorded with its error and the others still
run; the exit status is then 1. Each entry holds the GPU time (minimum
over repeats, CUDA events on the current stream), a throughput, the fraction of the device's
peak where one applies, and ratios to the CPU kernels and to the numpy reference. Baselines
that cannot run the full size in reasonable time are measured at the largest size that fits
the budget (doubling the size until a run takes more than a quarter of it) and extrapolated by
the scaling exponent measured between the last two sizes; the entry says so ("extrapolated").

Peaks: memory bandwidth = 2 x memory clock x bus width (DDR); popcount peak = SMs x SM clock x
16 32-bit popcounts per SM per clock (the CUDA programming guide's throughput table for compute
capability 8.x/9.0), i.e. 8 64-bit word pairs per SM per clock.

With no usable GPU this script fails (exit status 1): a GPU benchmark never passes by skipping.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import time

from pathlib import Path

try:
    import pycx
except ImportError:  # run from a source checkout as `python benchmarks/gpu_bench.py`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import pycx


def fail(message: str):
    print(f"gpu_bench: {message}", file=sys.stderr)
    sys.exit(1)


def gpu_time(fn, repeats: int) -> float:
    """Minimum seconds of fn() over repeats (after one warm-up), CUDA events on the stream."""
    import torch
    fn()
    torch.cuda.synchronize()
    best = math.inf
    for _ in range(repeats):
        start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        best = min(best, start.elapsed_time(stop) / 1e3)
    return best


def host_time(fn, repeats: int) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def scaled_baseline(run_at, full_size: int, start: int, budget: float) -> dict:
    """Times run_at(size) at doubling sizes until one run takes > budget / 4 or the full size is
    reached, then extrapolates to full_size with the exponent measured on the last two sizes."""
    sizes, times = [], []
    size = min(start, full_size)
    while True:
        t = host_time(lambda: run_at(size), 1)
        sizes.append(size)
        times.append(t)
        if size >= full_size or t > budget / 4:
            break
        size = min(full_size, size * 2)
    if sizes[-1] == full_size:
        return {"seconds": times[-1], "measured_size": full_size, "extrapolated": False}
    if len(sizes) >= 2 and times[-2] > 0:
        exponent = math.log(times[-1] / times[-2]) / math.log(sizes[-1] / sizes[-2])
    else:
        exponent = 1.0
    exponent = max(exponent, 1.0)  # never assume better than linear scaling
    seconds = times[-1] * (full_size / sizes[-1]) ** exponent
    return {"seconds": seconds, "measured_size": sizes[-1], "measured_seconds": times[-1],
            "scaling_exponent": exponent, "extrapolated": True}


def with_ratios(entry: dict, gpu_seconds: float, cpu: dict, ref: dict) -> dict:
    entry["seconds"] = gpu_seconds
    entry["cpu_kernels"] = cpu
    entry["numpy_reference"] = ref
    entry["speedup_vs_cpu_kernels"] = cpu["seconds"] / gpu_seconds
    entry["speedup_vs_numpy_reference"] = ref["seconds"] / gpu_seconds
    if entry.get("goal_seconds") is not None:
        entry["goal_met"] = gpu_seconds < entry["goal_seconds"]
    return entry


def bench_kde(args, probe) -> dict:
    import torch
    from pycx.reference import kde_sums as ref
    n, d = 50_000, 16_384  # the goal size, also with --quick (its GPU run is short)
    s2 = 0.04 * d
    bits = torch.randint(0, 2, (n, d), dtype=torch.uint8, device="cuda")
    packed = pycx.pack_bits(bits)
    seconds = gpu_time(lambda: pycx.kde_sums(packed, s2=s2), args.repeats)
    words = packed.n_words
    pairs = n * (n + 1) / 2  # symmetric: each pair once
    peak = probe["multiprocessor_count"] * probe["clock_khz"] * 1e3 * 8
    host_bits = bits.cpu().numpy()
    cpu = scaled_baseline(lambda k: pycx.kde_sums(pycx.pack_bits(host_bits[:k]), s2=s2), n,
                          2000, args.reference_budget)
    refb = scaled_baseline(lambda k: ref.kde_sums(host_bits[:k], s2=s2), n, 500, args.reference_budget)
    entry = {"name": "kde_sums", "n": n, "n_bits": d, "goal_seconds": 0.1,
             "pairs_per_second": pairs / seconds,
             "word_pairs_per_second": pairs * words / seconds,
             "fraction_of_popcount_peak": pairs * words / seconds / peak if peak else None}
    return with_ratios(entry, seconds, cpu, refb)


def bench_state_counts(args, probe) -> dict:
    import torch
    from pycx.reference import state_counts as ref
    n = 10_000_000  # the goal size, also with --quick
    # 2^20 possible states spread over 64 bits: many duplicates, many distinct states.
    seeds = torch.randint(0, 1 << 20, (n, 1), device="cuda")
    shifts = torch.arange(64, device="cuda") % 20
    bits = ((seeds >> shifts) & 1).to(torch.uint8)
    packed = pycx.pack_bits(bits)
    seconds = gpu_time(lambda: pycx.state_counts(packed), args.repeats)
    host_bits = bits.cpu().numpy()
    host_packed = pycx.pack_bits(host_bits)
    cpu = {"seconds": host_time(lambda: pycx.state_counts(host_packed), 1 if args.quick else 3),
           "measured_size": n, "extrapolated": False}
    refb = scaled_baseline(lambda k: ref.state_counts(host_bits[:k]), n, 100_000, args.reference_budget)
    entry = {"name": "state_counts", "rows": n, "n_bits": 64,
             "goal_seconds": 0.05, "rows_per_second": n / seconds}
    return with_ratios(entry, seconds, cpu, refb)


def bench_pack(args, probe, layout: str) -> dict:
    import torch
    from pycx.reference import pack_bits as ref
    if layout == "rows":
        shape = (16_384, 16_384) if args.quick else (65_536, 16_384)  # 1 GiB / 4 GiB of float32
        x = torch.randn(shape, device="cuda")
        run = lambda: pycx.pack_bits(x)  # noqa: E731
        cpu_run = lambda h: pycx.pack_bits(h)  # noqa: E731
        ref_run = lambda h: ref.pack_bits(h)  # noqa: E731
    else:
        shape = (64, 256, 56, 56) if args.quick else (256, 256, 56, 56)  # NCHW, per-patch rows
        x = torch.randn(shape, device="cuda")
        run = lambda: pycx.pack_per_patch(x)  # noqa: E731
        cpu_run = lambda h: pycx.pack_per_patch(h)  # noqa: E731
        ref_run = lambda h: ref.pack_bits(ref.per_patch_rows(h))  # noqa: E731
    seconds = gpu_time(run, args.repeats)
    moved = x.numel() * 4 + x.numel() / 8  # floats read + bits written
    peak = 2 * probe["memory_clock_khz"] * 1e3 * probe["memory_bus_width_bits"] / 8
    host_x = x.cpu().numpy()
    n = shape[0]
    cpu = scaled_baseline(lambda k: cpu_run(host_x[:k]), n, max(1, n // 64), args.reference_budget)
    refb = scaled_baseline(lambda k: ref_run(host_x[:k]), n, max(1, n // 256), args.reference_budget)
    entry = {"name": f"pack_bits_{layout}", "shape": list(shape), "dtype": "float32",
             "bytes_per_second": moved / seconds,
             "fraction_of_memory_bandwidth": moved / seconds / peak if peak else None,
             "goal_fraction_of_memory_bandwidth": 0.7}
    entry = with_ratios(entry, seconds, cpu, refb)
    entry["goal_met"] = entry["fraction_of_memory_bandwidth"] is not None and \
        entry["fraction_of_memory_bandwidth"] >= 0.7
    return entry


def bench_covariance(args, probe) -> dict:
    import torch
    from pycx.reference import covariance as ref
    N, C, H, W = (64, 64, 16, 16) if args.quick else (256, 64, 32, 32)
    y = torch.randn(N, C, H, W, device="cuda", dtype=torch.float32)
    pixels = y.permute(2, 3, 0, 1)  # (H, W, N, C): one C x C covariance per pixel

    def run():
        pycx.Covariance(C, (H, W)).update(pixels)
    seconds = gpu_time(run, args.repeats)
    host_pixels = y.cpu().numpy().transpose(2, 3, 0, 1)
    cpu = {"seconds": host_time(lambda: pycx.Covariance(C, (H, W)).update(host_pixels),
                                1 if args.quick else 3),
           "measured_size": N, "extrapolated": False}
    refb = {"seconds": host_time(lambda: ref.covariance(host_pixels), 1), "measured_size": N,
            "extrapolated": False}
    flops = H * W * N * C * C * 2
    entry = {"name": "covariance_pixelwise", "shape_nchw": [N, C, H, W], "flops_per_second": flops / seconds}
    return with_ratios(entry, seconds, cpu, refb)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", required=True, help="output file")
    parser.add_argument("--quick", action="store_true",
                        help="about a minute: goal sizes for the KDE sums and state counts, smaller "
                             "pack/covariance sizes, 3 repeats, 4 s baseline budgets")
    parser.add_argument("--repeats", type=int, default=None, help="timed GPU runs (default 5, quick 3)")
    parser.add_argument("--reference-budget", type=float, default=None,
                        help="seconds a baseline run may take before sizes stop doubling "
                             "(default 60, quick 4)")
    args = parser.parse_args(argv)
    if args.repeats is None:
        args.repeats = 3 if args.quick else 5
    if args.reference_budget is None:
        args.reference_budget = 4.0 if args.quick else 60.0
    if args.repeats < 1 or not args.reference_budget > 0:
        parser.error("--repeats must be >= 1 and --reference-budget > 0")

    info = pycx.build_info()
    if not info["gpu_usable"]:
        fail(f"no usable GPU: {info['gpu_reason']}")
    try:
        import torch
    except ImportError:
        fail("torch is needed to make device arrays")
    if not torch.cuda.is_available():
        fail("torch sees no CUDA device")
    from pycx._build import cuda_module
    probe = cuda_module().probe_devices()

    benches = [("pack_bits_rows", lambda: bench_pack(args, probe, "rows")),
               ("pack_bits_patches", lambda: bench_pack(args, probe, "patches")),
               ("kde_sums", lambda: bench_kde(args, probe)),
               ("state_counts", lambda: bench_state_counts(args, probe)),
               ("covariance_pixelwise", lambda: bench_covariance(args, probe))]
    results, failed = [], False
    for name, run in benches:
        t0 = time.perf_counter()
        try:
            r = run()
        except Exception as exc:  # one broken kernel must not cost the other figures
            failed = True
            r = {"name": name, "error": f"{type(exc).__name__}: {exc}"}
            print(f"{name:>22}: FAILED: {r['error']}", file=sys.stderr)
        else:
            goal = "" if r.get("goal_met") is None else f"  goal {'met' if r['goal_met'] else 'MISSED'}"
            print(f"{r['name']:>22}: {r['seconds'] * 1e3:9.3f} ms  x{r['speedup_vs_cpu_kernels']:8.1f} vs CPU  "
                  f"x{r['speedup_vs_numpy_reference']:9.1f} vs numpy{goal}", flush=True)
        r["wall_seconds"] = time.perf_counter() - t0  # the whole entry, baselines included
        results.append(r)
        torch.cuda.empty_cache()  # the next entry gets the memory back
    out = {"device": probe, "build_info": info, "torch": torch.__version__,
           "python": platform.python_version(), "quick": args.quick, "repeats": args.repeats,
           "reference_budget_seconds": args.reference_budget, "results": results}
    from pycx._io import atomic_write_text
    atomic_write_text(Path(args.json), json.dumps(out, indent=2, default=float) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
