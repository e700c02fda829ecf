"""One label rule (issue 29): integer, bool and string labels (and object arrays of one
hashable type) are accepted everywhere labels enter (`pycx.analyze`, `pycx.capture`,
`Recorder.add_labels`, the estimators), and become integer codes in one place
(`pycx._validate.label_codes`, np.unique order): string labels give exactly the numbers of
their integer codes."""
import numpy as np
import pytest

import pycx
from pycx._validate import check_labels, label_codes

torch = pytest.importorskip("torch")

NAMES = np.array(["ant", "bee", "cat"])  # sorted: their np.unique codes are 0, 1, 2


@pytest.fixture(scope="module")
def setup(one_torch_thread):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 10), torch.nn.ReLU(), torch.nn.Linear(10, 8),
                                torch.nn.Tanh(), torch.nn.Linear(8, 3)).eval()
    x = torch.randn(150, 6)
    y = np.random.default_rng(0).integers(0, 3, 150)
    return model, x, y


KW = dict(estimators="plugin", progress=False, kmeans=False, kde_rows=100)


def assert_same_rows(a, b):
    """Every value of every row equal (NaN equal to NaN): bit for bit."""
    assert len(a.rows) == len(b.rows)
    for ra, rb in zip(a.rows, b.rows):
        assert ra.keys() == rb.keys()
        for k in ra:
            va, vb = ra[k], rb[k]
            if isinstance(va, float) and np.isnan(va):
                assert isinstance(vb, float) and np.isnan(vb), k
            else:
                assert va == vb, (k, va, vb)
    assert a.network == b.network


def test_analyze_string_labels_give_the_numbers_of_their_integer_codes(setup):
    """Failed before: analyze cast labels to int64 (ValueError on strings)."""
    model, x, y = setup
    want = pycx.analyze(model, [x], labels=y, **KW)
    assert not np.isnan(want.rows[0]["classification_error"])
    assert not np.isnan(want.rows[0]["kde_i_xy"])
    for labels in (NAMES[y], NAMES[y].astype(object), NAMES[y].astype("S"), list(NAMES[y])):
        assert_same_rows(pycx.analyze(model, [x], labels=labels, **KW), want)
    cap = pycx.capture(model, [x], progress=False)  # a Capture without labels
    assert_same_rows(pycx.analyze(cap, labels=NAMES[y], **KW), pycx.analyze(cap, labels=y, **KW))


def test_string_labels_in_batches_and_the_recorder(setup):
    """Failed before: the recorder's rule (gates/batches.py) took integers only."""
    model, x, y = setup
    want = pycx.analyze(model, [(x[:70], torch.from_numpy(y[:70])), (x[70:], torch.from_numpy(y[70:]))],
                        **KW)
    # A DataLoader collates strings to a list or tuple of str.
    got = pycx.analyze(model, [(x[:70], list(NAMES[y[:70]])), (x[70:], tuple(NAMES[y[70:]]))],
                       **KW)
    assert_same_rows(got, want)
    cap = pycx.capture(model, [x[:70], x[70:]], labels=iter([NAMES[y[:70]], NAMES[y[70:]]]),
                       progress=False)
    assert cap.labels.tolist() == NAMES[y].tolist()
    with pycx.Recorder(model) as rec:
        model(x)
        rec.add_labels(NAMES[y])
    assert rec.result().labels.tolist() == NAMES[y].tolist()
    # Integer labels keep the capture's int64 labels, value for value.
    cap = pycx.capture(model, [(x, torch.from_numpy(y).to(torch.int16))], progress=False)
    assert cap.labels.dtype == np.int64 and cap.labels.tolist() == y.tolist()


def test_estimators_take_string_labels_as_their_codes():
    rng = np.random.default_rng(1)
    z = rng.random((120, 7)) < 0.4
    y = rng.integers(0, 4, 120)
    s = np.array(["a", "b", "c", "d"])[y]
    ke, ks = pycx.kde_entropy(z, labels=y, alpha=0.1), pycx.kde_entropy(z, labels=s, alpha=0.1)
    assert (ke.conditional_entropy, ke.mutual_information, ke.label_entropy) == \
        (ks.conditional_entropy, ks.mutual_information, ks.label_entropy)
    assert pycx.resolution_relevance(z, y).classification_error == \
        pycx.resolution_relevance(z, s.astype(object)).classification_error
    classes, table = pycx.state_counts(z, labels=s).label_counts()
    _, want = pycx.state_counts(z, labels=y).label_counts()
    assert classes.tolist() == ["a", "b", "c", "d"] and np.array_equal(table, want)
    assert pycx.resolution_relevance(z, y > 1).classification_error == \
        pycx.resolution_relevance(z, (y > 1).astype(np.int64)).classification_error


def test_label_codes_is_np_unique_order():
    classes, codes = label_codes(np.array(["b", "a", "b", "c"]))
    assert classes.tolist() == ["a", "b", "c"] and codes.tolist() == [1, 0, 1, 2]
    assert codes.dtype == np.int64
    classes, codes = label_codes(np.array([7, -1, 7], np.int8))
    assert classes.tolist() == [-1, 7] and codes.tolist() == [1, 0, 1]
    import enum

    class Pet(enum.Enum):  # hashable, without an order: coded first seen, first coded
        DOG = 1
        CAT = 2

    y = np.array([Pet.CAT, Pet.DOG, Pet.CAT], dtype=object)
    classes, codes = label_codes(check_labels("labels", y, 3))
    assert classes.tolist() == [Pet.CAT, Pet.DOG] and codes.tolist() == [0, 1, 0]


