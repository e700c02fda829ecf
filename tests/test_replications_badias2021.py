"""badias2021 replications (paper 002, layer algebra): the tables' package data, every claim's
rule on one synthetic case that must hold and one that must not, the quick runs of the
replications that need no torchvision, and the one-line failure of those that do."""
import math

import numpy as np
import pytest

from pycx.replications import _badias2021 as B
from pycx.replications import badias2021_fig7 as F7
from pycx.replications import badias2021_fig8 as F8
from pycx.replications.findings import REPRODUCES


_FIG8 = {"depths": [18, 34, 50, 101, 152],
         "resnet_gcc_log10": [61.6, 118.5, 170.0, 330.0, 480.0],
         "plainnet_gcc_log10": [61.5, 118.4, 169.9, 329.9, 479.9],
         "resnet_gcip_log10": [-8.6, -18.4, -20.0, -40.0, -60.0],
         "plainnet_gcip_log10": [-70.0, -89.5, -100.0, -200.0, -300.0],
         "resnet_fraction_rising": [0.6, 0.8, 0.7, 0.7, 0.7],
         "plainnet_merges": [0, 0, 0, 0, 0],
         "resnet_slope": [-0.2, -0.15, -0.1, -0.05, -0.04],
         "plainnet_slope": [-0.5, -0.6, -0.3, -0.2, -0.1]}


def _fig8_false(**kw):
    return dict(_FIG8, **kw)


_FIG11_T1 = {"n": 30, "gwc_fit": {"a": 50.0, "b": 0.0005, "r2": 0.76, "n": 30},
             "r2_by_metric": {"gwc": 0.76, "gcc": 0.6, "gsc": 0.5}}

