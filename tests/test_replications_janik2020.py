"""The janik2020 replications: every verdict rule on a synthetic case that must hold and one that
must fail (RULE_CASES, run by tests/test_replication_rules.py), targeted edge cases of the subtle
rules, and the quick runs (findings schema, figures written, numbers finite and computed; not
whether the paper reproduces)."""
import copy
import json
import math

import numpy as np
import pytest

from pycx.replications.findings import REPRODUCES

# ------------------------------------------------------------------ synthetic rule cases

# Highway (fig. 7): three evaluations at chance, then the jump; the mean ED falls to its minimum
# at the jump's onset and recovers part of the way.
_ACC = [0.1, 0.1, 0.1, 0.1, 0.3, 0.7, 0.9, 0.9]
_NO_PLATEAU = [0.1, 0.5, 0.8, 0.9, 0.9, 0.9, 0.9, 0.9]
_ED = [10.0, 8.0, 6.0, 4.0, 1.0, 2.0, 3.0, 3.0]
_CPN = [0.5, 0.5, 0.4, 0.3, 0.1, 0.3, 0.4, 0.4]
_STEPS = [150 * k for k in range(8)]


def _hw(acc=_ACC, ed=_ED, cpn=_CPN, shift=0):
    ed = list(ed)
    if shift:  # move the minimum `shift` evaluations later
        ed = ed[:1] + [ed[1]] * shift + ed[1:len(ed) - shift]
    return {"steps": _STEPS, "accuracy": list(acc), "ed_mean": ed, "cpn_mean": list(cpn)}


_HW_TRUE = {"per_seed": {"0": _hw(), "1": _hw()}, "eval_every": 150}
_HW_FALSE = {"per_seed": {"0": _hw(acc=_NO_PLATEAU), "1": _hw(acc=_NO_PLATEAU)},
             "eval_every": 150}
_CPN_FALSE = {"per_seed": {"0": _hw(cpn=[0.1 * k for k in range(8)])}, "eval_every": 150}
_S6_TRUE = {"architectures": {"11x28": {"0": _hw(), "1": _hw()},
                              "10x36": {"0": _hw(shift=2), "1": _hw(shift=2)}},
            "eval_every": 150}
_S6_SAME = {"architectures": {"11x28": {"0": _hw(), "1": _hw()},
                              "10x36": {"0": _hw(), "1": _hw()}}, "eval_every": 150}
_S6_NONE = {"architectures": {"11x28": {"0": _hw(acc=_NO_PLATEAU)},
                              "10x36": {"0": _hw(acc=_NO_PLATEAU)}}, "eval_every": 150}
_DIP = [3.0, 2.5, 1.0, 2.0, 3.0, 3.0]
_LATE_DIP = [3.0, 3.0, 3.0, 3.0, 3.0, 2.5, 1.0, 3.0]
_FLAT = [3.0, 3.1, 3.2, 3.3, 3.4, 3.5]
_CNN_TRUE = {"per_seed": {"0": {"pixel_ed": {"conv2d_0": {"6,6": _DIP, "3,9": _FLAT},
                                             "conv2d_1": {"2,2": _DIP},
                                             "conv2d_2": {"0,0": _DIP}}}}}
_CNN_FALSE = {"per_seed": {"0": {"pixel_ed": {"conv2d_0": {"6,6": _FLAT},
                                              "conv2d_1": {"2,2": _FLAT},
                                              "conv2d_2": {"0,0": _DIP}}}}}
_CNN_UNSYNC = {"per_seed": {"0": {"pixel_ed": {"conv2d_0": {"6,6": _DIP + [3.0, 3.0]},
                                               "conv2d_1": {"2,2": _DIP + [3.0, 3.0]},
                                               "conv2d_2": {"0,0": _LATE_DIP}}}}}

