"""Training overhead of paper 004's complexity loss: one epoch of the ren2022-fig7 residual MLP
(784 -> 128, six residual ReLU layers, -> 10) on 1024 inputs in batches of 64, with
`pycx.ComplexityLoss` at its default EBM size (last four gating layers, f of width 64, 5 sampler
steps per batch) vs the same epoch without it. Goal: at most 3x the plain epoch (speed-up
>= 1/3). Random inputs: the cost does not depend on the pixel values."""
import pytest

torch = pytest.importorskip("torch")
F = torch.nn.functional

from pycx.replications.ren2022_fig7 import make_model  # noqa: E402
from pycx.train import ComplexityLoss  # noqa: E402

N, BATCH, LAM = 1024, 64, 1e-3
torch.manual_seed(0)
X = torch.rand(N, 1, 28, 28)
Y = torch.randint(0, 10, (N,))
BATCHES = list(zip(X.split(BATCH), Y.split(BATCH)))


def make(with_loss):
    torch.manual_seed(0)
    model = make_model("resmlp", 28, 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    cx = ComplexityLoss(model) if with_loss else None

    def epoch():
        for x, y in BATCHES:
            loss = F.cross_entropy(model(x), y)
            if cx is not None:
                loss = loss + LAM * cx.penalty()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return epoch


@pytest.mark.benchmark(group="complexity loss: resmlp epoch 1024x784")
def test_epoch_plain(benchmark):
    benchmark.extra_info["role"] = "baseline"
    epoch = make(False)
    epoch()  # warm-up
    benchmark.pedantic(epoch, rounds=9, iterations=1)


@pytest.mark.benchmark(group="complexity loss: resmlp epoch 1024x784")
def test_epoch_with_complexity_loss(benchmark):
    benchmark.extra_info.update(role="pycx", goal=1 / 3, threads=torch.get_num_threads())
    epoch = make(True)
    epoch()  # warm-up (creates the EBMs)
    benchmark.pedantic(epoch, rounds=9, iterations=1)