# Each rule on a measured dict that must come out true and one that must come out false
# (tests/test_replication_rules.py runs them). The false cases went through JSON where it
# matters: NaN as None.
RULE_CASES = {
    "badias2021-fig7/gcip_returns_to_one": (
        {"linear_fc": {"gcip_log10": 0.0}, "linear_conv": {"gcip_log10": -5e-17}},
        {"linear_fc": {"gcip_log10": -0.7}, "linear_conv": {"gcip_log10": None}}),
    "badias2021-fig7/gcc_rises": (
        {"linear_fc": {"complexity_curve_log10": [1.2, 2.4, 3.5, 4.8]}},
        {"linear_fc": {"complexity_curve_log10": [4.8, 3.5, 2.4, 1.2]}}),
    "badias2021-fig7/variants_differ": (
        {"relu_fc": {"gcip_log10": -0.7}, "asymmetric_fc": {"gcip_log10": -0.49}},
        {"relu_fc": {"gcip_log10": 0.0}, "asymmetric_fc": {"gcip_log10": 1e-12}}),
    "badias2021-fig8/gcc_nearly_equal": (
        _FIG8, _fig8_false(plainnet_gcc_log10=[30.0, 60.0, 85.0, 165.0, 240.0])),
    "badias2021-fig8/gcc_rises_with_depth": (
        _FIG8, _fig8_false(resnet_gcc_log10=[5, 4, 3, 2, 1], plainnet_gcc_log10=[5, 4, 3, 2, 1])),
    "badias2021-fig8/gcip_resnet_above_plain": (
        _FIG8, _fig8_false(resnet_gcip_log10=[-80.0, -100.0, -110.0, -210.0, -310.0])),
    "badias2021-fig8/gcip_falls_with_depth": (
        _FIG8, _fig8_false(resnet_gcip_log10=[-60, -40, -20, -18, -8],
                           plainnet_gcip_log10=[-300, -200, -100, -89, -25])),
    "badias2021-fig8/waves_at_merges": (
        _FIG8, _fig8_false(resnet_fraction_rising=[0.1, 0.2, 0.0, 0.3, None])),
    "badias2021-fig8/steeper_small_models": (
        _FIG8, _fig8_false(resnet_slope=[-0.01, -0.02, -0.1, -0.2, -0.3],
                           plainnet_slope=[-0.01, -0.02, -0.1, -0.2, -0.3])),
    "badias2021-fig10/gcip_falls_with_depth": (
        {"families_gcip_log10": {"ResNet": [-3, -5, -8], "VGG": [-1, -2]}},
        {"families_gcip_log10": {"ResNet": [-8, -5, -3], "VGG": [-2, -1]}}),
    "badias2021-fig10/gcc_rises_with_depth": (
        {"families_gcc_log10": {"ResNet": [60, 118, 170], "VGG": [20, 30]}},
        {"families_gcc_log10": {"ResNet": [60, 60, 50], "VGG": [30, None]}}),
    "badias2021-fig10/every_model_compresses": (
        {"gcip_log10": {"resnet18": -8.6, "vgg11": -0.1}},
        {"gcip_log10": {"resnet18": 9.5, "vgg11": None}}),
    "badias2021-fig11/gwc_power_fit_top1": (
        {"table1": _FIG11_T1},
        {"table1": dict(_FIG11_T1, gwc_fit={"a": None, "b": None, "r2": None, "n": 2})}),
    "badias2021-fig11/gwc_power_fit_top5": (
        {"table1": _FIG11_T1},
        {"table1": dict(_FIG11_T1, gwc_fit=dict(_FIG11_T1["gwc_fit"], r2=0.42))}),
    "badias2021-fig11/gcc_gsc_correlate": (
        {"table1": {"gcc": {"spearman": 0.6, "spearman_p": 0.001, "n": 30},
                    "gsc": {"spearman": 0.5, "spearman_p": 0.01, "n": 30}}},
        {"table1": {"gcc": {"spearman": 0.6, "spearman_p": 0.2, "n": 30},
                    "gsc": {"spearman": -0.5, "spearman_p": 0.01, "n": 30}}}),
    "badias2021-fig11/gwc_ranks_best": (
        {"table1": {"top1": {"gwc": 0.9, "gcc": 0.8, "gsc": 0.85},
                    "top5": {"gwc": 0.9, "gcc": 0.8, "gsc": 0.85}}},
        {"table1": {"top1": {"gwc": 0.7, "gcc": 0.8, "gsc": 0.92},
                    "top5": {"gwc": None, "gcc": 0.8, "gsc": 0.92}}}),
    "badias2021-fig6/same_monotone_trend": (
        {"families": {"fc_width": {"gcc_log10": [3.4, 3.6], "vc_order_log10": [5.1, 5.8]},
                      "conv_depth": {"gcc_log10": [3.7, 5.9], "vc_order_log10": [4.2, 5.3]}}},
        {"families": {"fc_width": {"gcc_log10": [3.6, 3.4], "vc_order_log10": [5.1, 5.8]},
                      "conv_depth": {"gcc_log10": [3.7, None], "vc_order_log10": [4.2, 5.3]}}}),
    "badias2021-fig6/gcc_grows_slower": (
        {"families": {"fc_width": {"gcc_log10": [3.4, 3.8], "vc_order_log10": [5.1, 6.9]},
                      "conv_depth": {"gcc_log10": [3.7, 4.2], "vc_order_log10": [4.2, 5.3]}}},
        {"families": {"fc_width": {"gcc_log10": [3.4, 4.5], "vc_order_log10": [5.1, 6.9]},
                      "conv_depth": {"gcc_log10": [3.7, 8.2], "vc_order_log10": [4.2, 5.3]}}}),
    "badias2021-fig9/gcip_gap_grows_with_depth": (
        {"gcip_gap_log10": [10.0, 20.0, 31.0, 40.0]},
        {"gcip_gap_log10": [10.0, -2.0, 31.0, 40.0]}),
    "badias2021-fig9/resnet_more_accurate": (
        {"accuracy_gap_per_seed": [[0.01, 0.1, 0.2], [0.02, 0.05, 0.3]]},
        {"accuracy_gap_per_seed": [[0.01, -0.1, 0.2], [0.0, 0.05, 0.3]]}),
    "badias2021-fig9/gaps_share_trend": (
        {"spearman_per_seed": [1.0, 0.8]},
        {"spearman_per_seed": [0.4, None]}),
    "badias2021-fig12/variance_tracks_power": (
        {"fraction_within_tolerance": {"values": [1.0, 1.0, 1.0]}},
        {"fraction_within_tolerance": {"values": [0.95, 0.5, None]}}),
    "badias2021-fig12/variance_falls_as_one_over_k": (
        {"log_log_slope": {"values": [-1.01, -0.97, -1.0]}},
        {"log_log_slope": {"values": [-0.9, -0.5, None]}}),
}