# ResNet along training (figs. 5 right, S2-S5).
_RES_GOOD = {"ed": [5.0, 6.0, 9.0, 12.0], "cpn": [0.5, 0.52, 0.55, 0.6],
             "res_ed": [4.0, 5.0, 6.0, 7.0], "lin_top": [0.5, 0.5, 0.48, 0.47],
             "lin_residual": [0.5, 0.45, 0.4, 0.35], "ntc": [0.4, 0.35, 0.3, 0.2]}
_RES_BAD = {"ed": [5.0, 3.0, 4.0, 4.5], "cpn": [0.5, 0.45, 0.4, 0.4],
            "res_ed": [7.0, 6.0, 5.0, 4.0], "lin_top": [0.5, 0.4, 0.3, 0.2],
            "lin_residual": [0.5, 0.5, 0.49, 0.49], "ntc": [0.3, 0.3, 0.32, 0.33]}
_RL_GOOD = {"ed": [5.0, 5.1, 8.0, 12.0], "cpn": [0.5, 0.6, 0.7, 0.7]}
_RL_BAD = {"ed": [5.0, 9.0, 10.0, 9.5], "cpn": [0.5, 0.4, 0.4, 0.4]}


def _res(p):
    return {"trajectories": {"0": p, "1": p}}


# Difficulty (figs. 2-5, S1): one seed's values over the six tasks.
_TASKS = ("C-digits", "C-MNIST", "C-MNIST_T16", "C-MNIST_T8", "C-MNIST_T4", "random labels")


def _diff_seed():
    ed4 = dict(zip(_TASKS, (4.0, 5.0, 6.0, 7.0, 8.0, 9.0)))
    cpn4 = dict(zip(_TASKS, (0.40, 0.45, 0.50, 0.55, 0.60, 0.65)))
    return {"spearman_depth_ed": {t: 0.9 for t in _TASKS},
            "ed_block4": ed4, "cpn_block4": cpn4,
            "residual_ed_block4": dict(zip(_TASKS, (5.0, 2.0, 7.0, 3.0, 6.0, 4.0))),
            "residual_cpn_block4": dict(zip(_TASKS, (0.4, 0.45, 0.5, 0.55, 0.6, 0.65))),
            "ed_blocks_3_4": dict(zip(_TASKS, (3.0, 3.5, 4.0, 4.5, 5.0, 2.0))),
            "cpn_rise": dict(zip(_TASKS, (0.0, 0.01, 0.05, 0.1, 0.15, 0.1))),
            "linearity": {t: {"block 2": 0.3 if t == "random labels" else 0.6,
                              "block 3": 0.5, "block 4": 0.42} for t in _TASKS},
            "ntc_block4": dict(zip(_TASKS, (0.5, 0.4, 0.35, 0.3, 0.25, 0.2))),
            "train_accuracy_random_labels": 1.0}


def _diff(**changes):
    seed = _diff_seed()
    for path, value in changes.items():
        keys = path.split("__")
        target = seed
        for k in keys[:-1]:
            target = target[k]
        target[keys[-1]] = value
    return {"per_seed": {"0": seed, "1": copy.deepcopy(seed)}}


_DIFF_TRUE = _diff()
_DIFF_BAD = _diff(spearman_depth_ed={t: 0.1 for t in _TASKS},
                  ed_block4=dict(zip(_TASKS, (9.0, 8.0, 5.0, 4.0, 3.0, 9.0))),
                  cpn_block4=dict(zip(_TASKS, (0.5, 0.6, 0.65, 0.4, 0.62, 0.45))),
                  ed_blocks_3_4=dict(zip(_TASKS, (3.0, 3.5, 4.0, 4.5, 5.0, 6.0))),
                  cpn_rise=dict(zip(_TASKS, (0.0, 0.1, 0.05, -0.1, 0.15, 0.1))),
                  ntc_block4=dict(zip(_TASKS, (0.5, 0.3, 0.35, 0.4, 0.25, 0.2))),
                  train_accuracy_random_labels=0.52)
