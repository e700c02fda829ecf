"""Paper 004 replications fig. 1, 3, 7, 9: every rule's true / false cases (RULE_CASES, run by
tests/test_replication_rules.py), targeted edge cases of the subtle rules, and the quick runs
(findings schema, figures written, numbers finite and computed; not whether the paper
reproduces)."""
import json
import math

import pytest

from pycx.replications import ren2022_fig1 as fig1
from pycx.replications import ren2022_fig3 as fig3
from pycx.replications import ren2022_fig7 as fig7
from pycx.replications import ren2022_fig9 as fig9

# ---------------------------------------------------------------------------------------------
# Rule cases

_DOWN = [[[5.0, 4.0, 4.0, 1.0], [6.0, 5.5, 2.0, 0.0]], [[3.0, 2.995, 1.0, 1.0]]]  # seeds x ckpts
_UP = [[[5.0, 4.0, 4.5, 1.0], [6.0, 7.0, 2.0, 0.0]], [[3.0, 3.5, 1.0, 1.0]]]
_CONCAT_TRUE = {"H_concat": _DOWN}
_CONCAT_FALSE = {"H_concat": _UP}

# fig. 3: curves over 5 checkpoints
_FR = [9.0, 8.0, 7.0, 7.5, 8.5]          # falls 2, rises 1.5
_RISE = [2.0, 3.0, 3.95, 4.0, 4.0]        # rises, drawdown 0
_FLAT = [3.0, 3.0, 3.0, 3.0, 3.0]
_SAT5 = [True] * 5
_NOSAT = [False] * 5


def _c3(curves, sat=None, unit=None):
    return {"curves": curves, "saturated": sat or [_NOSAT] * len(curves),
            "unit_entropy": unit or [[0.9, 0.8, 0.5, 0.6, 0.7]] * len(curves)}


_FR_TRUE = _c3([_FR, _FR, _FLAT, _FLAT], sat=[_NOSAT, _NOSAT, _SAT5, _SAT5])  # saturated left out
_FR_FALSE = _c3([_FR, _RISE, _FLAT, _RISE])
_RISE_TRUE = _c3([_RISE, _RISE, _FR])
_RISE_FALSE = _c3([_FR, _FR, _RISE, _FLAT])
_RATES_TRUE = _c3([_FR, _FR])
_RATES_FALSE = _c3([_FR, _FR], unit=[[0.5, 0.6, 0.9, 0.9, 0.9]] * 2)

# fig. 9
_BASE = [9.0, 8.0, 7.0, 7.5, 8.5]


def _case(alt, base=_BASE, bs=_NOSAT, as_=_NOSAT):
    return {"base": base, "alt": alt, "base_saturated": bs, "alt_saturated": as_}


_TREND_TRUE = {"cases": [_case([5.0, 4.0, 3.0, 3.2, 4.0]), _case([9.9, 9.0, 8.1, 8.5, 9.5]),
                         _case([1.0, 3.0, 2.0, 0.0, 5.0], as_=_SAT5)]}   # saturated: left out
_TREND_FALSE = {"cases": [_case([1.0, 3.0, 2.0, 0.0, 5.0]), _case([5.0, 4.0, 3.0, 3.2, 4.0]),
                          _case([8.0, 9.0, 9.5, 9.0, 7.0])]}
_SHAPE_TRUE = {"cases": [_case([5.0, 4.0, 3.0, 3.2, 4.0]), _case(_RISE, base=_RISE)]}
_SHAPE_FALSE = {"cases": [_case(_RISE), _case(_FR, base=_RISE)]}

# fig. 7: paired per seed, three seeds
_LAMS = [0.0, 1e-3, 3e-3]
_F7_TRUE = {"lambda": _LAMS, "per_seed": {"0.0": [5.0, 5.2, 4.9], "0.001": [3.0, 3.1, 3.3],
                                          "0.003": [1.0, 1.1, 0.8]}}
_F7_FALSE = {"lambda": _LAMS, "per_seed": {"0.0": [5.0, 5.2, 4.9], "0.001": [5.0, 5.1, 5.3],
                                           "0.003": [5.5, 5.1, 5.4]}}

