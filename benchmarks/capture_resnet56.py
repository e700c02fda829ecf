"""Capture of every ReLU of a CIFAR ResNet-56 (random weights and inputs) on N inputs: wall
time of the plain forward pass and of the capture over the same batches, peak host memory
(RSS) and the bytes the capture stores.

Run: ``python benchmarks/capture_resnet56.py [N] [batch]`` (default 10000 inputs, batch 128).
"""
import resource
import sys
import time

import torch

import pycx
from pycx.models import cifar_resnet


def main(n=10_000, batch=128):
    torch.manual_seed(0)
    model = cifar_resnet(56).eval()
    # Inputs are generated batch by batch, so they do not count against the memory figure.
    def data():
        g = torch.Generator().manual_seed(1)
        for start in range(0, n, batch):
            yield torch.randn(min(batch, n - start), 3, 32, 32, generator=g)

    with torch.no_grad():
        model(torch.randn(batch, 3, 32, 32))  # warm-up
        t = time.perf_counter()
        for x in data():
            model(x)
        forward_s = time.perf_counter() - t
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    t = time.perf_counter()
    cap = pycx.capture(model, data(), progress=False)
    capture_s = time.perf_counter() - t
    peak_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    per_patch_s = time.perf_counter()
    patch_bytes = max(r.per_patch.nbytes for r in cap)  # one layer's per-patch rows at a time
    per_patch_s = time.perf_counter() - per_patch_s
    peak_after_patch_gib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2 ** 20
    stored = sum(r.per_sample.nbytes for r in cap)
    print(f"resnet-56, {n} inputs, batch {batch}, {len(cap)} ReLU layers, torch threads "
          f"{torch.get_num_threads()}")
    print(f"forward {forward_s:.1f} s, capture {capture_s:.1f} s, ratio {capture_s / forward_s:.2f}")
    print(f"stored per-sample bits {stored / 2 ** 30:.3f} GiB; largest per-patch layer "
          f"{patch_bytes / 2 ** 20:.0f} MiB (derived on access in {per_patch_s:.1f} s for all layers)")
    print(f"peak RSS after capture {peak_gib:.2f} GiB (before capture {rss_before:.2f} GiB; "
          f"after deriving every layer's per-patch rows {peak_after_patch_gib:.2f} GiB)")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
