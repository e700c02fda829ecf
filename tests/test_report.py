"""The report's figures and files, from hand-made Report-shaped data (independent of the
analysis pipeline)."""
import base64
import io
import json
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")

from report_data import report_like  # noqa: E402

from pycx.report.figures import COLUMNS, algebra_figure, figures, frame  # noqa: E402
from pycx.report.html import write_report  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_real_png(data: bytes, min_bytes=8_000):
    """A PNG image of some size whose pixels are not all the same (not a blank canvas)."""
    import matplotlib.image as mpimg

    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    pixels = mpimg.imread(io.BytesIO(data), format="png")
    assert pixels.ndim == 3 and pixels.shape[0] > 200 and pixels.shape[1] > 300
    assert float(pixels[..., :3].var()) > 1e-3


def test_frame_has_the_schema_columns_in_order():
    df = frame([report_like("a", n_layers=3), report_like("b", epochs=(0,), n_layers=2)])
    assert list(df.columns[:len(COLUMNS)]) == list(COLUMNS)
    assert len(df) == 3 * 3 + 2
    assert df["model"].drop_duplicates().tolist() == ["a", "b"]


def test_missing_metric_groups_give_no_figure_and_nan_columns():
    rep = report_like("only_kde", groups=("kde",))
    df = frame(rep)
    assert df["complexity"].isna().all() and df["h_s"].isna().all()
    names = [f.name for f in figures(rep)]
    assert names == ["kde"]


def test_every_figure_for_full_data():
    reports = [report_like("mlp"), report_like("resnet", seed=1, n_layers=5, blocks=True)]
    training = {"mlp": {"epoch": [0, 1, 2], "train_loss": [2.3, 1.1, 0.6],
                        "test_accuracy": [0.1, 0.7, 0.9]}}
    figs = figures(reports, training=training)
    names = [f.name for f in figs]
    assert names == ["training", "holographic", "ed_vs_complexity", "linearity_ntc",
                     "linearity_ntc_blocks", "relevance", "classification_error", "kde"]
    for f in figs:
        assert_real_png(f.png)
        assert len(f.caption) > 80


def test_relevance_figure_leaves_out_models_with_all_states_distinct():
    informative = report_like("mlp")
    saturated = report_like("cnn", seed=3)
    for row in saturated.rows:
        row["h_s_norm"], row["h_k_norm"] = 1.0, 0.0
    fig = next(f for f in figures([informative, saturated]) if f.name == "relevance")
    assert "Not shown: cnn" in fig.caption


def test_algebra_figure():
    torch = pytest.importorskip("torch")
    import pycx
    from pycx.models import cifar_resnet

    algebras = {"resnet20": pycx.layer_algebra(cifar_resnet(20), (1, 3, 32, 32)),
                "plain20": pycx.layer_algebra(cifar_resnet(20, residual=False), (1, 3, 32, 32))}
    fig = algebra_figure(algebras)
    assert_real_png(fig.png)
    assert "figs. 7-8" in fig.caption
    del torch


def test_write_report_files(tmp_path):
    reports = [report_like("mlp"), report_like("cnn", seed=1, n_layers=3)]
    path = write_report(reports, tmp_path / "out", title="t <test>", intro="intro & text")
    out = tmp_path / "out"
    assert path == out / "report.html"
    html = path.read_text()
    assert "t &lt;test&gt;" in html and "intro &amp; text" in html
    # Self-contained: every figure embedded, no external references.
    embedded = re.findall(r"src='data:image/png;base64,([^']+)'", html)
    pngs = sorted(out.glob("fig_*.png"))
    assert len(embedded) == len(pngs) >= 5
    assert_real_png(base64.b64decode(embedded[0]))
    assert not re.search(r"(src|href)=['\"]https?:", html)
    import pandas as pd
    df = pd.read_csv(out / "metrics.csv")
    assert len(df) == 3 * 4 + 3 * 3  # a row per model, epoch and layer
    assert set(df.groupby(["model", "epoch"]).size()) == {4, 3}
    data = json.loads((out / "metrics.json").read_text())
    assert set(data) >= {"rows", "network", "curves", "settings"}
    assert data["curves"]["mlp"]["max_relevance"]["M"] == 256
    assert len(data["rows"]) == len(df)


def test_report_json_has_no_nan(tmp_path):
    rep = report_like("m", groups=("janik",))
    rep.rows[0]["ntc"] = float("nan")
    write_report(rep, tmp_path)
    text = (tmp_path / "metrics.json").read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text)["rows"][0]["ntc"] is None
    assert np.isnan(frame(rep)["ntc"].iloc[0])


