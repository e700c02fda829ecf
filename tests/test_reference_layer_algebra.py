"""Reference layer algebra (docs/definitions.md §6) on graphs whose values are computed by hand."""
import math

import pytest

from pycx.reference import layer_algebra as ref

# log10 values of products of a handful of O(1) factors: float64 rounding is ~1e-15 relative.
TOL = 1e-12


def test_local_values_by_hand():
    # 3x3 convolution, 64 -> 64 channels, same padding: K = 9 * 64 = 576.
    p, c = ref.conv(n_k=64, k=9, c_in=64, groups=1, s_i=32 * 32, s_o=32 * 32)
    assert p == pytest.approx(1 / 9, abs=TOL) and c == pytest.approx(64 * math.log2(576), abs=TOL)
    # Stride 2, 16 -> 32 channels: p = 32 * (1/4) / 144 = 1/18.
    assert ref.conv(32, 9, 16, 1, 1024, 256)[0] == pytest.approx(1 / 18, abs=TOL)
    # Depthwise: K = 9 * 32 / 32 = 9 -> p = 32/9, c = 32 log2 9; grouped (4 groups): K = 9 * 16.
    assert ref.conv(32, 9, 32, 32, 100, 100) == pytest.approx((32 / 9, 32 * math.log2(9)))
    assert ref.conv(64, 9, 64, 4, 100, 100) == pytest.approx((64 / 144, 64 * math.log2(144)))
    # 1x1 convolution keeps a complexity n_k log2 C_in.
    assert ref.conv(128, 1, 64, 1, 49, 49) == pytest.approx((2.0, 128 * 6.0))
    # Transposed conv undoes the conv's power: 1 -> 16 -> 1 channels, 3x3.
    p_down = ref.conv(16, 9, 1, 1, 64, 64)[0]
    p_up = ref.conv_transpose(1, 9, 16, 1, 64, 64)[0]
    assert p_down * p_up == pytest.approx(1.0, abs=TOL)
    assert ref.pool(4, 1024, 256) == pytest.approx((1 / 16, 2.0))
    assert ref.global_pool(64) == pytest.approx((1 / 4096, 6.0))
    assert ref.linear(784, 256) == pytest.approx((256 / 784, math.log2(256 * 784)))
    assert ref.activation("relu") == (0.584, 1.713)
    assert ref.resample(4 * 16, 2 * 16) == (0.5, 0.0)


def test_mlp_chain_by_hand():
    # 784 -> 256 -> ReLU -> 128 -> ReLU -> 10, written out:
    # power = 256/784 * 0.584 * 128/256 * 0.584 * 10/128 = 10/784 * 0.584**2 = 0.004350204...
    # complexity = log2(200704) * 1.713 * 15 * 1.713 * log2(1280)
    graph = [
        {"name": "fc1", "inputs": [], "p": 256 / 784, "c": 17.614709844115207},
        {"name": "relu1", "inputs": ["fc1"], "p": 0.584, "c": 1.713},
        {"name": "fc2", "inputs": ["relu1"], "p": 0.5, "c": 15.0},
        {"name": "relu2", "inputs": ["fc2"], "p": 0.584, "c": 1.713},
        {"name": "fc3", "inputs": ["relu2"], "p": 10 / 128, "c": 10.321928094887362},
    ]
    out = ref.combine(graph)
    assert out["gcip_log10"] == pytest.approx(math.log10(0.004350204081632653), abs=TOL)
    assert out["gcc_log10"] == pytest.approx(math.log10(8002.806349655974), abs=TOL)
    assert out["gsc"] == pytest.approx(46.36263793900257, abs=TOL)
    assert out["gwc_log10"] == pytest.approx(math.log10(8002.806349655974 * 46.36263793900257), abs=TOL)
    assert out["power_log10"]["relu1"] == pytest.approx(math.log10(256 / 784 * 0.584), abs=TOL)


def test_residual_merge_takes_max_power_and_sums_complexity():
    graph = [
        {"name": "x", "inputs": [], "p": 1.0, "c": 0.0},
        {"name": "conv", "inputs": ["x"], "p": 0.1, "c": 100.0},
        {"name": "add", "inputs": ["conv", "x"], "p": 1.0, "c": 0.0},
        {"name": "relu", "inputs": ["add"], "p": 0.5, "c": 2.0},
    ]
    out = ref.combine(graph)
    # max(0.1, 1) = 1 then * 0.5; complexity (100 + 1) * 2.
    assert out["gcip_log10"] == pytest.approx(math.log10(0.5), abs=TOL)
    assert out["gcc_log10"] == pytest.approx(math.log10(202.0), abs=TOL)
    assert out["gsc"] == 102.0


def test_concat_of_three_branches():
    graph = [
        {"name": "x", "inputs": [], "p": 1.0, "c": 0.0},
        {"name": "a", "inputs": ["x"], "p": 2.0, "c": 3.0},
        {"name": "b", "inputs": ["x"], "p": 0.25, "c": 5.0},
        {"name": "cat", "inputs": ["a", "b", "x"], "p": 1.0, "c": 0.0},
    ]
    out = ref.combine(graph)
    assert out["gcip_log10"] == pytest.approx(math.log10(2.0), abs=TOL)
    assert out["gcc_log10"] == pytest.approx(math.log10(3 + 5 + 1), abs=TOL)


def test_zero_complexity_is_neutral():
    graph = [{"name": "fc", "inputs": [], "p": 0.5, "c": 8.0},
             {"name": "pool1x1", "inputs": ["fc"], "p": 0.25, "c": 0.0}]
    out = ref.combine(graph)
    assert out["gcc_log10"] == pytest.approx(math.log10(8.0), abs=TOL)
    assert out["gsc"] == 8.0
    assert out["gcip_log10"] == pytest.approx(math.log10(0.125), abs=TOL)


def test_thousand_layers_stay_finite():
    graph = [{"name": "l0", "inputs": [], "p": 0.01, "c": 1e3}]
    graph += [{"name": f"l{i}", "inputs": [f"l{i - 1}"], "p": 0.01, "c": 1e3} for i in range(1, 1000)]
    out = ref.combine(graph)
    # 0.01 ** 1000 and 1000 ** 1000 are far outside float64; their log10 are exact integers.
    assert out["gcip_log10"] == pytest.approx(-2000.0, rel=1e-12)
    assert out["gcc_log10"] == pytest.approx(3000.0, rel=1e-12)


def test_bad_graphs_are_rejected():
    with pytest.raises(ValueError, match="topological"):
        ref.combine([{"name": "a", "inputs": ["b"], "p": 1, "c": 0}])
    with pytest.raises(ValueError, match="duplicate"):
        ref.combine([{"name": "a", "inputs": [], "p": 1, "c": 0}] * 2)
    with pytest.raises(ValueError, match="p > 0"):
        ref.combine([{"name": "a", "inputs": [], "p": 0.0, "c": 0}])
    with pytest.raises(ValueError, match="'k'"):
        ref.conv(8, 0, 3, 1, 10, 10)
    with pytest.raises(ValueError, match="'name'"):
        ref.activation("swish")
