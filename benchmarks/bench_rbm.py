"""RBM training throughput: `pycx.models.RBM.fit` (one epoch of CD-1, batch 100) against a
plain-torch CD-1 loop written here with the same arithmetic, on the same 2,000 x 784 inputs
and a 784 x 500 machine. Goal: at least 0.9x the plain loop's speed (no Python overhead of
ours on the hot path). Throughput is reported as samples x visible x hidden per second."""
import pytest

torch = pytest.importorskip("torch")

from pycx.models import RBM  # noqa: E402

N, N_V, N_H, BATCH, LR = 2000, 784, 500, 100, 0.1
DATA = torch.rand(N, N_V, generator=torch.Generator().manual_seed(0))
GROUP = f"rbm cd-1 epoch {N}x{N_V}x{N_H}"


def plain_cd1_epoch(W, a, b, g):
    """The textbook loop: mean-field visible negatives, sampled hidden states."""
    order = torch.randperm(N, generator=g)
    for start in range(0, N, BATCH):
        v0 = DATA.index_select(0, order[start:start + BATCH])
        ph0 = torch.sigmoid(torch.addmm(b, v0, W))
        h0 = torch.bernoulli(ph0, generator=g)
        v1 = torch.sigmoid(torch.addmm(a, h0, W.t()))
        ph1 = torch.sigmoid(torch.addmm(b, v1, W))
        torch.bernoulli(ph1, generator=g)  # the chain's next hidden state, as CD-1 draws it
        scale = LR / v0.shape[0]
        W.addmm_(v0.t(), ph0, alpha=scale).addmm_(v1.t(), ph1, alpha=-scale)
        a.add_((v0 - v1).sum(0), alpha=scale)
        b.add_((ph0 - ph1).sum(0), alpha=scale)


def throughput(seconds):
    return N * N_V * N_H / seconds


@pytest.mark.benchmark(group=GROUP)
def test_plain_torch_cd1(benchmark):
    benchmark.extra_info["role"] = "baseline"
    W = torch.randn(N_V, N_H, generator=torch.Generator().manual_seed(1)) * 0.01
    a, b, g = torch.zeros(N_V), torch.zeros(N_H), torch.Generator().manual_seed(2)
    plain_cd1_epoch(W, a, b, g)  # warm-up
    benchmark.pedantic(plain_cd1_epoch, args=(W, a, b, g), rounds=3, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["samples_x_vis_x_hid_per_s"] = throughput(benchmark.stats.stats.min)


@pytest.mark.benchmark(group=GROUP)
def test_rbm_fit(benchmark):
    benchmark.extra_info.update(role="pycx", goal=0.9, threads=torch.get_num_threads())
    rbm = RBM(N_V, N_H, seed=1)

    def one_epoch():
        rbm.fit(DATA, epochs=1, batch_size=BATCH, lr=LR, seed=2, progress=False)

    one_epoch()  # warm-up
    benchmark.pedantic(one_epoch, rounds=3, iterations=1)
    if benchmark.stats is not None:
        benchmark.extra_info["samples_x_vis_x_hid_per_s"] = throughput(benchmark.stats.stats.min)
    assert len(rbm.history) >= 2
