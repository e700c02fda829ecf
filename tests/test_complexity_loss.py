"""ComplexityLoss: layer discovery and names, gradients (finite differences), the penalty's
effect on the measured gate entropy, bad input; fit."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import pycx  # noqa: E402
from pycx.train import ComplexityLoss, fit  # noqa: E402


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 5)
        self.b = nn.Linear(5, 5)
        self.c = nn.Linear(5, 2)

    def forward(self, x):
        h = F.relu(self.a(x))
        h = self.b(h).relu_()          # in place: the pre-activation must still be seen
        h = torch.relu(self.b(h))      # second call of the same name: "relu:1"
        return self.c(h)


def test_names_match_capture():
    torch.manual_seed(0)
    net = Functional()
    x = torch.randn(7, 3)
    cx = ComplexityLoss(net, example=x)
    expected = list(pycx.capture(net, [x], progress=False, covariance=False).layers)
    assert cx.gating_layers == expected == ["relu", "relu:1", "relu:2"]
    assert cx.layers == expected  # fewer than four: all of them
    cx.remove()

    seq = nn.Sequential(*[m for _ in range(5) for m in (nn.Linear(4, 4), nn.ReLU())])
    cx = ComplexityLoss(seq, example=torch.randn(2, 4))
    assert cx.gating_layers == ["1", "3", "5", "7", "9"]
    assert cx.layers == ["3", "5", "7", "9"]  # the last four, as in the paper
    cx.remove()


def test_in_place_pre_activation_is_recorded():
    torch.manual_seed(0)
    net = Functional()
    cx = ComplexityLoss(net, layers="relu:1")
    x = torch.randn(6, 3)
    net(x)
    pre = net.b(F.relu(net.a(x)))  # what relu_ received
    torch.testing.assert_close(cx._x["relu:1"], pre, rtol=0, atol=0)  # same ops: bit equal
    cx.remove()


def test_gradient_matches_finite_differences():
    """d penalty / d theta of a tiny float64 model (EBM fixed: update=False)."""
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    x = torch.randn(9, 3, dtype=torch.float64)
    cx = ComplexityLoss(net, beta=2.0, hidden=6, steps=3)
    net(x)
    cx.penalty()  # creates the EBMs and gives them one step
    net.zero_grad()
    net(x)
    cx.penalty(update=False).backward()
    for prm in (net[0].weight, net[2].bias, net[2].weight):
        analytic = prm.grad.clone()
        numeric = torch.zeros_like(prm)
        flat = prm.data.view(-1)
        for i in range(flat.numel()):
            old = float(flat[i])
            vals = []
            for h in (1e-6, -1e-6):
                flat[i] = old + h
                with torch.enable_grad():
                    net(x)
                vals.append(float(cx.penalty(update=False).detach()))
            flat[i] = old
            numeric.view(-1)[i] = (vals[0] - vals[1]) / 2e-6
        # central differences in float64 with h = 1e-6: truncation ~h^2, rounding ~1e-10/h
        torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-6)
        assert analytic.abs().max() > 0  # the gradient does reach the parameters
    cx.remove()


def _blobs(seed, n=400, d=10, k=4):
    g = np.random.default_rng(seed)
    centres = g.normal(0, 2.0, (k, d))
    y = g.integers(0, k, n)
    x = centres[y] + g.normal(0, 1.0, (n, d))
    return torch.tensor(x, dtype=torch.float32), torch.tensor(y)


def _train(lam, seed=0, epochs=15):
    torch.manual_seed(seed)
    x, y = _blobs(0)
    net = nn.Sequential(nn.Linear(10, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 4))
    cx = ComplexityLoss(net, hidden=16, steps=5)
    data = list(zip(x.split(50), y.split(50)))
    fit(net, data, F.cross_entropy, complexity=cx, lam=lam, epochs=epochs, lr=3e-3)
    cx.remove()
    cap = pycx.capture(net, [x], layers=["1", "3"], progress=False, covariance=False)
    return {name: (pycx.plugin_entropy(cap[name].per_sample).entropy,
                   pycx.kde_entropy(cap[name].per_sample, bandwidth="d").entropy)
            for name in ("1", "3")}


def test_penalty_lowers_measured_entropy():
    """Same data, initialisation and batches; lambda = 0 vs 0.05 (the penalty is ~20 nats per
    layer here, the task loss ~1). Both estimators of both layers must fall."""
    base = _train(0.0)
    reg = _train(0.05)
    for name in ("1", "3"):
        (p0, k0), (p1, k1) = base[name], reg[name]
        # plug-in H of 400 rows is at most log2 400 = 8.6 bits; a drop of 0.5 bit is far beyond
        # the run-to-run changes of a fixed-seed run (none: the runs are deterministic)
        assert p1 < p0 - 0.5, (name, p0, p1)
        assert k1 < k0 - 0.5, (name, k0, k1)


def test_conv_layers_get_a_conv_ebm():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5),
                        nn.ReLU())
    cx = ComplexityLoss(net, hidden=8, steps=2)
    net(torch.randn(4, 1, 4, 4))
    pen = cx.penalty()
    pen.backward()
    assert cx.ebms["1"].conv and not cx.ebms["4"].conv
    assert net[0].weight.grad is not None and torch.isfinite(net[0].weight.grad).all()
    assert set(cx.last["penalty"]) == {"1", "4"}
    cx.remove()


# --- bad input -------------------------------------------------------------------------------
def test_bad_input():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    x = torch.randn(2, 3)
    with pytest.raises(ValueError, match="'beta'"):
        ComplexityLoss(net, beta=0.0)
    with pytest.raises(ValueError, match="'beta'"):
        ComplexityLoss(net, beta=-1.0)
    with pytest.raises(ValueError, match=r"\['0'\] are not gating layers.*\['1'\]"):
        ComplexityLoss(net, layers=["0"], example=x)
    with pytest.raises(ValueError, match="no gating layers"):
        ComplexityLoss(nn.Linear(3, 2), example=x)
    with pytest.raises(TypeError, match="'model'"):
        ComplexityLoss("not a model")
    with pytest.raises(TypeError, match="'layers'"):
        ComplexityLoss(net, layers=[1])
    with pytest.raises(ValueError, match="'lam'"):
        fit(net, [(x, torch.tensor([0, 1]))], F.cross_entropy, lam=-0.1)
    cx = ComplexityLoss(net)
    with pytest.raises(RuntimeError, match="no recorded forward pass"):
        cx.penalty()
    cx.remove()


def test_nan_in_penalty_names_the_layer():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2))
    cx = ComplexityLoss(net, hidden=4, steps=1)
    with torch.no_grad():
        net[2].weight[0, 0] = float("nan")
    net(torch.randn(5, 3))
    with pytest.raises(FloatingPointError, match="layer '3'"):
        cx.penalty()
    cx.remove()


def test_no_grad_forward_is_not_recorded():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    cx = ComplexityLoss(net)
    x = torch.randn(5, 3)
    net(x)
    kept = cx._x["1"]
    with torch.no_grad():
        net(torch.randn(8, 3))  # evaluation must not replace the training batch's tensors
    assert cx._x["1"] is kept
    cx.remove()
    net(x)  # detached: nothing recorded any more
    assert cx._x == {}


def test_fit_history():
    torch.manual_seed(0)
    x, y = _blobs(1, n=60)
    net = nn.Sequential(nn.Linear(10, 8), nn.ReLU(), nn.Linear(8, 4))
    data = list(zip(x.split(20), y.split(20)))
    hist = fit(net, data, F.cross_entropy, lam=0.0, epochs=2)
    assert [h["epoch"] for h in hist] == [0, 1] and np.isnan(hist[0]["penalty"])
    cx = ComplexityLoss(net, hidden=4, steps=1)
    hist = fit(net, data, F.cross_entropy, complexity=cx, lam=0.01, epochs=1)
    assert np.isfinite(hist[0]["penalty"]) and hist[0]["loss"] > hist[0]["task_loss"]


class Skippable(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.c = nn.Linear(3, 6), nn.Linear(6, 6), nn.Linear(6, 6)
        self.r1, self.r2, self.r3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.skip = False

    def forward(self, x):
        h = self.r1(self.a(x))
        if not self.skip:
            h = self.r2(self.b(h))
        return self.r3(self.c(h))


def test_layers_missing_from_a_batch_still_train_their_own_ebms():
    """The three equal-width layers share one stack; a batch without r2 runs r1 and r3 as a
    temporary stack whose gradients land in their slices of the shared ones (r2's stays 0).
    A smaller last batch reuses the same stack."""
    torch.manual_seed(0)
    net = Skippable()
    cx = ComplexityLoss(net, hidden=5, steps=2)
    net(torch.randn(8, 3))
    cx.penalty().backward()
    (stack,) = cx._stacks.values()
    assert cx._stack_names(stack) == ["r1", "r2", "r3"]
    net.skip = True
    net(torch.randn(8, 3))
    before = {n: cx.ebms[n].f.l1.weight.detach().clone() for n in ("r1", "r3")}
    pen = cx.penalty()
    assert torch.isfinite(pen) and set(cx.last["penalty"]) == {"r1", "r3"}
    grad = stack.share_parameters()[0].grad
    assert grad[1].abs().max() == 0 and grad[0].abs().max() > 0 and grad[2].abs().max() > 0
    for n, w in before.items():
        assert (cx.ebms[n].f.l1.weight.detach() - w).abs().max() > 0
    net.skip = False
    net(torch.randn(5, 3))  # a smaller batch: same layers, same stack
    cx.penalty().backward()
    assert list(cx._stacks.values()) == [stack]
    cx.remove()


def test_a_forward_that_raises_fixes_no_layers():
    """The layer set comes from the first pass that completes (a pass that raised, e.g. out of
    memory, is ignored), so a retry penalises every layer."""
    class Flaky(nn.Module):
        def __init__(self):
            super().__init__()
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("out of memory (simulated)")
            return x

    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), Flaky(), nn.Linear(8, 8), nn.ReLU(),
                        nn.Linear(8, 8), nn.ReLU())
    cx = ComplexityLoss(net, hidden=4, steps=1)
    with pytest.raises(RuntimeError, match="simulated"):
        net(torch.randn(6, 4))
    net(torch.randn(6, 4))
    assert cx.layers == ["1", "4", "6"]
    assert torch.isfinite(cx.penalty())
    cx.remove()


def test_an_empty_batch_is_refused_without_poisoning_the_loss():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    cx = ComplexityLoss(net, hidden=4, steps=1)
    net(torch.randn(6, 4))
    cx.penalty()
    net(torch.randn(0, 4))
    with pytest.raises(ValueError, match="empty batch"):
        cx.penalty()
    net(torch.randn(6, 4))
    assert torch.isfinite(cx.penalty())  # the EBMs were not touched by the empty batch
    assert all(torch.isfinite(p).all() for e in cx.ebms.values() for p in e.parameters())
    cx.remove()


def test_fit_skips_empty_batches():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    data = [(torch.randn(8, 4), torch.randint(0, 3, (8,))),
            (torch.randn(0, 4), torch.zeros(0, dtype=torch.long)),
            (torch.randn(8, 4), torch.randint(0, 3, (8,)))]
    history = fit(net, data, nn.functional.cross_entropy, lam=0.1, epochs=1, progress=False)
    assert np.isfinite(history[0]["loss"]) and np.isfinite(history[0]["penalty"])


def test_transformers_style_activation_module_is_one_gate_as_in_capture():
    """An activation module of transformers is one gate named after its path, for the loss
    as for the capture (the tracer is shared)."""
    GELUActivation = type("GELUActivation", (nn.Module,),
                          {"__module__": "transformers.activations",
                           "forward": lambda self, x: 0.5 * x * (1 + torch.tanh(x))})
    net = nn.Sequential(nn.Linear(4, 8), GELUActivation(), nn.Linear(8, 8), nn.ReLU())
    cx = ComplexityLoss(net, hidden=4, steps=1, example=torch.randn(2, 4))
    cap = pycx.capture(net, [torch.randn(5, 4)], progress=False)
    assert cx.gating_layers == cap.names == ["1", "3"]
    cx.remove()
