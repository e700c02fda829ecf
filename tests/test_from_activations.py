"""`pycx.from_activations` against `pycx.capture` of the same model: the pre-activations are
hooked during the capture, and the two Captures must agree bit for bit, covariance for
covariance, and in every value `pycx.analyze` computes from them."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pycx  # noqa: E402

GATES = (torch.nn.ReLU, torch.nn.Tanh, torch.nn.GELU, torch.nn.Sigmoid)
KIND = {torch.nn.ReLU: "relu", torch.nn.Tanh: "tanh", torch.nn.GELU: "gelu",
        torch.nn.Sigmoid: "sigmoid"}


def _hooked_capture(model, x, y, **kwargs):
    pre, kinds = {}, {}
    hooks = []
    for name, m in model.named_modules():
        if isinstance(m, GATES):
            kinds[name] = KIND[type(m)]
            hooks.append(m.register_forward_pre_hook(
                lambda mod, args, n=name: pre.__setitem__(n, args[0].detach().clone())))
    try:
        cap = pycx.capture(model, [(x, y)], progress=False, **kwargs)
    finally:
        for h in hooks:
            h.remove()
    return cap, pre, kinds


def _model():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Conv2d(8, 4, 3), torch.nn.Tanh(),
        torch.nn.Flatten(), torch.nn.Linear(64, 12), torch.nn.GELU(), torch.nn.Linear(12, 5),
        torch.nn.Sigmoid())


def _same_records(a, b):
    assert a.names == b.names
    for n in a.names:
        ra, rb = a[n], b[n]
        assert (ra.kind, ra.shape, ra.output_shape, ra.bits_per_unit, ra.channels_last) == \
               (rb.kind, rb.shape, rb.output_shape, rb.bits_per_unit, rb.channels_last)
        assert np.array_equal(ra.per_sample.words, rb.per_sample.words)
        assert (ra.binary is None) == (rb.binary is None)
        if ra.binary is not None:
            assert np.array_equal(ra.binary.words, rb.binary.words)
        assert (ra.covariance_rows is None) == (rb.covariance_rows is None)
        if ra.covariance_rows is not None:
            assert np.array_equal(ra.covariance_rows, rb.covariance_rows)
        else:
            da, db = ra.covariance.to_dict(), rb.covariance.to_dict()
            for k in ("count", "mean", "m2"):
                assert np.array_equal(da[k], db[k]), (n, k)


@pytest.mark.parametrize("n", [8, 64])  # 8: the covariance keeps rows; 64: moments
def test_same_capture_and_analysis_as_capture(n):
    model = _model()
    x, y = torch.randn(n, 3, 8, 8), torch.randint(0, 3, (n,))
    cap, pre, kinds = _hooked_capture(model, x, y)
    built = pycx.from_activations(pre, y, kinds=kinds)
    _same_records(cap, built)
    assert np.array_equal(cap.labels, built.labels)
    opts = dict(metrics=["janik", "relevance", "kde"], estimators="plugin", progress=False,
                kmeans=False)
    a = pycx.analyze(cap, **opts).to_pandas()
    b = pycx.analyze(built, **opts).to_pandas()
    num = [c for c in a.columns if a[c].dtype.kind in "fiub"]
    # exact: the same bits and moments go through the same estimators
    assert np.array_equal(a[num].to_numpy(float), b[num].to_numpy(float), equal_nan=True)


def test_channels_last_tokens():
    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ReLU())
    x = torch.randn(4, 7, 6)
    cap, pre, _ = _hooked_capture(model, x, None)
    assert cap["1"].channels_last
    built = pycx.from_activations({"1": pre["1"].numpy()}, channel_axis={"1": -1})
    _same_records(cap, built)


def test_arguments_are_checked():
    x = torch.randn(4, 3)
    with pytest.raises(TypeError, match="activations"):
        pycx.from_activations([x])
    with pytest.raises(ValueError, match="numbers of samples"):
        pycx.from_activations({"a": x, "b": torch.randn(5, 3)})
    with pytest.raises(ValueError, match="maxpool"):
        pycx.from_activations({"a": x}, kinds="maxpool")
    with pytest.raises(ValueError, match="names \\['c'\\]"):
        pycx.from_activations({"a": x}, kinds={"c": "relu"})
    with pytest.raises(TypeError, match="floating point"):
        pycx.from_activations({"a": torch.ones(4, 3, dtype=torch.long)})
    with pytest.raises(ValueError, match="labels"):
        pycx.from_activations({"a": x}, labels=[0, 1])
    with pytest.raises(ValueError, match="channel_axis"):
        pycx.from_activations({"a": x}, channel_axis=2)
