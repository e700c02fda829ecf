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