RULE_CASES = {
    "ren2022-fig1/mlp_alpha_h_concat_decreases": (_CONCAT_TRUE, _CONCAT_FALSE),
    "ren2022-fig1/lenet5_h_concat_decreases": (_CONCAT_TRUE, _CONCAT_FALSE),
    "ren2022-fig1/plugin_h_concat_decreases": ({"H_concat_plugin": _DOWN},
                                               {"H_concat_plugin": _UP}),
    "ren2022-fig3/mlp_h_falls_then_rises": (_FR_TRUE, _FR_FALSE),
    "ren2022-fig3/mlp_i_falls_then_rises": (_FR_TRUE, _FR_FALSE),
    "ren2022-fig3/lenet5_h_falls_then_rises": (_FR_TRUE, _FR_FALSE),
    "ren2022-fig3/lenet5_i_falls_then_rises": (_FR_TRUE, _FR_FALSE),
    "ren2022-fig3/mlp_rates_decided_at_min": (_RATES_TRUE, _RATES_FALSE),
    "ren2022-fig3/lenet5_rates_decided_at_min": (_RATES_TRUE, _RATES_FALSE),
    "ren2022-fig3/vgg_small_h_rises": (_RISE_TRUE, _RISE_FALSE),
    "ren2022-fig3/vgg_small_i_rises": (_RISE_TRUE, _RISE_FALSE),
    "ren2022-fig9/trend_same_across_alpha": (_TREND_TRUE, _TREND_FALSE),
    "ren2022-fig9/fall_rise_same_across_alpha": (_SHAPE_TRUE, _SHAPE_FALSE),
    "ren2022-fig9/layerwise_decrease_across_alpha": (_CONCAT_TRUE, _CONCAT_FALSE),
    **{f"ren2022-fig7/{r.key}": (_F7_TRUE, _F7_FALSE) for r in fig7.RULES},
}


# ---------------------------------------------------------------------------------------------
# Edge cases of the subtle rules

def test_fig1_tolerance_and_json_nulls():
    # A rise of 0.005 bits is within the 0.01-bit tolerance; 0.02 is not; None (NaN through
    # JSON) is skipped rather than failing the curve.
    assert fig1._curves_hold({"H_concat": [[[3.0, 3.005, 1.0]]]}) == [True]
    assert fig1._curves_hold({"H_concat": [[[3.0, 3.02, 1.0]]]}) == [False]
    assert fig1._curves_hold({"H_concat": [[[3.0, None, 1.0]]]}) == [True]
    # half the curves: partly
    assert fig1.RULE_MLP({"H_concat": [[[3.0, 2.0]], [[2.0, 3.0]]]})["reproduces"] == "partly"


def test_fig3_shapes():
    assert fig3.falls_then_rises(_FR)
    assert not fig3.falls_then_rises([9.0, 8.95, 8.9, 9.0, 9.2])   # fall under 0.1 bits
    assert not fig3.falls_then_rises([9.0, 8.0, 7.0, 7.05, 7.08])  # rise under 0.1 bits
    assert not fig3.falls_then_rises([9.0, 8.0, 7.0, 6.0, 5.0])    # minimum at the end
    assert not fig3.falls_then_rises([9.0, None, 7.0, 8.0])        # a missing value
    assert fig3.rises(_RISE)
    assert fig3.rises([1.0, 2.0, 1.95, 2.5])                        # a wiggle of 0.05 bits
    assert not fig3.rises([1.0, 2.0, 1.8, 2.5])                     # a drawdown of 0.2 bits
    # every curve saturated throughout: no evidence, false
    m = _c3([_FR], sat=[_SAT5])
    assert fig3.RULES[0](m)["reproduces"] is False
    # rates: no curve whose minimum is after the start -> false
    assert fig3.RULES[4](_c3([_RISE]))["reproduces"] is False


def test_fig9_spearman_and_flat_curves():
    assert fig9.spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert math.isnan(fig9.spearman([1, 1, 1], [1, 2, 3]))
    # a flat curve (dead layer at H = 0) is left out, not counted as agreement
    flat = {"cases": [_case([0.0] * 5, base=[0.0] * 5)]}
    assert fig9.RULES[0](flat)["reproduces"] is False


def test_fig7_paired_rule():
    v = fig7.paired_verdict
    # every seed lower but the drop within the spread of the differences: partly
    m = {"lambda": [0.0, 1.0], "per_seed": {"0.0": [5.0, 5.0, 5.0], "1.0": [4.9, 2.0, 4.95]}}
    assert v(m) == "partly"
    # two of three seeds lower: partly; one of three: false
    m2 = {"lambda": [0.0, 1.0], "per_seed": {"0.0": [5.0, 5.0, 5.0], "1.0": [4.0, 4.0, 6.0]}}
    assert v(m2) == "partly"
    m3 = {"lambda": [0.0, 1.0], "per_seed": {"0.0": [5.0, 5.0, 5.0], "1.0": [4.0, 6.0, 6.0]}}
    assert v(m3) is False
    # only the largest lambda is compared with 0: a better middle lambda does not count
    m4 = {"lambda": [0.0, 1.0, 2.0],
          "per_seed": {"0.0": [5.0, 5.0], "1.0": [1.0, 1.0], "2.0": [5.5, 5.6]}}
    assert v(m4) is False
    # drops at the largest lambda but the trend over the grid rises: partly, not true
    m5 = {"lambda": [0.0, 1.0, 2.0, 3.0, 4.0],
          "per_seed": {"0.0": [5.0, 5.0], "1.0": [7.0, 7.0], "2.0": [8.0, 8.0], "3.0": [9.0, 9.0],
                       "4.0": [4.9, 4.9]}}
    assert v(m5) == "partly"
    # a NaN (null in JSON) makes it false
    m6 = {"lambda": [0.0, 1.0], "per_seed": {"0.0": [5.0, None], "1.0": [4.0, 4.0]}}
    assert v(m6) is False


