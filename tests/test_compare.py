"""Two reports side by side (issue 30 item 7): `pycx.compare_reports`, its figure, reading a
report folder back, and `pycx compare A B`."""
import numpy as np
import pytest

pd = pytest.importorskip("pandas")
pytest.importorskip("matplotlib")

from report_data import report_like  # noqa: E402

import pycx  # noqa: E402
from pycx.cli import main  # noqa: E402
from pycx.report.compare import compare_figure, compare_reports, read_report  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _report(model="mlp", epochs=(0, 1), seed=0, n_layers=4):
    r = report_like(model=model, epochs=epochs, seed=seed, n_layers=n_layers)
    for row in r.rows:
        row.update(complexity_exceeds_log2_rows=False, complexity_bound_log2_rows=8.0)
    return pycx.Report(r.rows, r.network, r.curves, r.settings)


def _last(rep, model=None):
    rows = [r for r in rep.rows if model is None or r["model"] == model]
    last = max(r["epoch"] for r in rows)
    return [r for r in rows if r["epoch"] == last]


def test_values_and_differences_at_the_last_epoch():
    a, b = _report(seed=0), _report(seed=1, epochs=(0, 1, 2))
    b.rows[-1]["complexity_exceeds_log2_rows"] = True
    t = compare_reports(a, b)
    ra, rb = _last(a), _last(b)
    assert t["layer_a"].tolist() == [r["layer"] for r in ra] == t["layer_b"].tolist()
    assert set(t["epoch_a"]) == {1} and set(t["epoch_b"]) == {2}
    for col in ("complexity", "linearity", "h_s", "kde_h", "effective_dimension"):
        np.testing.assert_array_equal(t[f"{col}_a"], [r[col] for r in ra])
        np.testing.assert_array_equal(t[f"{col}_b"], [r[col] for r in rb])
        np.testing.assert_array_equal(t[f"{col}_diff"], [y[col] - x[col] for x, y in zip(ra, rb)])
    assert t["complexity_not_measured_a"].tolist() == [False] * 4
    assert t["complexity_not_measured_b"].tolist() == [False, False, False, True]


def test_default_columns_are_those_present_and_columns_can_be_chosen():
    r = report_like(groups=("relevance",))
    a = b = pycx.Report(r.rows, r.network)
    t = compare_reports(a, b)
    diffs = [c[:-5] for c in t.columns if c.endswith("_diff")]
    assert diffs == ["h_s", "h_k", "beta_mle", "classification_error"]
    assert (t["h_s_diff"] == 0).all()
    assert t["complexity_not_measured_a"].isna().all()        # no H(Z) computed: no flag
    t = compare_reports(a, b, columns=["n_states"])
    assert [c for c in t.columns if c.endswith("_diff")] == ["n_states_diff"]
    with pytest.raises(ValueError, match="argument 'columns'.*'layer'"):
        compare_reports(a, b, columns=["layer"])
    with pytest.raises(ValueError, match="argument 'on'"):
        compare_reports(a, b, on="name")
    with pytest.raises(TypeError, match="argument 'a'"):
        compare_reports(3, b)


def test_two_architectures_by_depth_and_layers_on_one_side_only():
    a, b = _report("small", n_layers=3), _report("big", n_layers=5)
    for r in b.rows:
        r["layer"] = "features." + r["layer"]
    by_name = compare_reports(a, b)
    assert len(by_name) == 8                    # no name in common: 3 rows of A, then 5 of B
    assert by_name["layer_b"].iloc[:3].isna().all() and by_name["layer_a"].iloc[3:].isna().all()
    assert by_name["complexity_diff"].isna().all()
    t = compare_reports(a, b, on="depth")
    assert t["depth_a"].iloc[:3].tolist() == [0, 1, 2] and len(t) == 5
    assert t["layer_b"].tolist() == [f"features.layers.{2 * d + 1}" for d in range(5)]
    assert t["complexity_diff"].iloc[:3].notna().all() and t["complexity_diff"].iloc[3:].isna().all()


