"""Generation ability (docs/definitions.md §7; Song, Marsili & Jo eq. 9): how closely the label
distribution of generated samples follows that of the training samples.

``generation_ability = 1 / KL(P || Q)`` in bits, P the training label distribution, Q the
generated one smoothed by Krichevsky-Trofimov (add 1/2 per class), so that a class the
generator never produces gives a large but finite divergence; KL = 0 gives infinity.

Generated images are labelled by a classifier trained on real data: `label_images` applies one
the user supplies, `default_classifier` trains sklearn's multinomial logistic regression on the
real images and reports its held-out accuracy. numpy only at import.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Optional

import numpy as np

from .._validate import as_host_array, check_int, describe
from ._common import Result

if TYPE_CHECKING:
    import numpy.typing as npt


@dataclass(frozen=True)
class GenerationAbility(Result):
    """Result of `generation_ability`; ``float(result)`` is the generation ability.

    >>> float(generation_ability([0, 1], [0, 1, 1]))  # doctest: +ELLIPSIS
    21.48...
    """
    generation_ability: float      # 1 / kl_bits (inf when kl_bits == 0)
    kl_bits: float                 # KL(P || Q), bits
    p: np.ndarray                  # training label distribution over the C classes
    q: np.ndarray                  # KT-smoothed generated label distribution
    train_counts: np.ndarray
    generated_counts: np.ndarray
    n_classes: int
    settings: dict = field(default_factory=dict)

    def __float__(self) -> float:
        return float(self.generation_ability)


def _labels(name: str, labels) -> np.ndarray:
    y = as_host_array(name, labels)
    if y.ndim != 1:
        raise ValueError(f"argument '{name}' must be a 1-D array of class labels, got {describe(y)}")
    if y.dtype.kind not in "iub":
        raise TypeError(f"argument '{name}' must hold integer class labels, got {describe(y)}")
    if y.shape[0] == 0:
        raise ValueError(f"argument '{name}' has no labels ({describe(y)})")
    if y.dtype.kind == "i" and int(y.min()) < 0:
        raise ValueError(f"argument '{name}' holds negative labels (min {int(y.min())}); "
                         "labels must be class indices 0..C-1")
    return y.astype(np.int64, copy=False)


def generation_ability(train_labels: npt.ArrayLike, generated_labels: npt.ArrayLike,
                       n_classes: Optional[int] = None
                       ) -> GenerationAbility:
    """``1 / KL(P || Q)`` (bits) between the training labels' distribution P and the generated
    labels' distribution Q (docs/definitions.md §7), ``Q_c = (n_c + 1/2) / (n_gen + C/2)``.

    train_labels, generated_labels: 1-D integer class indices (any lengths). n_classes: C
    (default: one more than the largest label of either array); labels must be below it.

    >>> r = generation_ability([0, 0, 1, 1], [0, 0, 0, 1])
    >>> round(r.kl_bits, 4), round(r.generation_ability, 2)
    (0.1258, 7.95)
    """
    y_train = _labels("train_labels", train_labels)
    y_gen = _labels("generated_labels", generated_labels)
    top = int(max(y_train.max(), y_gen.max()))
    if n_classes is None:
        c = top + 1
    else:
        c = check_int("n_classes", n_classes, minimum=1)
        for name, y in (("train_labels", y_train), ("generated_labels", y_gen)):
            if int(y.max()) >= c:
                raise ValueError(f"argument '{name}' holds label {int(y.max())}, outside the "
                                 f"n_classes={c} classes 0..{c - 1}")
    train_counts = np.bincount(y_train, minlength=c)
    gen_counts = np.bincount(y_gen, minlength=c)
    p = train_counts / train_counts.sum()
    q = (gen_counts + 0.5) / (gen_counts.sum() + c / 2.0)
    seen = p > 0
    kl = float(np.sum(p[seen] * np.log2(p[seen] / q[seen])))
    kl = max(kl, 0.0)  # Gibbs' inequality; guards a rounding-level negative
    ga = float("inf") if kl == 0.0 else 1.0 / kl
    return GenerationAbility(ga, kl, p, q, train_counts, gen_counts, c,
                             settings={"smoothing": "krichevsky-trofimov (+1/2 per class)",
                                       "unit": "bits"})


def _flat_images(name: str, images) -> np.ndarray:
    if type(images).__module__.split(".")[0] == "torch":
        images = images.detach().cpu()
    x = as_host_array(name, images)
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"argument '{name}' must hold N >= 1 images (N, ...), got {describe(x)}")
    if x.dtype.kind != "f":
        raise TypeError(f"argument '{name}' must hold floating pixel values, got {describe(x)}")
    return x.reshape(x.shape[0], -1)


class ImageClassifier:
    """A label classifier of flattened images: ``predict(images) -> int64 labels``;
    ``test_accuracy`` on the held-out images it was given (None without them). Made by
    `default_classifier`.

    >>> import numpy as np
    >>> clf = default_classifier(np.eye(2), np.array([0, 1]))
    >>> clf.predict(np.eye(2)).tolist(), clf.test_accuracy is None
    ([0, 1], True)
    """

    def __init__(self, model: Any, n_features: int, train_accuracy: float,
                 test_accuracy: Optional[float], description: str) -> None:
        self.model = model
        self.n_features = n_features
        self.train_accuracy = train_accuracy
        self.test_accuracy = test_accuracy
        self.description = description

    def predict(self, images) -> np.ndarray:
        x = _flat_images("images", images)
        if x.shape[1] != self.n_features:
            raise ValueError(f"argument 'images' must have {self.n_features} values per image, "
                             f"got {describe(x)}")
        return np.asarray(self.model.predict(x), dtype=np.int64)

    def __repr__(self) -> str:
        acc = "n/a" if self.test_accuracy is None else f"{self.test_accuracy:.4f}"
        return f"ImageClassifier({self.description}, test_accuracy={acc})"


def default_classifier(images: npt.ArrayLike, labels: npt.ArrayLike, *,
                       test_images: Optional[npt.ArrayLike] = None,
                       test_labels: Optional[npt.ArrayLike] = None, seed: int = 0,
                       C: float = 0.1, max_iter: int = 300) -> ImageClassifier:
    """Multinomial logistic regression (sklearn, lbfgs, L2 strength ``1/C``) on the flattened
    training images; accuracy reported on ``(test_images, test_labels)`` when given.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200); x = rng.random((200, 4)) * 0.2 + y[:, None] * 0.8
    >>> clf = default_classifier(x, y, test_images=x, test_labels=y)
    >>> clf.test_accuracy
    1.0
    """
    from sklearn.linear_model import LogisticRegression

    x = _flat_images("images", images)
    y = _labels("labels", labels)
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"argument 'labels' must have one label per image ({x.shape[0]}), "
                         f"got {describe(y)}")
    check_int("seed", seed, minimum=0)
    model = LogisticRegression(C=float(C), max_iter=int(max_iter), random_state=int(seed))
    model.fit(x, y)
    train_acc = float(np.mean(model.predict(x) == y))
    test_acc = None
    if test_images is not None or test_labels is not None:
        if test_images is None or test_labels is None:
            raise ValueError("arguments 'test_images' and 'test_labels' go together")
        xt = _flat_images("test_images", test_images)
        yt = _labels("test_labels", test_labels)
        if yt.shape[0] != xt.shape[0]:
            raise ValueError(f"argument 'test_labels' must have one label per test image "
                             f"({xt.shape[0]}), got {describe(yt)}")
        if xt.shape[1] != x.shape[1]:
            raise ValueError(f"argument 'test_images' must have {x.shape[1]} values per image, "
                             f"got {describe(xt)}")
        test_acc = float(np.mean(model.predict(xt) == yt))
    return ImageClassifier(model, x.shape[1], train_acc, test_acc,
                           f"logistic regression C={C:g}")


def label_images(images: npt.ArrayLike, classifier: ImageClassifier) -> np.ndarray:
    """Labels of generated images from `classifier`: an object with ``predict(images)``
    (`ImageClassifier`, sklearn estimators on flattened images) or a callable returning
    labels ``(N,)`` or class scores ``(N, C)`` (argmax taken).

    >>> import numpy as np
    >>> label_images(np.zeros((3, 2)) + [[0.1, 0.9]], lambda x: x).tolist()
    [1, 1, 1]
    """
    n = getattr(images, "shape", (None,))[0]
    if isinstance(classifier, ImageClassifier):
        out = classifier.predict(images)
    elif hasattr(classifier, "predict"):
        out = classifier.predict(_flat_images("images", images))
    elif callable(classifier):
        out = classifier(images)
    else:
        raise TypeError(f"argument 'classifier' must have predict() or be callable, got "
                        f"{type(classifier).__name__}")
    if type(out).__module__.split(".")[0] == "torch":
        out = out.detach().cpu()
    out = np.asarray(out)
    if out.ndim == 2:
        out = out.argmax(axis=1)
    if out.ndim != 1 or (n is not None and out.shape[0] != n) or out.dtype.kind not in "iub":
        raise ValueError(f"the classifier must return one integer label (or a row of class "
                         f"scores) per image ({n}), got {describe(out)}")
    return out.astype(np.int64)


__all__ = ["GenerationAbility", "ImageClassifier", "default_classifier", "generation_ability",
           "label_images"]
