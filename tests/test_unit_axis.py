"""The unit axis of each gate, traced per layer (pycx.gates.layout): checked against the bits
computed independently from the pre-activations on the axis the architecture means."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import pycx  # noqa: E402
from pycx.gates.layout import UnitAxes, _moved  # noqa: E402


class Mixed(nn.Module):
    """A conv stage (units on axis 1) and an MLP over its positions as tokens (units last),
    as in MaxViT / CoAtNet; the MLP's input reaches it through flatten + transpose."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 5, 3, padding=1)
        self.norm = nn.LayerNorm(5)
        self.fc = nn.Linear(5, 6)
        self.pre = {}

    def forward(self, x):
        h = self.conv(x)
        self.pre["conv"] = h.detach().clone()
        h = F.relu(h)                                   # (N, 5, 4, 4): units on axis 1
        t = h.flatten(2).transpose(1, 2)                # (N, 16, 5): tokens
        t = self.fc(self.norm(t))                       # (N, 16, 6)
        self.pre["mlp"] = t.detach().clone()
        return F.gelu(t)                                # units last


class ChannelsLast(nn.Module):
    """ConvNeXt's block: conv, permute to (N, H, W, C), layer norm, linear, GELU, linear."""

    def __init__(self):
        super().__init__()
        self.dw = nn.Conv2d(3, 3, 3, padding=1, groups=3)
        self.norm = nn.LayerNorm(3)
        self.up = nn.Linear(3, 8)
        self.act = nn.GELU()
        self.down = nn.Linear(8, 3)
        self.pre = None

    def forward(self, x):
        h = self.dw(x).permute(0, 2, 3, 1)
        h = self.up(self.norm(h))
        self.pre = h.detach().clone()
        return self.down(self.act(h)).permute(0, 3, 1, 2)


def test_mixed_model_reads_each_layer_on_its_own_axis():
    torch.manual_seed(0)
    model = Mixed().eval()
    x = torch.randn(3, 2, 4, 4)
    cap = pycx.capture(model, [x], progress=False)
    conv, mlp = cap["relu"], cap["gelu"]
    assert (conv.unit_axis, conv.unit_axis_source, conv.shape) == (1, "traced:conv2d", (5, 4, 4))
    assert (mlp.unit_axis, mlp.unit_axis_source, mlp.shape) == (-1, "traced:linear", (6, 16))
    # independent: per-patch rows are (sample, position) rows of the layer's units
    pre_conv = model.pre["conv"].numpy()
    np.testing.assert_array_equal(conv.per_patch.unpack(),
                                  pre_conv.transpose(0, 2, 3, 1).reshape(-1, 5) > 0)
    pre_mlp = model.pre["mlp"].numpy()
    np.testing.assert_array_equal(mlp.per_patch.unpack(), pre_mlp.reshape(-1, 6) > 0)
    assert mlp.covariance.dim == 6 and conv.covariance.dim == 5


def test_channels_last_4d_block():
    torch.manual_seed(1)
    model = ChannelsLast().eval()
    cap = pycx.capture(model, [torch.randn(2, 3, 5, 5)], progress=False)
    rec = cap["act"]
    assert rec.unit_axis == -1 and rec.shape == (8, 5, 5) and rec.unit_axis_source == "traced:linear"
    np.testing.assert_array_equal(rec.per_patch.unpack(), model.pre.numpy().reshape(-1, 8) > 0)


def test_override_globally_and_per_layer():
    torch.manual_seed(2)
    model = Mixed().eval()
    x = torch.randn(2, 2, 4, 4)
    per_layer = pycx.capture(model, [x], channel_axis={"gelu": 1}, progress=False)
    assert per_layer["gelu"].shape == (16, 6) and per_layer["gelu"].unit_axis_source == "channel_axis"
    assert per_layer["relu"].unit_axis_source == "traced:conv2d"
    everywhere = pycx.capture(model, [x], channel_axis=-1, progress=False)
    assert everywhere["relu"].shape == (4, 5, 4) and everywhere["relu"].unit_axis == -1
    with pytest.raises(ValueError, match=r"channel_axis.*\['nope'\]"):
        pycx.capture(model, [x], channel_axis={"nope": 1}, progress=False)
    with pytest.raises(ValueError, match="channel_axis"):
        pycx.capture(model, [x], channel_axis={"gelu": 2}, progress=False)


def test_unmarked_input_takes_the_default():
    model = nn.Sequential(nn.ReLU())
    rec = pycx.capture(model, [torch.randn(2, 3, 4)], progress=False)["0"]
    assert rec.unit_axis == 1 and rec.unit_axis_source == "default" and rec.shape == (3, 4)


def test_unit_axis_survives_save_and_load(tmp_path):
    torch.manual_seed(3)
    cap = pycx.capture(Mixed().eval(), [torch.randn(2, 2, 4, 4)], progress=False)
    cap.save(tmp_path / "c.npz")
    back = pycx.Capture.load(tmp_path / "c.npz")
    assert [(r.unit_axis, r.unit_axis_source) for r in back] == \
        [(r.unit_axis, r.unit_axis_source) for r in cap]


@pytest.mark.parametrize("shape,source,dest", [((2, 3, 4, 5), 1, -1), ((2, 3, 4, 5), [1, 3], [3, 1]),
                                               ((2, 3, 4), -1, 1)])
def test_movedim_order_matches_torch(shape, source, dest):
    t = torch.arange(int(np.prod(shape))).reshape(shape)
    order = _moved(len(shape), source, dest)
    assert tuple(t.movedim(source, dest).shape) == tuple(shape[a] for a in order)


def test_layout_ops_move_the_mark():
    axes = UnitAxes()
    x = torch.randn(2, 3, 4, 5)
    y = F.conv2d(x, torch.randn(6, 3, 1, 1))
    axes.observe(F.conv2d, (x, None), {}, y)
    assert axes.mark(y) == (1, "conv2d")
    p = y.permute(0, 2, 3, 1)
    axes.observe(torch.Tensor.permute, (y, 0, 2, 3, 1), {}, p)
    assert axes.mark(p)[0] == 3
    t = p.transpose(1, 3)
    axes.observe(torch.Tensor.transpose, (p, 1, 3), {}, t)
    assert axes.mark(t)[0] == 1
    r = t.reshape(2, 6, 20)            # keeps (N, C): still axis 1
    axes.observe(torch.Tensor.reshape, (t, 2, 6, 20), {}, r)
    assert axes.mark(r)[0] == 1
    s = r.sum(1)                       # the units are summed away: no mark
    axes.observe(torch.Tensor.sum, (r, 1), {}, s)
    assert axes.mark(s) is None
