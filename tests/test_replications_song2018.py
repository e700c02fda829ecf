"""The quick runs of the song2018 replications: findings schema, figures written, numbers
finite and computed (not whether the paper reproduces)."""
import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from pycx import replications  # noqa: E402
from pycx.replications.findings import REPRODUCES  # noqa: E402


def check_common(findings, out, name):
    assert findings["replication"] == name and findings["quick"] is True
    assert len(findings["seeds"]) >= 2
    on_disk = json.loads((out / "findings.json").read_text())
    assert on_disk["replication"] == name and len(on_disk["claims"]) == len(findings["claims"])
    for c in findings["claims"]:
        assert set(c) >= {"claim", "expected", "measured", "reproduces"}
        assert c["reproduces"] in REPRODUCES and c["claim"] and c["measured"]
    assert {f.rsplit(".", 1)[1] for f in findings["figures"]} == {"png", "svg"}
    for f in findings["figures"]:
        assert (out / f).stat().st_size > 1000
    assert findings["wall_time_s"] > 0


@pytest.mark.slow
def test_song2018_fig2_quick(tmp_path):
    assert "song2018-fig2" in replications.available()
    f = replications.run("song2018-fig2", quick=True, out=tmp_path, seed=0, progress=False)
    check_common(f, tmp_path, "song2018-fig2")
    n_layers = len(f["settings"]["sizes"]) - 1
    for seed_row in f["per_seed"]:
        assert 1 <= seed_row["critical_layer"] <= n_layers
        assert len(seed_row["layers"]) == n_layers
        for r in seed_row["layers"]:
            assert 0.0 <= r["h_s"] <= 1.0 and 0.0 <= r["h_k"] <= 1.0
            assert 0.0 <= r["classification_error"] < 1.0
            assert 1 <= r["n_states"] <= f["settings"]["M"]
        # Resolution of a deep narrow layer cannot exceed the first layer's (fewer units,
        # a function of the layer below): a check that the states were really computed.
        assert seed_row["layers"][-1]["h_s"] <= seed_row["layers"][0]["h_s"] + 1e-9


@pytest.mark.slow
def test_song2018_fig3_quick(tmp_path):
    f = replications.run("song2018-fig3", quick=True, out=tmp_path, seed=0, progress=False)
    check_common(f, tmp_path, "song2018-fig3")
    acc = f["settings"]["classifier_test_accuracy"]
    assert 0.1 < acc <= 1.0  # above chance for 10 classes: the classifier was trained
    n_layers = len(f["settings"]["sizes"]) - 1
    for seed_row in f["per_seed"]:
        assert 1 <= seed_row["best_generation_layer"] <= n_layers
        assert len(seed_row["generation_ability"]) == n_layers
        for ga, kl, counts in zip(seed_row["generation_ability"], seed_row["kl_bits"],
                                  seed_row["generated_label_counts"]):
            assert sum(counts) == f["settings"]["gen_samples"]
            assert math.isfinite(kl) and kl >= 0
            assert ga == pytest.approx(1 / kl) if kl > 0 else math.isinf(ga)
