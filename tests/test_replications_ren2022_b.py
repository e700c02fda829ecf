"""ren2022-fig2, -fig4, -fig5, -fig6: the verdict rules on synthetic measured values (one case
that must come out true and one that must come out false per rule, plus the subtle edges:
saturated values, JSON nulls, the correlation intervals) and the quick runs (findings schema,
figures written, numbers finite; not whether the paper reproduces)."""
import json
import math

import numpy as np
import pytest

from pycx.replications import findings as F


# ---------------------------------------------------------------------------- synthetic dicts

def _fig2(rs, cis, partial=None, partial_cis=None):
    panels = {}
    for i, (r, ci) in enumerate(zip(rs, cis)):
        p = {"pearson_r": r, "ci95_fisher_z": list(ci)}
        if partial is not None:
            p["partial_r_given_C"] = partial[i]
            p["partial_ci95_fisher_z"] = list(partial_cis[i])
        panels[f"p{i}"] = p
    return {"panels": panels}


_NEG = [(-0.8, -0.5)] * 4
_POS = [(0.2, 0.7)] * 4
FIG2_TRUE = _fig2([-0.7] * 4, _NEG, [-0.7] * 4, _NEG)
FIG2_FALSE = _fig2([0.5] * 4, _POS, [0.5] * 4, _POS)


def _fig4(h_curves, i_curves, sat=False):
    curves = {}
    for q, cs in (("H", h_curves), ("I_xsy", i_curves)):
        for k, v in enumerate(cs):
            curves[f"c{k}_{q}"] = {"quantity": q, "values": v, "saturated": [sat] * len(v)}
    return {"checkpoints": list(range(4)), "tol_bits": 0.1, "curves": curves}


_UP = [[1.0, 1.5, 1.45, 2.0], [2.0, 2.2, 2.4, 2.6]]
_DOWN = [[2.0, 1.5, 1.4, 1.0], [2.0, 1.2, 1.0, 1.1]]
FIG4_TRUE = _fig4(_UP, _UP)
FIG4_FALSE = _fig4(_DOWN, _DOWN)


def _fig5(curve_of, tasks=(0, 1, 2, 4, 8), depths=(6, 24), seeds=2, sat=False):
    """`curve_of(arch, depth)` -> H per task (the same for every seed, plus a small offset)."""
    h, curves = {}, {}
    for arch in ("stacked", "residual"):
        h[arch] = {}
        for i, n in enumerate(tasks):
            h[arch][str(n)] = {}
            for d in depths:
                base = curve_of(arch, d)[i]
                vals = [base + 0.01 * s for s in range(seeds)]
                h[arch][str(n)][str(d)] = F.spread(vals)
        curves[arch] = {str(d): {"mean": [h[arch][str(n)][str(d)]["mean"] for n in tasks],
                                 "saturated": [sat] * len(tasks)} for d in depths}
    return {"tasks": list(tasks), "depths": list(depths), "H": h, "curves": curves}


def _paper_like(arch, d):
    # rises then saturates; deep residual above shallow everywhere; stacked crosses over
    if arch == "residual":
        return [x + (1.0 if d == 24 else 0.0) for x in (2.0, 3.0, 4.0, 4.1, 4.05)]
    return [3.0, 3.5, 4.0, 4.05, 3.9] if d == 24 else [2.0, 3.0, 4.5, 4.6, 4.5]


def _opposite(arch, d):
    # falls with the task complexity; shallow residual above deep; stacked crosses the
    # other way (shallow above on simple tasks, deep above on complex ones)
    if arch == "residual":
        return [x + (1.0 if d == 6 else 0.0) for x in (5.0, 4.0, 3.0, 2.0, 1.0)]
    return [5.0, 4.5, 3.0, 2.0, 1.0] if d == 6 else [4.0, 3.5, 3.5, 3.0, 2.0]


FIG5_TRUE = _fig5(_paper_like)
FIG5_FALSE = _fig5(_opposite)


def _fig6(gaps, sat_end=False):
    curves = {f"seed0_layer{i + 1}": {"gap": g, "both_saturated_at_end": sat_end}
              for i, g in enumerate(gaps)}
    return {"epochs": list(range(len(gaps[0]))), "curves": curves}