def test_figures_come_as_svg_and_name_their_layers():
    reports = [report_like("mlp"), report_like("cnn", seed=1, n_layers=3)]
    for f in figures(reports):
        assert f.svg.lstrip().startswith(b"<?xml") and b"<svg" in f.svg[:2000], f.name
        if f.name in ("holographic", "linearity_ntc", "kde", "relevance"):
            # The SVG keeps its text as text (svg.fonttype "none").
            assert b"layers.3" in f.svg, f.name


def test_kde_saturation_note_and_no_zoom():
    rep = report_like("mlp")
    for row in rep.rows:
        row.update(kde_h=8.0 - 1e-4, kde_h_max=8.0, kde_saturated=row["depth"] < 2,
                   kde_h_y=3.3, kde_i_xy_saturated=False)
    fig = next(f for f in figures(rep) if f.name == "kde")
    assert len(fig.notes) == 1
    assert "saturated" in fig.notes[0] and "2 of 4 layers" in fig.notes[0]
    assert "layers.1, layers.3" in fig.notes[0]
    unsaturated = report_like("mlp")
    assert next(f for f in figures(unsaturated) if f.name == "kde").notes == []


def test_single_snapshot_wording():
    one = report_like("mlp", epochs=(0,))
    for rec in one.rows + one.network:
        rec["epoch"] = None  # one snapshot: no epoch
    figs = {f.name: f for f in figures(one)}
    for f in figs.values():
        assert "over training" not in f.caption and "last epoch" not in f.caption, f.name
    assert "one point per model" in figs["ed_vs_complexity"].caption
    tracked = {f.name: f for f in figures(report_like("mlp"))}
    assert "arrow from each epoch to the next" in tracked["ed_vs_complexity"].caption
    assert "first tracked epoch" in tracked["relevance"].caption


def test_relevance_leaves_out_a_model_that_did_not_learn():
    reports = [report_like("mlp"), report_like("sigmoid", seed=2)]
    training = {"mlp": {"epoch": [0, 1, 2], "train_loss": [2, 1, 0.5],
                        "test_accuracy": [.1, .8, .9]},
                "sigmoid": {"epoch": [0, 1, 2], "train_loss": [2, 2, 2],
                            "test_accuracy": [.1, .2, .29]}}
    fig = next(f for f in figures(reports, training=training) if f.name == "relevance")
    assert "Not shown: sigmoid (test accuracy 29%" in fig.caption
    assert "upper bound" in fig.caption or "exact" in fig.caption


def test_report_settings_table_columns_guide_and_svg_files(tmp_path):
    from pycx.report.columns import columns_markdown

    rep = report_like("mlp")
    rep.settings = {"seed": 0, "kde_rows": 200, "estimators": {"kde": {"bandwidth": "d"}},
                    "kmeans": {"computed": True, "k_used": [4, 8]},
                    "runs": [{"model": "mlp", "epoch": 0, "timings": {"a": 1.0}},
                             {"model": "mlp", "epoch": 1, "timings": {"a": 2.0},
                              "settings": {"seed": 0, "kde_rows": 300,
                                           "estimators": {"kde": {"bandwidth": "d"}},
                                           "kmeans": {"computed": False, "why": "no inputs"}}}]}
    path = write_report(rep, tmp_path / "out")
    out = tmp_path / "out"
    text = path.read_text()
    assert (out / "columns.md").read_text() == columns_markdown() + "\n"
    assert "href='columns.md'" in text and "href='settings.json'" in text
    svgs, pngs = (sorted(p.stem for p in out.glob(f"fig_*.{ext}")) for ext in ("svg", "png"))
    assert svgs == pngs
    # Shared values once; the changed one (kde_rows) per run; the k-means baseline computed
    # once is not reported as a change.
    settings = text.split("<h2>Settings</h2>")[1]
    assert settings.count("estimators.kde.bandwidth") == 1
    assert "<th><code>kde_rows</code></th>" in settings
    assert "no inputs" not in settings
    assert json.loads((out / "settings.json").read_text())["mlp"]["kde_rows"] == 200
    assert len(settings) < 5_000  # a table, not a settings dump per run


def test_summary_says_why_critical_layer_is_undefined(tmp_path):
    rep = report_like("mlp")
    for net in rep.network:
        net.update(critical_layer=None, critical_layer_why="every layer gives every sample its "
                   "own state", zipf_layer=None, zipf_layer_why="no layer has a defined beta")
    html = write_report(rep, tmp_path).read_text()
    assert "undefined: every layer gives every sample its own state" in html
    assert "undefined: no layer has a defined beta" in html


