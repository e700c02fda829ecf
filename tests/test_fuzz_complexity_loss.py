"""Fuzz of the complexity loss (pycx.train): random small models (linear and conv layers,
every ReLU-family gate, in-place forms, functional calls), batch sizes (0 included), settings
and bad inputs (NaN, a forward that raises). Each case must either give a finite penalty with
gradients, or raise one clear error — and the loss must never be left poisoned: the next good
batch gives a finite penalty again."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

from pycx.train import ComplexityLoss, fit  # noqa: E402
from fuzzargs import Case, run_cases  # noqa: E402

ACTIVATIONS = [lambda: nn.ReLU(), lambda: nn.ReLU(inplace=True), lambda: nn.LeakyReLU(0.1),
               lambda: nn.GELU(), lambda: nn.SiLU(), lambda: nn.ELU(inplace=True), lambda: nn.SELU(),
               lambda: nn.Mish(), lambda: nn.Hardswish(), lambda: nn.Softplus(), lambda: nn.ReLU6()]


class Flaky(nn.Module):
    """Raises on the calls listed in `fail_on` (counted from 1)."""

    def __init__(self, fail_on):
        super().__init__()
        self.fail_on, self.calls = set(fail_on), 0

    def forward(self, x):
        self.calls += 1
        if self.calls in self.fail_on:
            raise RuntimeError("simulated failure (out of memory)")
        return x


def _model(rng):
    conv = bool(rng.integers(2))
    layers, width = [], int(rng.integers(2, 9))
    if conv:
        layers += [nn.Conv2d(1, width, 3, padding=1)]
    else:
        layers += [nn.Linear(5, width)]
    for _ in range(int(rng.integers(1, 4))):
        layers.append(ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]())
        if rng.random() < 0.3:
            layers.append(Flaky(fail_on=[1] if rng.random() < 0.5 else []))
        nxt = int(rng.integers(2, 9))
        layers.append(nn.Conv2d(width, nxt, 3, padding=1) if conv else nn.Linear(width, nxt))
        width = nxt
    if conv:
        layers += [nn.Flatten()]
    return nn.Sequential(*layers), conv


def _input(rng, conv, n):
    return torch.randn(n, 1, 4, 4) if conv else torch.randn(n, 5)


def _one_case(seed):
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    model, conv = _model(rng)
    settings = dict(beta=float(rng.choice([0.5, 5.0, 50.0])), hidden=int(rng.integers(1, 9)),
                    steps=int(rng.integers(0, 3)), init=str(rng.choice(["data", "prior"])),
                    n_layers=int(rng.integers(1, 5)), adapt_step=bool(rng.integers(2)))
    cx = ComplexityLoss(model, **settings)
    try:
        for step in range(4):
            kind = rng.choice(["good", "good", "empty", "nan", "one"])
            n = {"good": int(rng.integers(2, 9)), "empty": 0, "nan": 4, "one": 1}[kind]
            x = _input(rng, conv, n)
            if kind == "nan":
                x[0] = float("nan")
            try:
                out = model(x)
            except RuntimeError as exc:
                assert "simulated" in str(exc)
                continue
            try:
                pen = cx.penalty()
            except ValueError as exc:
                assert kind == "empty" and "empty batch" in str(exc), (kind, str(exc))
                continue
            except FloatingPointError as exc:
                assert kind == "nan" and "layer" in str(exc), (kind, str(exc))
                continue
            assert kind != "empty"
            assert math.isfinite(float(pen)), (kind, float(pen))
            (out.sum() + pen).backward()
            model.zero_grad()
        # never poisoned: a good batch after whatever happened gives a finite penalty
        for _ in range(2):
            try:
                model(_input(rng, conv, 6))
                break
            except RuntimeError:
                continue
        pen = cx.penalty()
        assert math.isfinite(float(pen))
        assert all(torch.isfinite(p).all() for e in cx.ebms.values() for p in e.parameters())
    finally:
        cx.remove()


CASES = 80


@pytest.mark.slow
def test_fuzz_complexity_loss():
    failures = []
    for seed in range(CASES):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _one_case(seed)
        except Exception as exc:  # collected: the report says how many cases fail
            failures.append(f"seed {seed}: {type(exc).__name__}: {str(exc)[:200]}")
    assert not failures, f"{len(failures)} of {CASES} cases failed:\n" + "\n".join(failures[:20])


def test_fuzz_complexity_loss_arguments():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    bad = {"beta": [0.0, -1.0, float("nan"), "5"], "hidden": [0, 2.5, True], "steps": [-1, 1.5],
           "step_size": [0.0, -0.1], "init": ["random", 3], "lr": [0.0, -1e-3],
           "f_reg": [-1.0], "prior_momentum": [0.0, 1.5], "n_layers": [0, -2],
           "layers": [[], [3], 5]}
    cases = [Case(f"ComplexityLoss({arg}={value!r})",
                  lambda arg=arg, value=value: ComplexityLoss(net, **{arg: value}).remove(), arg)
             for arg, values in bad.items() for value in values]
    cases.append(Case("ComplexityLoss(valid)", lambda: ComplexityLoss(net, hidden=2).remove(), None))
    failures = run_cases(cases)
    assert not failures, "\n".join(failures)


def test_fit_with_an_empty_and_a_failing_batch_is_not_poisoned():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 6), nn.ReLU(), nn.Linear(6, 3))
    data = [(torch.randn(8, 5), torch.randint(0, 3, (8,))),
            (torch.randn(0, 5), torch.zeros(0, dtype=torch.long)),
            (torch.randn(8, 5), torch.randint(0, 3, (8,)))]
    history = fit(net, data, F.cross_entropy, lam=0.1, epochs=2, progress=False)
    assert all(math.isfinite(h["penalty"]) and math.isfinite(h["loss"]) for h in history)
