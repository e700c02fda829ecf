"""`pycx.describe`, layer selection by name or kind, and ops whose rows are not the batch."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("pandas")
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import pycx  # noqa: E402
from pycx.cli import main  # noqa: E402


class Zoo(nn.Module):
    """A stem ReLU module named ``relu`` (as in torchvision's ResNet), a block with its own
    ReLU, a softmax head, an LSTM and adaptive max pooling: the last three are not gates."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.ReLU())
        self.lstm = nn.LSTM(4, 3, batch_first=True)
        self.head = nn.Linear(3, 2)

    def forward(self, x):
        h = self.block(self.relu(self.conv(x)))
        h = F.adaptive_max_pool2d(h, 2).flatten(2).transpose(1, 2)   # (N, 4, 4)
        h, _ = self.lstm(h)
        return F.softmax(self.head(h[:, -1]), dim=1)


def test_describe_lists_gates_and_what_is_not_captured():
    df = pycx.describe(Zoo(), torch.randn(2, 1, 6, 6))
    got = {r.layer: r for r in df.itertuples()}
    assert got["relu"].captured and got["relu"].shape == (4, 6, 6) and got["relu"].unit_axis == 1
    assert got["relu"].units == 4 and got["relu"].bits_per_sample == 144
    assert got["relu"].patch_rows_per_sample == 36 and got["relu"].bytes_per_sample == 24
    assert got["block.1"].unit_axis_source == "traced:conv2d"
    skipped = {r.kind: r.reason for r in df.itertuples() if not r.captured}
    assert set(skipped) == {"softmax", "adaptive_max_pool", "LSTM"}
    assert "C++" in skipped["LSTM"]


def test_capture_warns_once_naming_the_kinds_it_skipped():
    with pytest.warns(UserWarning, match=r"not captured: .*adaptive_max_pool x1.*LSTM x1") as got:
        cap = pycx.capture(Zoo(), [torch.randn(2, 1, 6, 6)], progress=False)
    assert cap.names == ["relu", "block.1"]
    assert len(got) == 1 and "softmax" not in str(got[0].message)  # never a gate: describe only


def test_a_name_that_is_also_a_kind_selects_the_layer():
    model = Zoo()
    x = torch.randn(2, 1, 6, 6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pycx.capture(model, [x], layers="relu", progress=False).names == ["relu"]
        assert pycx.capture(model, [x], layers="kind:relu", progress=False).names == ["relu", "block.1"]
        assert pycx.capture(model, [x], exclude="relu", progress=False).names == ["block.1"]
        df = pycx.describe(model, x, exclude=["block.1"])
    assert not df.set_index("layer").loc["block.1", "captured"]
    with pytest.raises(ValueError, match="names no gate kind"):
        pycx.capture(model, [x], layers="kind:softmax", progress=False)


class TableMLP(nn.Module):
    """A gating MLP over a fixed table (Swin V2's position-bias MLP): its rows are table
    entries, not samples."""

    def __init__(self):
        super().__init__()
        self.table = nn.Parameter(torch.randn(7, 2))
        self.mlp = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 1))
        self.fc = nn.Linear(3, 4)

    def forward(self, x):
        bias = self.mlp(self.table).sum()
        return F.relu(self.fc(x) + bias)


def test_an_op_whose_rows_are_not_the_batch_is_skipped_not_fatal():
    model = TableMLP()
    with pytest.warns(UserWarning, match=r"'mlp.1' \(relu\) is skipped: .*7 rows where the batch has 5"):
        cap = pycx.capture(model, [torch.randn(5, 3), torch.randn(5, 3)], progress=False)
    assert cap.names == ["relu"] and cap.n_samples == 10
    df = pycx.describe(model, torch.randn(5, 3))
    row = df.set_index("layer").loc["mlp.1"]
    assert not row["captured"] and "not samples" in row["reason"]


def test_cli_describe(capsys, tmp_path):
    out = tmp_path / "layers.csv"
    assert main(["describe", "--model", "pycx.models:cifar_resnet", "--kwargs", "depth=8",
                 "--input-shape", "3,16,16", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "7 of 7 rows captured" in text and "traced:batch_norm" in text
    assert out.read_text().splitlines()[0].startswith("layer,kind,module,captured")
    assert main(["describe", "--model", "pycx.models:cifar_resnet", "--input-shape", "3,x"]) == 2


def test_pixel_covariance_that_does_not_fit_names_the_option(monkeypatch):
    from pycx.gates import recorder

    def no_memory(values, per_position, rows=None):
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 2 GiB")

    monkeypatch.setattr(recorder, "batch_moments", no_memory)
    with pytest.raises(MemoryError, match=r"layer '1'.*pixel_covariance=False.*pixel_map=False"):
        pycx.capture(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), [torch.randn(2, 1, 6, 6)],
                     pixel_covariance=True, progress=False)


def test_analyze_without_covariance_says_why_the_effective_dimension_is_nan():
    cap = pycx.capture(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), [torch.randn(8, 3)],
                       covariance=False, progress=False)
    with pytest.warns(UserWarning, match=r"effective dimension of 1 layer\(s\) \(1\) is NaN.*covariance=False"):
        rep = pycx.analyze(cap, metrics="janik", estimators="plugin", progress=False)
    assert np.isnan(rep.rows[0].get("effective_dimension", np.nan))


