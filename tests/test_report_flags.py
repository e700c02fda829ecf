"""Issue 31 (a, b) and issue 30 (f, figures): H[s] at its ceiling and an effective dimension
of 0 are flagged (metrics.csv / metrics.json, figures, summary), algebra labels keep off the
curves, and intervals are drawn as error bars where a report has them."""
import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pd = pytest.importorskip("pandas")

from report_data import report_like  # noqa: E402

from pycx.analysis.table import (Report, effective_dimension_undefined,  # noqa: E402
                                 h_s_saturated)
from pycx.report.figures import figures, frame, network_table  # noqa: E402
from pycx.report.html import write_report  # noqa: E402


def _flagged(model="mlp"):
    """report_like with, at the last epoch, layer depth 0 at H[s] = log2 M (every sample its
    own state) and layer depth 2 with zero variance (effective dimension 0)."""
    rep = report_like(model)
    last = max(r["epoch"] for r in rep.rows)
    for r in rep.rows:
        if r["epoch"] == last and r["depth"] == 0:
            r["h_s"], r["h_k"] = np.log2(r["rows_sample"]), 0.0
            r["h_s_norm"], r["h_k_norm"] = 1.0, 0.0
        if r["epoch"] == last and r["depth"] == 2:
            r["effective_dimension"] = 0.0
    return rep


def test_rules_against_their_definitions():
    m = np.array([256, 256, 256, 1000, 1000])
    h = np.array([8.0, 8.0 - 0.009, 8.0 - 0.02, np.log2(1000), np.nan])
    df = pd.DataFrame({"h_s": h, "rows_sample": m,
                       "effective_dimension": [0.0, 1.0, 0.5, 3.0, np.nan]})
    # The rule in words: H[s] within 0.01 bits of log2 M; an effective dimension exactly 0.
    assert h_s_saturated(df).tolist() == [True, True, False, True, False]
    assert effective_dimension_undefined(df).tolist() == [True, False, False, False, False]
    # Exactly at the ceiling: every sample its own state gives H[s] = log2 M (plug-in, numpy).
    k = np.ones(37)
    hs = -np.sum(k / 37 * np.log2(k / 37))
    assert h_s_saturated(pd.DataFrame({"h_s": [hs], "rows_sample": [37]})).tolist() == [True]


def test_flags_in_metrics_csv_and_json(tmp_path):
    write_report([_flagged()], tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "metrics.csv")
    last = csv[csv["epoch"] == csv["epoch"].max()].sort_values("depth")
    assert last["h_s_saturated"].tolist() == [True, False, False, False]
    assert last["effective_dimension_undefined"].tolist() == [False, False, True, False]
    assert not csv[csv["epoch"] < csv["epoch"].max()]["h_s_saturated"].any()
    rows = json.loads((tmp_path / "out" / "metrics.json").read_text())["rows"]
    flagged = {(r["epoch"], r["depth"]) for r in rows if r["h_s_saturated"] is True}
    undefined = {(r["epoch"], r["depth"]) for r in rows
                 if r["effective_dimension_undefined"] is True}
    assert flagged == {(2, 0)} and undefined == {(2, 2)}
    page = (tmp_path / "out" / "report.html").read_text()
    assert "H[s] at its ceiling log2 M" in page and "effective dimension 0" in page
    assert "without the 1 layer(s) at H[s] = log2 M" in page  # the summary's beta
    columns = (tmp_path / "out" / "columns.md").read_text()
    assert "| `h_s_saturated` | flag |" in columns
    assert "| `effective_dimension_undefined` | flag |" in columns


def test_flags_missing_where_not_computed():
    rep = report_like("mlp", groups=("kde",))
    df = frame([rep])
    assert df["h_s_saturated"].isna().all() and df["effective_dimension_undefined"].isna().all()


def test_every_figure_that_draws_them_marks_them():
    figs = {f.name: f for f in figures([_flagged()])}
    # H[s]-H[k] plane: the saturated layer hollow, with its legend key.
    assert figs["relevance"].marked.get("h_s_saturated") == 1
    assert "log2 M" in figs["relevance"].caption
    # Effective dimension per depth, and per layer against complexity per neuron.
    assert figs["holographic"].marked.get("undefined") == 1
    assert figs["ed_vs_complexity"].marked.get("undefined") == 1
    assert "undefined" in figs["holographic"].caption
    assert "leaves out 1 layer values" in figs["ed_vs_complexity"].caption
    clean = {f.name: f for f in figures([report_like("mlp")])}
    assert "h_s_saturated" not in clean["relevance"].marked
    assert "undefined" not in clean["holographic"].marked


