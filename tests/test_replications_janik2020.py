"""The quick runs of the janik2020 replications: findings schema, figures written, numbers
finite and computed (not whether the paper reproduces)."""
import json
import math

import pytest

pytest.importorskip("torch")
pytest.importorskip("xgboost")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from pycx import replications  # noqa: E402
from pycx.replications.findings import REPRODUCES  # noqa: E402


def numbers(value):
    """Every number inside a nested measured dict."""
    if isinstance(value, dict):
        for v in value.values():
            yield from numbers(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from numbers(v)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        yield float(value)


def check_common(findings, out, name, n_claims):
    assert findings["replication"] == name and findings["quick"] is True
    on_disk = json.loads((out / "findings.json").read_text())
    assert on_disk["replication"] == name and len(on_disk["claims"]) == n_claims
    assert len(findings["claims"]) == n_claims
    for c in findings["claims"]:
        assert set(c) >= {"claim", "expected", "measured", "reproduces"}
        assert c["reproduces"] in REPRODUCES and c["claim"] and c["expected"]
        vals = list(numbers(c["measured"]))
        assert vals and any(math.isfinite(v) for v in vals)
    assert {f.rsplit(".", 1)[1] for f in findings["figures"]} == {"png", "svg"}
    for f in findings["figures"]:
        assert (out / f).stat().st_size > 1000
    assert findings["wall_time_s"] > 0


@pytest.mark.slow
def test_janik2020_fc3_quick(tmp_path):
    assert "janik2020-fc3" in replications.available()
    f = replications.run("janik2020-fc3", quick=True, out=tmp_path, seed=0, progress=False)
    check_common(f, tmp_path, "janik2020-fc3", 3)
    assert len(f["seeds"]) == 2
    power = f["claims"][0]["measured"]
    widths = power["widths"]
    for row in power["l2_complexity_per_neuron_per_seed"]:
        assert len(row) == len(widths)
        # Complexity per neuron of a binary unit lies in [0, 1] bit (0.02 bit of slack for
        # the chain-rule bound's classifier error on a few hundred rows).
        assert all(0.0 <= v <= 1.02 for v in row)
    assert math.isfinite(power["b"]) and math.isfinite(power["b_stderr"])
    lin = f["claims"][2]["measured"]
    for row in lin["l1_linearity_per_seed"] + lin["l2_linearity_per_seed"]:
        assert all(0.0 <= v <= 1.0 for v in row)
    acc = f["settings"]["test_accuracy"]["per_seed"]
    # Trained: above the 10% of chance for most nets (a 4-wide L2 may still lag after 3 epochs).
    assert sum(a > 0.2 for row in acc for a in row) >= len(widths)


@pytest.mark.slow
def test_janik2020_difficulty_quick(tmp_path):
    f = replications.run("janik2020-difficulty", quick=True, out=tmp_path, seed=0,
                         progress=False)
    check_common(f, tmp_path, "janik2020-difficulty", 8)
    assert set(f["table"]) == {"C-MNIST", "C-MNIST_T8", "random labels"}
    for task, per_seed in f["table"].items():
        rows = per_seed["0"]
        # ResNet-20 quick: the stem ReLU and the 9 topmost ReLUs of its residual cells.
        assert len(rows) == 10
        for r in rows:
            assert 1.0 <= r["effective_dimension"] <= r["units"] + 1e-6
            assert 0.0 <= r["linearity"] <= 1.0
            assert math.isfinite(r["complexity_per_neuron"]) and r["complexity"] >= 0.0
            assert r["ntc"] <= 1.0


@pytest.mark.slow
def test_janik2020_dynamics_quick(tmp_path):
    f = replications.run("janik2020-dynamics", quick=True, out=tmp_path, seed=0,
                         progress=False)
    check_common(f, tmp_path, "janik2020-dynamics", 4)
    traj = f["claims"][0]["measured"]["trajectories"]["0"]
    assert [p["epoch"] for p in traj] == f["settings"]["resnet"]["analyse_at_epochs"]
    for p in traj:
        assert 1.0 <= p["ed"] <= 64.0 and math.isfinite(p["cpn"])
    hw = f["highway"]["0"]
    cfg = f["settings"]["highway"]
    assert [p["step"] for p in hw] == list(range(0, cfg["steps"] + 1, cfg["eval_every"]))
    for p in hw:
        assert len(p["ed"]) == len(p["cpn"]) == cfg["depth"]
        assert all(0.0 <= e <= cfg["width"] + 1e-6 for e in p["ed"])
        assert 0.0 <= p["accuracy"] <= 1.0
