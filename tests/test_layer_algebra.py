"""pycx.layer_algebra (torch.fx) against hand-computed values and the reference's combine."""
import json
import math
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import pycx  # noqa: E402
from pycx.analysis.layer_algebra import UnknownLayerWarning  # noqa: E402
from pycx.reference import layer_algebra as ref  # noqa: E402

# Cumulative values are sums of a few hundred log10 terms at most: float64 rounding ~1e-13.
TOL = 1e-9


def by_name(result):
    return {r["name"]: r for r in result.nodes}


def assert_agrees_with_reference(result):
    expected = ref.combine(result.graph)
    for row in result.nodes:
        assert row["power_log10"] == pytest.approx(expected["power_log10"][row["name"]], abs=TOL)
        assert row["complexity_log10"] == pytest.approx(expected["complexity_log10"][row["name"]], abs=TOL)
    for key in ("gcip_log10", "gcc_log10", "gsc", "gsc_log10", "gwc_log10"):
        assert getattr(result, key) == pytest.approx(expected[key], abs=TOL)


def test_mlp_by_hand():
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Dropout(), nn.Linear(256, 128),
                          nn.BatchNorm1d(128), nn.ReLU(), nn.Linear(128, 10))
    res = pycx.layer_algebra(model, (1, 784))
    # power 256/784 * 0.584 * 128/256 * 0.584 * 10/128 = 10/784 * 0.584**2
    assert res.gcip_log10 == pytest.approx(math.log10(0.004350204081632653), abs=TOL)
    # complexity log2(256*784) * 1.713 * log2(128*256) * 1.713 * log2(10*128)
    #          = 17.614709844115207 * 1.713 * 15 * 1.713 * 10.321928094887362
    assert res.gcc_log10 == pytest.approx(math.log10(8002.806349655974), abs=TOL)
    assert res.gsc == pytest.approx(17.614709844115207 + 1.713 + 15 + 1.713 + 10.321928094887362, abs=TOL)
    assert res.gwc_log10 == pytest.approx(res.gcc_log10 + math.log10(res.gsc), abs=TOL)
    kinds = [(r["op"], r["kind"]) for r in res.nodes]
    assert ("Dropout", "skip") in kinds and ("BatchNorm1d", "skip") in kinds
    assert [r["op"] for r in res.layers if r["kind"] == "layer"] == [
        "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert_agrees_with_reference(res)


def test_conv_stack_by_hand():
    model = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                          nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(32, 10))
    res = pycx.layer_algebra(model, (2, 3, 32, 32))
    local = [(r["p"], r["c"]) for r in res.nodes if r["kind"] == "layer"]
    expected = [
        (16 / 27, 16 * math.log2(27)),            # K = 3*3*3
        (0.584, 1.713),
        (256 / (4 * 1024), 2.0),                  # 2x2 pool: S_o / (k S_i)
        (32 * 64 / (144 * 256), 32 * math.log2(144)),  # K = 3*3*16, 16x16 -> 8x8
        (0.584, 1.713),
        (1 / 64 ** 2, 6.0),                       # global pooling of 8x8
        (10 / 32, math.log2(320)),
    ]
    # Flattened: pytest.approx compares flat sequences only (rel 1e-6: float round-off).
    assert np.ravel(local) == pytest.approx(np.ravel(expected))
    assert res.gcip_log10 == pytest.approx(sum(math.log10(p) for p, _ in expected), abs=TOL)
    assert res.gcc_log10 == pytest.approx(sum(math.log10(c) for _, c in expected), abs=TOL)
    assert_agrees_with_reference(res)


def test_grouped_and_depthwise_conv_count_input_channels():
    model = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32),
                          nn.Conv2d(32, 64, 3, padding=1, groups=4))
    res = pycx.layer_algebra(model, (1, 32, 10, 10))
    layers = [r for r in res.nodes if r["kind"] == "layer"]
    assert (layers[0]["p"], layers[0]["c"]) == pytest.approx((32 / 9, 32 * math.log2(9)))
    assert (layers[1]["p"], layers[1]["c"]) == pytest.approx((64 / 72, 64 * math.log2(72)))
    conv1d = pycx.layer_algebra(nn.Conv1d(4, 8, 5), (1, 4, 20))   # 20 -> 16 positions
    assert conv1d.gcip_log10 == pytest.approx(math.log10(8 * 16 / (20 * 20)), abs=TOL)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(8, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x):
        out = self.conv2(F.relu(self.conv1(x)))
        return F.relu(out + x)


