"""The quick run of ren2022-fig7: findings schema, figures written, numbers finite and computed
(not whether the paper reproduces)."""
import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from pycx import replications  # noqa: E402
from pycx.replications.findings import REPRODUCES  # noqa: E402


@pytest.mark.slow
def test_ren2022_fig7_quick(tmp_path):
    name = "ren2022-fig7"
    assert name in replications.available()
    f = replications.run(name, quick=True, out=tmp_path, seed=0, progress=False)
    assert f["replication"] == name and f["quick"] is True and len(f["seeds"]) >= 2
    on_disk = json.loads((tmp_path / "findings.json").read_text())
    assert on_disk["replication"] == name and len(on_disk["claims"]) == len(f["claims"])
    assert {fig.rsplit(".", 1)[1] for fig in f["figures"]} == {"png", "svg"}
    for fig in f["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    # one claim per (model, quantity)
    assert {(c["model"], c["quantity"]) for c in f["claims"]} == {
        (m, q) for m in ("resmlp", "cnn") for q in ("H_kde", "I_kde", "gap", "H_plugin", "test_loss")}
    for c in f["claims"]:
        assert c["reproduces"] in REPRODUCES and c["claim"] and c["expected"]
        assert c["measured"]["lambda"][0] == 0.0  # the baseline is in every grid
    # per model and lambda: mean and spread over the seeds of every reported quantity
    for m, per_lam in f["summary"].items():
        assert len(per_lam) >= 2
        for lam, row in per_lam.items():
            for key in ("H_kde", "I_kde", "H_plugin", "test_acc", "gap"):
                vals = row[key]["values"]
                assert len(vals) == len(f["seeds"]) and all(math.isfinite(v) for v in vals)
                assert math.isfinite(row[key]["std"])
            assert 0.0 <= row["H_kde"]["mean"] <= math.log2(f["settings"]["analysis_rows"]) + 1e-9
            assert 0.0 <= row["test_acc"]["mean"] <= 1.0
    # the penalised runs really trained with the loss: a finite penalty was recorded
    for r in f["runs"]:
        assert len(r["layers"]) == 4
        assert math.isfinite(r["final_penalty"]) == (r["lam"] > 0)
