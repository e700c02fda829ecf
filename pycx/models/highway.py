"""The small fully connected networks of Janik & Witaszczyk (paper 000, section 7).

- `FC3(l1=14, l2=N)`: input -> L1 (ReLU) -> L2 (ReLU) -> classes; the paper fixes L1 at 14
  neurons and scales L2.
- `Highway(width, depth)`: an input projection to `width` neurons (ReLU), then `depth` highway
  layers (Srivastava, Greff & Schmidhuber 2015) ``y = H(x) T(x) + x (1 - T(x))`` with
  ``H = ReLU(W_H x + b_H)`` (the nonlinear part) and the transform gate
  ``T = sigmoid(W_T x + b_T)``, ``b_T`` initialised to `gate_bias` (negative, so that the
  layers start close to the identity), then a linear output layer.

Both flatten their input, so images ``(N, C, H, W)`` can be fed directly. The ReLUs and
sigmoids are modules with stable names (``l1_relu``, ``l2_relu``; ``layers.<i>.relu``,
``layers.<i>.gate``), so that `pycx.capture` can select them.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["FC3", "Highway", "HighwayLayer"]


def _check_width(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"argument '{name}' must be a positive int, got {value!r}")
    return value


class FC3(nn.Module):
    """Three-layer fully connected network of paper 000's figure 6.

    >>> net = FC3(l1=14, l2=32)
    >>> tuple(net(torch.zeros(5, 1, 28, 28)).shape)
    (5, 10)
    """

    def __init__(self, l1: int = 14, l2: int = 64, in_features: int = 784, n_classes: int = 10):
        super().__init__()
        self.l1 = nn.Linear(_check_width("in_features", in_features), _check_width("l1", l1))
        self.l1_relu = nn.ReLU()
        self.l2 = nn.Linear(l1, _check_width("l2", l2))
        self.l2_relu = nn.ReLU()
        self.out = nn.Linear(l2, _check_width("n_classes", n_classes))

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.out(self.l2_relu(self.l2(self.l1_relu(self.l1(x)))))


class HighwayLayer(nn.Module):
    """One highway layer ``y = H(x) T(x) + x (1 - T(x))`` of constant width."""

    def __init__(self, width: int, gate_bias: float = -2.0):
        super().__init__()
        self.transform = nn.Linear(width, width)
        self.relu = nn.ReLU()
        self.gate_linear = nn.Linear(width, width)
        self.gate = nn.Sigmoid()
        with torch.no_grad():
            self.gate_linear.bias.fill_(float(gate_bias))

    def forward(self, x):
        h = self.relu(self.transform(x))
        t = self.gate(self.gate_linear(x))
        return h * t + x * (1.0 - t)


class Highway(nn.Module):
    """Highway network of paper 000's figure 7 (11 layers, 28 wide there).

    >>> net = Highway(width=28, depth=11)
    >>> tuple(net(torch.zeros(3, 784)).shape), len(net.layers)
    ((3, 10), 11)
    """

    def __init__(self, width: int = 28, depth: int = 11, in_features: int = 784,
                 n_classes: int = 10, gate_bias: float = -2.0):
        super().__init__()
        width = _check_width("width", width)
        self.input = nn.Linear(_check_width("in_features", in_features), width)
        self.input_relu = nn.ReLU()
        self.layers = nn.ModuleList(HighwayLayer(width, gate_bias)
                                    for _ in range(_check_width("depth", depth)))
        self.out = nn.Linear(width, _check_width("n_classes", n_classes))

    def forward(self, x):
        x = self.input_relu(self.input(torch.flatten(x, 1)))
        for layer in self.layers:
            x = layer(x)
        return self.out(x)
