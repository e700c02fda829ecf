"""Paper 000's dataset transforms against the training they feed. Goal: Colorize + Tear of a
set of images cost at most 5% of one ResNet-20 training epoch on the same images (speed-up
>= 20 of the epoch over the transforms).

Both sides scale linearly with the number of images, so 512 images (4 SGD steps of batch 128)
stand for the 5000-image set; the transforms run in one batch, as `materialize` does.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from pycx.datasets import Colorize, Tear  # noqa: E402
from pycx.models import cifar_resnet  # noqa: E402

N = 512
GREY = torch.from_numpy(np.random.default_rng(0).random((N, 1, 28, 28), dtype=np.float32))
GREY[GREY < 0.8] = 0.0  # digit-like sparsity: 20% of the pixels lit
INDEX = torch.arange(N)
COLOUR = Colorize(size=32, seed=0)
TEAR = Tear(tile=8, seed=0)
GROUP = "janik2020 transforms vs ResNet-20 epoch, 512 images"


def transforms():
    return TEAR(COLOUR(GREY, INDEX))


def make_epoch():
    torch.manual_seed(0)
    model = cifar_resnet(20)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    x = transforms()
    y = torch.randint(0, 10, (N,))

    def epoch():
        model.train()
        for s in range(0, N, 128):
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[s:s + 128]), y[s:s + 128]).backward()
            opt.step()
    return epoch


@pytest.mark.benchmark(group=GROUP)
def test_resnet20_training_epoch(benchmark):
    benchmark.extra_info["role"] = "baseline"
    benchmark(make_epoch())


@pytest.mark.benchmark(group=GROUP)
def test_colorize_and_tear(benchmark):
    benchmark.extra_info.update(role="pycx", goal=20.0)
    out = benchmark(transforms)
    assert out.shape == (N, 3, 32, 32)