def test_several_models_are_matched_by_name():
    a = _report("cnn") + _report("mlp", seed=3)
    b = _report("mlp", seed=4) + _report("cnn", seed=5)
    t = compare_reports(a, b)
    assert (t["model_a"] == t["model_b"]).all() and len(t) == 8
    cnn = t[t["model_a"] == "cnn"]
    np.testing.assert_array_equal(cnn["linearity_b"], [r["linearity"] for r in _last(b, "cnn")])


def test_report_folders_read_back(tmp_path):
    a = _report(epochs=(0,), n_layers=2)
    folder = tmp_path / "rep"
    pycx.write_report(a, folder)
    from_json = read_report(folder)
    from_csv = read_report(folder / "metrics.csv")
    assert [r["layer"] for r in from_json.rows] == [r["layer"] for r in a.rows]
    assert from_json.network[0]["critical_layer"] == "layers.3"
    pd.testing.assert_frame_equal(compare_reports(from_json, from_csv), compare_reports(a, a))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="argument 'b'.*without metrics.json"):
        compare_reports(folder, tmp_path / "empty")
    with pytest.raises(ValueError, match="does not exist"):
        read_report(tmp_path / "nowhere")


def test_figure():
    a, b = _report(seed=0), _report(seed=1)
    b.rows[-2]["complexity_exceeds_log2_rows"] = True
    fig = compare_figure(compare_reports(a, b), labels=("seed 0", "seed 1"))
    assert fig.png[:8] == PNG_SIGNATURE and len(fig.png) > 20_000
    assert "seed 1 − seed 0" in fig.caption and "first 9 of 11" in fig.caption
    assert b"seed 1: upper bound" in fig.svg


def test_cli_compare(tmp_path, capsys):
    a, b = _report(seed=0), _report(seed=1)
    b.rows[-1]["complexity_exceeds_log2_rows"] = True
    for name, rep in (("seed0", a), ("seed1", b)):
        (tmp_path / name).mkdir()
        rep.to_csv(tmp_path / name / "metrics.csv")
    out = tmp_path / "cmp"
    code = main(["compare", str(tmp_path / "seed0"), str(tmp_path / "seed1"), "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "A = seed0, B = seed1" in text and "seed1 − seed0" in text
    assert "≤ " in text                                  # B's last layer: H(Z) only a bound
    got = pd.read_csv(out / "compare.csv")
    want = compare_reports(tmp_path / "seed0", tmp_path / "seed1")
    np.testing.assert_allclose(got["complexity_diff"], want["complexity_diff"])
    assert got["layer_a"].tolist() == want["layer_a"].tolist()
    assert (out / "compare.png").read_bytes()[:8] == PNG_SIGNATURE
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.png"]  # no temporaries

    code = main(["compare", str(tmp_path / "seed0"), str(tmp_path / "seed1"), "--out", str(out),
                 "--columns", "h_s,h_k", "--on", "depth", "--quiet"])
    assert code == 0 and capsys.readouterr().out == ""
    assert [c for c in pd.read_csv(out / "compare.csv").columns if c.endswith("_diff")] == \
        ["h_s_diff", "h_k_diff"]


@pytest.mark.parametrize("argv, fragment", [
    (["NOWHERE", "B"], "A ('NOWHERE') does not exist"),
    (["A", "B", "--columns", "kind"], "--columns: 'kind' is not"),
    (["A", "B", "--on", "name"], "invalid choice"),
])
def test_cli_errors_are_one_line(tmp_path, capsys, argv, fragment):
    for name in ("A", "B"):
        (tmp_path / name).mkdir()
        pycx.Report([{"model": "m", "layer": "r1", "h_s": 1.0}]).to_csv(tmp_path / name / "metrics.csv")
    argv = [str(tmp_path / a) if a in ("A", "B", "NOWHERE") else a for a in argv]
    code = main(["compare", *argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert fragment.replace("'NOWHERE'", repr(str(tmp_path / "NOWHERE"))) in err