def test_residual_block():
    res = pycx.layer_algebra(Residual(), (1, 8, 6, 6))
    rows = by_name(res)
    p_conv, c_conv = ref.conv(8, 9, 8, 1, 36, 36)
    # The shortcut (power 1) dominates the residual path at the add; complexities add up.
    assert rows["add"]["kind"] == "merge"
    assert rows["add"]["power_log10"] == pytest.approx(0.0, abs=TOL)
    assert rows["add"]["complexity_log10"] == pytest.approx(math.log10(c_conv * 1.713 * c_conv + 1), abs=TOL)
    assert res.gcip_log10 == pytest.approx(math.log10(0.584), abs=TOL)
    assert rows["conv2"]["power_log10"] == pytest.approx(math.log10(p_conv * 0.584 * p_conv), abs=TOL)
    assert_agrees_with_reference(res)


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(4, 4, 1)
        self.b = nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x):
        return torch.cat([self.a(x), torch.tanh(self.b(x)), x], dim=1)


def test_concat_block():
    res = pycx.layer_algebra(Concat(), (1, 4, 5, 5))
    pa, ca = ref.conv(4, 1, 4, 1, 25, 25)
    pb, cb = ref.conv(8, 9, 4, 1, 25, 25)
    assert res.gcip_log10 == pytest.approx(math.log10(max(pa, pb * 0.628, 1.0)), abs=TOL)
    assert res.gcc_log10 == pytest.approx(math.log10(ca + cb * 1.592 + 1.0), abs=TOL)
    assert_agrees_with_reference(res)


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x):
        x = F.relu(self.fc(x))
        x = torch.relu(x).relu()
        x = torch.sigmoid(x).sigmoid()
        x = torch.tanh(x)
        x = x.view(x.size(0), -1).flatten(1)
        return F.softmax(x, dim=1)


def test_functional_activations_are_recognised():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = pycx.layer_algebra(Functional(), (1, 6))
    acts = [(r["op"], r["p"]) for r in res.layers if r["kind"] == "layer"][1:]
    assert acts == [("F.relu", 0.584), ("torch.relu", 0.584), ("Tensor.relu", 0.584),
                    ("torch.sigmoid", 0.208), ("Tensor.sigmoid", 0.208), ("torch.tanh", 0.628),
                    ("F.softmax", 1.342e-5)]


def test_functional_conv_pool_and_spatial_mean():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(6, 3, 3, 3))

        def forward(self, x):
            x = F.avg_pool2d(F.conv2d(x, self.w, padding=1), x.size(3) // 2)
            return x.mean((2, 3))

    res = pycx.layer_algebra(Net(), (1, 3, 8, 8))
    local = [(r["p"], r["c"]) for r in res.nodes if r["kind"] == "layer"]
    assert np.ravel(local) == pytest.approx(np.ravel([ref.conv(6, 9, 3, 1, 64, 64),
                                                      ref.pool(16, 64, 4), ref.global_pool(4)]))


def test_conv_transpose_autoencoder_returns_to_power_one():
    model = nn.Sequential(nn.Conv2d(1, 16, 3, stride=2, padding=1),
                          nn.ConvTranspose2d(16, 1, 4, stride=2, padding=1))
    res = pycx.layer_algebra(model, (1, 1, 16, 16))
    rows = [r for r in res.nodes if r["kind"] == "layer"]
    assert rows[1]["p"] == pytest.approx(ref.conv_transpose(1, 16, 16, 1, 64, 256)[0])
    # Conv: 16 * 64 / (9 * 256); transposed: 1 * 16 * 256 / (16 * 64): product 16/9.
    assert res.gcip_log10 == pytest.approx(math.log10(16 / 9), abs=TOL)


def test_unknown_ops_warn_once_then_user_rule():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.erf(x) * 2 + torch.erf(x)

    with pytest.warns(UnknownLayerWarning, match=r"torch\.erf x2") as record:
        res = pycx.layer_algebra(Odd(), (1, 4))
    assert len(record) == 1
    assert res.unknown_ops == ["torch.erf"] and res.gcip_log10 == 0.0
    pycx.register_layer_rule(torch.erf, lambda node, ins, out: (0.5, 3.0))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            res = pycx.layer_algebra(Odd(), (1, 4))
    finally:
        pycx.register_layer_rule(torch.erf, None)
    assert res.gcip_log10 == pytest.approx(math.log10(0.5), abs=TOL)
    assert res.gcc_log10 == pytest.approx(math.log10(6.0), abs=TOL)


class DataDependent(nn.Module):
    def forward(self, x):
        return x if x.sum() > 0 else -x


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 8)
        self.odd = DataDependent()

    def forward(self, x):
        return self.odd(self.fc(x))