def test_labels_that_break_the_rule_are_errors_naming_the_argument(setup):
    model, x, y = setup
    with pytest.raises(TypeError, match="'labels' must hold integer class labels"):
        check_labels("labels", np.zeros(3, np.float32), 3)
    with pytest.raises(TypeError, match="'labels'.*one hashable type.*'int', 'str'"):
        check_labels("labels", np.array(["a", 1, "b"], dtype=object), 3)
    with pytest.raises(TypeError, match="'labels'.*NoneType"):
        check_labels("labels", np.array(["a", None, "b"], dtype=object), 3)
    with pytest.raises(TypeError, match="'labels'.*float"):
        check_labels("labels", np.array([1.0, 2.0], dtype=object), 2)
    with pytest.raises(TypeError, match="'labels' must hold integer class labels"):
        pycx.analyze(model, [x], labels=np.zeros(150), **KW)
    with pytest.raises(TypeError, match="'y' must hold integer class labels"):
        pycx.capture(model, [(x, torch.randn(150))], progress=False)
    with pytest.raises(ValueError, match="uint64 labels above 2\\*\\*63 - 1"):
        pycx.capture(model, [x[:2]], labels=np.array([2**64 - 1, 3], np.uint64), progress=False)


def _saved_and_loaded(cap, tmp_path, name="cap.npz"):
    path = tmp_path / name
    cap.save(path)
    return pycx.Capture.load(path)


def test_capture_save_load_round_trips_every_label_kind(setup, tmp_path):
    """Failed before: save wrote string and bool labels, load accepted integer labels only."""
    model, x, y = setup
    cap = pycx.capture(model, [x], progress=False)
    for labels in (y.astype(np.int64), NAMES[y], NAMES[y].astype("S"), y > 0,
                   np.array([-5, 2**40, 7], np.int64)[y]):
        got = _saved_and_loaded(pycx.Capture(cap.layers, labels), tmp_path).labels
        assert got.dtype == labels.dtype and got.tolist() == labels.tolist(), labels.dtype
    # An object array of str (a pandas column) is stored as a numpy string array, value for
    # value (the file holds no pickle); the analysis of the reopened capture is unchanged.
    cap = pycx.capture(model, [(x, list(NAMES[y]))], progress=False)
    assert cap.labels.tolist() == NAMES[y].tolist()
    obj = pycx.Capture(cap.layers, NAMES[y].astype(object))
    back = _saved_and_loaded(obj, tmp_path)
    assert back.labels.dtype.kind == "U" and back.labels.tolist() == NAMES[y].tolist()
    assert_same_rows(pycx.analyze(back, **KW), pycx.analyze(cap, **KW))


def test_capture_save_refuses_labels_a_file_cannot_hold_without_pickle(setup, tmp_path):
    import enum

    class Pet(enum.Enum):
        DOG = 1
        CAT = 2

    model, x, y = setup
    cap = pycx.capture(model, [x[:3]], progress=False)
    pets = np.array([Pet.CAT, Pet.DOG, Pet.CAT], dtype=object)
    with pytest.raises(TypeError, match="labels.*Pet.*np.asarray\\(labels, dtype=str\\)"):
        pycx.Capture(cap.layers, pets).save(tmp_path / "pets.npz")
    assert not (tmp_path / "pets.npz").exists()
    # Strings a numpy string array would change (a trailing NUL is dropped) are refused too.
    with pytest.raises(TypeError, match="labels"):
        pycx.Capture(cap.layers, np.array(["a", "a\x00", "b"], dtype=object)).save(
            tmp_path / "nul.npz")


def test_mixed_label_kinds_across_batches_are_refused(setup):
    """Failed before: integer labels in batch 1 and strings in batch 2 were concatenated into
    strings ('0' beside 'cat': the integer 0 silently became a string label), and bytes beside
    str were decoded into one label."""
    model, x, y = setup
    with pytest.raises(TypeError, match=r"batch 2 has string labels.*batch 1 had integer"):
        pycx.capture(model, [(x[:70], torch.from_numpy(y[:70])), (x[70:], list(NAMES[y[70:]]))],
                     progress=False)
    with pytest.raises(TypeError, match=r"batch 3 has bytes labels.*batches 1-2 had string"):
        pycx.capture(model, [(x[:50], NAMES[y[:50]]), (x[50:100], NAMES[y[50:100]]),
                             (x[100:], NAMES[y[100:]].astype("S"))], progress=False)
    with pytest.raises(TypeError, match=r"batch 2 has object \(Pet\) labels.*batch 1 had"):
        import enum

        class Pet(enum.Enum):
            DOG = 1

        with pycx.Recorder(model) as rec:
            model(x[:2])
            rec.add_labels(np.array([1, 2]))
            model(x[2:4])
            rec.add_labels(np.array([Pet.DOG, Pet.DOG], dtype=object))
    # Bools are integer labels (as int64), and str in an object array is a string label.
    cap = pycx.capture(model, [(x[:70], y[:70] > 0), (x[70:], y[70:].astype(np.int16))],
                       progress=False)
    assert cap.labels.dtype == np.int64 and cap.labels.tolist() == np.where(
        np.arange(150) < 70, y > 0, y).tolist()
    cap = pycx.capture(model, [(x[:70], NAMES[y[:70]]), (x[70:], NAMES[y[70:]].astype(object))],
                       progress=False)
    assert cap.labels.tolist() == NAMES[y].tolist()