def test_docs_columns_guide_is_current_and_complete():
    from pathlib import Path

    from pycx.analysis.table import COLUMNS as TABLE_COLUMNS
    from pycx.report.columns import COLUMN_GUIDE, REPORT_COLUMNS, columns_markdown

    assert set(COLUMN_GUIDE) == set(TABLE_COLUMNS) | set(REPORT_COLUMNS)
    docs = Path(__file__).resolve().parents[1] / "docs" / "columns.md"
    if docs.exists():  # the source tree (not an installed wheel)
        assert docs.read_text() == columns_markdown() + "\n"


# ---------------------------------------------------------------------- values that are bounds

def _flagged_reports():
    """Two models; at every epoch the mlp's first layer has H(Z) above log2(rows), its second
    a negative NTC, its last a saturated KDE entropy; the cnn has nothing flagged."""
    mlp = report_like("mlp", blocks=True)
    for row in mlp.rows:
        row.update(complexity_bound_log2_rows=8.0, complexity_exceeds_log2_rows=row["depth"] == 0,
                   kde_h_max=8.0, kde_saturated=row["depth"] == 3, kde_h_y=3.3,
                   kde_i_xy_saturated=False)
        if row["depth"] == 1:
            row["ntc"] = -0.05
    cnn = report_like("cnn", seed=1, n_layers=3)
    for row in cnn.rows:
        row.update(complexity_bound_log2_rows=8.0, complexity_exceeds_log2_rows=False)
    return [mlp, cnn]


# figure -> {mark kind: points expected}: last epoch per layer; every epoch in the KDE's
# per-epoch panels and in the network trajectories.
_EXPECTED_MARKS = {
    "holographic": {"bound": 2},                       # layers 0 and 1 (negative NTC)
    "ed_vs_complexity": {"network_bound": 3, "bound": 2},
    "linearity_ntc": {"ntc_bound": 1, "impossible": 1},
    "linearity_ntc_blocks": {"block_bound": 1},
    "kde": {"saturated": 1 + 3},                       # top row + the mlp's row over 3 epochs
}


def test_every_figure_marks_values_that_are_not_measurements():
    from pycx.report.figures import MARK_KINDS

    figs = {f.name: f for f in figures(_flagged_reports())}
    assert set(_EXPECTED_MARKS) <= set(figs)
    for name, expected in _EXPECTED_MARKS.items():
        fig = figs[name]
        assert fig.marked == expected, name
        for kind in expected:  # a legend key per kind drawn (the SVG keeps text as text)
            assert MARK_KINDS[kind].split(" (")[0].encode() in fig.svg, (name, kind)
        assert "not measurements" in fig.caption, name
    for name, fig in figs.items():  # figures without such values mark nothing
        if name not in _EXPECTED_MARKS:
            assert fig.marked == {}, name


def test_figures_mark_nothing_without_flags():
    clean = [report_like("mlp", blocks=True), report_like("cnn", seed=1, n_layers=3)]
    for fig in figures(clean):
        assert fig.marked == {}, fig.name
        assert b"hollow:" not in fig.svg and b"impossible value" not in fig.svg, fig.name


def test_summary_network_sum_leaves_out_bounds(tmp_path):
    reports = _flagged_reports()
    page = write_report(reports, tmp_path / "out").read_text()
    last = [r for r in reports[0].rows if r["epoch"] == 2]
    measured = sum(r["complexity"] for r in last if r["depth"] not in (0, 1))
    total = sum(r["complexity"] for r in last)
    assert "network complexity, measured layers only" in page
    assert f"{measured:.4g} (2 of 4 layers)" in page
    assert f"≤ {total:.4g} (upper bound)" in page
    assert "2: layers.1, layers.3" in page          # the flag column names them
    assert "normalised total correlation below 0" in page
    data = json.loads((tmp_path / "out" / "metrics.json").read_text())
    rec = next(n for n in data["network"] if n["model"] == "mlp" and n["epoch"] == 2)
    assert rec["network_complexity"] == pytest.approx(total)  # the all-layer sum, unchanged
    assert rec["network_complexity_measured"] == pytest.approx(measured)
    assert rec["complexity_layers_not_measured"] == 2
    import pandas as pd
    csv = pd.read_csv(tmp_path / "out" / "metrics.csv")
    flags = csv[(csv["model"] == "mlp")]["complexity_not_measured"].tolist()
    assert flags == [d in (0, 1) for d in csv[csv["model"] == "mlp"]["depth"]]