def test_untraceable_model_says_how_to_work_around():
    with pytest.raises(RuntimeError, match="leaf_modules=.*concrete_args"):
        pycx.layer_algebra(Outer(), (1, 4))
    with pytest.warns(UnknownLayerWarning, match="DataDependent"):
        res = pycx.layer_algebra(Outer(), (1, 4), leaf_modules=[DataDependent])
    assert res.gcip_log10 == pytest.approx(math.log10(2.0), abs=TOL)
    pycx.register_layer_rule(DataDependent, lambda module, ins, out: (0.25, 4.0))
    try:
        res = pycx.layer_algebra(Outer(), (1, 4))   # a registered type is kept as a leaf
    finally:
        pycx.register_layer_rule(DataDependent, None)
    assert res.gcip_log10 == pytest.approx(math.log10(0.5), abs=TOL)


def test_wrong_input_shape_names_input_shape():
    with pytest.raises(ValueError, match=r"input_shape.*\(1, 2, 8, 8\).*3 channels"):
        pycx.layer_algebra(nn.Sequential(nn.Conv2d(3, 4, 3)), (1, 2, 8, 8))
    with pytest.raises(ValueError, match="input_shape"):
        pycx.layer_algebra(nn.Linear(3, 4), (1, 0))
    with pytest.raises(ValueError, match="input_shape"):
        pycx.layer_algebra(nn.Linear(3, 4), [(1, 3), (1, 3)])


def test_module_state_is_kept():
    model = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    pycx.layer_algebra(model, (1, 4))
    assert model.training and model[1].training
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_result_exports(tmp_path):
    res = pycx.layer_algebra(Residual(), (1, 8, 6, 6))
    data = json.loads(res.to_json(tmp_path / "r.json"))
    assert data["gcip_log10"] == pytest.approx(res.gcip_log10)
    assert [r["name"] for r in data["layers"]] == [r["name"] for r in res.layers]
    text = res.to_csv(tmp_path / "r.csv")
    assert text.splitlines()[0] == "name,op,kind,p,c,power_log10,complexity_log10,output_shape"
    assert (tmp_path / "r.csv").read_text() == text
    pd = pytest.importorskip("pandas")
    frame = res.to_pandas(all_nodes=True)
    assert isinstance(frame, pd.DataFrame) and len(frame) == len(res.nodes)
    assert "GCIP" in repr(res)


def test_resample_power_switch():
    class Shortcut(nn.Module):
        def forward(self, x):
            return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 2, 2))

    assert pycx.layer_algebra(Shortcut(), (1, 4, 8, 8)).gcip_log10 == pytest.approx(math.log10(0.5))
    assert pycx.layer_algebra(Shortcut(), (1, 4, 8, 8), resample_power=False).gcip_log10 == 0.0


def test_activation_power():
    # Standard normal through ReLU: var = 1/2 - 1/(2 pi). Monte Carlo error of a variance ratio
    # with n = 2e5 samples is ~ 3/sqrt(n) relative ~ 0.007; 0.02 leaves a margin.
    value = pycx.activation_power(torch.relu, "normal", n=200_000)
    assert value == pytest.approx(0.5 - 1 / (2 * math.pi), rel=0.02)
    # Uniform on [-1, 1]: var(relu) = 1/6 - 1/16, var(x) = 1/3 -> 0.3125.
    assert pycx.activation_power(lambda x: np.maximum(x, 0), "uniform", n=200_000) == \
        pytest.approx(0.3125, rel=0.02)
    assert pycx.activation_power(lambda x: x) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="distribution"):
        pycx.activation_power(torch.relu, "cauchy")


