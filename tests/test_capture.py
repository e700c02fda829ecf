"""pycx.capture: gates of every gating op, checked against hand-written forward passes."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import pycx  # noqa: E402
from pycx.gates.ops import pack_rows_torch  # noqa: E402
from pycx.gates.store import covariance_rows, patch_keys  # noqa: E402
from pycx.reference.covariance import covariance as ref_covariance  # noqa: E402


def bits_of(pre):
    """Per-sample 0/1 rows of a float tensor: pre > 0 in C order."""
    return (pre.detach().reshape(pre.shape[0], -1) > 0).numpy().astype(np.uint8)


def patches_of(t):
    """Per-patch rows (n*H*W + h*W + w) of a (N, C, H, W) 0/1 array."""
    t = np.asarray(t)
    return t.transpose(0, 2, 3, 1).reshape(-1, t.shape[1]) if t.ndim == 4 else t


def batches(x, size, y=None):
    return [x[i:i + size] if y is None else (x[i:i + size], y[i:i + size])
            for i in range(0, len(x), size)]


def no_hooks_left(model):
    from torch.nn.modules import module as torch_module

    mode_stack = torch._C._len_torch_function_stack()
    # The tracer follows plain modules with one process-wide pre/post hook pair: gone too.
    global_hooks = len(torch_module._global_forward_hooks) + len(torch_module._global_forward_pre_hooks)
    return mode_stack == 0 and global_hooks == 0 and all(
        not m._forward_hooks and not m._forward_pre_hooks for m in model.modules())


# --- the torch-side packer ------------------------------------------------------------------

@given(rows=st.integers(1, 9), n_bits=st.integers(1, 200), seed=st.integers(0, 2 ** 16))
def test_torch_packer_matches_pack_bits(rows, n_bits, seed):
    bits = np.random.default_rng(seed).random((rows, n_bits)) < 0.5
    words = pack_rows_torch(torch.from_numpy(bits))
    assert words.dtype == np.uint64 and words.flags.c_contiguous
    np.testing.assert_array_equal(words, pycx.pack_bits(bits).words)


# --- models with hand-written forwards ------------------------------------------------------

class MLP(nn.Module):
    """Every spelling of a ReLU: module (in place), F.relu, torch.relu, x.relu(), x.relu_()."""

    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(6, 9), nn.Linear(9, 7), nn.Linear(7, 5)
        self.fc4, self.fc5 = nn.Linear(5, 5), nn.Linear(5, 3)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x):
        x = self.act(self.fc1(x))
        x = F.relu(self.fc2(x))
        x = torch.relu(self.fc3(x))
        x = self.fc4(x).relu()
        return self.fc5(x).relu_()

    def hand(self, x):
        pres = {}
        for name in ("fc1", "fc2", "fc3", "fc4", "fc5"):
            x = getattr(self, name)(x)
            pres[name] = x.clone()
            x = x.clamp_min(0)
        return x, pres


def test_mlp_every_relu_spelling():
    torch.manual_seed(0)
    model = MLP()
    x = torch.randn(23, 6)
    with torch.no_grad():
        expected_out, pres = model.hand(x)
    cap = pycx.capture(model, batches(x, 5), progress=False, covariance=False)
    assert cap.names == ["act", "relu", "relu:1", "relu:2", "relu:3"]
    for name, fc in zip(cap.names, ("fc1", "fc2", "fc3", "fc4", "fc5")):
        rec = cap[name]
        assert rec.kind == "relu" and rec.shape == (pres[fc].shape[1],)
        np.testing.assert_array_equal(rec.per_sample.unpack(), bits_of(pres[fc]))
        assert rec.per_patch == rec.per_sample  # a linear layer: the two layouts coincide
        np.testing.assert_array_equal(rec.counts_per_sample, bits_of(pres[fc]).sum(0))
    with torch.no_grad():
        np.testing.assert_array_equal(model(x), expected_out)


class LeNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3)
        self.pool1 = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(4, 6, 3)
        self.fc = nn.Linear(6 * 2 * 2, 10)

    def forward(self, x):
        x = F.relu(self.pool1(self.conv1(x)))
        # Overlapping windows with padding: an input may be the argmax of several windows.
        x = F.max_pool2d(self.conv2(x), 3, stride=2, padding=1)
        return self.fc(F.relu(x).flatten(1))


def hand_maxpool_mask(x, k, stride, pad):
    """1 where an input element is the argmax of at least one window (loops over windows)."""
    x = x.detach().numpy()
    n, c, h, w = x.shape
    mask = np.zeros(x.shape, np.uint8)
    out_h = (h + 2 * pad - k) // stride + 1
    out_w = (w + 2 * pad - k) // stride + 1
    for i in range(out_h):
        for j in range(out_w):
            r0, c0 = i * stride - pad, j * stride - pad
            rows = range(max(r0, 0), min(r0 + k, h))
            cols = range(max(c0, 0), min(c0 + k, w))
            for a in range(n):
                for b in range(c):
                    window = [(r, q) for r in rows for q in cols]
                    best = max(window, key=lambda rq: x[a, b, rq[0], rq[1]])
                    mask[a, b, best[0], best[1]] = 1
    return mask


def test_lenet_maxpool_and_relu_gates():
    torch.manual_seed(1)
    model = LeNet()
    x = torch.randn(10, 1, 12, 12)
    with torch.no_grad():
        c1 = model.conv1(x)
        p1 = F.max_pool2d(c1, 2)
        c2 = model.conv2(p1.clamp_min(0))
        p2 = F.max_pool2d(c2, 3, stride=2, padding=1)
    cap = pycx.capture(model, batches(x, 4), progress=False, covariance=False)
    assert cap.names == ["pool1", "relu", "maxpool", "relu:1"]
    expect = {"pool1": hand_maxpool_mask(c1, 2, 2, 0), "relu": (p1 > 0).numpy(),
              "maxpool": hand_maxpool_mask(c2, 3, 2, 1), "relu:1": (p2 > 0).numpy()}
    for name, gates in expect.items():
        rec = cap[name]
        assert rec.shape == gates.shape[1:]
        np.testing.assert_array_equal(rec.per_sample.unpack(), gates.reshape(len(x), -1))
        np.testing.assert_array_equal(rec.per_patch.unpack(), patches_of(gates))
        np.testing.assert_array_equal(rec.counts_per_patch, patches_of(gates).sum(0))
    assert cap["pool1"].kind == "maxpool" and cap["pool1"].output_shape == (4, 5, 5)
    only_pools = pycx.capture(model, batches(x, 4), layers="maxpool", progress=False, covariance=False)
    assert only_pools.names == ["pool1", "maxpool"]


class TinyBlock(nn.Module):
    """torchvision style: one in-place ReLU module used at two call sites."""

    def __init__(self, c):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.conv2, self.bn2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + x)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)
        self.layer1 = nn.Sequential(TinyBlock(4), TinyBlock(4))
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = F.relu(self.bn(self.conv(x)))
        x = self.layer1(x)
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


def randomise_bn(model):
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.2)
            m.running_var.uniform_(0.5, 2)
            m.weight.data.normal_(1, 0.3)


def test_resnet_shared_inplace_relu_call_sites():
    torch.manual_seed(2)
    model = TinyResNet().eval()
    randomise_bn(model)
    x = torch.randn(9, 3, 6, 6)
    pres = {}
    with torch.no_grad():
        h = model.bn(model.conv(x))
        pres["relu"] = h.clone()
        h = h.clamp_min(0)
        for i, block in enumerate(model.layer1):
            a = block.bn1(block.conv1(h))
            pres[f"layer1.{i}.relu"] = a.clone()
            b = block.bn2(block.conv2(a.clamp_min(0))) + h
            pres[f"layer1.{i}.relu:1"] = b.clone()
            h = b.clamp_min(0)
        expected_out = model(x)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cap = pycx.capture(model, batches(x, 4), progress=False, covariance=False)
    assert cap.names == list(pres)
    for name, pre in pres.items():
        np.testing.assert_array_equal(cap[name].per_sample.unpack(), bits_of(pre))
        np.testing.assert_array_equal(cap[name].per_patch.unpack(), patches_of(bits_of(pre).reshape(pre.shape)))
    assert cap["layer1.1.relu:1"].module == "layer1.1.relu"
    # Capturing changes nothing: parameters, buffers, mode, outputs.
    assert not model.training
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), k
    with torch.no_grad():
        assert torch.equal(model(x), expected_out)
    assert no_hooks_left(model)


class SigmoidTanhMLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(4, 12), nn.Linear(12, 8), nn.Linear(8, 2)
        self.sig = nn.Sigmoid()

    def forward(self, x):
        return self.fc3(torch.tanh(self.fc2(self.sig(self.fc1(x)))))


def test_sigmoid_tanh_ternary_layout_and_binary():
    torch.manual_seed(3)
    model = SigmoidTanhMLP()
    with torch.no_grad():
        model.fc1.weight.mul_(4)  # spread the outputs over all three regimes
        model.fc2.weight.mul_(4)
    x = torch.randn(50, 4)
    with torch.no_grad():
        s = torch.sigmoid(model.fc1(x)).numpy()
        t = np.tanh(model.fc2(torch.from_numpy(s)).numpy())
    cap = pycx.capture(model, batches(x, 16), progress=False, covariance=False)
    assert cap.names == ["sig", "tanh"]
    for name, kind, out, lo, hi, mid in (("sig", "sigmoid", s, 0.05, 0.95, 0.5),
                                         ("tanh", "tanh", t, -0.9, 0.9, 0.0)):
        rec = cap[name]
        assert rec.kind == kind and rec.bits_per_unit == 2 and rec.per_sample.n_bits == 2 * out.shape[1]
        expected = np.concatenate([out < lo, out > hi], axis=1).astype(np.uint8)  # all lo, then all hi
        np.testing.assert_array_equal(rec.per_sample.unpack(), expected)
        np.testing.assert_array_equal(rec.binary.unpack(), (out > mid).astype(np.uint8))
        assert expected[:, :out.shape[1]].any() and expected[:, out.shape[1]:].any()
        assert (expected.reshape(len(x), 2, -1).sum(1) <= 1).all()


class DropoutNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(5, 40), nn.Linear(40, 3)
        self.drop = nn.Dropout(0.3)

    def forward(self, x):
        return self.fc2(F.dropout(self.drop(self.fc1(x)), 0.5, self.training, inplace=True))


def test_dropout_keep_mask_in_train_mode():
    torch.manual_seed(4)
    model = DropoutNet()
    x = torch.randn(12, 5)
    torch.manual_seed(123)
    with torch.no_grad():
        h = model.fc1(x)
        d1 = F.dropout(h, 0.3, True)
        # The keep-mask of the second dropout is hidden where d1 is already 0: draw it on ones
        # (same number of random draws), then apply it by hand.
        keep2 = F.dropout(torch.ones_like(d1), 0.5, True) != 0
        d2 = d1 * keep2 * 2
        expected_out = model.fc2(d2)
    torch.manual_seed(123)
    with torch.no_grad(), pycx.Recorder(model) as rec:
        model.train()
        out = model(x)
    assert torch.equal(out, expected_out)  # the same random numbers as without capture
    cap = rec.capture
    assert cap.names == ["drop", "dropout"]
    np.testing.assert_array_equal(cap["drop"].per_sample.unpack(), (d1 != 0).numpy())
    np.testing.assert_array_equal(cap["dropout"].per_sample.unpack(), keep2.numpy())
    assert not np.array_equal(keep2.numpy(), (d2 != 0).numpy())  # the mask is not out != 0
    # In eval mode dropout is not a gate: the model has none left.
    model.eval()
    with pytest.raises(ValueError, match="no gating layers"):
        pycx.capture(model, [x], progress=False)
    assert model.training is False


# --- the Recorder, labels, subsampling, covariance --------------------------------------------

def test_recorder_in_user_loop_with_labels():
    torch.manual_seed(5)
    model = TinyResNet().eval()
    x, y = torch.randn(10, 3, 6, 6), torch.arange(10) % 3
    with torch.no_grad(), pycx.Recorder(model, layers=["relu", "layer1.1.relu:1"],
                                        covariance=False) as rec:
        for xb, yb in batches(x, 3, y):
            model(xb)
            rec.add_labels(yb)
    assert no_hooks_left(model)
    cap = rec.result()
    assert cap.names == ["relu", "layer1.0.relu", "layer1.0.relu:1", "layer1.1.relu",
                         "layer1.1.relu:1"]  # "relu" is a kind: every ReLU
    np.testing.assert_array_equal(cap.labels, y.numpy())
    full = pycx.capture(model, batches(x, 5, y), progress=False, covariance=False,
                        layers=lambda name, kind: name.endswith(":1"))
    assert full.names == ["layer1.0.relu:1", "layer1.1.relu:1"]
    assert full["layer1.1.relu:1"].per_sample == cap["layer1.1.relu:1"].per_sample
    np.testing.assert_array_equal(full.labels, y.numpy())


def test_patch_subsample_does_not_depend_on_batch_size():
    torch.manual_seed(6)
    model = TinyResNet().eval()
    x = torch.randn(13, 3, 6, 6)
    caps = [pycx.capture(model, batches(x, b), patch_rows=100, seed=7, progress=False,
                         covariance=False) for b in (2, 5, 13)]
    full = pycx.capture(model, [x], progress=False, covariance=False)
    for name in full.names:
        index = caps[0][name].patch_index
        assert len(index) == 100 and (np.diff(index) > 0).all()
        for cap in caps[1:]:
            assert cap[name].per_patch == caps[0][name].per_patch
        assert caps[0][name].per_patch == full[name].per_patch[index]
        # the kept rows are the 100 smallest keys of (seed, global row index)
        keys = patch_keys(7, np.arange(13 * 36))
        np.testing.assert_array_equal(index, np.sort(np.argsort(keys)[:100]))
    other_seed = pycx.capture(model, [x], patch_rows=100, seed=8, progress=False, covariance=False)
    assert not np.array_equal(other_seed["relu"].patch_index, caps[0]["relu"].patch_index)


def test_moments_match_reference_covariance():
    from pycx.gates.store import Moments, batch_moments
    rng = np.random.default_rng(0)
    parts = [torch.from_numpy(rng.standard_normal((n, 5, 3, 4)).astype(np.float32) + 3) for n in (4, 1, 7)]
    acc, pixel = Moments(), Moments()
    for p in parts:
        acc.merge(batch_moments(p, per_position=False))
        pixel.merge(batch_moments(p, per_position=True))
    allx = torch.cat(parts).numpy()
    count, mean, m2 = acc.host()
    ref_mean, ref_cov = ref_covariance(allx.transpose(0, 2, 3, 1).reshape(-1, 5))
    # float32 activations, each batch centred before its float32 GEMM: ~1e-6 relative
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-5)
    np.testing.assert_allclose(m2 / count, ref_cov, rtol=1e-4, atol=1e-5)
    count, mean, m2 = pixel.host()
    ref_mean, ref_cov = ref_covariance(allx.reshape(12, 5, 12).transpose(2, 0, 1))
    assert count == 12 and m2.shape == (12, 5, 5)
    np.testing.assert_allclose(m2 / count, ref_cov, rtol=1e-4, atol=1e-5)


def test_capture_covariance_and_save_load(tmp_path):
    torch.manual_seed(7)
    model = TinyResNet().eval()
    randomise_bn(model)
    x, y = torch.randn(11, 3, 6, 6), torch.arange(11) % 4
    cap = pycx.capture(model, batches(x, 4), labels=y.numpy(), pixel_covariance=True,
                       covariance_positions=None, progress=False)
    with torch.no_grad():
        h = F.relu(model.bn(model.conv(x))).numpy()
    rows = h.transpose(0, 2, 3, 1).reshape(-1, 4)
    _, ref_cov = ref_covariance(rows)
    # float32 outputs, float32 GEMM per batch, merged in float64
    np.testing.assert_allclose(cap["relu"].covariance.covariance(), ref_cov, rtol=1e-4, atol=1e-6)
    _, ref_pixel = ref_covariance(h.reshape(11, 4, 36).transpose(2, 0, 1))
    np.testing.assert_allclose(cap["relu"].pixel_covariance.covariance(), ref_pixel, rtol=1e-4, atol=1e-6)
    # The default covariance uses a seeded subsample of rows, the same for any batching.
    sub = pycx.capture(model, batches(x, 3), covariance_positions=5, progress=False)
    picked = covariance_rows(0, 0, 11, 36, 5 / 36)
    _, ref_sub = ref_covariance(rows[picked])
    np.testing.assert_allclose(sub["relu"].covariance.covariance(), ref_sub, rtol=1e-4, atol=1e-6)
    assert sub["relu"].covariance.count == len(picked)

    path = tmp_path / "cap.npz"
    cap.save(path)
    back = pycx.Capture.load(path)
    assert back.names == cap.names and back.n_samples == 11
    np.testing.assert_array_equal(back.labels, y.numpy())
    for a, b in zip(cap, back):
        assert (a.kind, a.shape, a.output_shape, a.module) == (b.kind, b.shape, b.output_shape, b.module)
        assert a.per_sample == b.per_sample and a.per_patch == b.per_patch
        np.testing.assert_array_equal(a.covariance.covariance(), b.covariance.covariance())
        np.testing.assert_array_equal(a.pixel_covariance.covariance(), b.pixel_covariance.covariance())
    sig = pycx.capture(SigmoidTanhMLP(), [torch.randn(6, 4)], progress=False)
    sig.save(path)
    assert pycx.Capture.load(path)["sig"].binary == sig["sig"].binary


def test_cifar_resnet20_end_to_end():
    from pycx.models import cifar_resnet
    torch.manual_seed(8)
    model = cifar_resnet(20).eval()
    x = torch.randn(6, 3, 32, 32)
    with torch.no_grad():
        expected = model(x)
    cap = pycx.capture(model, batches(x, 4), progress=False)
    assert len(cap) == 19 and all(r.kind == "relu" for r in cap)
    shapes = [r.shape for r in cap]
    assert shapes[0] == (16, 32, 32) and shapes[-1] == (64, 8, 8)
    assert cap.names == [r.name for r in cap] and len(set(cap.names)) == 19
    assert cap[cap.names[-1]].per_patch.shape == (6 * 64, 64)
    assert cap.concat().n_bits == sum(r.per_sample.n_bits for r in cap)
    with torch.no_grad():
        assert torch.equal(model(x), expected)
    assert no_hooks_left(model)


# --- errors and clean-up ------------------------------------------------------------------

class Exploding(nn.Module):
    def __init__(self, at):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.at, self.calls = at, 0

    def forward(self, x):
        x = F.relu(self.fc(x))
        self.calls += 1
        if self.calls == self.at:
            raise RuntimeError("boom")
        return x.sigmoid()


def test_hooks_removed_and_mode_restored_on_exception():
    model = Exploding(at=2)
    model.train()
    with pytest.raises(RuntimeError, match="boom"):
        pycx.capture(model, [torch.randn(2, 3)] * 3, progress=False)
    assert no_hooks_left(model) and model.training
    # A forward that raises inside a Recorder records nothing; the next one is batch 0.
    model.calls = 0
    model.at = 1
    with pycx.Recorder(model) as rec:
        with pytest.raises(RuntimeError):
            model(torch.randn(2, 3))
        model(torch.randn(5, 3))
    assert rec.capture.n_samples == 5 and no_hooks_left(model)


def test_clear_errors():
    lin = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 2))
    with pytest.raises(ValueError, match="no gating layers"):
        pycx.capture(lin, [torch.randn(2, 3)], progress=False)
    model = MLP()
    with pytest.raises(ValueError, match="'nope'.*neither"):
        pycx.capture(model, [torch.randn(2, 6)], layers=["act", "nope"], progress=False)
    with pytest.raises(ValueError, match="no batches"):
        pycx.capture(model, [], progress=False)
    with pytest.raises(ValueError, match="3 labels but 'data' gave 4 samples"):
        pycx.capture(model, [torch.randn(4, 6)], labels=np.arange(3), progress=False)
    with pytest.raises(ValueError, match="labels were given twice"):
        pycx.capture(model, [(torch.randn(4, 6), torch.arange(4))], labels=np.arange(4), progress=False)
    with pytest.raises(TypeError, match="integer class labels"):
        pycx.capture(model, [(torch.randn(4, 6), torch.randn(4))], progress=False)
    conv = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    with pytest.raises(ValueError, match=r"layer '1'.*\(2, 4, 4\) to \(2, 6, 6\)"):
        pycx.capture(conv, [torch.randn(2, 1, 6, 6), torch.randn(2, 1, 8, 8)], progress=False)
    assert no_hooks_left(conv)
    with pytest.raises(ValueError, match="got 1 labels for 2 samples"):
        with pycx.Recorder(conv) as rec:
            conv(torch.randn(2, 1, 6, 6))
            rec.add_labels([1])
        rec.result()
    with pytest.raises(ValueError, match="nothing was recorded"):
        pycx.Recorder(conv).result()


def test_max_samples_cuts_the_last_batch():
    model = MLP()
    x, y = torch.randn(20, 6), torch.arange(20)
    cap = pycx.capture(model, batches(x, 8, y), max_samples=11, progress=False, covariance=False)
    assert cap.n_samples == 11
    np.testing.assert_array_equal(cap.labels, np.arange(11))
    cap = pycx.capture(model, batches(x, 8), labels=y.numpy(), max_samples=11, progress=False)
    np.testing.assert_array_equal(cap.labels, np.arange(11))


def test_half_precision_goes_through_the_torch_packer():
    # bfloat16 activations are packed by the torch-side packer (the path GPU tensors take).
    torch.manual_seed(9)
    model = TinyResNet().eval().to(torch.bfloat16)
    x = torch.randn(5, 3, 6, 6, dtype=torch.bfloat16)
    with torch.no_grad():
        pre = model.bn(model.conv(x))
    cap = pycx.capture(model, batches(x, 2), progress=False)
    np.testing.assert_array_equal(cap["relu"].per_sample.unpack(), bits_of(pre))
    assert cap["relu"].covariance.count > 0


def test_capture_stays_callable_after_importing_the_module():
    import importlib
    importlib.import_module("pycx.gates.capture")  # binding submodules must not shadow pycx.capture
    importlib.import_module("pycx.gates.recorder")
    cap = pycx.capture(MLP(), [torch.randn(3, 6)], progress=False, covariance=False)
    assert len(cap) == 5


def test_compiled_model_is_refused_clearly():
    # torch.compile's graph runs the ops where the capture's function mode cannot see them
    # (torch raised an internal AssertionError): refused up front, naming the eager module.
    eager = nn.Sequential(nn.Linear(4, 3), nn.ReLU())
    compiled = torch.compile(eager)
    with pytest.raises(TypeError, match=r"argument 'model' was made by torch.compile.*_orig_mod"):
        pycx.capture(compiled, [torch.randn(5, 4)], progress=False)
    wrapper = nn.Sequential(torch.compile(nn.Linear(4, 4)), nn.ReLU())
    with pytest.raises(TypeError, match=r"submodule '0' of 'model' was made by torch.compile"):
        pycx.Recorder(wrapper)
    # The eager module it wraps is captured as usual.
    assert pycx.capture(compiled._orig_mod, [torch.randn(5, 4)], progress=False).names == ["1"]


# --- padded (token) rows ----------------------------------------------------------------------

@given(n=st.integers(1, 12), channels=st.integers(1, 70), positions=st.integers(1, 9),
       keep=st.integers(1, 40), seed=st.integers(0, 2 ** 16), chunk=st.sampled_from([1, 64, 1 << 24]))
def test_per_patch_rows_of_padded_rows_skip_padding(n, channels, positions, keep, seed, chunk):
    """Against numpy: rows n*P + p of the real positions only, numbered in order, also when
    the transpose runs in chunks of a few samples and with a subsample of those rows."""
    from pycx.gates import store
    rng = np.random.default_rng(seed)
    valid = rng.random((n, positions)) < 0.6
    valid[np.arange(n), rng.integers(0, positions, n)] = True      # every sample has a token
    bits = (rng.random((n, channels, positions)) < 0.5) & valid[:, None, :]
    sample = store.PaddedRows(pycx.pack_bits(bits.reshape(n, -1)).words, channels * positions, valid)
    ref = bits.transpose(0, 2, 1).reshape(-1, channels)[valid.reshape(-1)]
    index = np.sort(rng.choice(len(ref), size=min(keep, len(ref)), replace=False))
    old = store.CHUNK_BYTES
    store.CHUNK_BYTES = chunk  # chunks of 1 sample and more: the row offsets across chunks
    try:
        np.testing.assert_array_equal(store.per_patch_rows(sample, channels, positions).unpack(), ref)
        np.testing.assert_array_equal(
            store.per_patch_rows(sample, channels, positions, index).unpack(), ref[index])
    finally:
        store.CHUNK_BYTES = old
    picked = sample[index % n]
    np.testing.assert_array_equal(picked.valid, valid[index % n])
    np.testing.assert_array_equal(picked.unpack(), bits.reshape(n, -1)[index % n])
