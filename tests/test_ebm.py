"""GateEBM and its sampler against distributions known exactly (d = 10 units, so every one of
the 1024 states can be enumerated)."""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from pycx.train.ebm import EBMStack, GateEBM, langevin  # noqa: E402

D = 10

pytestmark = pytest.mark.usefixtures("one_torch_thread")

STATES = np.array(list(itertools.product([0, 1], repeat=D)), dtype=float)


# --- synthetic distributions: sampler and exact log-density --------------------------------
def bernoulli_dist(rng):
    p = np.linspace(0.15, 0.85, D)
    sample = lambda n: (rng.random((n, D)) < p).astype(float)  # noqa: E731
    logp = lambda s: (s * np.log(p) + (1 - s) * np.log(1 - p)).sum(1)  # noqa: E731
    return sample, logp


def markov_dist(rng, stay=0.85):
    def sample(n):
        s = np.zeros((n, D))
        s[:, 0] = rng.random(n) < 0.5
        for i in range(1, D):
            s[:, i] = np.where(rng.random(n) < stay, s[:, i - 1], 1 - s[:, i - 1])
        return s

    def logp(s):
        same = (s[:, 1:] == s[:, :-1]).sum(1)
        return np.log(0.5) + same * np.log(stay) + (D - 1 - same) * np.log(1 - stay)
    return sample, logp


def mixture_dist(rng, flip=0.1):
    protos = (rng.random((3, D)) < 0.5).astype(float)

    def sample(n):
        s = protos[rng.integers(0, 3, n)]
        return np.where(rng.random((n, D)) < flip, 1 - s, s)

    def logp(s):
        h = (s[:, None, :] != protos[None]).sum(2)
        return np.log(np.exp(h * np.log(flip) + (D - h) * np.log(1 - flip)).mean(1))
    return sample, logp


def fit_ebm(x, iters, seed=0):
    torch.manual_seed(seed)
    ebm = GateEBM((D,), hidden=64)
    data = torch.tensor(x, dtype=torch.float32)
    ebm.update_prior(data)
    opt = torch.optim.Adam(ebm.parameters(), lr=3e-3)
    for _ in range(iters):
        idx = torch.randint(0, len(data), (256,))
        ebm.training_step(data[idx], opt, steps=10, step_size=0.2)
    return ebm


def model_logp(ebm):
    with torch.no_grad():
        return ebm.log_density(torch.tensor(STATES, dtype=torch.float32)).double().numpy()


def centred_error(ebm, logp):
    """RMS over states (weighted by the true probabilities) of the log-density error once
    both are centred: the comparison is of differences between states, log Z drops out."""
    truth = logp(STATES)
    p = np.exp(truth - truth.max())
    p /= p.sum()
    lm = model_logp(ebm)
    c = lambda v: v - (p * v).sum()  # noqa: E731
    return np.sqrt((p * (c(lm) - c(truth)) ** 2).sum()), np.sqrt((p * c(truth) ** 2).sum())


def sample_stats(ebm, start, steps=200):
    s, acc = langevin(ebm, torch.tensor(start, dtype=torch.float32), steps=steps, step_size=0.2)
    s = s.numpy()
    return s.mean(0), np.corrcoef(s.T), acc


# --- the sampler alone: exact MH chain --------------------------------------------------------
@pytest.mark.parametrize("backend", ["native", "torch"])
def test_sampler_targets_the_ebm_distribution(backend):
    """A fixed random f (no learning): the chain's state histogram matches the EBM's exact
    distribution over all 2^6 states, with the fused CPU kernel and with torch ops."""
    torch.manual_seed(1)
    d = 6
    ebm = GateEBM((d,), hidden=8)
    with torch.no_grad():
        for prm in ebm.f.parameters():
            prm.mul_(3.0)  # a rugged f: log-density range of several nats
    ebm.update_prior(torch.tensor([[1, 0, 1, 1, 0, 0], [1, 1, 1, 0, 0, 1], [1, 0, 0, 0, 0, 1]],
                                  dtype=torch.float32))
    states = torch.tensor(list(itertools.product([0, 1], repeat=d)), dtype=torch.float32)
    with torch.no_grad():
        lp = ebm.log_density(states).double()
    exact = torch.softmax(lp, 0).numpy()
    s, acc = EBMStack([ebm]).sample(torch.zeros(1, 8000, d), [0.3], steps=150, backend=backend)
    s, acc = s[0], acc[0]
    codes = (s.numpy() @ (2 ** np.arange(d - 1, -1, -1))).astype(int)
    hist = np.bincount(codes, minlength=2 ** d) / len(codes)
    # 8000 chains: the total variation of an exact sampler's histogram is ~0.03 (sqrt(64/8000)/2
    # rounded up); 0.05 leaves room for the finite chain length.
    assert 0.5 * np.abs(hist - exact).sum() < 0.05
    assert 0.2 < acc <= 1.0