FIG6_TRUE = _fig6([[6.0, 4.0, 2.0, 1.0, 0.1], [7.0, 5.0, 5.5, 1.0, 0.2]])
FIG6_FALSE = _fig6([[0.1, 1.0, 2.0, 4.0, 6.0], [-0.2, -0.1, 0.5, 1.0, -0.3]])

RULE_CASES = {
    "ren2022-fig2/h_tc_negatively_correlated": (FIG2_TRUE, FIG2_FALSE),
    "ren2022-fig2/h_tc_negatively_correlated_at_fixed_c": (FIG2_TRUE, FIG2_FALSE),
    "ren2022-fig4/h_increases_monotonically": (FIG4_TRUE, FIG4_FALSE),
    "ren2022-fig4/ixsy_increases_monotonically": (FIG4_TRUE, FIG4_FALSE),
    "ren2022-fig5/stacked_deep_more_complex_on_simple_tasks": (FIG5_TRUE, FIG5_FALSE),
    "ren2022-fig5/stacked_shallow_more_complex_on_complex_tasks": (FIG5_TRUE, FIG5_FALSE),
    "ren2022-fig5/residual_deep_always_more_complex": (FIG5_TRUE, FIG5_FALSE),
    "ren2022-fig5/residual_complexity_saturates": (FIG5_TRUE, FIG5_FALSE),
    "ren2022-fig5/stacked_complexity_saturates": (FIG5_TRUE, FIG5_FALSE),
    "ren2022-fig6/gap_h_minus_i_shrinks": (FIG6_TRUE, FIG6_FALSE),
    "ren2022-fig6/sampling_adds_complexity": (FIG6_TRUE, FIG6_FALSE),
}


def _roundtrip(measured):
    """As read back from findings.json (NaN -> null, tuples -> lists)."""
    return json.loads(json.dumps(F._jsonable(measured)))


# ---------------------------------------------------------------------------- rule edges

def test_fig2_partial_credit_and_json_nulls():
    from pycx.replications import ren2022_fig2 as m
    # every r < 0 but one interval crosses 0: partly (not true)
    mixed = _fig2([-0.7, -0.7, -0.7, -0.2], _NEG[:3] + [(-0.6, 0.3)])
    assert m.RULE_NEGATIVE(mixed)["reproduces"] == "partly"
    # NaN r and interval (a constant column) read back as null: that panel does not hold
    nan = _fig2([math.nan] * 4, [(math.nan, math.nan)] * 4)
    assert m.RULE_NEGATIVE(_roundtrip(nan))["reproduces"] is False
    # the partial-r rule reads its own keys, not the plain r's
    split = _fig2([-0.7] * 4, _NEG, [0.4] * 4, _POS)
    assert m.RULE_NEGATIVE(split)["reproduces"] is True
    assert m.RULE_NEGATIVE_FIXED_C(split)["reproduces"] is False


def test_fig2_fisher_interval_and_partial_r_against_references():
    from scipy.stats import norm

    from pycx.replications.ren2022_fig2 import fisher_ci, partial_r
    # z quantile: scipy's (to 1e-12: the constant is typed in)
    assert abs(norm.ppf(0.975) - 1.959963984540054) < 1e-12
    lo, hi = fisher_ci(-0.5, 21)
    se = 1 / math.sqrt(18)
    assert lo == pytest.approx(math.tanh(math.atanh(-0.5) - norm.ppf(0.975) * se), abs=1e-12)
    assert hi == pytest.approx(math.tanh(math.atanh(-0.5) + norm.ppf(0.975) * se), abs=1e-12)
    assert fisher_ci(-0.5, 21, controls=1)[0] < lo  # one fewer degree of freedom: wider
    assert all(math.isnan(v) for v in fisher_ci(0.3, 3))
    # partial r: the textbook formula from the three pairwise correlations
    rng = np.random.default_rng(1)
    c = rng.normal(size=40)
    a = c + rng.normal(size=40)
    b = 2 * c - 0.5 * a + rng.normal(size=40)
    r = np.corrcoef([a, b, c])
    want = (r[0, 1] - r[0, 2] * r[1, 2]) / math.sqrt((1 - r[0, 2] ** 2) * (1 - r[1, 2] ** 2))
    assert partial_r(a, b, c) == pytest.approx(want, abs=1e-12)  # float64 rounding only
    assert math.isnan(partial_r(c, 3 * c + 1, c))  # nothing left after the line on c


