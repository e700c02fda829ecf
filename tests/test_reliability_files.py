"""Files are complete or absent (issue 13, items 3-4): saves over a good file that fail part way
(a file size limit, an interruption) leave the old file; a report folder is complete or
absent; a damaged capture file is one ValueError naming the file."""
import json
import os
import re
import textwrap
import zipfile

import numpy as np
import pytest

import pycx
from pycx.gates.result import Capture, LayerRecord
from pyrun import run_python

resource = pytest.importorskip("resource")  # RLIMIT_FSIZE: POSIX only


def make_capture(n=12, seed=0):
    """A capture built from numpy (no torch): a conv-like layer with both covariances and a
    ternary sigmoid layer with its binary bits, plus labels."""
    rng = np.random.default_rng(seed)
    conv_bits = pycx.pack_bits(rng.integers(0, 2, (n, 2 * 3 * 3), dtype=np.uint8))
    cov = pycx.Covariance(2).update(rng.standard_normal((n * 9, 2)))
    pcov = pycx.Covariance(2, batch_shape=(9,)).update(rng.standard_normal((9, n, 2)))
    conv = LayerRecord("conv.relu", "relu", "conv", (2, 3, 3), (2, 3, 3), 1, conv_bits,
                       covariance=cov, pixel_covariance=pcov)
    sig_bits = pycx.pack_bits(rng.integers(0, 2, (n, 2 * 4), dtype=np.uint8))
    binary = pycx.pack_bits(rng.integers(0, 2, (n, 4), dtype=np.uint8))
    sig = LayerRecord("fc.sigmoid", "sigmoid", "fc", (4,), (4,), 2, sig_bits, binary=binary,
                      covariance=pycx.Covariance(4).update(rng.standard_normal((n, 4))))
    return Capture({"conv.relu": conv, "fc.sigmoid": sig}, labels=np.arange(n) % 3,
                   patch_rows=None, seed=0)


def same_capture(a, b):
    assert a.names == b.names and a.n_samples == b.n_samples
    np.testing.assert_array_equal(a.labels, b.labels)
    for ra, rb in zip(a, b):
        assert ra.per_sample == rb.per_sample
        assert (ra.binary is None) == (rb.binary is None)
        np.testing.assert_array_equal(ra.covariance.covariance(), rb.covariance.covariance())


def no_temporaries(folder, keep):
    assert sorted(p.name for p in folder.iterdir()) == sorted(keep)


def run_limited(code, limit_bytes):
    """Runs ``code`` in a fresh interpreter under RLIMIT_FSIZE = limit_bytes (Python ignores
    SIGXFSZ, so a write past the limit is an OSError EFBIG: a full disk, as far as the writer
    can tell). Returns the completed process."""
    prelude = textwrap.dedent(f"""
        import resource
        resource.setrlimit(resource.RLIMIT_FSIZE, ({limit_bytes}, {limit_bytes}))
    """)
    return run_python(["-c", prelude + textwrap.dedent(code)], timeout=300)


# ------------------------------------------------------------------------------ Capture.save

def test_capture_save_round_trip_and_is_atomic_under_a_size_limit(tmp_path):
    path = tmp_path / "cap.npz"
    good = make_capture(12)
    good.save(path)
    same_capture(Capture.load(path), good)
    before = path.read_bytes()
    # A capture far larger than the limit: the write fails part way.
    proc = run_limited(f"""
        import errno, numpy as np, pycx
        from pycx.gates.result import Capture, LayerRecord
        bits = pycx.pack_bits(np.random.default_rng(0).integers(0, 2, (4000, 512), dtype=np.uint8))
        cap = Capture({{"big": LayerRecord("big", "relu", "m", (512,), (512,), 1, bits)}})
        try:
            cap.save({str(path)!r})
        except OSError as exc:
            assert exc.errno == errno.EFBIG, exc
            print("failed as expected")
    """, 64 * 1024)
    assert proc.returncode == 0, proc.stderr
    assert "failed as expected" in proc.stdout
    assert path.read_bytes() == before  # the old good file, untouched
    no_temporaries(tmp_path, ["cap.npz"])


def test_capture_save_interrupted_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "cap.npz"
    make_capture(12).save(path)
    before = path.read_bytes()

    def interrupted_savez(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted_savez)
    with pytest.raises(KeyboardInterrupt):
        make_capture(30, seed=1).save(path)
    assert path.read_bytes() == before
    no_temporaries(tmp_path, ["cap.npz"])