def test_sampler_with_zero_f_is_the_prior():
    """f's last layer zeroed: p = q, the product of the clipped Bernoulli rates."""
    torch.manual_seed(2)
    ebm = GateEBM((8,), hidden=4)
    with torch.no_grad():
        ebm.f.out.weight.zero_()
        ebm.f.out.bias.zero_()
    rates = torch.tensor([0.0, 0.1, 0.3, 0.5, 0.5, 0.7, 0.9, 1.0])
    ebm.update_prior(rates.repeat(4, 1))  # p_hat = rates, clipped to [0.01, 0.99]
    s, _ = langevin(ebm, torch.zeros(6000, 8), steps=100)
    expected = rates.clamp(0.01, 0.99).numpy()
    # 6000 independent chains: binomial std <= 0.0065; 0.03 is > 4 sigma
    np.testing.assert_allclose(s.mean(0).numpy(), expected, atol=0.03)


def test_prior_running_mean_and_clip():
    ebm = GateEBM((3,), prior_momentum=0.5)
    ebm.update_prior(torch.tensor([[1.0, 0.0, 1.0], [1.0, 0.0, 0.0]]))
    np.testing.assert_allclose(ebm.p_hat.numpy(), [1.0, 0.0, 0.5])
    ebm.update_prior(torch.tensor([[0.0, 0.0, 1.0]]))
    np.testing.assert_allclose(ebm.p_hat.numpy(), [0.5, 0.0, 0.75])
    # log q on binary states is the Bernoulli log-likelihood with p clipped to [0.01, 0.99]
    s = torch.tensor([[1.0, 1.0, 0.0]])
    expected = np.log(0.5) + np.log(0.01) + np.log(0.25)
    assert float(ebm.log_q(s)) == pytest.approx(expected, rel=1e-6)  # float32 logs


def test_conv_ebm_shapes_and_sampler():
    torch.manual_seed(0)
    ebm = GateEBM((3, 6, 6), hidden=8)
    x = (torch.rand(5, 3, 6, 6) < 0.4).float()
    ebm.update_prior(x)
    assert ebm.log_density(x).shape == (5,)
    s, acc = langevin(ebm, x, steps=3)
    assert s.shape == x.shape and set(np.unique(s.numpy())) <= {0.0, 1.0}


# --- learning on known distributions ---------------------------------------------------------
def test_learned_bernoulli():
    rng = np.random.default_rng(0)
    sample, logp = bernoulli_dist(rng)
    x = sample(3000)
    ebm = fit_ebm(x, iters=150)
    err, scale = centred_error(ebm, logp)
    # q alone is the truth up to the rates' sampling error (3000 rows: ~0.01 per rate, ~0.1 nat
    # summed over states' 10 units); f must not add more than that.
    assert err < 0.2, (err, scale)
    rates, corr, _ = sample_stats(ebm, x[:2000])
    np.testing.assert_allclose(rates, np.linspace(0.15, 0.85, D), atol=0.06)  # 2000 rows: 4 sigma
    off = ~np.eye(D, dtype=bool)
    assert np.abs(corr[off]).max() < 0.12  # true 0; 2000 rows: sd 0.022 per pair, 45 pairs


