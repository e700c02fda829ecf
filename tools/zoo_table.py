"""Capture cost on a model zoo: for each model (one fresh process each), the forward pass's time
and peak memory, then `pycx.capture`'s (default settings) on the same batch, and what the
capture skipped. Writes a CSV and prints a Markdown table.

    python tools/zoo_table.py --zoo torchvision --batch 16 --out zoo.csv [--models resnet18 vit_b_16]

Needs torchvision (the model-zoo environment of the README). Memory is the process's peak
resident size (ru_maxrss): the forward pass runs first, so "capture MB above forward" is what
the capture added to the peak. Times are the best of two runs after a warm-up pass.
"""
from __future__ import annotations

import argparse
import csv
import json
import subprocess
import sys
import time

FULL_SIZE = ("vit_", "swin", "maxvit")


def measure(name: str, batch: int) -> dict:
    import resource
    import warnings

    import torch
    import torchvision

    import pycx

    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    size = 224 if name.startswith(FULL_SIZE) else (96 if name.startswith("inception") else 64)
    x = torch.randn(batch, 3, size, size)

    def best(fn):
        fn()
        times = []
        for _ in range(2):
            t = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t)
        return min(times)

    def forward():
        with torch.no_grad():
            model(x)

    fwd = best(forward)
    peak_forward = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap_time = best(lambda: pycx.capture(model, [x], progress=False))
        cap = pycx.capture(model, [x], progress=False)
        df = pycx.describe(model, x[:2])
    peak_capture = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    skipped = df[~df.captured]
    reasons = sorted({f"{k}: {r}" for k, r in zip(skipped.kind, skipped.reason)})
    return {"model": name, "input": f"{batch}x3x{size}x{size}", "layers": len(cap),
            "units_last": int(sum(r.unit_axis == -1 and len(r.shape) > 1 for r in cap)),
            "skipped": len(skipped), "skipped_kinds": "; ".join(reasons),
            "forward_s": round(fwd, 4), "capture_s": round(cap_time, 4),
            "capture_over_forward": round(cap_time / fwd, 2),
            "forward_peak_mb": round(peak_forward), "capture_mb_above_forward": round(peak_capture - peak_forward)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--zoo", choices=["torchvision"], default="torchvision")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--models", nargs="*", default=None)
    p.add_argument("--out", default="zoo.csv")
    p.add_argument("--one", default=None, help=argparse.SUPPRESS)  # the child process
    args = p.parse_args(argv)
    if args.one:
        print(json.dumps(measure(args.one, args.batch)))
        return 0
    import torchvision

    names = args.models or sorted(torchvision.models.list_models(module=torchvision.models))
    rows = []
    for i, name in enumerate(names, 1):
        run = subprocess.run([sys.executable, __file__, "--one", name, "--batch", str(args.batch)],
                             capture_output=True, text=True)
        if run.returncode == 0:
            rows.append(json.loads(run.stdout.strip().splitlines()[-1]))
        else:
            rows.append({"model": name, "skipped_kinds": "FAILED: " + run.stderr.strip().splitlines()[-1][:200]})
        print(f"[{i}/{len(names)}] {json.dumps(rows[-1])}", file=sys.stderr, flush=True)
    fields = ["model", "input", "layers", "units_last", "skipped", "skipped_kinds", "forward_s",
              "capture_s", "capture_over_forward", "forward_peak_mb", "capture_mb_above_forward"]
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    print("| " + " | ".join(fields) + " |")
    print("|" + "---|" * len(fields))
    for r in rows:
        print("| " + " | ".join(str(r.get(k, "")) for k in fields) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