# ------------------------------------------------------------------------- Report.to_json/csv

def test_report_to_json_and_csv_keep_the_old_file_under_a_size_limit(tmp_path):
    from pycx.analysis.table import Report

    small = Report([{"model": "m", "layer": "l0", "h_s": 1.0}])
    json_path, csv_path = tmp_path / "r.json", tmp_path / "r.csv"
    small.to_json(json_path)
    small.to_csv(csv_path)
    before = json_path.read_bytes(), csv_path.read_bytes()
    proc = run_limited(f"""
        import errno
        from pycx.analysis.table import Report
        big = Report([{{"model": "m" * 200, "layer": f"l{{i}}", "h_s": 0.5}} for i in range(2000)])
        for write, path in ((big.to_json, {str(json_path)!r}), (big.to_csv, {str(csv_path)!r})):
            try:
                write(path)
            except OSError as exc:
                assert exc.errno == errno.EFBIG, exc
                print("failed as expected")
    """, 32 * 1024)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("failed as expected") == 2
    assert (json_path.read_bytes(), csv_path.read_bytes()) == before
    assert Report.load(json_path).rows[0]["layer"] == "l0"
    no_temporaries(tmp_path, ["r.csv", "r.json"])


# ------------------------------------------------------------------------------ write_report

REPORT_CODE = """
    import errno, sys
    sys.path.insert(0, {tests!r})
    from report_data import report_like
    from pycx.report import write_report
    try:
        write_report(report_like("m", groups=("janik",)), {out!r})
        print("written")
    except OSError as exc:
        assert exc.errno == errno.EFBIG, exc
        print("failed as expected")
"""


def test_report_folder_is_complete_or_absent(tmp_path):
    pytest.importorskip("matplotlib")
    tests = os.path.dirname(os.path.abspath(__file__))
    out = tmp_path / "rep"
    # No previous report: a failed write leaves nothing (no half folder, no temporary).
    proc = run_limited(REPORT_CODE.format(tests=tests, out=str(out)), 16 * 1024)
    assert proc.returncode == 0, proc.stderr
    assert "failed as expected" in proc.stdout
    no_temporaries(tmp_path, [])
    # A complete report, then a failed rewrite over it: the first one is still there whole.
    proc = run_python(["-c", textwrap.dedent(REPORT_CODE.format(tests=tests, out=str(out)))],
                      timeout=300)
    assert "written" in proc.stdout, proc.stderr
    files = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"report.html", "metrics.csv", "metrics.json"} <= set(files)
    proc = run_limited(REPORT_CODE.format(tests=tests, out=str(out)), 16 * 1024)
    assert "failed as expected" in proc.stdout, proc.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == files
    no_temporaries(tmp_path, ["rep"])


def test_report_refuses_a_folder_with_other_files(tmp_path):
    from report_data import report_like
    from pycx.report import write_report

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"out_dir.*notes\.txt.*new or empty folder"):
        write_report(report_like("m", groups=("janik",)), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]
    (tmp_path / "afile").write_text("x")
    with pytest.raises(ValueError, match="existing file"):
        write_report(report_like("m", groups=("janik",)), tmp_path / "afile")


# ----------------------------------------------------------------- damaged capture files

def _arrays(path):
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _header(arrays):
    return json.loads(str(arrays["header"]))


def _with_header(arrays, edit):
    h = _header(arrays)
    edit(h)
    arrays["header"] = np.array(json.dumps(h))
    return arrays


def _drop(arrays, key):
    del arrays[key]
    return arrays


def _put(arrays, key, value):
    arrays[key] = value
    return arrays


def _rename_layer(h):
    h["layers"][1]["name"] = h["layers"][0]["name"]