def test_mean_effective_dimension_leaves_out_undefined_layers():
    df = frame([_flagged()])
    net = network_table(df)
    last = df[df["epoch"] == 2]
    expected = last.loc[last["effective_dimension"] != 0, "effective_dimension"].mean()
    row = net[net["epoch"] == 2].iloc[0]
    assert row["effective_dimension"] == pytest.approx(expected, rel=1e-12)  # the same mean
    assert row["layers_effective_dimension_undefined"] == 1


def test_summary_counts_flags_and_fits_beta_without_saturated_layers():
    rep = _flagged()
    s = Report(rep.rows, rep.network).summary()
    row = s[s["epoch"] == 2].iloc[0]
    assert int(row["layers_h_s_saturated"]) == 1
    assert int(row["layers_effective_dimension_undefined"]) == 1
    g = [r for r in rep.rows if r["epoch"] == 2 and r["depth"] != 0]
    slope = np.polyfit([r["h_s"] for r in g], [r["h_k"] for r in g], 1)[0]
    # numpy's own least squares on the same three points: rounding only
    assert row["beta_across_layers_measured"] == pytest.approx(-slope, rel=1e-12)
    assert int(s[s["epoch"] == 0].iloc[0]["layers_h_s_saturated"]) == 0


def test_critical_layer_measured_skips_a_layer_at_the_ceiling():
    """A layer 0.005 bits under log2 M with H[k] > 0 maximises H[s] + H[k] for its sample size
    alone; the measured critical layer is chosen among the others."""
    rep = report_like("mlp", epochs=(0,))
    r0 = rep.rows[0]
    r0["h_s"], r0["h_k"] = np.log2(r0["rows_sample"]) - 0.005, 1.0
    s = Report(rep.rows).summary().iloc[0]
    assert s["critical_layer"] == r0["layer"]
    others = [r for r in rep.rows[1:] if r["h_k"] > 0]
    best = max(others, key=lambda r: r["h_s"] + r["h_k"])["layer"]
    assert s["critical_layer_measured"] == best and s["critical_layer_measured_why"] == ""
    for r in rep.rows:  # every layer at the ceiling: undefined, with the reason
        r["h_s"] = np.log2(r["rows_sample"])
    s = Report(rep.rows).summary().iloc[0]
    assert s["critical_layer_measured"] is None
    assert "log2 M" in s["critical_layer_measured_why"]


def test_compare_marks_saturated_and_undefined_values():
    from pycx.report.compare import compare_figure, compare_reports

    a = Report(report_like("m").rows)
    b = Report(_flagged("m").rows)
    table = compare_reports(a, b)
    assert table["h_s_saturated_b"].tolist() == [True, False, False, False]
    assert table["effective_dimension_undefined_b"].tolist() == [False, False, True, False]
    assert not any(table["h_s_saturated_a"])
    fig = compare_figure(table)
    assert b"H[s] at log2 M" in fig.svg and b"undefined (0)" in fig.svg


# ------------------------------------------------------------------------ error bars (f)

def _with_intervals(rep):
    for r in rep.rows:
        r["complexity_lo"], r["complexity_hi"] = 0.9 * r["complexity"], 1.1 * r["complexity"]
        r["effective_dimension_lo"] = r["effective_dimension"] - 0.5
        r["effective_dimension_hi"] = r["effective_dimension"] + 0.5
        r["h_s_lo"], r["h_s_hi"] = r["h_s"] - 0.2, r["h_s"] + 0.1
        r["h_k_lo"], r["h_k_hi"] = r["h_k"] - 0.2, r["h_k"] + 0.1
        r["kde_h_lo"], r["kde_h_hi"] = r["kde_h"] - 0.3, r["kde_h"]
    return rep


