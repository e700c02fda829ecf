"""The k-means baseline shows its progress (it took 91 s of a 140 s run on 60,000 samples
behind a frozen bar), and the bar changes no value."""
import numpy as np
import pytest

pytest.importorskip("sklearn")

from pycx.analysis.kmeans import kmeans_curve  # noqa: E402

OPTS = {"k_min_log2": 2, "k_max_log2": 4, "k_cap": None, "pca_dims": 4, "max_iter": 20}


def test_kmeans_progress_bar_and_same_values(capsys):
    pytest.importorskip("tqdm")
    x = np.random.default_rng(0).standard_normal((300, 8))
    quiet = kmeans_curve(x, OPTS, seed=0)
    assert "k-means" not in capsys.readouterr().err
    shown = kmeans_curve(x, OPTS, seed=0, progress=True)
    err = capsys.readouterr().err
    assert "pycx k-means baseline" in err
    assert "5/5" in err  # projection, centres, k = 4, 8, 16
    assert shown[0] == quiet[0]
