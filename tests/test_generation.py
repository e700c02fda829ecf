"""Generation ability (definitions §7): hand-computed KL divergences, KT smoothing, the classifier
helpers and their input checks."""
import math

import numpy as np
import pytest

from pycx.estimators.generation import (ImageClassifier, default_classifier, generation_ability,
                                        label_images)
from pycx.reference import generation as ref


def test_hand_computed_kl_with_kt_smoothing():
    # P = (1/2, 1/4, 1/4) from 8 training labels; 6 generated labels with counts (3, 3, 0):
    # Q = ((3.5, 3.5, 0.5) / 7.5). KL = 1/2 log2(3.75/3.5) + 1/4 log2(1.875/3.5) + 1/4 log2(3.75)
    train = [0, 0, 0, 0, 1, 1, 2, 2]
    gen = [0, 1, 0, 1, 0, 1]
    kl = 0.5 * math.log2(3.75 / 3.5) + 0.25 * math.log2(1.875 / 3.5) + 0.25 * math.log2(3.75)
    r = generation_ability(train, gen)
    assert r.kl_bits == pytest.approx(kl, rel=1e-14)  # same arithmetic, float64 rounding
    assert r.generation_ability == pytest.approx(1.0 / kl, rel=1e-14)
    assert float(r) == r.generation_ability
    np.testing.assert_allclose(r.q, [3.5 / 7.5, 3.5 / 7.5, 0.5 / 7.5], rtol=1e-15)
    assert r.n_classes == 3 and r.train_counts.tolist() == [4, 2, 2]
    assert r.generation_ability == pytest.approx(ref.generation_ability(train, gen, 3), rel=1e-14)


def test_against_reference_on_random_labels(rng):
    for c in (2, 10, 26):
        train = rng.integers(0, c, 500)
        gen = rng.integers(0, c, 300)
        assert generation_ability(train, gen, c).generation_ability == pytest.approx(
            ref.generation_ability(train, gen, c), rel=1e-12)  # different summation order


def test_classes_absent_from_training_do_not_count_but_widen_q():
    # n_classes = 4 with class 3 never seen in training: P_3 = 0 adds nothing; Q has 4 classes
    # (C/2 = 2 in the denominator). P = (1/2, 1/2, 0, 0), counts (1, 1, 0, 0): Q = 1.5/4 each of
    # the first two, KL = log2(0.5 / 0.375).
    r = generation_ability([0, 1], [0, 1], n_classes=4)
    assert r.kl_bits == pytest.approx(math.log2(0.5 / 0.375), rel=1e-14)


def test_kl_zero_gives_infinity():
    # P = (1/2, 1/2); KT keeps Q = (1/2, 1/2) for equal counts, so KL = 0 exactly.
    r = generation_ability([0, 1], [0, 0, 1, 1])
    assert r.kl_bits == 0.0 and math.isinf(r.generation_ability)


def test_torch_labels_accepted():
    torch = pytest.importorskip("torch")
    r = generation_ability(torch.tensor([0, 1, 1]), torch.tensor([1, 1]))
    assert r.generation_ability == pytest.approx(ref.generation_ability([0, 1, 1], [1, 1], 2))


def test_bad_labels():
    with pytest.raises(ValueError, match="1-D"):
        generation_ability(np.zeros((2, 2), int), [0])
    with pytest.raises(TypeError, match="integer"):
        generation_ability([0.5, 1.0], [0])
    with pytest.raises(ValueError, match="negative"):
        generation_ability([-1, 0], [0])
    with pytest.raises(ValueError, match="no labels"):
        generation_ability([0, 1], np.array([], dtype=np.int64))
    with pytest.raises(ValueError, match="outside the n_classes=2"):
        generation_ability([0, 1], [0, 2], n_classes=2)


def test_default_classifier_on_digits_and_labelling():
    pytest.importorskip("sklearn")
    pytest.importorskip("torch")
    from pycx.datasets import digits
    split = digits()
    x, y = split.train.tensors
    xt, yt = split.test.tensors
    clf = default_classifier(x, y, test_images=xt, test_labels=yt)
    assert isinstance(clf, ImageClassifier)
    # Logistic regression on sklearn's 8x8 digits is ~95% accurate on held-out images; 0.9
    # fails for a classifier fit on shuffled labels or flattened in the wrong order.
    assert clf.test_accuracy > 0.9
    pred = label_images(xt, clf)
    assert pred.dtype == np.int64 and np.mean(pred == yt.numpy()) == pytest.approx(clf.test_accuracy)
    # A callable returning class scores: argmax is taken.
    scores = np.eye(10)[yt.numpy()]
    np.testing.assert_array_equal(label_images(xt, lambda imgs: scores), yt.numpy())


def test_classifier_helpers_bad_input():
    x = np.random.default_rng(0).random((10, 4))
    y = np.arange(10) % 2
    with pytest.raises(ValueError, match="one label per image"):
        default_classifier(x, y[:9])
    with pytest.raises(ValueError, match="one label per test image"):
        default_classifier(x, y, test_images=x, test_labels=y[:3])
    with pytest.raises(ValueError, match="go together"):
        default_classifier(x, y, test_images=x)
    with pytest.raises(ValueError, match="one integer label"):
        label_images(x, lambda imgs: np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="predict"):
        label_images(x, 42)