_DIFF_BAD["per_seed"]["0"]["linearity"]["C-MNIST"]["block 4"] = 0.9
_DIFF_BAD["per_seed"]["1"]["linearity"]["C-MNIST"]["block 4"] = 0.9
# The residual-branch points on a line as straight as the topmost ones' (S1 fails).
for _s in _DIFF_BAD["per_seed"].values():
    _s["residual_cpn_block4"] = dict(_s["cpn_block4"])
    _s["residual_ed_block4"] = dict(_s["ed_block4"])

# FC3 (fig. 6).
_W = [4, 8, 16, 32, 64, 128, 256]
_RNG = np.random.default_rng(0)
_POWER = [[0.2 + 1.5 * w ** -0.8 + e for w, e in zip(_W, _RNG.normal(0, 0.002, len(_W)))]
          for _ in range(3)]
_RISING = [[0.2 + 0.001 * w for w in _W] for _ in range(3)]
_FLAT_L1 = [[0.60 + 0.01 * (k % 2) for k in range(len(_W))] for _ in range(3)]

RULE_CASES = {
    "janik2020-dynamics/fig7_abrupt_jump_after_plateau": (_HW_TRUE, _HW_FALSE),
    "janik2020-dynamics/fig7_ed_dip_at_jump": (_HW_TRUE, _HW_FALSE),
    "janik2020-dynamics/fig7_cpn_dip_with_ed": (_HW_TRUE, _CPN_FALSE),
    "janik2020-dynamics/s6_dip_in_every_architecture": (_S6_TRUE, _S6_NONE),
    "janik2020-dynamics/s6_minima_shift_with_architecture": (_S6_TRUE, _S6_SAME),
    "janik2020-dynamics/s7_cnn_pixel_ed_dips": (_CNN_TRUE, _CNN_FALSE),
    "janik2020-dynamics/s7_cnn_minima_synchronised": (_CNN_TRUE, _CNN_UNSYNC),
    "janik2020-dynamics-resnet/fig5_top_block_ed_and_cpn_rise": (_res(_RES_GOOD), _res(_RES_BAD)),
    "janik2020-dynamics-resnet/s2_memorisation_dimension_lags": (
        {"trajectories": {"random labels": {"0": _RL_GOOD}, "image": {"0": _RES_GOOD}}},
        {"trajectories": {"random labels": {"0": _RL_BAD}, "image": {"0": _RES_GOOD}}}),
    "janik2020-dynamics-resnet/s3_residual_branch_ed_rises": (_res(_RES_GOOD), _res(_RES_BAD)),
    "janik2020-dynamics-resnet/s4_linearity_falls_in_residual_layers": (_res(_RES_GOOD),
                                                                        _res(_RES_BAD)),
    "janik2020-dynamics-resnet/s5_total_correlation_decreases": (_res(_RES_GOOD), _res(_RES_BAD)),
    "janik2020-dynamics-resnet/s7_no_dip_in_resnet": (_res(_RES_GOOD), _res(_RES_BAD)),
    "janik2020-fc3/fc3_trained_to_paper_accuracy": (
        {"test_accuracy_per_seed": [[0.96] * 7] * 3, "target_accuracy": 0.95},
        {"test_accuracy_per_seed": [[0.90] * 7] * 3, "target_accuracy": 0.95}),
    "janik2020-fc3/fc3_l2_cpn_power_law": (
        {"widths": _W, "l2_complexity_per_neuron_per_seed": _POWER},
        {"widths": _W, "l2_complexity_per_neuron_per_seed": _RISING}),
    "janik2020-fc3/fc3_l1_cpn_flat": (
        {"l1_complexity_per_neuron_per_seed": _FLAT_L1,
         "l2_complexity_per_neuron_per_seed": _POWER},
        {"l1_complexity_per_neuron_per_seed": _POWER,
         "l2_complexity_per_neuron_per_seed": _FLAT_L1}),
    "janik2020-fc3/fc3_linearity_changes_with_width": (
        {"l1_linearity_per_seed": _POWER, "l2_linearity_per_seed": _POWER},
        {"l1_linearity_per_seed": _FLAT_L1, "l2_linearity_per_seed": _FLAT_L1}),
}
for _key in ("fig2_ed_rises_with_depth", "fig2_top_ed_higher_for_harder_task",
             "memorisation_reached", "fig2_memorisation_low_ed_in_low_resolution_stages",
             "fig3_cpn_rises_with_stage_for_harder_task", "fig4_left_torn_tasks_up_and_right",
             "fig4_left_difficulty_order", "fig4_left_linear_band", "s1_band_not_automatic",
             "fig4_right_linearity_by_block", "fig4_right_top_linearity_equal",
             "fig5_left_ntc_lower_for_harder_task"):
    RULE_CASES[f"janik2020-difficulty/{_key}"] = (_DIFF_TRUE, _DIFF_BAD)