class SizedPooling(nn.Module):
    """DPN's global pooling: the kernel size is a tuple of two traced ``x.size()`` values."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x):
        x = self.conv(x)
        x = F.avg_pool2d(x, kernel_size=(x.size(2), x.size(3)))
        return F.max_pool2d(x, [x.size(2), x.size(3)]).flatten(1)


def test_kernel_size_from_a_tuple_of_traced_sizes():
    # Before the fix: TypeError (int() of a Node) from inside the pooling rule.
    res = pycx.layer_algebra(SizedPooling(), (1, 3, 6, 6))
    layers = [r for r in res.nodes if r["kind"] == "layer"]
    assert [r["op"].split(".")[-1] for r in layers] == ["Conv2d", "avg_pool2d", "max_pool2d"]
    # Global pooling of 6x6 (k = S_i = 36, S_o = 1): p = 1/36^2, c = log2 36; the 1x1 max
    # pooling after it is neutral (p = 1, c = log2 1 = 0).
    assert (layers[1]["p"], layers[1]["c"]) == pytest.approx((1 / 36 ** 2, math.log2(36)))
    assert (layers[2]["p"], layers[2]["c"]) == pytest.approx((1.0, 0.0))
    assert_agrees_with_reference(res)


class FunctionalGrouped(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(16, 4, 3, 3))   # 16 filters, 16 inputs in 4 groups

    def forward(self, x):
        return F.conv2d(x, self.w, padding=1, groups=4)


def test_conv_kernel_all_inputs_reading():
    model = nn.Sequential(nn.Conv2d(32, 32, 3, padding=1, groups=32),
                          nn.Conv2d(32, 64, 3, padding=1, groups=4), nn.Conv2d(64, 8, 1))
    per_group = pycx.layer_algebra(model, (1, 32, 10, 10))
    full = pycx.layer_algebra(model, (1, 32, 10, 10), conv_kernel="all_inputs")
    lay = [r for r in full.nodes if r["kind"] == "layer"]
    # K = k * C_in whatever the groups: a depthwise 3x3 conv compresses by 1/9.
    assert (lay[0]["p"], lay[0]["c"]) == pytest.approx((32 / (9 * 32), 32 * math.log2(9 * 32)))
    assert (lay[1]["p"], lay[1]["c"]) == pytest.approx((64 / (9 * 32), 64 * math.log2(9 * 32)))
    # groups == 1: both readings agree.
    same = [r for r in per_group.nodes if r["kind"] == "layer"][2]
    assert (lay[2]["p"], lay[2]["c"]) == pytest.approx((same["p"], same["c"]))
    f_pg = pycx.layer_algebra(FunctionalGrouped(), (1, 16, 5, 5))
    f_all = pycx.layer_algebra(FunctionalGrouped(), (1, 16, 5, 5), conv_kernel="all_inputs")
    assert f_pg.gcip_log10 == pytest.approx(math.log10(16 / 36), abs=TOL)
    assert f_all.gcip_log10 == pytest.approx(math.log10(16 / 144), abs=TOL)
    tr = nn.Sequential(nn.ConvTranspose2d(8, 8, 2, stride=2, groups=8))
    t_pg = pycx.layer_algebra(tr, (1, 8, 4, 4))
    t_all = pycx.layer_algebra(tr, (1, 8, 4, 4), conv_kernel="all_inputs")
    assert t_pg.gcip_log10 == pytest.approx(math.log10(8 * 4 * 64 / (1 * 16)), abs=TOL)
    assert t_all.gcip_log10 == pytest.approx(math.log10(8 * 4 * 64 / (8 * 16)), abs=TOL)
    with pytest.raises(ValueError, match="conv_kernel"):
        pycx.layer_algebra(model, (1, 32, 10, 10), conv_kernel="full")
