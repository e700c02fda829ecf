"""`Report.summary()`: the network-level values, one row per model and epoch (issue 30 item 4),
checked against direct computations from the rows and against the report page's own sums."""
import math

import numpy as np
import pytest

pd = pytest.importorskip("pandas")

from report_data import report_like  # noqa: E402

from pycx import Report  # noqa: E402


def _report(model="mlp", epochs=(0, 1), seed=0, network=True, **kw):
    r = report_like(model=model, epochs=epochs, seed=seed, **kw)
    return Report(r.rows, r.network if network else [], r.curves, r.settings)


def _direct(rows):
    """Critical layer, Zipf layer and beta across layers straight from their definitions
    (docs/definitions.md §3), written out here."""
    best, crit = -math.inf, None
    for r in rows:
        if r["h_k"] > 0 and r["h_s"] + r["h_k"] > best:
            best, crit = r["h_s"] + r["h_k"], r["layer"]
    zipf = min(rows, key=lambda r: abs(r["beta_mle"] - 1.0))["layer"]
    hs = np.array([r["h_s"] for r in rows])
    hk = np.array([r["h_k"] for r in rows])
    slope = np.sum((hs - hs.mean()) * (hk - hk.mean())) / np.sum((hs - hs.mean()) ** 2)
    return crit, zipf, -slope


def test_one_row_per_model_and_epoch_in_order():
    rep = _report("a", epochs=(0, 1, 2)) + _report("b", epochs=(0, 1), seed=1)
    s = rep.summary()
    assert list(zip(s["model"], s["epoch"])) == [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)]
    assert (s["layers"] == 4).all()
    for (model, epoch), row in zip(zip(s["model"], s["epoch"]), s.itertuples()):
        rows = [r for r in rep.rows if r["model"] == model and r["epoch"] == epoch]
        assert row.network_complexity == pytest.approx(sum(r["complexity"] for r in rows), rel=1e-12)
        assert row.network_complexity_measured == pytest.approx(row.network_complexity, rel=1e-12)
        assert row.complexity_layers == 4 and row.complexity_layers_not_measured == 0


def test_network_records_win_over_the_rows():
    # report_like's records name layers.3 and layers.5 and beta 1.1 (not what the rows give)
    s = _report().summary()
    assert s["critical_layer"].tolist() == ["layers.3", "layers.3"]
    assert s["zipf_layer"].tolist() == ["layers.5", "layers.5"]
    assert s["beta_across_layers"].tolist() == [1.1, 1.1]


def test_without_records_the_rows_give_the_definitions():
    rep = _report(network=False)
    s = rep.summary()
    for row in s.itertuples():
        rows = [r for r in rep.rows if r["epoch"] == row.epoch]
        crit, zipf, beta = _direct(rows)
        assert row.critical_layer == crit and row.zipf_layer == zipf
        assert row.beta_across_layers == pytest.approx(beta, rel=1e-9)
        assert row.critical_layer_why == "" and row.zipf_layer_why == ""


def test_bounds_are_left_out_of_the_measured_sum_and_counted():
    rep = _report(epochs=(0,))
    rep.rows[1]["complexity_exceeds_log2_rows"] = True   # above log2(rows)
    rep.rows[2]["ntc"] = -0.05                           # above the sum of unit entropies
    for r in rep.rows:
        r.setdefault("complexity_exceeds_log2_rows", False)
        r["kde_saturated"] = r["layer"] == "layers.7"
    row = rep.summary().iloc[0]
    c = [r["complexity"] for r in rep.rows]
    assert row["network_complexity"] == pytest.approx(sum(c), rel=1e-12)
    assert row["network_complexity_measured"] == pytest.approx(c[0] + c[3], rel=1e-12)
    assert row["complexity_layers_not_measured"] == 2
    assert row["layers_complexity_exceeds_log2_rows"] == 1
    assert row["layers_kde_saturated"] == 1
    assert row["layers_kde_i_xy_saturated"] is pd.NA      # never computed


def test_sums_equal_the_report_pages_network_table():
    from pycx.report.figures import frame, network_table

    rep = _report(epochs=(0, 1, 2))
    rep.rows[5]["complexity_exceeds_log2_rows"] = True
    s = rep.summary()
    t = network_table(frame(rep))
    np.testing.assert_allclose(s["network_complexity_measured"], t["network_complexity_measured"])
    np.testing.assert_allclose(s["network_complexity"], t["network_complexity"])
    assert s["complexity_layers_not_measured"].tolist() == t["layers_not_measured"].tolist()


def test_undefined_critical_and_zipf_layers_say_why():
    rows = [{"model": "m", "epoch": 0, "layer": f"r{i}", "h_s": 8.0, "h_k": 0.0,
             "beta_mle": float("nan")} for i in range(3)]
    row = Report(rows).summary().iloc[0]
    assert row["critical_layer"] is None and "H[k] = 0" in row["critical_layer_why"]
    assert row["zipf_layer"] is None and "beta" in row["zipf_layer_why"]
    assert math.isnan(row["beta_across_layers"])          # H[s] constant: no slope


def test_missing_groups_give_nan_and_a_snapshot_has_no_epoch():
    row = Report([{"model": "m", "layer": "r1", "linearity": 0.5}]).summary().iloc[0]
    assert row["layers"] == 1 and math.isnan(row["epoch"])
    assert math.isnan(row["network_complexity"]) and math.isnan(row["network_complexity_measured"])
    assert row["complexity_layers"] == 0
    assert row["critical_layer"] is None and row["critical_layer_why"] == ""


def test_empty_report_gives_an_empty_frame_with_the_columns():
    s = Report().summary()
    assert len(s) == 0 and {"model", "epoch", "network_complexity", "critical_layer"} <= set(s.columns)


def test_read_back_from_csv_and_json_gives_the_same_summary(tmp_path):
    from pycx.report.compare import read_report

    rep = _report(network=False)
    rep.rows[3]["complexity_exceeds_log2_rows"] = True
    rep.to_csv(tmp_path / "metrics.csv")
    rep.to_json(tmp_path / "report.json")
    want = rep.summary()
    for path in (tmp_path / "metrics.csv", tmp_path / "report.json"):
        got = read_report(path).summary()
        pd.testing.assert_frame_equal(got, want, check_dtype=False)
