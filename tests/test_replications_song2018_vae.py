"""song2018-figs6 (the variational autoencoder of fig. S6): each verdict rule on a synthetic
case that must hold and one that must fail (RULE_CASES, run by
tests/test_replication_rules.py), the edges of the rules, the model and the distance, and the
quick run (findings schema, figures written, numbers finite and computed; not whether the paper
reproduces)."""
import json
import math

import numpy as np
import pytest

from pycx.replications.findings import REPRODUCES

_GRID = [1, 2, 5, 10, 20, 50, 500]
_REAL = {"generation_ability": 40.0}


def _inside(kl_rows):
    return {"n_z_grid": _GRID, "kl_bits_per_seed": kl_rows, "margin": 1.2,
            "real_image_reference": _REAL}


def _near(best):
    return {"best_n_z_per_seed": best, "window": [2, 10], "paper_panel_n_z": 5}


def _tv(tv1, real_tv=0.03):
    return {"tv_n_z_1_per_seed": tv1, "threshold": 0.1, "baseline_factor": 2.0,
            "real_image_tv": real_tv}


_PEAKED = [0.9, 0.3, 0.1, 0.15, 0.2, 0.3, 0.4]
_FLAT_LOW_END = [0.05, 0.3, 0.1, 0.15, 0.2, 0.3, 0.4]

RULE_CASES = {
    "song2018-figs6/generation_peaks_inside": (
        _inside([_PEAKED, [0.8, 0.2, 0.2, 0.05, 0.2, 0.3, 0.3], _PEAKED]),
        _inside([_FLAT_LOW_END, [0.8, 0.2, 0.2, 0.3, 0.2, 0.3, 0.01], _FLAT_LOW_END])),
    "song2018-figs6/peak_near_nz5": (_near([5, 2, 10]), _near([1, 50, 500])),
    "song2018-figs6/nz1_labels_nonuniform": (_tv([0.4, 0.25, 0.12]), _tv([0.05, 0.08, None])),
}


def _rule(key):
    from pycx import replications
    from pycx.replications.findings import rule_table
    return rule_table(replications._load("song2018-figs6").RULES)[key]


def test_peak_rule_needs_the_margin_over_both_ends_for_true():
    r = _rule("generation_peaks_inside")
    # Interior minimum of KL, but only 10% below the N_z = 500 end: partly, not true.
    near_flat = [0.9, 0.3, 0.1, 0.15, 0.2, 0.3, 0.11]
    assert r(_inside([near_flat] * 3))["reproduces"] == "partly"
    # Two of three seeds with an interior peak: partly; one of three: false.
    assert r(_inside([_PEAKED, _PEAKED, _FLAT_LOW_END]))["reproduces"] == "partly"
    assert r(_inside([_PEAKED, _FLAT_LOW_END, _FLAT_LOW_END]))["reproduces"] is False


def test_peak_rule_reads_an_infinite_ability_after_a_json_round_trip():
    # KL = 0 (infinite ability) stays 0.0 in JSON; a missing KL (None) counts as the worst.
    r = _rule("generation_peaks_inside")
    row = [0.5, 0.2, 0.0, 0.1, 0.2, 0.3, None]
    back = json.loads(json.dumps(_inside([row] * 2)))
    assert r(_inside([row] * 2))["reproduces"] is True
    assert r(back)["reproduces"] is True
    # A KL of 0 at an end makes that end the best: not an interior peak.
    assert r(_inside([[0.0, 0.2, 0.1, 0.1, 0.2, 0.3, 0.4]] * 2))["reproduces"] is False


def test_nonuniform_rule_bar_rises_with_the_real_image_baseline():
    r = _rule("nz1_labels_nonuniform")
    # 0.15 clears the 0.1 floor, but not twice a real-image distance of 0.1.
    assert r(_tv([0.15] * 3, real_tv=0.03))["reproduces"] is True
    assert r(_tv([0.15] * 3, real_tv=0.1))["reproduces"] is False
    assert r(_tv([0.3, 0.3, 0.05]))["reproduces"] == "partly"


