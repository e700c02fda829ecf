"""Quick runs of the badias2021 replications that build torchvision architectures (fig. 10,
fig. 11): findings schema, both grouped-convolution readings measured, numbers finite. Runs in
the model-zoo venv (`pytest tests/zoo -m slow`); skipped where torchvision is absent."""
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("torchvision")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from pycx import replications  # noqa: E402
from pycx.replications.findings import REPRODUCES  # noqa: E402

pytestmark = pytest.mark.slow


def _check(f, keys):
    assert [c["key"] for c in f["claims"]] == keys
    for c in f["claims"]:
        assert c["reproduces"] in REPRODUCES and c["quick"] is True and c["expected"]
        assert c["measured"]["other_reading"]["reading"] == "all_inputs"
        assert c["measured"]["other_reading"]["reproduces"] in REPRODUCES


def test_fig10_quick(tmp_path):
    f = replications.run("badias2021-fig10", quick=True, out=tmp_path, progress=False)
    _check(f, ["gcip_falls_with_depth", "gcc_rises_with_depth", "every_model_compresses"])
    mv2 = f["per_model"]["mobilenet_v2"]
    # Depthwise convolutions: GCIP > 1 when K counts the inputs of one group, < 1 otherwise.
    assert mv2["per_group"]["gcip_log10"] > 0 > mv2["all_inputs"]["gcip_log10"]
    assert f["per_model"]["resnet18"]["per_group"] == f["per_model"]["resnet18"]["all_inputs"]


def test_fig11_quick(tmp_path):
    f = replications.run("badias2021-fig11", quick=True, out=tmp_path, progress=False)
    _check(f, ["gwc_power_fit_top1", "gwc_power_fit_top5", "gcc_gsc_correlate",
               "gwc_ranks_best"])
    r2 = f["r2_table"]["per_group"]["table1"]["top1"]["gwc"]
    assert math.isfinite(r2) and r2 <= 1
    assert f["settings"]["n"]["table1"] >= 5


def test_dpn_style_global_pooling_in_a_zoo_model():
    # The DPN crash (kernel_size=(x.size(2), x.size(3))) on a torchvision trunk.
    import torch.nn.functional as F
    import torchvision
    from torch import nn

    import pycx

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = torchvision.models.resnet18().layer1

        def forward(self, x):
            x = self.features(x)
            return F.avg_pool2d(x, kernel_size=(x.size(2), x.size(3))).flatten(1)

    res = pycx.layer_algebra(Net(), (1, 64, 8, 8))
    pool = [r for r in res.layers if r["op"].endswith("avg_pool2d")]
    assert len(pool) == 1 and pool[0]["p"] == pytest.approx(1 / 64 ** 2)
