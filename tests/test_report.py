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