def test_total_variation_matches_its_definition_and_validates():
    from pycx.replications.song2018_figs6 import total_variation
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 50, 10)
    p = rng.random(10)
    p /= p.sum()
    q = counts / counts.sum()
    ref = sum(abs(a - b) for a, b in zip(q, p)) / 2
    assert total_variation(counts, p) == pytest.approx(ref, rel=1e-12)
    assert total_variation([3, 3], [0.5, 0.5]) == 0.0
    with pytest.raises(ValueError, match="p"):
        total_variation([1, 2, 3], [0.5, 0.5])
    with pytest.raises(ValueError, match="counts"):
        total_variation([0, 0], [0.5, 0.5])


def test_vae_has_the_paper_architecture_and_a_finite_elbo():
    torch = pytest.importorskip("torch")
    from torch import nn

    from pycx.replications.song2018_figs6 import build_vae, negative_elbo
    vae = build_vae(784, 5)
    lin = [m for m in vae.modules() if isinstance(m, nn.Linear)]
    assert [(m.in_features, m.out_features) for m in lin] == [
        (784, 500), (500, 500), (500, 10), (5, 500), (500, 500), (500, 784)]
    acts = [type(m).__name__ for m in vae.modules() if isinstance(m, (nn.ReLU, nn.Tanh))]
    assert acts == ["ReLU", "Tanh", "Tanh", "ReLU"]
    x = torch.rand(8, 784)
    with torch.no_grad():
        loss, rec, kl = (float(v) for v in negative_elbo(vae, x, torch.Generator().manual_seed(0)))
    assert math.isfinite(loss) and kl >= 0 and loss == pytest.approx(rec + kl)
    # The KL term is the closed form: zero for a posterior equal to the prior.
    for p in vae.encoder[-1].parameters():
        nn.init.zeros_(p)
    with torch.no_grad():
        assert float(negative_elbo(vae, x, torch.Generator().manual_seed(0))[2]) == 0.0


@pytest.mark.slow
def test_song2018_figs6_quick(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from pycx import replications
    assert "song2018-figs6" in replications.available()
    f = replications.run("song2018-figs6", quick=True, out=tmp_path, seed=0, progress=False)
    assert f["replication"] == "song2018-figs6" and f["quick"] is True and len(f["seeds"]) >= 2
    on_disk = json.loads((tmp_path / "findings.json").read_text())
    assert on_disk["replication"] == "song2018-figs6" and on_disk["quick"] is True
    # The verdicts recompute from the measured values as written to disk (NaN -> null etc.).
    for c in on_disk["claims"]:
        assert _rule(c["key"])(c["measured"])["reproduces"] == c["reproduces"]
    for c in f["claims"]:
        assert c["reproduces"] in REPRODUCES and c["claim"] and c["measured"] and c["quick"]
    assert {n.rsplit(".", 1)[1] for n in f["figures"]} == {"png", "svg"}
    for n in f["figures"]:
        assert (tmp_path / n).stat().st_size > 1000
    assert f["wall_time_s"] > 0
    s = f["settings"]
    assert 0.1 < s["classifier_test_accuracy"] <= 1.0  # above chance: the classifier was trained
    assert {c["key"] for c in f["claims"]} == {"generation_peaks_inside", "peak_near_nz5",
                                               "nz1_labels_nonuniform"}
    for seed_row in f["per_seed"]:
        assert seed_row["best_n_z"] in s["n_z"]
        assert [r["n_z"] for r in seed_row["per_n_z"]] == list(s["n_z"])
        for r in seed_row["per_n_z"]:
            assert sum(r["generated_label_counts"]) == s["gen_samples"]
            assert math.isfinite(r["kl_bits"]) and r["kl_bits"] >= 0
            assert r["generation_ability"] == pytest.approx(1 / r["kl_bits"])
            assert 0.0 <= r["tv_from_p"] <= 1.0
            assert 0 <= r["active_units"] <= r["n_z"]
            # trained: the ELBO is well below that of a blank decoder (784 ln 2 = 543 nats)
            assert math.isfinite(r["test_neg_elbo"]) and r["test_neg_elbo"] < 400
