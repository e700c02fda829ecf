"""Training-time overhead of `pycx.StreamingTracker` (issue 30 item 2): a benchmark script,
not a timed test. Run: ``python benchmarks/streaming_overhead.py [--out results/x.json]``.

For a CIFAR-shaped ResNet-20 (batch 32 of 3x32x32) and a tiny GPT-2 (2 layers, 64 wide,
batch 8 of 64 tokens) on the CPU, one training step is forward + backward + SGD. The median
time of a plain step and of a recorded step (the forward inside ``tracker.record``: the
Recorder, packing, covariance rows and the update of the default metrics) are measured,
interleaved so that load on a shared machine hits both alike. The overhead of recording every
N steps is ``(recorded - plain) / (N * plain)``; every 10 steps is also measured directly over
whole runs.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

import pycx
from pycx.models.resnet import cifar_resnet


def resnet20():
    model = cifar_resnet(20)
    x, y = torch.randn(32, 3, 32, 32), torch.randint(0, 10, (32,))

    def loss_of(m):
        return torch.nn.functional.cross_entropy(m(x), y)
    return model, loss_of


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    cfg = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=64, vocab_size=512,
                     bos_token_id=0, eos_token_id=0)
    model = GPT2LMHeadModel(cfg)
    ids = torch.randint(0, 512, (8, 64))

    def loss_of(m):
        return m(input_ids=ids, labels=ids).loss
    return model, loss_of


def measure(make, pairs, run_steps):
    torch.manual_seed(0)
    model, loss_of = make()
    model.train()
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    tracker = pycx.StreamingTracker(model, every=1)

    def step(record):
        t = time.perf_counter()
        if record:
            with tracker.record(force=True):
                loss = loss_of(model)
        else:
            loss = loss_of(model)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return time.perf_counter() - t

    for _ in range(3):  # warm-up (allocator, first Recorder)
        step(False), step(True)
    plain, rec = [], []
    for _ in range(pairs):
        plain.append(step(False))
        rec.append(step(True))
    t_plain, t_rec = statistics.median(plain), statistics.median(rec)
    out = {"plain_step_s": t_plain, "recorded_step_s": t_rec,
           "overhead_every": {str(n): (t_rec - t_plain) / (n * t_plain) for n in (1, 10, 100)}}
    # every 10 steps, measured over whole runs (interleaved with plain runs)
    direct = []
    for _ in range(run_steps // 10):
        t0 = time.perf_counter()
        for s in range(10):
            step(False)
        t1 = time.perf_counter()
        step(True)
        for s in range(9):
            step(False)
        t2 = time.perf_counter()
        direct.append((t2 - t1) / (t1 - t0) - 1.0)
    out["overhead_every_10_direct_median"] = statistics.median(direct)
    t = time.perf_counter()
    tracker.compute(0)
    out["compute_s"] = time.perf_counter() - t
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pairs", type=int, default=20)
    ap.add_argument("--run-steps", type=int, default=50)
    ap.add_argument("--out")
    args = ap.parse_args()
    results = {"machine": f"{platform.processor() or platform.machine()}, "
                          f"{torch.get_num_threads()} torch threads",
               "torch": torch.__version__}
    for name, make in (("resnet20_cifar", resnet20), ("tiny_gpt2", tiny_gpt2)):
        results[name] = measure(make, args.pairs, args.run_steps)
        r = results[name]
        print(f"{name}: plain {r['plain_step_s'] * 1e3:.1f} ms/step, recorded "
              f"{r['recorded_step_s'] * 1e3:.1f} ms/step; overhead every 1 / 10 / 100 steps: "
              + " / ".join(f"{100 * v:.2f}%" for v in r["overhead_every"].values())
              + f"; every 10 measured over runs: {100 * r['overhead_every_10_direct_median']:.2f}%")
    if args.out:
        from pycx._io import atomic_write_text
        atomic_write_text(args.out, json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
