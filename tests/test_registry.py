"""One registry of estimators (issue 29): `pycx.entropy`, `pycx.analyze`'s ``estimators=``, the
command line's --complexity and the report's column guide read
`pycx.estimators.registry`; unknown option names are errors naming the valid ones; NSB is
reachable like the other methods."""
import inspect

import numpy as np
import pytest

import pycx
from pycx.estimators.registry import (COMPLEXITY_METHODS, METRIC_GROUPS, OPTION_GROUPS,
                                      parse_estimators)


@pytest.mark.parametrize("name", list(COMPLEXITY_METHODS))
def test_each_method_lists_its_function_options_and_defaults(name):
    m = COMPLEXITY_METHODS[name]
    params = list(inspect.signature(m.load()).parameters.values())
    assert params[0].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD  # the gates
    assert {p.name: p.default for p in params[1:]} == dict(m.options)
    assert set(m.analyze_defaults) <= set(m.options) and m.description
    assert getattr(pycx, m.function) is m.load()  # a public name too


def test_the_readers_use_the_registry():
    from pycx.analysis.table import METRIC_GROUPS as TABLE_GROUPS
    from pycx.cli import build_parser
    from pycx.estimators.dispatch import METHODS
    from pycx.report.columns import COLUMN_GUIDE

    assert TABLE_GROUPS is METRIC_GROUPS
    assert list(METHODS) == list(COMPLEXITY_METHODS)
    text = COLUMN_GUIDE["complexity_estimator"][1]
    assert all(name in text for name in COMPLEXITY_METHODS) and "nsb" in text
    sub = next(a for a in build_parser()._actions if getattr(a, "choices", None)
               and "analyze" in a.choices).choices["analyze"]
    action = next(a for a in sub._actions if a.dest == "complexity")
    assert list(action.choices) == list(COMPLEXITY_METHODS) and action.default == "xgb"
    assert parse_estimators(None)["kmeans"] == dict(OPTION_GROUPS["kmeans"].options)


def test_nsb_is_reachable_from_entropy_and_analyze(one_torch_thread):
    """Failed before: "nsb" was neither a method of pycx.entropy nor of analyze."""
    torch = pytest.importorskip("torch")
    z = np.random.default_rng(0).random((200, 9)) < 0.3
    assert pycx.entropy(z, method="nsb").entropy == pycx.nsb_entropy(z).entropy
    assert pycx.entropy(z, method="nsb", grid=100).entropy == pycx.nsb_entropy(z, grid=100).entropy
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 9), torch.nn.ReLU()).eval()
    cap = pycx.capture(model, [torch.randn(200, 5)], progress=False)
    rep = pycx.analyze(cap, metrics="janik", estimators={"complexity": {"method": "nsb"}},
                       progress=False)
    rec = cap.layers["1"]
    assert rep.rows[0]["complexity_estimator"] == "nsb"
    assert rep.rows[0]["complexity"] == pycx.nsb_entropy(rec.per_sample).entropy
    assert rep.settings["estimators"]["complexity"] == {"method": "nsb"}


def test_unknown_options_are_errors_naming_the_valid_ones():
    """Failed before: {"kde": {"bandwith": ...}} (a typo) was silently ignored."""
    with pytest.raises(ValueError, match=r"'estimators\['kde'\]' has unknown options "
                                         r"\['bandwith'\]; valid options: \['bandwidth', 'alpha'\]"):
        parse_estimators({"kde": {"bandwith": "var"}})
    with pytest.raises(ValueError, match=r"unknown options \['kmin'\]; valid options: \['k_min'\]"):
        parse_estimators({"relevance": {"kmin": 2}})
    with pytest.raises(ValueError, match=r"'estimators\['complexity'\]' \(method 'plugin'\) has "
                                         r"unknown options \['n_estimators'\]; valid options: \['base'\]"):
        parse_estimators({"complexity": {"method": "plugin", "n_estimators": 5}})
    with pytest.raises(ValueError, match=r"unknown options \['max_iters'\]"):
        parse_estimators({"kmeans": {"max_iters": 5}})
    with pytest.raises(ValueError, match=r"entropy\(method='kde'\) has unknown keyword arguments "
                                         r"\['bandwith'\]; valid keyword arguments: \['alpha', "
                                         r"'bandwidth'"):
        pycx.entropy(np.zeros((4, 3), np.uint8), method="kde", bandwith="var")
    with pytest.raises(ValueError, match=r"'method' must be one of \['xgb', 'plugin', "
                                         r"'miller_madow', 'kde', 'nsb'\], got 'nbs'"):
        pycx.entropy(np.zeros((4, 3), np.uint8), method="nbs")
    with pytest.raises(ValueError, match=r"'estimators\['complexity'\]\['method'\]' must be one"):
        parse_estimators({"complexity": "nbs"})


def test_analyze_refuses_the_typo_before_any_work():
    cap = pycx.Capture({}, None)  # no layers: the estimators are checked first
    with pytest.raises(ValueError, match="bandwith"):
        pycx.analyze(cap, estimators={"kde": {"bandwith": "var"}})


def test_option_values_of_the_groups_are_checked():
    """Failed before: k-means options went unchecked into int() (2.7 became 2)."""
    with pytest.raises(TypeError, match=r"'estimators\['kmeans'\]\['k_cap'\]' must be an integer"):
        parse_estimators({"kmeans": {"k_cap": 2.7}})
    with pytest.raises(ValueError, match=r"'estimators\['kmeans'\]\['k_max_log2'\]' must be >= 3"):
        parse_estimators({"kmeans": {"k_min_log2": 3, "k_max_log2": 2}})
    with pytest.raises(ValueError, match=r"'estimators\['kmeans'\]\['max_iter'\]' must be >= 1"):
        parse_estimators({"kmeans": {"max_iter": 0}})
    with pytest.raises(ValueError, match=r"'estimators\['kde'\]\['bandwidth'\]' must be one of"):
        parse_estimators({"kde": {"bandwidth": "silverman"}})
    with pytest.raises(ValueError, match=r"'estimators\['kde'\]\['alpha'\]' must be a finite"):
        parse_estimators({"kde": {"alpha": -1.0}})
    with pytest.raises(TypeError, match=r"'estimators\['relevance'\]\['k_min'\]' must be an int"):
        parse_estimators({"relevance": {"k_min": "2"}})
    # Valid values pass unchanged (the settings analyze records).
    got = parse_estimators({"kmeans": {"k_cap": 64, "pca_dims": None}, "kde": {"alpha": 0.02}})
    assert got["kmeans"]["k_cap"] == 64 and got["kmeans"]["pca_dims"] is None
    assert got["kde"] == {"bandwidth": "d", "alpha": 0.02}
    assert got["complexity"] == {"method": "xgb", "folds": 2, "n_estimators": 100,
                                 "max_depth": 3, "learning_rate": 0.1}


def test_metric_groups_read_every_option_they_accept():
    """Each option group's options are the ones its consumer reads: the kde group's go to
    kde_entropy, kde_total_correlation and kde_concat_profile, relevance's to
    resolution_relevance; a new option cannot be accepted and then dropped."""
    from pycx.estimators.kde import kde_concat_profile

    for fn in (pycx.kde_entropy, pycx.kde_total_correlation, kde_concat_profile):
        assert set(OPTION_GROUPS["kde"].options) <= set(inspect.signature(fn).parameters)
    assert set(OPTION_GROUPS["relevance"].options) <= \
        set(inspect.signature(pycx.resolution_relevance).parameters)
    assert {g.metric_group for g in OPTION_GROUPS.values()} <= set(METRIC_GROUPS)