def test_partial_credit_of_the_new_figures():
    from pycx.replications import badias2021_fig6 as F6
    from pycx.replications import badias2021_fig9 as F9
    from pycx.replications import badias2021_fig12 as F12
    grows = {"families": {"w": {"gcc_log10": [3.4, 3.8], "vc_order_log10": [5.1, 6.9]},
                          "d": {"gcc_log10": [3.7, 8.2], "vc_order_log10": [4.2, 5.3]}}}
    assert F6.RULE_SLOWER(grows)["reproduces"] == "partly"
    # "substantially slower": exactly half the VC growth counts, just above does not
    half = {"families": {"w": {"gcc_log10": [0.0, 1.0], "vc_order_log10": [0.0, 2.0]}}}
    assert F6.RULE_SLOWER(half)["reproduces"] is True
    half["families"]["w"]["gcc_log10"] = [0.0, 1.01]
    assert F6.RULE_SLOWER(half)["reproduces"] is False
    assert F9.RULE_GCIP_GAP({"gcip_gap_log10": [10.0, 30.0, 20.0]})["reproduces"] == "partly"
    assert F9.RULE_SAME_TREND({"spearman_per_seed": [1.0, 0.2]})["reproduces"] == "partly"
    assert F12.RULE_TRACKS({"fraction_within_tolerance": {"values": [1.0, 0.92]}}
                           )["reproduces"] == "partly"


def test_fig12_output_variance_against_a_direct_convolution():
    from pycx.replications import badias2021_fig12 as F12
    x = np.random.default_rng(3).standard_normal((4, 200))
    for k in (1, 7, 50):
        direct = np.mean([np.convolve(row, np.full(k, 1 / k), mode="valid").var() for row in x])
        assert F12.output_variance(x, k) == pytest.approx(direct, rel=1e-10)  # float sums


def test_fig12_conv_power_is_eq8():
    pytest.importorskip("torch")
    from pycx.replications import badias2021_fig12 as F12
    # eq. 8 with one filter: p = S_out / (K S_in), S_out = L - K + 1
    assert F12.conv_power(7, 100) == pytest.approx(94 / (7 * 100))


def test_fig6_vc_order_and_builds():
    pytest.importorskip("torch")
    from pycx.replications import badias2021_fig6 as F6
    m = F6.measure_family("fc_width", [16])
    assert m["params"] == [784 * 16 + 16 + 16 * 16 + 16 + 16 * 10 + 10]
    assert m["weight_layers"] == [3]
    w = m["params"][0]
    assert m["vc_order_log10"][0] == pytest.approx(np.log10(w * 3 * np.log2(w)))
    with pytest.raises(ValueError, match="family"):
        F6.build("rnn", 3)


def test_partial_credit_of_the_rules():
    from pycx.replications import badias2021_fig10 as F10
    from pycx.replications import badias2021_fig11 as F11
    assert F8.RULE_GCC_EQUAL(_fig8_false(plainnet_gcc_log10=[61.5, 118.4, 85.0, 165.0, 240.0])
                             )["reproduces"] == "partly"
    # Some ResNet-d above PlainNet-d but not every ResNet above every PlainNet.
    assert F8.RULE_GCIP_ABOVE(_fig8_false(resnet_gcip_log10=[-8.6, -18.4, -20.0, -40.0, -400.0])
                              )["reproduces"] == "partly"
    # Only the ResNet slopes are steeper for 18/34: partly.
    assert F8.RULE_STEEPER(_fig8_false(plainnet_slope=[-0.01, -0.02, -0.1, -0.2, -0.3])
                           )["reproduces"] == "partly"
    # A quick run's depths (18, 34, 50): the slope rule compares 18/34 with 50 alone.
    quick = {k: v[:3] if isinstance(v, list) else v for k, v in _FIG8.items()}
    assert F8.RULE_STEEPER(quick)["reproduces"] is True
    assert F10.RULE_COMPRESSES({"gcip_log10": {str(i): -1.0 if i < 8 else 1.0
                                               for i in range(10)}})["reproduces"] == "partly"
    assert F11.RULE_FIT1({"table1": dict(_FIG11_T1, gwc_fit={"r2": 0.6})})["reproduces"] \
        == "partly"
    assert F11.RULE_CORRELATE({"table1": {"gcc": {"spearman": 0.6, "spearman_p": 0.001},
                                          "gsc": {"spearman": 0.1, "spearman_p": 0.5}}}
                              )["reproduces"] == "partly"