def test_fig4_tolerance_saturation_and_partial_credit():
    from pycx.replications import ren2022_fig4 as m
    # a dip of 0.09 bits is inside the 0.1-bit tolerance, 0.11 is not
    assert m.curve_shape([1.0, 1.5, 1.41, 2.0])["monotone"]
    assert not m.curve_shape([1.0, 1.5, 1.39, 2.0])["monotone"]
    # a flat curve (rise <= tol) is not an increase
    assert not m.curve_shape([1.0, 1.05, 1.08])["rises"]
    # saturated curves never count, however they move
    assert m.RULE_H(_fig4(_UP, _UP, sat=True))["reproduces"] is False
    # every curve rises but one has a real dip: partly
    dip = _fig4([[1.0, 2.0, 1.5, 3.0], [1.0, 1.2, 1.3, 1.4]], _UP)
    assert m.RULE_H(dip)["reproduces"] == "partly"
    # null in a curve (NaN through JSON): that curve fails
    holes = _roundtrip(_fig4([[1.0, math.nan, 2.0, 3.0], [1.0, 1.2, 1.3, 1.4]], _UP))
    assert m.RULE_H(holes)["reproduces"] == "partly"


def test_fig5_saturation_rule_edges():
    from pycx.replications import ren2022_fig5 as m
    assert m.saturates([1.0, 2.0, 3.0, 3.2, 3.0], [False] * 5)
    assert not m.saturates([1.0, 2.0, 3.0, 4.0, 5.0], [False] * 5)  # still rising
    assert not m.saturates([3.0, 2.0, 1.0, 1.0, 1.0], [False] * 5)  # never rose
    # a plateau at the KDE ceiling is the estimator's, not the network's
    assert not m.saturates([1.0, 2.0, 3.0, 3.0, 3.0], [False, False, True, True, True])
    assert not m.saturates([1.0, None, 3.0, 3.0, 3.0], [False] * 5)
    # one seed's difference <= 0: partly, not true
    meas = _fig5(_paper_like)
    meas["H"]["residual"]["0"]["24"] = F.spread([2.5, 1.0])
    assert m.RULE_RESIDUAL_DEEPER(meas)["reproduces"] == "partly"
    # JSON round trip keeps the verdicts
    for rule in m.RULES:
        assert rule(_roundtrip(FIG5_TRUE))["reproduces"] is True


def test_fig5_task_targets_are_seeded_and_standardised():
    torch = pytest.importorskip("torch")
    from pycx.replications.ren2022_fig5 import task_targets
    x = torch.rand(200, 12, generator=torch.Generator().manual_seed(0))
    a, b = task_targets(x, 4, 16, 3, seed=5), task_targets(x, 4, 16, 3, seed=5)
    assert torch.equal(a, b) and not torch.equal(a, task_targets(x, 4, 16, 3, seed=6))
    # float32 sums of 200 values: mean within 1e-5, std within 1e-5 of 1
    assert float(a.mean(0).abs().max()) < 1e-5
    assert float((a.std(0) - 1).abs().max()) < 1e-5
    # task-0 is linear in x: exact least squares reproduces it
    y0 = task_targets(x, 0, 16, 3, seed=1)
    design = torch.cat([x, torch.ones(200, 1)], 1).double()
    fit = design @ torch.linalg.lstsq(design, y0.double()).solution
    assert float((fit - y0.double()).abs().max()) < 1e-4


