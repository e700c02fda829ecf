"""layer_algebra on deep graphs (goal: each < 5 s on CPU): ResNet-152 at 224x224 and a
1000-layer MLP, against the forward pass of the same model on a real input as the baseline
(one inference of the model being analysed)."""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import pycx  # noqa: E402
from pycx import models  # noqa: E402

RESNET152 = models.imagenet_resnet(152).eval()
MLP1000 = nn.Sequential(*[m for _ in range(1000) for m in (nn.Linear(256, 256), nn.ReLU())])


def _forward(model, shape):
    with torch.no_grad():
        return model(torch.zeros(shape))


@pytest.mark.benchmark(group="layer_algebra resnet152 1x3x224x224")
def test_resnet152_forward(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark(_forward, RESNET152, (1, 3, 224, 224))


@pytest.mark.benchmark(group="layer_algebra resnet152 1x3x224x224")
def test_resnet152_layer_algebra(benchmark):
    benchmark.extra_info["role"] = "pycx"
    result = benchmark(pycx.layer_algebra, RESNET152, (1, 3, 224, 224))
    benchmark.extra_info["gcip_log10"] = result.gcip_log10
    assert benchmark.stats is None or benchmark.stats.stats.max < 5.0


@pytest.mark.benchmark(group="layer_algebra mlp 1000 layers")
def test_mlp1000_forward(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark(_forward, MLP1000, (1, 256))


@pytest.mark.benchmark(group="layer_algebra mlp 1000 layers")
def test_mlp1000_layer_algebra(benchmark):
    benchmark.extra_info["role"] = "pycx"
    result = benchmark(pycx.layer_algebra, MLP1000, (1, 256))
    benchmark.extra_info["gcip_log10"] = result.gcip_log10
    assert benchmark.stats is None or benchmark.stats.stats.max < 5.0