def test_point_labels_do_not_overlap_and_stay_inside():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pycx.report.figures import _place_labels

    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.r_[np.linspace(0, 1, 30), [1.0]]
    ax.plot(x, x, "o")
    labels = [ax.annotate(f"layer.{i}", (v, v), fontsize=8, xytext=(3, 3),
                          textcoords="offset points") for i, v in enumerate(x)]
    hidden = _place_labels(fig, labels)
    renderer = fig.canvas.get_renderer()
    shown = [a.get_window_extent(renderer) for a in labels if a.get_visible()]
    inside = ax.get_window_extent(renderer)
    assert 0 < hidden < len(labels) and len(shown) == len(labels) - hidden
    for i, box in enumerate(shown):
        assert inside.x0 <= box.x0 and box.x1 <= inside.x1, i
        assert inside.y0 <= box.y0 and box.y1 <= inside.y1, i
        assert not any(box.overlaps(other) for other in shown[i + 1:]), i
    plt.close(fig)


def test_equal_values_of_two_models_stay_visible():
    a, b = report_like("cnn", n_layers=3), report_like("resnet", n_layers=3)
    for ra, rb in zip(a.rows, b.rows):
        rb["classification_error"] = ra["classification_error"]
    fig = next(f for f in figures([a, b]) if f.name == "classification_error")
    assert "offset sideways" in fig.caption
    from pycx.report.figures import _dodge
    offsets = _dodge(["cnn", "resnet"])
    assert offsets["cnn"] != offsets["resnet"] and max(map(abs, offsets.values())) < 0.5


@pytest.mark.slow
def test_algebra_figure_names_at_most_twelve_layers_of_resnet56():
    pytest.importorskip("torch")
    import pycx
    from pycx.models import cifar_resnet

    la = pycx.layer_algebra(cifar_resnet(56), (1, 3, 32, 32))
    from pycx.report.figures import _is_gating_op
    n = sum(1 for r in la.nodes if r["kind"] == "layer" and _is_gating_op(r["op"]))
    assert n > 50
    names = {"resnet56": [f"gate{i}" for i in range(n)]}
    fig = algebra_figure({"resnet56": la}, layer_names=names)
    shown = [x for x in names["resnet56"] if f">{x}<".encode() in fig.svg]
    assert 1 < len(shown) <= 13, len(shown)
    assert "th named" in fig.caption


def test_relevance_figure_says_why_ternary_layers_read_two_codes():
    """issue 31: a tanh layer whose ternary code is constant shows H[s] > 0 beside H(Z) at its
    floor and a KDE of 0; the figure says they read different codes."""
    plain = report_like("mlp", epochs=(0, 1))
    fig = next(f for f in figures([plain]) if f.name == "relevance")
    assert not any("two codes" in n for n in fig.notes)
    ternary = report_like("sig", epochs=(0, 1))
    for row in ternary.rows:
        row["kind"] = "tanh"
    fig = next(f for f in figures([ternary]) if f.name == "relevance")
    assert any("two codes" in n and "layers.1" in n for n in fig.notes)


# Every name that the page, the comparison, the command line, the integrations and these tests
# import from pycx.report.figures (the drawing moved to pycx.report.plots, issue 29).
_FIGURES_NAMES = ("COLUMNS", "DERIVED_FLAGS", "Figure", "MARK_KINDS", "_FIGURES", "_STYLE",
                  "_as_list", "_dodge", "_flag", "_is_gating_op", "_last_epoch", "_models",
                  "_place_labels", "_plt", "_render", "_short", "algebra_figure",
                  "algebra_layer_names", "complexity_not_measured", "derived_flags",
                  "effective_dimension_undefined", "figures", "frame", "h_s_saturated",
                  "interval_of", "label_hits_curve", "network_sums", "network_table")


def test_figures_module_keeps_every_name_it_exported():
    import pycx.report.figures as F

    missing = [n for n in _FIGURES_NAMES if not hasattr(F, n)]
    assert not missing, missing
    assert set(F.__all__) <= set(_FIGURES_NAMES)
    # One object, defined once: the names are the plots modules' own, not copies.
    from pycx.report.plots import algebra, base, marks, per_layer

    assert F.Figure is base.Figure and F.frame is base.frame and F._render is base._render
    assert F.algebra_figure is algebra.algebra_figure and F.interval_of is marks.interval_of
    assert F.network_table is per_layer.network_table


def test_importing_the_figures_loads_neither_matplotlib_nor_pandas():
    from pyrun import run_python

    code = ("import sys, pycx.report.figures, pycx.report.html\n"
            "heavy = [m for m in ('matplotlib', 'pandas', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy\n"
            "print('ok')\n")
    out = run_python(["-c", code])
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