def test_fig6_rule_edges():
    from pycx.replications import ren2022_fig6 as m
    # shrinking curves whose H and I both end at the ceiling do not count
    ended = _fig6([[6.0, 4.0, 2.0, 1.0, 0.0]] * 2, sat_end=True)
    assert m.RULE_GAP_SHRINKS(ended)["reproduces"] is False
    # lower at the end but no rank trend (rho > -0.5): not shrinking
    assert not m.gap_shrinks([5.0, 1.0, 6.0, 7.0, 4.9])
    # half of the curves shrink: partly
    half = _fig6([[6.0, 4.0, 2.0, 1.0, 0.1], [0.1, 1.0, 2.0, 4.0, 6.0]])
    assert m.RULE_GAP_SHRINKS(half)["reproduces"] == "partly"
    # a null gap (NaN through JSON) fails both rules' points
    holes = _roundtrip(_fig6([[6.0, math.nan, 2.0, 1.0, 0.1]]))
    assert m.RULE_GAP_SHRINKS(holes)["reproduces"] is False
    assert m.RULE_H_ABOVE_I(holes)["reproduces"] is False
    # spearman: scipy's
    from scipy.stats import spearmanr
    g = [3.0, 1.0, 2.0, 2.0, 0.5]
    assert m.spearman(range(5), g) == pytest.approx(spearmanr(range(5), g)[0], abs=1e-12)


# ---------------------------------------------------------------------------- quick runs

def _quick(name, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("sklearn")
    pytest.importorskip("matplotlib")
    from pycx import replications

    assert name in replications.available()
    f = replications.run(name, quick=True, out=tmp_path, seed=0, progress=False)
    on_disk = json.loads((tmp_path / "findings.json").read_text())
    assert f["replication"] == name and f["quick"] is True
    assert on_disk["replication"] == name
    assert on_disk["wall_time_s"] > 0  # the README table reads the run time from the file
    module = replications._load(name)
    assert [c["key"] for c in f["claims"]] == [r.key for r in module.RULES]
    # the verdicts recomputed from the file's measured values (after JSON)
    F.check_claims(on_disk["claims"], module.RULES)
    for c in on_disk["claims"]:
        assert c["reproduces"] in F.REPRODUCES and c["quick"] is True
    assert {fig.rsplit(".", 1)[1] for fig in f["figures"]} == {"png", "svg"}
    for fig in f["figures"]:
        assert (tmp_path / fig).stat().st_size > 1000
    return f


@pytest.mark.slow
def test_ren2022_fig2_quick(tmp_path):
    f = _quick("ren2022-fig2", tmp_path)
    panels = f["claims"][0]["measured"]["panels"]
    assert len(panels) == 4
    for p in panels.values():
        assert p["n_networks"] == len(f["seeds"]) >= 4
        assert p["layer_name"] in ("relu3", "relu4") and p["n_units"] in (120, 84)
        assert all(math.isfinite(v) for v in p["H"]["values"] + p["TC"]["values"])
        assert all(0.0 <= v <= math.log2(f["settings"]["analysis_rows"]) + 1e-9
                   for v in p["H"]["values"])
        lo, hi = p["ci95_fisher_z"]
        assert lo <= p["pearson_r"] <= hi


@pytest.mark.slow
def test_ren2022_fig4_quick(tmp_path):
    f = _quick("ren2022-fig4", tmp_path)
    curves = f["claims"][0]["measured"]["curves"]
    assert {c["model"] for c in curves.values()} == {"resmlp", "resnet_small"}
    n = len(f["settings"]["checkpoints"])
    for c in curves.values():
        assert len(c["values"]) == n and all(math.isfinite(v) for v in c["values"])
    for r in f["runs"]:
        for p in r["points"]:
            assert 0.0 <= p["I_xsy"] <= p["H_Y"] + 1e-9 and p["H"] <= math.log2(200) + 1e-9


@pytest.mark.slow
def test_ren2022_fig5_quick(tmp_path):
    f = _quick("ren2022-fig5", tmp_path)
    cfg = f["settings"]
    assert len(f["runs"]) == len(cfg["tasks"]) * len(cfg["depths"]) * 2 * len(f["seeds"])
    for r in f["runs"]:
        assert math.isfinite(r["H"]) and 0.0 <= r["H"] <= r["H_max"] + 1e-9
        assert math.isfinite(r["train_mse"]) and r["train_mse"] >= 0


@pytest.mark.slow
def test_ren2022_fig6_quick(tmp_path):
    f = _quick("ren2022-fig6", tmp_path)
    curves = f["claims"][0]["measured"]["curves"]
    assert len(curves) == 2 * len(f["seeds"])
    for c in curves.values():
        assert len(c["gap"]) == f["settings"]["epochs"] + 1
        assert all(abs(g - (h - i)) < 1e-12 for g, h, i in zip(c["gap"], c["H"], c["I"]))