def test_rules_read_findings_json(tmp_path):
    # A claim's verdict is the same after its measured dict went through findings.json.
    import json

    from pycx.replications.findings import write_findings
    for name, (holds, fails) in RULE_CASES.items():
        module = {"fig7": F7, "fig8": F8}.get(name.split("/")[0].rsplit("-", 1)[1])
        if module is None:
            continue
        rule = {r.key: r for r in module.RULES}[name.split("/")[1]]
        for m in (holds, fails):
            write_findings(tmp_path, {"m": m})
            back = json.loads((tmp_path / "findings.json").read_text())["m"]
            assert rule(back)["reproduces"] == rule(m)["reproduces"]


def test_tables_as_printed():
    rows = B.tables()
    assert [sum(r["table"] == t for r in rows) for t in (1, 2, 3)] == [36, 39, 35]
    by = {(r["table"], r["model"]): r for r in rows}
    assert by[(1, "ResNet 50")]["top1"] == 76.13 and by[(1, "ResNet 50")]["top5"] == 92.862
    assert by[(1, "Wide ResNet 101 2")]["params"] == 126884696   # as printed (torchvision: +2000)
    assert math.isnan(by[(1, "MNasNet 0.75")]["top1"])
    assert by[(1, "AmoebaNet-D PipeLine 4")]["params"] == 1_055_800_000
    assert by[(3, "NAS MobileNet")]["top1"] == 74.0 and math.isnan(by[(3, "Mobilenet V2")]["top5"])
    assert by[(3, "EfficientNet B7")]["top1"] == 84.4 and by[(3, "DPN 137")]["top5"] == 95.84
    assert sum(bool(r["torchvision"]) for r in rows) == 74
    assert "Badias & Banerjee 2021" in B.source_line()


@pytest.mark.parametrize("rule, good, bad", [
    (B.rule_monotone, ({"a": [3, 2, 1], "b": [5, 4]}, -1), ({"a": [1, 1, 0], "b": [1, 2]}, -1)),
    (B.rule_r2, (0.76, 0.751), (0.42, 0.751)),
    (B.rule_best_ranker, ({"gwc": 0.9, "gcc": 0.8, "gsc": 0.85},), ({"gwc": 0.7, "gcc": 0.8,
                                                                      "gsc": 0.92},)),
    (B.rule_gcc_equal, ([61.58, 118.55], [61.57, 118.54]), ([61.0, 118.0], [30.0, 60.0])),
    (B.rule_separated, ([-8.6, -18.4], [-25.8, -89.5]), ([-30.0, -40.0], [-25.8, -20.0])),
    (B.rule_steeper_small, ({18: -0.2, 34: -0.15, 50: -0.1, 101: -0.05, 152: -0.04},),
     ({18: -0.01, 34: -0.02, 50: -0.1, 101: -0.2, 152: -0.3},)),
    (B.rule_compresses, ({"a": -3.0, "b": -0.1},), ({"a": 9.5, "b": 13.0},)),
    (F8.rule_waves, ({18: 0.6, 34: 0.8}, {18: 0, 34: 0}), ({18: 0.1, 34: 0.2}, {18: 0, 34: 0})),
    (F7.rule_returns_to_one, ({"fc": 0.0, "conv": -5e-17},), ({"fc": -0.7, "conv": 0.4},)),
    (F7.rule_gcc_rises, ({"fc": [1.2, 2.4, 3.5, 4.8]},), ({"fc": [4.8, 3.5, 2.4, 1.2]},)),
    (F7.rule_differs, ({"relu": -0.7, "cut": -0.49},), ({"relu": 0.0, "cut": 1e-12},)),
])
def test_rule_true_and_false(rule, good, bad):
    assert rule(*good) is True
    assert rule(*bad) is False


