"""The supplementary song2018 replications fig. S1 (spread over ensembles, relevant epoch-0
layers) and fig. S4 (sparse RBMs): each verdict rule on a synthetic case that must hold and
one that must fail (RULE_CASES, run by tests/test_replication_rules.py), the edges of the
subtler rules, the sparse RBM's training loop against `RBM.fit` and autograd, and the quick
runs (findings schema, figures written, numbers computed; not whether the paper reproduces)."""
import json

import numpy as np
import pytest

from pycx.replications.findings import REPRODUCES
# (pytest puts tests/ on sys.path) the song2018 suite's check of a quick run's findings
from test_replications_song2018 import check_common


def _case(sweep, seed, hs, hs0, hk, hk_max):
    return {"sweep": sweep, "seed": seed, "h_s_strongest": hs, "h_s_unregularised": hs0,
            "h_k_strongest": hk, "h_k_max_weaker": hk_max}


def _fam(pairs):
    """A weight scale's layers from (std H[s] before, after, std H[k] before, after)."""
    return [{"layer": i + 1, "std_h_s_before": a, "std_h_s_after": b, "std_h_k_before": c,
             "std_h_k_after": d} for i, (a, b, c, d) in enumerate(pairs)]


RULE_CASES = {
    # ---- song2018-figs4 ----
    "song2018-figs4/strong_sparsity_small_entropies": (
        {"margin": 0.02, "cases": [_case("connectivity", 0, 0.0, 0.9, 0.0, 0.3),
                                   _case("activity", 0, 0.2, 0.9, 0.1, 0.4)]},
        {"margin": 0.02, "cases": [_case("connectivity", 0, 0.9, 0.9, 0.3, 0.3),
                                   _case("activity", 0, 0.89, 0.9, 0.45, 0.4)]}),
    "song2018-figs4/sparse_states_power_law": (
        {"p_threshold": 0.1, "tests": [{"p_value": 0.5}, {"p_value": 0.2}, {"p_value": 0.9},
                                       {"p_value": 0.3}, {"p_value": 0.05}]},
        {"p_threshold": 0.1, "tests": [{"p_value": 0.0}, {"p_value": None},
                                       {"p_value": 0.5}]}),
    "song2018-figs4/sparse_near_max_relevance": (
        {"threshold": 0.1, "mid_points": [{"gap_to_curve": 0.01}, {"gap_to_curve": 0.09}]},
        {"threshold": 0.1, "mid_points": [{"gap_to_curve": 0.3}, {"gap_to_curve": None}]}),
    # ---- song2018-figs1 ----
    "song2018-figs1/spread_decreases_after_learning": (
        {"no_spread": 0.005, "families": {
            "std=0.01": _fam([(0.0, 0.0, 0.0, 0.0), (0.08, 0.02, 0.06, 0.01)]),
            "std=0.1": _fam([(0.05, 0.01, 0.04, 0.03)])}},
        {"no_spread": 0.005, "families": {
            "std=0.01": _fam([(0.0, 0.05, 0.0, 0.05), (0.08, 0.1, 0.06, 0.01)]),
            "std=0.1": _fam([(0.0, 0.2, 0.0, 0.1)])}}),
    "song2018-figs1/epoch0_mid_layers_relevant": (
        {"gap_threshold": 0.1, "p_threshold": 0.1,
         "mid_layers": [{"gap_to_curve": 0.02, "p_value": 0.5},
                        {"gap_to_curve": 0.05, "p_value": 0.2}]},
        {"gap_threshold": 0.1, "p_threshold": 0.1,
         "mid_layers": [{"gap_to_curve": 0.3, "p_value": 0.5},
                        {"gap_to_curve": 0.05, "p_value": None},
                        {"gap_to_curve": 0.05, "p_value": 0.5}]}),
}


def _rule(name, key):
    from pycx import replications
    from pycx.replications.findings import rule_table
    return rule_table(replications._load(name).RULES)[key]


# ---- edges of the subtler rules ----

def test_strong_sparsity_partial_credit_and_margin():
    r = _rule("song2018-figs4", "strong_sparsity_small_entropies")
    # H[s] falls in every case but H[k] only in one of two: half the cases both -> partly.
    m = {"margin": 0.02, "cases": [_case("connectivity", 0, 0.0, 0.9, 0.0, 0.3),
                                   _case("activity", 0, 0.5, 0.9, 0.5, 0.4)]}
    assert r(m)["reproduces"] == "partly"
    # One of the two falls in every case, both in fewer than half: still partly.
    m = {"margin": 0.02, "cases": [_case("connectivity", 0, 0.5, 0.9, 0.5, 0.4),
                                   _case("activity", 0, 0.5, 0.9, 0.5, 0.4),
                                   _case("activity", 1, 0.0, 0.9, 0.0, 0.3)]}
    assert r(m)["reproduces"] == "partly"
    # Differences within the margin are ties, not decreases.
    m = {"margin": 0.02, "cases": [_case("activity", 0, 0.89, 0.9, 0.29, 0.3)]}
    assert r(m)["reproduces"] is False
    assert r({"margin": 0.02, "cases": []})["reproduces"] is False