class PatchMLP(nn.Module):
    """MobileViT's unfold: the patches of each image become rows of the batch, (N*P, T, C),
    sample-major; an MLP runs over them."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 6)
        self.pre = None

    def forward(self, x):
        h = self.conv(x)                                                    # (N, 8, 4, 4)
        n = h.shape[0]
        p = h.reshape(n, 8, 2, 2, 2, 2).permute(0, 3, 5, 2, 4, 1).reshape(n * 4, 4, 8)
        h = self.fc(p)                                                      # (N*4, 4, 6)
        self.pre = h.detach().clone()
        return torch.relu(h)


def test_patches_as_the_batch_are_mapped_back_to_samples():
    model = PatchMLP().eval()
    cap = pycx.capture(model, [torch.randn(3, 3, 4, 4), torch.randn(2, 3, 4, 4)], progress=False)
    rec = cap["relu"]
    assert cap.n_samples == 5 and rec.shape == (6, 4, 4) and rec.unit_axis == -1
    assert rec.unit_axis_source == "traced:linear; 4 rows per sample"
    # the last batch's 2 samples: (N*P, T, C) -> (N, C, P, T)
    ref = (model.pre.reshape(2, 4, 4, 6) > 0).numpy().transpose(0, 3, 1, 2).reshape(2, -1)
    np.testing.assert_array_equal(rec.per_sample.unpack()[3:], ref)


def test_rows_gathered_from_the_batch_are_not_mapped():
    """Rows picked by an index (routed tokens) lose the batch order: skipped, not mapped."""
    class Routed(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 5)

        def forward(self, x):                                               # (N, T, 4)
            rows = x.reshape(-1, 4)[torch.tensor([0, 2, 3, 5, 6, 7])]        # routed tokens
            return torch.relu(self.fc(rows)).sum() + torch.relu(x).sum()

    with pytest.warns(UserWarning, match=r"'relu' \(relu\) is skipped"):
        cap = pycx.capture(Routed(), [torch.randn(2, 4, 4)], progress=False)
    assert cap.names == ["relu:1"]


class TinyDetector(nn.Module):
    """torchvision's detection API in miniature: a list of images of different sizes, batched
    by padding, a backbone, then a head over 7 proposals per image (rows that are not samples)."""

    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Linear(4, 5), nn.ReLU())
        self.pre = None

    def forward(self, images):
        h = max(i.shape[1] for i in images)
        w = max(i.shape[2] for i in images)
        batch = images[0].new_zeros(len(images), 3, h, w)
        for img, pad in zip(images, batch):
            pad[:, :img.shape[1], :img.shape[2]].copy_(img)
        feats = self.backbone[0](batch)
        self.pre = feats.detach().clone()
        feats = self.backbone[1](feats)
        proposals = feats.mean((2, 3)).repeat_interleave(7, dim=0)       # (N*7, 4), not a reshape
        return self.head(proposals)


def test_a_list_of_images_is_one_input():
    model = TinyDetector().eval()
    images = [torch.randn(3, 6, 5), torch.randn(3, 4, 6)]
    with pytest.warns(UserWarning, match=r"'head.1' \(relu\) is skipped: .*14 rows where the batch has 2"):
        cap = pycx.capture(model, [(images, torch.tensor([1, 0])), (images, torch.tensor([0, 1]))],
                           progress=False)
    assert cap.names == ["backbone.1"] and cap.n_samples == 4
    assert cap.labels.tolist() == [1, 0, 0, 1]
    np.testing.assert_array_equal(cap["backbone.1"].per_sample.unpack()[2:],
                                  (model.pre > 0).reshape(2, -1).numpy())
    assert pycx.gates.batches.batch_input(images) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert pycx.capture(model, [images], progress=False, max_samples=1).n_samples == 1


def test_batches_whose_dtype_or_shape_changes():
    """issue 32 item 8: a dtype change between batches is captured (the covariance rows are
    promoted); a shape change is one error naming the layer."""
    model = nn.Sequential(nn.ReLU())
    x = torch.randn(4, 3, 5)
    cap = pycx.capture(model, [x, x.double(), x.half()], pixel_covariance=True, progress=False)
    assert cap.n_samples == 12 and cap["0"].covariance.count > 0
    np.testing.assert_array_equal(cap["0"].per_sample.unpack()[:4], (x > 0).reshape(4, -1).numpy())
    with pytest.raises(ValueError, match=r"layer '0': per-sample shape changed from \(3, 5\) to \(3, 6\)"):
        pycx.capture(model, [x, torch.randn(4, 3, 6)], progress=False)