@pytest.mark.slow
@pytest.mark.parametrize("make", [markov_dist, mixture_dist], ids=["markov", "mixture"])
def test_learned_structured(make):
    """Measured (500 EBM steps, d = 10): centred RMS error 0.15 of the truth's spread (Markov
    chain 0.28 nat vs 1.86, prototypes 0.29 vs 1.97); samples' rates within 0.095 / 0.058 and
    correlations within 0.093 / 0.062 of the truth. Tolerances: 0.3 of the spread for the
    log-density, 0.2 for rates and 0.25 for correlations (about twice the measured errors:
    short-run learning leaves a bias that varies with the seed)."""
    rng = np.random.default_rng(3)
    sample, logp = make(rng)
    x = sample(4000)
    ebm = fit_ebm(x, iters=500)
    err, scale = centred_error(ebm, logp)
    assert err < 0.3 * scale, (err, scale)
    truth = sample(20000)
    rates, corr, _ = sample_stats(ebm, x[:2000])
    assert np.abs(rates - truth.mean(0)).max() < 0.2
    assert np.abs(corr - np.corrcoef(truth.T)).max() < 0.25


# --- the stacked computation against the single EBMs and autograd ------------------------------
def _stack_of(shape, L=3, hidden=8, seed=0, dtype=torch.float64):
    torch.manual_seed(seed)
    ebms = [GateEBM(shape, hidden=hidden).to(dtype) for _ in range(L)]
    for e in ebms:
        e.update_prior((torch.rand((5,) + shape) < 0.3).to(dtype))
    return ebms, EBMStack(ebms)


@pytest.mark.parametrize("shape", [(7,), (2, 5, 4)], ids=["vector", "conv"])
def test_stack_equals_single_ebms_and_autograd(shape):
    ebms, stack = _stack_of(shape)
    s = torch.rand((3, 6) + shape, dtype=torch.float64)
    lp = stack.log_density(s)
    for i, e in enumerate(ebms):
        torch.testing.assert_close(lp[i], e.log_density(s[i]))  # float64: same math, ~1e-15
    f, g = stack.f_and_grad(stack.weights(detach=True), s)
    x = s.clone().requires_grad_(True)
    auto = torch.stack([e.f(x[i]) for i, e in enumerate(ebms)])
    (g_auto,) = torch.autograd.grad(auto.sum(), x)
    torch.testing.assert_close(f, auto.detach())
    torch.testing.assert_close(g, g_auto)


def test_closed_form_learning_gradient_equals_autograd():
    ebms, stack = _stack_of((9,))
    twin = [GateEBM((9,), hidden=8).double() for _ in ebms]
    for a, b in zip(twin, ebms):
        a.load_state_dict(b.state_dict())
    data = (torch.rand(3, 11, 9) < 0.5).double()
    neg = (torch.rand(3, 11, 9) < 0.5).double()
    f_reg = 0.05
    stack._vector_learning_grads(stack.weights(detach=True), torch.cat([data, neg], 1), 11, f_reg)
    for i, e in enumerate(twin):
        fd, fn = e.f(data[i]), e.f(neg[i])
        loss = fn.mean() - fd.mean() + f_reg * (fd.square().mean() + fn.square().mean())
        loss.backward()
        for p_auto, p_closed in zip(e.parameters(), ebms[i].parameters()):
            torch.testing.assert_close(p_closed.grad, p_auto.grad)  # float64 rounding only


def test_vector_penalty_gradient():
    ebms, stack = _stack_of((6,))
    s = torch.rand(3, 4, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: stack.penalty(t), (s,))
    expected = torch.stack([-e.log_density(s[i]).mean() for i, e in enumerate(ebms)])
    torch.testing.assert_close(stack.penalty(s), expected)


def test_shared_parameters_alias_the_ebms():
    ebms, stack = _stack_of((5,), L=2)
    before = [p.detach().clone() for p in ebms[1].parameters()]
    shared = stack.share_parameters()
    assert shared[0].shape == (2, 8, 5) and shared[0].is_leaf and shared[0].requires_grad
    for p, b in zip(ebms[1].parameters(), before):
        torch.testing.assert_close(p.detach(), b)  # values kept
    opt = torch.optim.SGD(shared, lr=0.1)
    data = (torch.rand(2, 10, 5) < 0.5).double()
    stack.training_step(data, [0.2, 0.2], steps=2)
    opt.step()
    moved = [float((p.detach() - b).abs().max()) for p, b in zip(ebms[1].parameters(), before)]
    assert max(moved) > 0  # the step over the shared tensors moved the EBM's own parameters
    torch.testing.assert_close(ebms[1].f.l1.weight.detach(), shared[0][1].detach())