# --------------------------------------------------------------- targeted edge cases

def _rule(name, key):
    from pycx import replications
    from pycx.replications.findings import rule_table
    return rule_table(replications._load(name).RULES)[key]


def test_dip_without_plateau_does_not_count():
    """The paper's dip follows a plateau at chance; a dip at the first rise is not it."""
    r = _rule("janik2020-dynamics", "fig7_ed_dip_at_jump")
    assert r({"per_seed": {"0": _hw()}})["reproduces"] is True
    assert r({"per_seed": {"0": _hw(acc=_NO_PLATEAU)}})["reproduces"] is False
    # A dip far from the jump (the minimum four evaluations before the onset) fails too.
    far = _hw(acc=[0.1] * 7 + [0.9], ed=[10.0, 1.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0])
    assert r({"per_seed": {"0": far}})["reproduces"] is False
    # Half of the seeds: partly.
    half = {"per_seed": {"0": _hw(), "1": _hw(acc=_NO_PLATEAU)}}
    assert r(half)["reproduces"] == "partly"


def test_dip_rules_survive_json_nulls():
    """A NaN that went through JSON (null) makes the curve fail, never crash the rule."""
    r = _rule("janik2020-dynamics", "fig7_ed_dip_at_jump")
    d = _hw()
    d["ed_mean"][3] = None
    assert r(json.loads(json.dumps({"per_seed": {"0": d}})))["reproduces"] is False


def test_power_law_rule_separates_log_decline():
    """A pure log decline is the b -> 0 limit of a/N^b + c: the rule must not call it a power
    law (at best 'partly' when AICc cannot tell them apart)."""
    from pycx.replications.janik2020_fc3 import compare_fits
    r = _rule("janik2020-fc3", "fc3_l2_cpn_power_law")
    rng = np.random.default_rng(1)
    log = [[0.9 - 0.08 * math.log(w) + e for w, e in zip(_W, rng.normal(0, 0.005, len(_W)))]
           for _ in range(3)]
    assert r({"widths": _W, "l2_complexity_per_neuron_per_seed": log})["reproduces"] in (
        "partly", False)
    f = compare_fits(_W, log)
    assert f["b_low_at_grid_edge"]  # the interval does not exclude b -> 0
    p = compare_fits(_W, _POWER)
    # The true b = 0.8 inside the interval, up to the grid's spacing (0.01 there).
    assert p["b_low"] - 0.01 <= 0.8 <= p["b_high"] + 0.01
    assert p["delta_aicc_log_minus_power"] > 2 and not p["b_high_at_grid_edge"]


def test_profile_interval_matches_direct_scan():
    """The profile interval is the set of b whose RSS is within chi2/n of the best, checked
    against a direct numpy scan of the same model (fit by lstsq at each b)."""
    from pycx.replications.janik2020_fc3 import B_GRID, CHI2_95, compare_fits
    f = compare_fits(_W, _POWER)
    n = np.array(_W * 3, float)
    y = np.array([v for row in _POWER for v in row])
    rss = []
    for b in B_GRID:
        X = np.column_stack([n ** -b, np.ones_like(n)])
        res = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
        rss.append(res @ res)
    rss = np.array(rss)
    ok = B_GRID[len(n) * np.log(rss / rss.min()) <= CHI2_95]
    assert f["b_low"] == ok.min() and f["b_high"] == ok.max()


