"""FC3 and Highway (paper 000, section 7) against numpy forward passes of their definitions."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pycx  # noqa: E402
from pycx.models import FC3, Highway  # noqa: E402


def relu(z):
    return np.maximum(z, 0.0)


def lin(layer, x):
    return x @ layer.weight.detach().double().numpy().T + layer.bias.detach().double().numpy()


def test_fc3_matches_numpy_and_counts_parameters():
    torch.manual_seed(0)
    net = FC3(l1=14, l2=32).double()
    x = torch.rand(7, 1, 28, 28, dtype=torch.float64)
    a = x.reshape(7, -1).numpy()
    ref = lin(net.out, relu(lin(net.l2, relu(lin(net.l1, a)))))
    # float64 matmuls in a different summation order: agreement to ~1e-12.
    np.testing.assert_allclose(net(x).detach().numpy(), ref, rtol=1e-10, atol=1e-12)
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == (784 * 14 + 14) + (14 * 32 + 32) + (32 * 10 + 10)


def highway_numpy(net, x):
    h = relu(lin(net.input, x.reshape(len(x), -1)))
    for layer in net.layers:
        t = 1.0 / (1.0 + np.exp(-lin(layer.gate_linear, h)))
        h = relu(lin(layer.transform, h)) * t + h * (1.0 - t)
    return lin(net.out, h)


def test_highway_matches_numpy_definition():
    torch.manual_seed(1)
    net = Highway(width=28, depth=11).double()
    with torch.no_grad():  # gates away from their initial -2 so both paths matter
        for layer in net.layers:
            layer.gate_linear.bias.normal_()
    x = torch.rand(9, 784, dtype=torch.float64)
    # float64 throughout; the 11 layers add rounding of order 1e-15 each.
    np.testing.assert_allclose(net(x).detach().numpy(), highway_numpy(net, x.numpy()),
                               rtol=1e-9, atol=1e-12)


def test_highway_gate_bias_limits():
    torch.manual_seed(2)
    x = torch.rand(4, 784, dtype=torch.float64)
    # Gate bias -inf in effect (sigmoid(-200) = 0 in float64): every layer is the identity.
    closed = Highway(width=16, depth=5, gate_bias=-200.0).double()
    h = relu(lin(closed.input, x.numpy()))
    np.testing.assert_allclose(closed(x).detach().numpy(), lin(closed.out, h), rtol=1e-12)
    assert all(float(layer.gate_linear.bias.detach()[0]) == -2.0 for layer in Highway(8, 2).layers)


def test_capture_sees_the_named_gates():
    net = Highway(width=28, depth=3)
    cap = pycx.capture(net, [torch.rand(50, 784)], progress=False)
    assert cap.names == ["input_relu", "layers.0.relu", "layers.0.gate", "layers.1.relu",
                         "layers.1.gate", "layers.2.relu", "layers.2.gate"]
    fc = pycx.capture(FC3(l1=14, l2=8), [torch.rand(20, 1, 28, 28)], progress=False)
    assert fc.names == ["l1_relu", "l2_relu"]
    assert fc.layers["l2_relu"].shape[0] == 8


@pytest.mark.parametrize("kwargs, name", [({"l1": 0}, "l1"), ({"l2": 2.5}, "l2"),
                                          ({"n_classes": True}, "n_classes")])
def test_fc3_bad_widths(kwargs, name):
    with pytest.raises(ValueError, match=f"argument '{name}' must be a positive int"):
        FC3(**kwargs)


def test_highway_bad_sizes():
    with pytest.raises(ValueError, match="argument 'depth' must be a positive int"):
        Highway(width=4, depth=0)
    with pytest.raises(ValueError, match="argument 'width' must be a positive int"):
        Highway(width=-1, depth=2)
