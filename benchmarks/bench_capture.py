"""Capture overhead: `pycx.capture` of every ReLU of a CIFAR ResNet-56 (random weights) vs the
plain forward pass over the same 512 inputs, measured in the same run. Goal: capture takes at
most 1.5x the forward pass (speed-up >= 1/1.5). ``benchmarks/capture_resnet56.py`` gives the
10,000-input time and memory figures."""
import pytest

torch = pytest.importorskip("torch")

import pycx  # noqa: E402
from pycx.models import cifar_resnet  # noqa: E402

N, BATCH = 512, 128
torch.manual_seed(0)
MODEL = cifar_resnet(56).eval()
BATCHES = list(torch.randn(N, 3, 32, 32).split(BATCH))


def forward_only():
    with torch.no_grad():
        for x in BATCHES:
            MODEL(x)


def capture_all():
    return pycx.capture(MODEL, BATCHES, progress=False)


@pytest.mark.benchmark(group="capture resnet-56 512x3x32x32")
def test_forward_only(benchmark):
    benchmark.extra_info["role"] = "baseline"
    forward_only()  # warm-up
    benchmark.pedantic(forward_only, rounds=3, iterations=1)


@pytest.mark.benchmark(group="capture resnet-56 512x3x32x32")
def test_capture(benchmark):
    benchmark.extra_info.update(role="pycx", goal=1 / 1.5, threads=torch.get_num_threads())
    capture_all()  # warm-up
    cap = benchmark.pedantic(capture_all, rounds=3, iterations=1)
    assert len(cap) == 55 and cap.n_samples == N