def test_rules_partial_credit():
    assert B.rule_monotone({"a": [3, 2, 1], "b": [1, 2]}, -1) == "partly"
    assert B.rule_r2(0.6, 0.751) == "partly"
    assert B.rule_best_ranker({"gwc": 0.804, "gcc": 0.8016, "gsc": 0.92}) == "partly"
    assert F8.rule_waves({18: 0.6, 34: 0.1}, {18: 0, 34: 0}) == "partly"


def test_power_fit_and_spearman():
    pytest.importorskip("scipy")
    lx = np.linspace(10, 600, 30)
    y = 50.0 * 10 ** (0.0005 * lx)          # acc = 50 GWC^0.0005, exactly
    fit = B.power_fit(lx, y)
    assert fit["r2"] == pytest.approx(1.0) and fit["b"] == pytest.approx(0.0005, rel=1e-6)
    noisy = B.power_fit(lx, y + np.random.default_rng(0).normal(0, 5, 30))
    assert 0 < noisy["r2"] < 1
    assert B.spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


def check_findings(f, n_claims):
    assert len(f["claims"]) == n_claims
    for c in f["claims"]:
        assert c["key"] and c["claim"] and c["expected"] and c["reproduces"] in REPRODUCES
        assert c["quick"] is True and "quick run" in c["quick_note"]
    assert {x.rsplit(".", 1)[1] for x in f["figures"]} == {"png", "svg"}


@pytest.mark.slow
def test_fig7_and_fig8_quick(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from pycx import replications
    f7 = replications.run("badias2021-fig7", quick=True, out=tmp_path / "7", progress=False)
    check_findings(f7, 3)
    assert abs(f7["claims"][0]["measured"]["linear_fc"]["gcip_log10"]) < 1e-9
    f8 = replications.run("badias2021-fig8", quick=True, out=tmp_path / "8", progress=False)
    check_findings(f8, 6)
    m = f8["claims"][2]["measured"]
    assert m["depths"] == [18, 34, 50]
    assert all(r > p for r, p in zip(m["resnet_gcip_log10"], m["plainnet_gcip_log10"]))


@pytest.mark.slow
@pytest.mark.parametrize("name, n_claims", [("badias2021-fig6", 2), ("badias2021-fig9", 3),
                                            ("badias2021-fig12", 2)])
def test_new_figures_quick(tmp_path, name, n_claims):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from pycx import replications
    f = replications.run(name, quick=True, out=tmp_path, progress=False)
    check_findings(f, n_claims)
    if name == "badias2021-fig9":
        m = f["claims"][1]["measured"]
        assert m["depths"] == [8, 20] and len(m["accuracy_gap_per_seed"]) == 1
        assert all(0 <= a <= 1 for a in m["resnet_accuracy_per_seed"][0])
        # the GCIP gap is positive: shortcuts keep the larger power at every merge
        assert all(g > 0 for g in f["claims"][0]["measured"]["gcip_gap_log10"])
    if name == "badias2021-fig12":
        m = f["claims"][0]["measured"]
        assert m["k_range"] == [1, 100] and 0 < m["max_relative_deviation"]["max"] < 0.5
    if name == "badias2021-fig6":
        fams = f["claims"][0]["measured"]["families"]
        assert set(fams) == {"fc_width", "fc_depth", "conv_width", "conv_depth"}
        assert all(len(v["gcc_log10"]) == 3 for v in fams.values())


def test_zoo_figures_need_torchvision(tmp_path, capsys):
    pytest.importorskip("torch")
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision is installed (the zoo venv runs these in tests/zoo)")
    except ImportError:
        pass
    from pycx import replications
    from pycx.cli import main
    with pytest.raises(ModuleNotFoundError, match="pip install torchvision"):
        replications.run("badias2021-fig10", quick=True, out=tmp_path, progress=False)
    assert main(["replicate", "badias2021-fig11", "--quick", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "torchvision" in err[0]
