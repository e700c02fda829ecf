"""torchvision's detection, segmentation, video and optical-flow models (random weights):
capture and describe run, with the inputs those models take — a list of images of different
sizes (detection), 5-D clips (video), two images by keyword (flow) — and gates whose rows are
not samples (a detector's proposals and anchors) are skipped with their reason, never taken as
samples (RAFT's encoder on both images stacked image-major, 2N rows). Runs in the model-zoo
venv."""
from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
tv = pytest.importorskip("torchvision")

import pycx  # noqa: E402

pytestmark = pytest.mark.slow


def _images():
    g = torch.Generator().manual_seed(0)
    return [torch.rand(3, 96, 128, generator=g), torch.rand(3, 80, 96, generator=g)]


CASES = {
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        lambda: tv.models.detection.fasterrcnn_mobilenet_v3_large_320_fpn(
            weights=None, weights_backbone=None), _images, True),
    "ssdlite320_mobilenet_v3_large": (
        lambda: tv.models.detection.ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None),
        _images, False),
    "lraspp_mobilenet_v3_large": (
        lambda: tv.models.segmentation.lraspp_mobilenet_v3_large(weights=None, weights_backbone=None),
        lambda: torch.rand(2, 3, 64, 64), False),
    "deeplabv3_mobilenet_v3_large": (
        lambda: tv.models.segmentation.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None),
        lambda: torch.rand(2, 3, 64, 64), False),
    "r3d_18": (lambda: tv.models.video.r3d_18(weights=None), lambda: torch.rand(2, 3, 4, 32, 32), False),
    "raft_small": (lambda: tv.models.optical_flow.raft_small(weights=None),
                   lambda: {"image1": torch.rand(2, 3, 128, 128), "image2": torch.rand(2, 3, 128, 128)},
                   True),  # its feature encoder runs on both images stacked: 2N rows, image-major
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_other_torchvision_model(name):
    make, data, skips_rows = CASES[name]
    torch.manual_seed(0)
    model = make().eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cap = pycx.capture(model, [data()], progress=False)
        df = pycx.describe(model, data())
    assert len(cap) > 0 and cap.n_samples == 2
    assert (df.captured | (df.reason.str.len() > 0)).all()
    assert set(df[df.captured].layer) == set(cap.names)
    not_samples = df[df.reason.str.contains("not samples")]
    assert (len(not_samples) > 0) == skips_rows