def test_spread_rule_ties_and_partial_credit():
    r = _rule("song2018-figs1", "spread_decreases_after_learning")
    # Pairs pinned at a bound both times are ties: only the decided pair counts.
    m = {"no_spread": 0.005, "families": {"std=0.01": _fam([(0.0, 0.0, 0.001, 0.002),
                                                            (0.08, 0.02, 0.0, 0.0)])}}
    assert r(m)["reproduces"] is True
    # Nothing decided: false.
    m = {"no_spread": 0.005, "families": {"std=0.01": _fam([(0.0, 0.0, 0.0, 0.0)])}}
    assert r(m)["reproduces"] is False
    # Deep layers gain spread (0 -> positive), but every layer that had spread at epoch 0
    # lost it: partly.
    m = {"no_spread": 0.005, "families": {"std=0.01": _fam([(0.08, 0.02, 0.06, 0.01),
                                                            (0.0, 0.05, 0.0, 0.05),
                                                            (0.0, 0.05, 0.0, 0.05)])}}
    assert r(m)["reproduces"] == "partly"


def test_supp_rules_read_measured_values_after_a_json_round_trip():
    # NaN becomes None: an undefined gap or p-value fails, the same before and after JSON.
    r = _rule("song2018-figs4", "sparse_near_max_relevance")
    m = {"threshold": 0.1, "mid_points": [{"gap_to_curve": 0.01}, {"gap_to_curve": float("nan")}]}
    back = json.loads(json.dumps({"threshold": 0.1,
                                  "mid_points": [{"gap_to_curve": 0.01},
                                                 {"gap_to_curve": None}]}))
    assert r(m)["reproduces"] == r(back)["reproduces"]
    r = _rule("song2018-figs1", "spread_decreases_after_learning")
    m = {"no_spread": 0.005, "families": {"std=0.01": _fam([(0.08, 0.02, None, 0.01)])}}
    assert r(json.loads(json.dumps(m)))["reproduces"] in REPRODUCES


# ---- the sparse RBM ----

def _binary_rows(n, d, seed):
    torch = pytest.importorskip("torch")
    return (torch.rand(n, d, generator=torch.Generator().manual_seed(seed)) > 0.6).float()


# A few updates of a tiny RBM leave its states collapsed (RBM.fit warns); the tests compare
# parameters, which the warning does not concern.
@pytest.mark.filterwarnings("ignore::pycx.models.rbm.CollapsedLayerWarning")
def test_sparse_rbm_without_penalties_is_rbm_fit_bit_for_bit():
    torch = pytest.importorskip("torch")
    from pycx.models import RBM
    from pycx.replications._song2018 import train_sparse_rbm
    x = _binary_rows(300, 20, 1)
    for persistent in (True, False):
        mine = train_sparse_rbm(x, 7, epochs=4, batch_size=32, lr=0.1, seed=3,
                                persistent=persistent)
        ref = RBM(20, 7, seed=3).fit(x, epochs=4, batch_size=32, lr=0.1, seed=3,
                                     persistent=persistent, progress=False)
        for p in ("W", "a", "b"):
            assert torch.equal(getattr(mine, p), getattr(ref, p)), p
        assert len(mine.history) == 4


# A few updates of a tiny RBM leave its states collapsed (RBM.fit warns); the tests compare
# parameters, which the warning does not concern.
@pytest.mark.filterwarnings("ignore::pycx.models.rbm.CollapsedLayerWarning")
def test_sparse_rbm_connectivity_penalty_is_weight_decay():
    torch = pytest.importorskip("torch")
    from pycx.models import RBM
    from pycx.replications._song2018 import train_sparse_rbm
    x = _binary_rows(300, 20, 2)
    mine = train_sparse_rbm(x, 7, epochs=4, batch_size=32, lr=0.1, seed=0, lambda_c=0.05)
    ref = RBM(20, 7, seed=0).fit(x, epochs=4, batch_size=32, lr=0.1, seed=0, persistent=True,
                                 weight_decay=0.1, progress=False)
    # Same updates in another order of float32 additions (RBM.fit goes through a velocity):
    # rounding of a few ulps of weights of order 0.1, compounded over 40 updates.
    torch.testing.assert_close(mine.W, ref.W, rtol=0, atol=1e-5)
    torch.testing.assert_close(mine.b, ref.b, rtol=0, atol=1e-5)
    assert not torch.equal(mine.W, train_sparse_rbm(x, 7, epochs=4, batch_size=32, lr=0.1,
                                                    seed=0).W)