DAMAGE = {
    # what is done to a good file -> words the message must contain
    "duplicate layer names": (lambda a: _with_header(a, _rename_layer), "repeated"),
    "rows differ between layers": (lambda a: _put(a, "l1.sample", a["l1.sample"][:-1].copy()),
                                   "l1.sample"),
    "words per row": (lambda a: _put(a, "l0.sample", a["l0.sample"][:, :0].copy()), "l0.sample"),
    "bits past n_bits": (lambda a: _put(a, "l1.sample", a["l1.sample"] | np.uint64(1 << 63)),
                         "past"),
    "words dtype": (lambda a: _put(a, "l0.sample", a["l0.sample"].astype(np.int64)), "uint64"),
    "n_bits does not fit the shape": (
        lambda a: _with_header(a, lambda h: h["layers"][0].update(n_bits=17)), "n_bits"),
    "too few labels": (lambda a: _put(a, "labels", a["labels"][:-1].copy()), "labels"),
    "float labels": (lambda a: _put(a, "labels", a["labels"].astype(np.float64)), "labels"),
    "n_samples disagrees": (lambda a: _with_header(a, lambda h: h.update(n_samples=99)),
                            "for 99 samples"),
    "missing array": (lambda a: _drop(a, "l0.cov.m2"), "l0.cov.m2"),
    "missing binary": (lambda a: _drop(a, "l1.binary"), "l1.binary"),
    "stray array": (lambda a: _put(a, "l7.sample", a["l0.sample"]), "l7.sample"),
    "covariance mean shape": (lambda a: _put(a, "l0.cov.mean", np.zeros(3)), "l0.cov.mean"),
    "covariance dim": (lambda a: _put(a, "l0.cov.dim", np.int64(3)), "l0.cov.dim"),
    "pixel covariance count": (lambda a: _put(a, "l0.pcov.count", np.int64(5)), "l0.pcov.count"),
    "NaN moments": (lambda a: _put(a, "l1.cov.m2", a["l1.cov.m2"] * np.nan), "NaN"),
    "covariance count over the rows": (lambda a: _put(a, "l1.cov.count", np.int64(10 ** 6)),
                                       "exceeds"),
    "bits_per_unit": (lambda a: _with_header(a, lambda h: h["layers"][0].update(bits_per_unit=3)),
                      "bits_per_unit"),
    "shape not a list": (lambda a: _with_header(a, lambda h: h["layers"][0].update(shape="2x3")),
                         "shape"),
    "name not a string": (lambda a: _with_header(a, lambda h: h["layers"][0].update(name=7)),
                          "name"),
    "no layers list": (lambda a: _with_header(a, lambda h: h.pop("layers")), "layers"),
    "bad seed": (lambda a: _with_header(a, lambda h: h.update(seed=-1)), "seed"),
    "other format": (lambda a: _with_header(a, lambda h: h.update(format="x/2")), "format"),
    "header not JSON": (lambda a: _put(a, "header", np.array("{not json")), "JSON"),
    "header not a string": (lambda a: _put(a, "header", np.zeros(3)), "header"),
    "no header": (lambda a: _drop(a, "header"), "header"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_capture_is_one_value_error_naming_the_file(tmp_path, damage):
    good = tmp_path / "good.npz"
    make_capture(12).save(good)
    edit, words = DAMAGE[damage]
    bad = tmp_path / "bad.npz"
    np.savez(bad, **edit(_arrays(good)))
    with pytest.raises(ValueError, match=re.escape(str(bad))) as info:
        Capture.load(bad)
    assert words in str(info.value), str(info.value)


def _truncate(path, dest):
    data = path.read_bytes()
    dest.write_bytes(data[: len(data) // 2])


def _garbage(path, dest):
    dest.write_bytes(b"\x00not a zip at all" * 10)


def _flip_member_bytes(path, dest):
    # A zip whose member data is damaged (CRC mismatch or an unreadable .npy header).
    data = bytearray(path.read_bytes())
    name = b"l0.sample.npy"
    at = data.index(name) + len(name)
    data[at + 10: at + 60] = b"\xff" * 50
    dest.write_bytes(bytes(data))


def _pickled(path, dest):
    np.savez(dest, header=np.array([{"format": "pycx.capture/1"}], dtype=object))


def _empty_zip(path, dest):
    with zipfile.ZipFile(dest, "w"):
        pass


@pytest.mark.parametrize("damage", [_truncate, _garbage, _flip_member_bytes, _pickled,
                                    _empty_zip], ids=lambda f: f.__name__.strip("_"))
def test_unreadable_capture_file_is_one_value_error(tmp_path, damage):
    good = tmp_path / "good.npz"
    make_capture(12).save(good)
    bad = tmp_path / "bad.npz"
    damage(good, bad)
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        Capture.load(bad)


def test_missing_capture_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        Capture.load(tmp_path / "absent.npz")