# ---------------------------------------------------------------------------------------------
# Quick runs

pytest.importorskip("torch")
pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")

from pycx import replications  # noqa: E402
from pycx.replications.findings import REPRODUCES  # noqa: E402


def _check_common(f, name, tmp_path):
    assert f["replication"] == name and f["quick"] is True
    on_disk = json.loads((tmp_path / "findings.json").read_text())
    assert on_disk["replication"] == name and len(on_disk["claims"]) == len(f["claims"])
    assert {fig.rsplit(".", 1)[1] for fig in f["figures"]} == {"png", "svg"}
    for fig in f["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    module = replications._load(name)
    assert [c["key"] for c in f["claims"]] == [r.key for r in module.RULES]
    for c in f["claims"]:
        assert c["reproduces"] in REPRODUCES and c["claim"] and c["expected"] and c["quick"]
    return on_disk


@pytest.mark.slow
def test_ren2022_fig1_quick(tmp_path):
    f = replications.run("ren2022-fig1", quick=True, out=tmp_path, seed=0, progress=False)
    _check_common(f, "ren2022-fig1", tmp_path)
    m = f["claims"][0]["measured"]
    assert m["n_layers"] == 10 and len(m["H_concat"][0]) == len(f["settings"]["checkpoints"])
    for per_ck in m["H_concat"][0]:
        assert all(0.0 <= h <= math.log2(f["settings"]["analysis_rows"]) + 1e-9 for h in per_ck)
    # the exact plug-in entropy obeys Proposition 2 at every checkpoint (a theorem)
    assert f["claims"][2]["reproduces"] is True


@pytest.mark.slow
def test_ren2022_fig3_quick(tmp_path):
    f = replications.run("ren2022-fig3", quick=True, out=tmp_path, seed=0, progress=False)
    _check_common(f, "ren2022-fig3", tmp_path)
    n_ck = len(f["settings"]["checkpoints"])
    for c in f["claims"]:
        m = c["measured"]
        assert len(m["curves"]) == len(m["saturated"]) == len(m["unit_entropy"]) > 0
        assert all(len(v) == n_ck and all(math.isfinite(x) for x in v) for v in m["curves"])
    for model, s in f["summary"].items():
        for seed_row in s["per_seed"]:
            assert len(seed_row["rate_hist"]) == n_ck
            # every unit is in one bin of the rate histogram
            assert [sum(h) for h in seed_row["rate_hist"][0]] == s["n_units"]
            assert all(math.isfinite(t) for ck in seed_row["TC"] for t in ck)


@pytest.mark.slow
def test_ren2022_fig9_quick(tmp_path):
    f = replications.run("ren2022-fig9", quick=True, out=tmp_path, seed=0, progress=False)
    _check_common(f, "ren2022-fig9", tmp_path)
    trend = f["claims"][0]["measured"]
    assert {c["alpha_scale"] for c in trend["cases"]} == set(fig9.SCALES)
    # a wider kernel (larger alpha) never gives a larger entropy on the same rows
    for c in trend["cases"]:
        if c["quantity"] == "H" and c["alpha_scale"] > 1:
            assert all(a <= b + 1e-9 for a, b in zip(c["alt"], c["base"]))


@pytest.mark.slow
def test_ren2022_fig7_quick(tmp_path):
    name = "ren2022-fig7"
    f = replications.run(name, quick=True, out=tmp_path, seed=0, progress=False)
    _check_common(f, name, tmp_path)
    assert len(f["seeds"]) >= 2
    assert {(c["model"], c["quantity"]) for c in f["claims"]} == {
        (m, q) for m in ("resmlp", "cnn") for q in ("H_kde", "I_kde", "gap", "H_plugin", "test_loss")}
    for c in f["claims"]:
        assert c["measured"]["lambda"][0] == 0.0  # the baseline is in every grid
        for vals in c["measured"]["per_seed"].values():
            assert len(vals) == len(f["seeds"]) and all(math.isfinite(v) for v in vals)
    for m, per_lam in f["summary"].items():
        assert len(per_lam) >= 2
        for lam, row in per_lam.items():
            for key in ("H_kde", "I_kde", "H_plugin", "test_acc", "gap"):
                vals = row[key]["values"]
                assert len(vals) == len(f["seeds"]) and all(math.isfinite(v) for v in vals)
            assert 0.0 <= row["H_kde"]["mean"] <= math.log2(f["settings"]["analysis_rows"]) + 1e-9
            assert 0.0 <= row["test_acc"]["mean"] <= 1.0
    # the penalised runs really trained with the loss: a finite penalty was recorded
    for r in f["runs"]:
        assert len(r["layers"]) == 4
        assert math.isfinite(r["final_penalty"]) == (r["lam"] > 0)
