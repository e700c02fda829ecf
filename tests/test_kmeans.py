"""The k-means baseline shows its progress (it took 91 s of a 140 s run on 60,000 samples
behind a frozen bar), and the bar changes no value."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from pycx.analysis.kmeans import kmeans_curve  # noqa: E402

OPTS = {"k_min_log2": 2, "k_max_log2": 4, "k_cap": None, "pca_dims": 4, "max_iter": 20}


class _Recorder:
    """Stands in for tqdm: records the bar's total and updates (what a terminal shows depends
    on tqdm's refresh interval, so the printed text is no reliable witness)."""
    made = []

    def __init__(self, total=None, desc=None, **kwargs):
        self.total, self.desc, self.n, self.closed = total, desc, 0, False
        _Recorder.made.append(self)

    def update(self, n=1):
        self.n += n

    def set_postfix_str(self, text):
        pass

    def close(self):
        self.closed = True


def test_kmeans_progress_bar_and_same_values(monkeypatch):
    tqdm_auto = pytest.importorskip("tqdm.auto")
    monkeypatch.setattr(tqdm_auto, "tqdm", _Recorder)
    x = np.random.default_rng(0).standard_normal((300, 8))
    quiet = kmeans_curve(x, OPTS, seed=0)
    assert not _Recorder.made
    shown = kmeans_curve(x, OPTS, seed=0, progress=True)
    (bar,) = _Recorder.made
    assert bar.desc == "pycx k-means baseline" and bar.closed
    assert bar.total == bar.n == 5  # projection, centres, k = 4, 8, 16
    assert shown[0] == quiet[0]