def test_intervals_are_drawn_as_error_bars(tmp_path):
    figs = {f.name: f for f in figures([_with_intervals(report_like("mlp"))])}
    n = 4  # layers at the last epoch
    assert figs["holographic"].error_bars == {"effective_dimension": n, "complexity_per_neuron": n}
    assert figs["kde"].error_bars == {"kde_h": n}
    assert figs["relevance"].error_bars == {"h_k_norm": n, "h_s_norm": n}
    assert figs["ed_vs_complexity"].error_bars == {"effective_dimension": n,
                                                   "complexity_per_neuron": n}
    assert "Error bars" in figs["holographic"].caption and "per-fold" in figs["holographic"].caption
    plain = {f.name: f for f in figures([report_like("mlp")])}
    assert all(not f.error_bars for f in plain.values())
    write_report([_with_intervals(report_like("mlp"))], tmp_path / "out")
    csv = pd.read_csv(tmp_path / "out" / "metrics.csv")
    assert {"complexity_lo", "h_s_hi", "kde_h_lo", "effective_dimension_hi"} <= set(csv.columns)


def test_interval_of_scales_normalised_and_per_neuron_columns():
    from pycx.report.figures import interval_of

    df = pd.DataFrame({"h_s_lo": [4.0], "h_s_hi": [6.0], "rows_sample": [256],
                       "complexity_lo": [8.0], "complexity_hi": [12.0], "units": [4]})
    lo, hi = interval_of(df, "h_s_norm")
    assert (lo[0], hi[0]) == (0.5, 0.75)  # log2 256 = 8, exact in binary
    lo, hi = interval_of(df, "complexity_per_neuron")
    assert (lo[0], hi[0]) == (2.0, 3.0)
    assert interval_of(df, "linearity") is None


# ----------------------------------------------------------------- algebra labels (b)

def _curve_points_display(ax, per_segment=200):
    """Every drawn line of `ax` densely sampled in display coordinates (an independent check
    of `label_hits_curve`, which uses matplotlib's path-box intersection)."""
    out = []
    for line in ax.get_lines():
        xy = ax.transData.transform(np.column_stack(line.get_data()).astype(float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        out.append(xy)
        if line.get_linestyle() not in ("None", "none", "", " ") and len(xy) > 1:
            t = np.linspace(0, 1, per_segment)[:, None, None]
            seg = xy[:-1][None] * (1 - t) + xy[1:][None] * t
            out.append(seg.reshape(-1, 2))
    return np.concatenate(out)


@pytest.mark.slow
def test_algebra_labels_keep_off_the_curves(monkeypatch):
    pytest.importorskip("torch")
    import pycx
    import pycx.report.figures as F
    import pycx.report.plots.algebra as algebra_module  # where the figure is rendered
    from pycx.models import cifar_resnet

    seen = {}
    real_render = algebra_module._render

    def keep(fig):
        ax = fig.axes[1]
        renderer = fig.canvas.get_renderer()
        boxes = [a.get_window_extent(renderer) for a in ax.texts if a.get_visible()]
        seen["boxes"], seen["points"] = boxes, _curve_points_display(ax)
        seen["inside"] = ax.get_window_extent(renderer)
        return real_render(fig)

    monkeypatch.setattr(algebra_module, "_render", keep)
    algebras = {"resnet20": pycx.layer_algebra(cifar_resnet(20), (1, 3, 32, 32)),
                "plain20": pycx.layer_algebra(cifar_resnet(20, residual=False), (1, 3, 32, 32))}
    names = {m: [f"gate{i}" for i in range(sum(1 for r in la.nodes if r["kind"] == "layer"
                                                 and F._is_gating_op(r["op"])))]
             for m, la in algebras.items()}
    F.algebra_figure(algebras, layer_names=names)
    boxes, pts = seen["boxes"], seen["points"]
    assert len(boxes) >= 6  # most names still shown
    for i, box in enumerate(boxes):
        hit = ((pts[:, 0] >= box.x0) & (pts[:, 0] <= box.x1)
               & (pts[:, 1] >= box.y0) & (pts[:, 1] <= box.y1))
        assert not hit.any(), f"label {i} sits on a curve"
        assert seen["inside"].x0 <= box.x0 and box.x1 <= seen["inside"].x1
        assert not any(box.overlaps(b) for b in boxes[i + 1:])