def test_activity_penalty_gradient_matches_autograd():
    torch = pytest.importorskip("torch")
    from pycx.replications._song2018 import activity_penalty_grad
    g = torch.Generator().manual_seed(0)
    v = torch.rand(13, 9, generator=g, dtype=torch.float64)
    W = (0.5 * torch.randn(9, 5, generator=g, dtype=torch.float64)).requires_grad_()
    b = (0.5 * torch.randn(5, generator=g, dtype=torch.float64)).requires_grad_()
    ph = torch.sigmoid(b + v @ W)
    lam, p = 0.7, 0.05
    (lam * (p - ph.mean(0)).square().sum()).backward()
    dW, db = activity_penalty_grad(v, ph.detach(), p, lam)
    # float64 on both sides: agreement to rounding.
    torch.testing.assert_close(dW, W.grad, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(db, b.grad, rtol=1e-12, atol=1e-14)


def test_activity_penalty_pulls_the_mean_activity_to_the_target():
    torch = pytest.importorskip("torch")
    from pycx.replications._song2018 import train_sparse_rbm
    x = _binary_rows(400, 30, 4)
    kw = dict(epochs=30, batch_size=40, lr=0.1, seed=0, target=0.05)
    free = float(train_sparse_rbm(x, 10, **kw).p_h_given_v(x).mean())
    sparse = float(train_sparse_rbm(x, 10, lambda_a=1.0, **kw).p_h_given_v(x).mean())
    assert abs(sparse - 0.05) < 0.5 * abs(free - 0.05)


def test_sparse_rbm_validates_its_arguments():
    pytest.importorskip("torch")
    from pycx.replications._song2018 import train_sparse_rbm
    x = _binary_rows(20, 4, 0)
    kw = dict(epochs=1, batch_size=10, lr=0.1)
    with pytest.raises(ValueError, match="lambda_a"):
        train_sparse_rbm(x, 3, lambda_a=-1.0, **kw)
    with pytest.raises(ValueError, match="lambda_c"):
        train_sparse_rbm(x, 3, lambda_c=float("nan"), **kw)
    with pytest.raises(ValueError, match="target"):
        train_sparse_rbm(x, 3, target=1.0, **kw)
    with pytest.raises(TypeError, match="'x'"):
        train_sparse_rbm(x.numpy(), 3, **kw)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        train_sparse_rbm(x * 2, 3, **kw)


# ---- quick runs ----


@pytest.mark.slow
def test_song2018_figs4_quick(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from pycx import replications
    f = replications.run("song2018-figs4", quick=True, out=tmp_path, seed=0, progress=False)
    check_common(f, tmp_path, "song2018-figs4")
    s = f["settings"]
    n_settings = 1 + sum(l > 0 for l in s["lambda_c"]) + sum(l > 0 for l in s["lambda_a"])
    assert len(f["per_rbm"]) == n_settings * len(f["seeds"])
    for r in f["per_rbm"]:
        assert 0.0 <= r["h_s"] <= 1.0 and 0.0 <= r["h_k"] <= 1.0
        assert 1 <= r["n_states"] <= min(s["M"], 2 ** s["n_hidden"])
        assert 0.0 <= r["mean_activity"] <= 1.0
    # The penalties act: the strongest weight penalty gives the smallest weights.
    conn = sorted((r for r in f["per_rbm"] if r["sweep"] in ("none", "connectivity")
                   and r["seed"] == f["seeds"][0]), key=lambda r: r["lambda_c"])
    assert conn[-1]["weight_rms"] < conn[0]["weight_rms"]
    cases = {c["key"]: c for c in f["claims"]}["strong_sparsity_small_entropies"]
    assert len(cases["measured"]["cases"]) == 2 * len(f["seeds"])


@pytest.mark.slow
def test_song2018_figs1_quick(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from pycx import replications
    f = replications.run("song2018-figs1", quick=True, out=tmp_path, seed=0, progress=False)
    check_common(f, tmp_path, "song2018-figs1")
    s = f["settings"]
    n_layers = len(s["sizes"]) - 1
    assert len(f["members"]) == s["n_ensembles"] * len(s["random_init_stds"])
    for m in f["members"]:
        assert len(m["before"]) == len(m["after"]) == n_layers
        for r in m["before"] + m["after"]:
            assert 0.0 <= r["h_s"] <= 1.0 and 0.0 <= r["h_k"] <= r["h_s"] + 1e-9
        # Training changed the network: the states after differ from epoch 0's somewhere.
        assert any(a["h_s"] != b["h_s"] for a, b in zip(m["before"], m["after"]))
    spread = {c["key"]: c for c in f["claims"]}["spread_decreases_after_learning"]["measured"]
    for fam in spread["families"].values():
        assert len(fam) == n_layers
        for r in fam:
            assert r["std_h_s_before"] >= 0.0 and r["std_h_k_after"] >= 0.0


def test_supp_modules_are_registered():
    from pycx import replications
    assert {"song2018-figs1", "song2018-figs4"} <= set(replications.available())
