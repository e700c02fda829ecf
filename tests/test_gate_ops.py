"""The gating ops beyond ReLU / sigmoid / tanh (docs/definitions.md, "Gates"): each captured
gate against an independent computation from the op's input or output."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import pycx  # noqa: E402


class Probe(nn.Module):
    """Linear, then `act`; keeps the linear's output (the activation's input)."""

    def __init__(self, act, width=12, out=10):
        super().__init__()
        self.fc = nn.Linear(width, out)
        self.act = act
        self.pre = None

    def forward(self, x):
        h = self.fc(x)
        self.pre = h.detach().clone()
        return self.act(h)


# ReLU family: one bit per unit, pre-activation > 0
SIGN_GATES = [("hardswish", nn.Hardswish()), ("mish", nn.Mish()), ("softplus", nn.Softplus()),
              ("elu", nn.ELU()), ("selu", nn.SELU()), ("celu", nn.CELU(alpha=0.5)),
              ("rrelu", nn.RReLU()), ("selu", nn.SELU(inplace=True)),
              ("hardswish", nn.Hardswish(inplace=True))]


@pytest.mark.parametrize("kind,act", SIGN_GATES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(SIGN_GATES)])
def test_sign_gates(kind, act):
    torch.manual_seed(0)
    model = Probe(act).eval()
    x = torch.randn(40, 12) * 3
    cap = pycx.capture(model, [x], progress=False)
    rec = cap["act"]
    assert rec.kind == kind and rec.bits_per_unit == 1 and rec.shape == (10,)
    np.testing.assert_array_equal(rec.per_sample.unpack(), model.pre.numpy() > 0)


def _ternary(u, lo=0.05, hi=0.95):
    return np.concatenate([u < lo, u > hi], axis=1)


def test_hardsigmoid_reads_like_sigmoid():
    torch.manual_seed(1)
    model = Probe(nn.Hardsigmoid()).eval()
    x = torch.randn(50, 12) * 4
    rec = pycx.capture(model, [x], progress=False)["act"]
    out = F.hardsigmoid(model.pre).numpy()
    assert rec.kind == "hardsigmoid" and rec.bits_per_unit == 2
    bits = rec.per_sample.unpack()
    np.testing.assert_array_equal(bits, _ternary(out))
    assert bits[:, :10].any() and bits[:, 10:].any()  # both saturations occur at this scale
    np.testing.assert_array_equal(rec.binary.unpack(), out > 0.5)


@pytest.mark.parametrize("dim", [-1, 1])
def test_glu_gate_is_the_sigmoid_of_its_second_half(dim):
    torch.manual_seed(2)
    model = Probe(nn.GLU(dim=dim), width=6, out=8).eval()
    x = torch.randn(30, 6) * 3
    rec = pycx.capture(model, [x], progress=False)["act"]
    gate = torch.sigmoid(model.pre[:, 4:]).numpy()
    assert rec.kind == "glu" and rec.shape == (4,) and rec.bits_per_unit == 2
    np.testing.assert_array_equal(rec.per_sample.unpack(), _ternary(gate))


def test_glu_on_tokens_reads_units_on_the_split_axis():
    torch.manual_seed(3)
    model = Probe(nn.GLU(), width=6, out=8).eval()
    x = torch.randn(5, 7, 6)                    # (N, T, C): GLU splits the last axis
    rec = pycx.capture(model, [x], progress=False)["act"]
    assert rec.shape == (4, 7) and rec.unit_axis == -1 and rec.unit_axis_source == "op:glu"
    gate = torch.sigmoid(model.pre[..., 4:]).reshape(-1, 4).numpy()
    np.testing.assert_array_equal(rec.per_patch.unpack(), _ternary(gate))


def test_functional_in_place_forms_are_read_before_the_overwrite():
    class Net(nn.Module):
        def forward(self, x):
            self.pre = x.clone()
            return F.hardswish(F.selu(x, inplace=True) - 0.5, inplace=True)

    torch.manual_seed(4)
    model = Net()
    x = torch.randn(20, 9)
    cap = pycx.capture(model, [x.clone()], progress=False)
    assert cap.names == ["selu", "hardswish"]
    np.testing.assert_array_equal(cap["selu"].per_sample.unpack(), x.numpy() > 0)
    second = (F.selu(x) - 0.5).numpy()
    np.testing.assert_array_equal(cap["hardswish"].per_sample.unpack(), second > 0)


def test_a_net_with_only_hardswish_has_gating_layers():
    """LeViT uses Hardswish only; MobileNetV3 mixes it with ReLU and Hardsigmoid (SE)."""
    net = nn.Sequential(nn.Linear(4, 8), nn.Hardswish(), nn.Linear(8, 8), nn.Hardswish())
    cap = pycx.capture(net, [torch.randn(6, 4)], progress=False)
    assert cap.names == ["1", "3"] and {r.kind for r in cap} == {"hardswish"}


def test_complexity_loss_penalises_the_new_relu_family():
    net = nn.Sequential(nn.Linear(4, 8), nn.Mish(), nn.Linear(8, 8), nn.Hardswish(), nn.Linear(8, 2),
                        nn.Hardsigmoid())
    cx = pycx.ComplexityLoss(net, hidden=4, steps=1)
    net(torch.randn(8, 4))
    assert cx.layers == ["1", "3"]  # hardsigmoid is a ternary gate: not penalised
    cx.remove()
