"""The model-zoo suite: every torchvision classification model (random weights, small input)
captures, describes and analyses with the right bits on the right unit axis, and the layer
algebra traces it. Needs torchvision, so it runs in its own environment (README: "Model-zoo
suite"); skipped where torchvision is absent.

Independent check of the bits: forward pre-hooks on the activation modules read each call's
input (before an in-place op overwrites it) and the rule of docs/definitions.md §1 is applied
in numpy; the unit axis expected is read from the module that ran just before the activation
(a linear layer or layer norm: units last; a convolution or batch norm: axis 1), not from the
capture's tracing."""
from __future__ import annotations

import contextlib
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
nn = torch.nn

import pycx  # noqa: E402

pytestmark = pytest.mark.slow

MODELS = sorted(torchvision.models.list_models(module=torchvision.models))
# Models whose input size is fixed by their position embeddings / windows.
FULL_SIZE = ("vit_", "swin", "maxvit")
SIGN = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish, nn.ELU, nn.Mish)
TERNARY = {nn.Sigmoid: torch.sigmoid, nn.Hardsigmoid: nn.functional.hardsigmoid}
LAST_PRODUCERS = (nn.Linear, nn.LayerNorm)
FIRST_PRODUCERS = (nn.Conv2d, nn.BatchNorm2d, nn.GroupNorm)


def _input_size(name):
    if name.startswith(FULL_SIZE):
        return 224
    return 96 if name.startswith("inception") else 64


@contextlib.contextmanager
def _reference(model):
    """Yields {layer name: (expected gate tensor, expected unit axis or None)}, filled for the
    activation modules in call order (``path``, ``path:1``...) by the forward pass run inside:
    the capture's own pass, since another pass may take other kernels (a model under a torch
    function mode leaves some fused fast paths) and round a value near 0 the other way."""
    calls, expected, last_leaf = {}, {}, [None]
    handles = []

    def pre(module, args, path):
        inp = args[0]
        if not isinstance(inp, torch.Tensor) or inp.dim() < 2:
            return
        k = calls.get(path, 0)
        calls[path] = k + 1
        name = path if k == 0 else f"{path}:{k}"
        producer = last_leaf[0]
        axis = None
        if inp.dim() >= 3:
            axis = -1 if isinstance(producer, LAST_PRODUCERS) else (
                1 if isinstance(producer, FIRST_PRODUCERS) else None)
        # Only a copy here: an op run inside the capture's pass would be traced as a gate.
        expected[name] = (type(module), inp.detach().clone(), axis)

    def leaf(module, args, out):
        last_leaf[0] = module

    for path, module in model.named_modules():
        if isinstance(module, SIGN + tuple(TERNARY)):
            handles.append(module.register_forward_pre_hook(lambda m, a, p=path: pre(m, a, p)))
        elif not list(module.children()):
            handles.append(module.register_forward_hook(leaf))
    try:
        yield expected
    finally:
        for h in handles:
            h.remove()


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model(name):
    torch.manual_seed(0)
    kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    size = _input_size(name)
    x = torch.randn(3, 3, size, size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = pycx.describe(model, x)
        with _reference(model) as expected:
            cap = pycx.capture(model, [(x, torch.tensor([0, 1, 0]))], progress=False)
    # every row of describe is captured or says why not; nothing captured is unlisted
    assert (df.captured | (df.reason.str.len() > 0)).all()
    assert set(df[df.captured].layer) == set(cap.names)
    assert len(cap) > 0
    checked = 0
    for lname, (cls, inp, axis) in expected.items():
        if cls in TERNARY:
            out = TERNARY[cls](inp)
            gate = torch.cat([out < 0.05, out > 0.95], dim=-1 if axis == -1 else 1)
        else:
            gate = inp > 0
        if lname not in cap.layers:
            continue
        rec = cap[lname]
        if axis is not None:
            assert rec.unit_axis == axis, (lname, rec.unit_axis_source)
        if rec.unit_axis == -1 and gate.dim() >= 3:
            gate = gate.movedim(-1, 1)
        np.testing.assert_array_equal(rec.per_sample.unpack(),
                                      gate.reshape(gate.shape[0], -1).numpy().astype(np.uint8),
                                      err_msg=lname)
        checked += 1
    assert checked > 0 or not expected

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = pycx.analyze(cap, metrics=["relevance", "kde"], progress=False)
        algebra = pycx.layer_algebra(model, (1, 3, size, size))
    assert len(report.rows) == len(cap)
    assert len(algebra.nodes) > 0