def test_random_shift_matches_numpy_reference():
    """The FC3 augmentation: each image equals a numpy zero-padded crop at the same offset
    (the offsets recovered from the same generator), and the shifts cover -k..k per axis."""
    torch = pytest.importorskip("torch")
    from pycx.replications.janik2020_fc3 import random_shift
    k = 2
    x = torch.rand(400, 1, 7, 6)
    out = random_shift(x, k, torch.Generator().manual_seed(3))
    code = torch.randint(0, (2 * k + 1) ** 2, (400,),
                         generator=torch.Generator().manual_seed(3)).numpy()
    padded = np.pad(x.numpy(), ((0, 0), (0, 0), (k, k), (k, k)))
    ref = np.stack([padded[i, :, c // 5:c // 5 + 7, c % 5:c % 5 + 6] for i, c in enumerate(code)])
    np.testing.assert_array_equal(out.numpy(), ref)  # pure copies: exact
    assert set(code.tolist()) == set(range(25))
    assert random_shift(x, 0, torch.Generator()) is x
    with pytest.raises(ValueError, match="max_shift"):
        random_shift(x, 3, torch.Generator())  # a 7x6 image has no 7-pixel window to spare
    with pytest.raises(ValueError, match="'x'"):
        random_shift(x[0], 1, torch.Generator())


def test_memorisation_claims_need_memorisation():
    r = _rule("janik2020-difficulty", "fig2_memorisation_low_ed_in_low_resolution_stages")
    assert r(_diff())["reproduces"] is True
    assert r(_diff(train_accuracy_random_labels=0.52))["reproduces"] is False


def test_graded_tasks_build():
    """Every graded task gives 32x32 colour images with labels in range."""
    pytest.importorskip("torch")
    from pycx.replications import _janik2020 as J
    split, _ = J.load_digits_data()
    for task in J.GRADED_TASKS:
        train, ev = J.make_task(task, split, seed=0, n_train=20, n_eval=10)
        assert tuple(train.tensors[0].shape) == (20, 3, 32, 32), task
        assert len(ev.tensors[0]) == 10 and int(train.tensors[1].max()) < 10
    with pytest.raises(ValueError, match="unknown task"):
        J.make_task("C-MNIST_T5", split, seed=0, n_train=4, n_eval=4)


# ------------------------------------------------------------------------- quick runs

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
        assert set(c) >= {"key", "claim", "expected", "measured", "reproduces"}
        assert c["reproduces"] in REPRODUCES and c["claim"] and c["expected"]
        vals = list(numbers(c["measured"]))
        assert vals and any(math.isfinite(v) for v in vals)
    assert {f.rsplit(".", 1)[1] for f in findings["figures"]} == {"png", "svg"}
    for f in findings["figures"]:
        assert (out / f).stat().st_size > 1000
    assert findings["wall_time_s"] > 0


def _quick(name, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("xgboost")
    pytest.importorskip("matplotlib")
    pytest.importorskip("scipy")
    from pycx import replications
    assert name in replications.available()
    return replications.run(name, quick=True, out=tmp_path, seed=0, progress=False)


@pytest.mark.slow
def test_janik2020_fc3_quick(tmp_path):
    f = _quick("janik2020-fc3", tmp_path)
    check_common(f, tmp_path, "janik2020-fc3", 4)
    assert len(f["seeds"]) == 2
    power = f["claims"][1]["measured"]
    widths = power["widths"]
    for row in power["l2_complexity_per_neuron_per_seed"]:
        assert len(row) == len(widths)
        # Complexity per neuron of a binary unit lies in [0, 1] bit (0.02 bit of slack for
        # the chain-rule bound's classifier error on a few hundred rows).
        assert all(0.0 <= v <= 1.02 for v in row)
    fit = power["fit"]
    assert fit["b_low"] <= fit["b"] <= fit["b_high"] and math.isfinite(fit["aicc_log"])
    lin = f["claims"][3]["measured"]
    for row in lin["l1_linearity_per_seed"] + lin["l2_linearity_per_seed"]:
        assert all(0.0 <= v <= 1.0 for v in row)
    acc = f["claims"][0]["measured"]["test_accuracy_per_seed"]
    # Trained: above the 10% of chance for most nets (a 4-wide L2 may still lag after 3 epochs).
    assert sum(a > 0.2 for row in acc for a in row) >= len(widths)
    assert all(1 <= e <= 3 for row in f["settings"]["epochs"] for e in row)
    m = f["claims"][0]["measured"]
    assert m["n_test"] == 300 and f["settings"]["n_test"] == 300
    assert m["standard_error_at_target"] == pytest.approx(math.sqrt(0.95 * 0.05 / 300))
    # the best accuracy over the epochs is at least the one measured (the last epoch's)
    assert all(b >= a for rb, ra in zip(m["best_test_accuracy_per_seed"], acc)
               for b, a in zip(rb, ra))


@pytest.mark.slow
def test_janik2020_difficulty_quick(tmp_path):
    f = _quick("janik2020-difficulty", tmp_path)
    check_common(f, tmp_path, "janik2020-difficulty", 12)
    assert set(f["table"]) == set(_TASKS)
    for task, per_seed in f["table"].items():
        rows = per_seed["0"]
        # ResNet-20: the stem ReLU, the 9 topmost ReLUs, and block 4's 3 residual-branch ReLUs.
        assert len(rows) == 13
        for r in rows:
            assert 1.0 <= r["effective_dimension"] <= r["units"] + 1e-6
            assert 0.0 <= r["linearity"] <= 1.0
            assert math.isfinite(r["complexity_per_neuron"]) and r["complexity"] >= 0.0
            assert r["ntc"] <= 1.0
    acc = f["settings"]["train_accuracy"]["random labels"]["0"]
    assert 0.0 <= acc <= 1.0


@pytest.mark.slow
def test_janik2020_dynamics_quick(tmp_path):
    f = _quick("janik2020-dynamics", tmp_path)
    check_common(f, tmp_path, "janik2020-dynamics", 7)
    cfg = f["settings"]["highway"]
    assert cfg["gate_bias"] == 0.0
    for arch, runs in f["highway"].items():
        depth, width = map(int, arch.split("x"))
        hw = runs["0"]
        assert [p["step"] for p in hw] == list(range(0, cfg["steps"] + 1, cfg["eval_every"]))
        for p in hw:
            assert len(p["ed"]) == depth
            assert all(0.0 <= e <= width + 1e-6 for e in p["ed"])
            assert 0.0 <= p["accuracy"] <= 1.0
            if arch == "11x28":
                assert len(p["cpn"]) == depth
    cnn = f["claims"][5]["measured"]["per_seed"]["0"]
    for layer, pix in cnn["pixel_ed"].items():
        for curve in pix.values():
            assert len(curve) == len(cnn["steps"]) and all(1.0 <= v <= 8.0 + 1e-6 for v in curve)


@pytest.mark.slow
def test_janik2020_dynamics_resnet_quick(tmp_path):
    f = _quick("janik2020-dynamics-resnet", tmp_path)
    check_common(f, tmp_path, "janik2020-dynamics-resnet", 6)
    traj = f["claims"][0]["measured"]["trajectories"]["0"]
    assert traj["epoch"] == f["settings"]["analyse_at_epochs"]
    for k in ("ed", "res_ed"):
        assert all(1.0 <= v <= 64.0 for v in traj[k])
    for k in ("lin_top", "lin_residual"):
        assert all(0.0 <= v <= 1.0 for v in traj[k])
    assert all(math.isfinite(v) for v in traj["cpn"] + traj["ntc"])
