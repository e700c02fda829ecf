"""pycx.analyze / Report / Tracker: every table value against the array-level estimator applied
to the captured layer, and properties of small networks trained here on the digits data set."""
import json
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("sklearn")
nn = torch.nn
F = torch.nn.functional

import pycx  # noqa: E402
from pycx.gates.store import subsample_rows  # noqa: E402
from pycx.analysis.table import COLUMNS  # noqa: E402


# --- data and models trained in the tests ------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    d = load_digits()
    x = torch.tensor(d.data / 16.0, dtype=torch.float32)
    y = torch.tensor(d.target, dtype=torch.int64)
    return x, y


def batches(x, y=None, size=300):
    return [x[i:i + size] if y is None else (x[i:i + size], y[i:i + size])
            for i in range(0, len(x), size)]


def train(model, x, y, steps, lr=1e-2, seed=0):
    """Full-batch Adam. One torch thread: these tensors are small, and two threads on a busy
    2-core machine take 3x longer than one."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        model.train()
        for _ in range(steps):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return model


class ConvNet(nn.Module):
    """Conv gates (per-patch differs from per-sample), a max pool and a linear ReLU layer."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(6, 8, 3, padding=1)
        self.fc1 = nn.Linear(8 * 4 * 4, 12)
        self.fc2 = nn.Linear(12, 10)

    def forward(self, x):
        x = x.reshape(-1, 1, 8, 8)
        x = self.pool(F.relu(self.conv1(x)))
        x = F.relu(self.conv2(x))
        x = F.relu(self.fc1(x.flatten(1)))
        return self.fc2(x)


class SigmoidStack(nn.Module):
    """Narrowing sigmoid layers 64 -> 24 -> 8 -> 4 -> 2. With ``hard`` each layer passes on its
    binarised output (> 0.5), so every layer's state is a function of the previous layer's
    state: distinct states can only merge, and must merge once a layer has fewer possible
    states than the one before it has."""

    def __init__(self):
        super().__init__()
        self.fcs = nn.ModuleList([nn.Linear(a, b) for a, b in [(64, 24), (24, 8), (8, 4), (4, 2)]])
        self.out = nn.Linear(2, 10)
        self.hard = False

    def forward(self, x):
        for fc in self.fcs:
            x = torch.sigmoid(fc(x))
            if self.hard:
                x = (x > 0.5).float()
        return self.out(x)


@pytest.fixture(scope="module")
def convnet(digits):
    x, y = digits
    torch.manual_seed(0)
    return train(ConvNet(), x, y, steps=40)


@pytest.fixture(scope="module")
def conv_capture(convnet, digits):
    x, y = digits
    return pycx.capture(convnet, batches(x, y), progress=False)


# --- table values equal the array-level estimators -------------------------------------------

def per_patch_of(rec):
    """Per-patch rows of a layer rebuilt from its unpacked per-sample bits (n*H*W + h*W + w)."""
    bits = rec.per_sample.unpack()
    n, c = bits.shape[0], rec.channels
    t = bits.reshape(n, c, -1).transpose(0, 2, 1).reshape(-1, c)
    return pycx.pack_bits(t)


def test_values_equal_array_estimators(conv_capture):
    cap = conv_capture
    patch_rows, kde_rows = 3000, 500
    xgb = {"method": "xgb", "n_estimators": 20}
    rep = pycx.analyze(cap, metrics="all", estimators={"complexity": xgb}, patch_rows=patch_rows,
                       kde_rows=kde_rows, seed=3, progress=False, kmeans=False)
    rows = {r["layer"]: r for r in rep.rows}
    assert list(rows) == cap.names
    y = cap.labels
    kde_index = np.sort(np.random.default_rng(3).choice(cap.n_samples, kde_rows, replace=False))
    names = cap.names
    for depth, name in enumerate(names):
        rec, row = cap[name], rows[name]
        full = per_patch_of(rec)
        if full.n_rows > patch_rows:
            patch = full[subsample_rows(full.n_rows, patch_rows, 3)]
        else:
            patch = full
        assert row["rows_patch"] == patch.n_rows and row["depth"] == depth
        assert row["units"] == rec.shape[0] and row["rows_sample"] == cap.n_samples
        assert row["sample_bits"] == rec.per_sample.n_bits
        assert row["linearity"] == pytest.approx(pycx.linearity(patch), abs=1e-12)
        assert row["unit_entropy_mean"] == pytest.approx(pycx.unit_entropies(patch).mean(), abs=1e-12)
        h = pycx.xgb_entropy(patch, n_estimators=20, seed=3).entropy
        assert row["complexity"] == pytest.approx(h, abs=1e-9)
        assert row["complexity_bound_log2_rows"] == pytest.approx(math.log2(patch.n_rows), abs=1e-12)
        assert row["complexity_exceeds_log2_rows"] == (h > math.log2(patch.n_rows))
        assert row["complexity_per_neuron"] == pytest.approx(h / rec.shape[0], abs=1e-9)
        assert row["ntc"] == pytest.approx(pycx.normalized_total_correlation(patch, h), abs=1e-9)
        assert row["complexity_estimator"] == "xgb"
        assert row["effective_dimension"] == pytest.approx(
            pycx.effective_dimension(rec.covariance), abs=1e-12)
        rr = pycx.resolution_relevance(rec.per_sample, y)
        for col, val in [("h_s", rr.h_s), ("h_k", rr.h_k), ("h_s_norm", rr.h_s_normalized),
                         ("h_k_norm", rr.h_k_normalized), ("beta_mle", rr.beta_mle),
                         ("beta_ls", rr.beta_least_squares), ("n_states", rr.n_states),
                         ("classification_error", rr.classification_error)]:
            assert row[col] == pytest.approx(val, abs=1e-12, nan_ok=True), col
        gates = rec.per_sample[kde_index]
        layer = "conv" if len(rec.output_shape) > 1 else "linear"
        ke = pycx.kde_entropy(gates, labels=y[kde_index], layer=layer)
        tc = pycx.kde_total_correlation(gates, layer=layer, seed=3)
        assert row["kde_alpha"] == (0.04 if layer == "conv" else 0.01)
        for col, val in [("kde_h", ke.entropy), ("kde_h_given_y", ke.conditional_entropy),
                         ("kde_i_xy", ke.mutual_information), ("kde_s2", ke.s2),
                         ("kde_tc", tc.total_correlation)]:
            assert row[col] == pytest.approx(val, abs=1e-9), col
        assert row["kde_h_max"] == math.log2(kde_rows)
        assert row["kde_saturated"] == (ke.entropy >= math.log2(kde_rows) - 0.01)
        q = np.bincount(y[kde_index]) / kde_rows
        h_y = float(-(q[q > 0] * np.log2(q[q > 0])).sum())
        assert row["kde_h_y"] == pytest.approx(h_y, abs=1e-12)
        assert row["kde_i_xy_saturated"] == (ke.mutual_information >= h_y - 0.01)
        later = names[depth:]
        concat = pycx.concat_bits([cap[n].per_sample for n in later])
        assert row["plugin_h_concat"] == pytest.approx(pycx.plugin_entropy(concat).entropy, abs=1e-9)
        kc = pycx.kde_entropy(pycx.concat_bits([cap[n].per_sample[kde_index] for n in later]),
                              layer=layer)
        assert row["kde_h_concat"] == pytest.approx(kc.entropy, abs=1e-9)
    net = rep.network[0]
    assert net["network_complexity"] == pytest.approx(sum(r["complexity"] for r in rep.rows))
    # Critical: max H[s] + H[k] among layers with H[k] > 0; Zipf: defined beta closest to 1.
    sums = [r["h_s"] + r["h_k"] if r["h_k"] > 0 else -np.inf for r in rep.rows]
    assert net["critical_layer"] == rep.rows[int(np.argmax(sums))]["layer"]
    betas = np.array([r["beta_mle"] for r in rep.rows])
    betas[~np.isfinite(betas)] = np.nan
    assert net["zipf_layer"] == rep.rows[int(np.nanargmin(np.abs(betas - 1)))]["layer"]
    assert rep.settings["patch_rows"] == patch_rows and rep.settings["seed"] == 3
    assert rep.settings["estimators"]["complexity"]["n_estimators"] == 20


def test_plugin_estimator_and_pixel_map(convnet, digits):
    x, y = digits
    rep = pycx.analyze(convnet, batches(x, y), metrics="janik", estimators="plugin",
                       patch_rows=None, pixel_map=True, max_samples=600, progress=False)
    cap = pycx.capture(convnet, batches(x, y), max_samples=600, pixel_covariance=True,
                       progress=False)
    for row in rep.rows:
        rec = cap[row["layer"]]
        patch = per_patch_of(rec)
        assert row["rows_patch"] == patch.n_rows
        assert row["complexity"] == pytest.approx(pycx.plugin_entropy(patch).entropy, abs=1e-12)
        assert row["complexity_estimator"] == "plugin"
        if rec.pixel_covariance is not None:
            expect = pycx.effective_dimension_map(rec.pixel_covariance)
            np.testing.assert_allclose(
                np.asarray(rep.curves["effective_dimension_map"][row["layer"]]).reshape(-1),
                expect.reshape(-1), atol=1e-12)
    assert rep.settings["max_samples"] == 600 and rep.rows[0]["rows_sample"] == 600
    assert all(math.isnan(r["h_s"]) and math.isnan(r["kde_h"]) for r in rep.rows)


# --- properties of trained networks ---------------------------------------------------------

def test_properties_of_trained_convnet(conv_capture):
    rep = pycx.analyze(conv_capture, estimators="miller_madow", patch_rows=4000, kde_rows=800,
                       progress=False, kmeans=False)
    m = conv_capture.n_samples
    concat = [r["plugin_h_concat"] for r in rep.rows]
    # Prop. 2 of paper 004: exact for plug-in entropies of concatenated states.
    assert all(a >= b - 1e-12 for a, b in zip(concat, concat[1:]))
    for r, rec in zip(rep.rows, conv_capture):
        assert 0.0 <= r["h_s"] <= math.log2(m) + 1e-12
        assert 0.0 <= r["h_k"] <= math.log2(m) + 1e-12
        assert 0.0 <= r["kde_h"] <= math.log2(r["rows_kde"]) + 1e-12
        assert 0.0 <= r["linearity"] <= 1.0
        assert r["ntc"] <= 1.0
        c = rec.output_shape[0]
        assert 1.0 - 1e-9 <= r["effective_dimension"] <= c + 1e-9
        assert r["h_s"] <= r["plugin_h_concat"] + 1e-12  # adding later layers cannot merge states
    # The first layer's concatenation holds every layer: as fine as the finest one.
    assert concat[0] >= max(r["h_s"] for r in rep.rows) - 1e-12


def test_sigmoid_stack_resolution_strictly_decreases(digits):
    x, y = digits
    torch.manual_seed(1)
    model = train(SigmoidStack(), x, y, steps=150, lr=2e-2)
    model.hard = True
    rep = pycx.analyze(model, batches(x, y), metrics="relevance", progress=False, kmeans=False)
    assert [r["kind"] for r in rep.rows] == ["sigmoid"] * 4
    h_s = [r["h_s"] for r in rep.rows]
    states = [r["n_states"] for r in rep.rows]
    widths = [24, 8, 4, 2]
    assert all(s <= 2 ** w for s, w in zip(states, widths))
    # Each layer's state is a function of the one before: states can only merge (H[s] never
    # grows), and where they merge H[s] drops strictly. A layer with more states than the next
    # layer can represent forces a merge.
    merged = 0
    for i in range(3):
        assert states[i + 1] <= states[i]
        if states[i + 1] < states[i]:
            assert h_s[i + 1] < h_s[i], (h_s, states)
            merged += 1
        else:
            assert h_s[i + 1] == pytest.approx(h_s[i], abs=1e-12)
    assert states[1] > 2 ** widths[2]  # the 4-unit layer cannot hold them all: a forced merge
    assert merged >= 2
    errors = [r["classification_error"] for r in rep.rows]
    assert all(a <= b + 1e-12 for a, b in zip(errors, errors[1:]))  # merged states mix labels

    # Janik metrics of ternary (sigmoid) units: linearity = fraction of unsaturated units,
    # unit entropies of the 3-valued unit, complexity per neuron over units (not bits).
    model.hard = False
    cap = pycx.capture(model, batches(x, y), progress=False)
    rep = pycx.analyze(cap, metrics="janik", estimators="plugin", patch_rows=None, progress=False)
    for row, rec in zip(rep.rows, cap):
        c = rec.shape[0]
        bits = rec.per_patch.unpack().astype(np.float64)
        lo, hi = bits[:, :c], bits[:, c:]
        assert not (lo * hi).any()  # never both saturated
        assert row["linearity"] == pytest.approx((1 - lo - hi).mean(), abs=1e-12)
        mode = lo + 2 * hi  # 0 linear, 1 low, 2 high
        unit_h = [pycx.plugin_entropy(np.eye(3, dtype=np.uint8)[mode[:, i].astype(int)]).entropy
                  for i in range(c)]
        assert row["unit_entropy_mean"] == pytest.approx(np.mean(unit_h), abs=1e-9)
        h = pycx.plugin_entropy(rec.per_patch).entropy
        assert row["complexity_per_neuron"] == pytest.approx(h / c, abs=1e-12)
        assert row["ntc"] == pytest.approx((sum(unit_h) - h) / sum(unit_h), abs=1e-9)


def test_kmeans_baseline_and_curves(digits):
    x, y = digits
    model = train(nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 10)), x, y, steps=40)
    data = (b for b in batches(x, y))  # a generator: no len()
    rep = pycx.analyze(model, data, metrics="relevance", estimators={"kmeans": {"k_max_log2": 7}})
    km = rep.curves["kmeans"]
    assert km["k"] == [4, 8, 16, 32, 64, 128]
    m = len(x)
    assert all(0 < hs <= math.log2(k) + 1e-12 for hs, k in zip(km["h_s"], km["k"]))
    assert np.allclose(np.array(km["h_s"]) / math.log2(m), km["h_s_norm"])
    assert rep.settings["kmeans"]["k_used"] == km["k"]
    mr = rep.curves["max_relevance"]
    # The integer-profile curve (definitions §3, changed): H[k] <= H[s], peak near log2 sqrt(2M).
    from pycx.reference.relevance import max_relevance_curve as ref_curve
    want = ref_curve(m)
    assert mr["M"] == m and mr["method"] == want.method
    np.testing.assert_allclose(mr["h_k"], want.h_k, rtol=1e-12, atol=1e-12)
    assert max(mr["h_k"]) < math.log2(math.sqrt(2 * m)) + 1.0
    assert all(hk <= hs + 1e-12 for hs, hk in zip(mr["h_s"], mr["h_k"]))
    deg = rep.curves["degeneracy"][rep.rows[0]["layer"]]
    assert sum(k * mk for k, mk in zip(deg["k"], deg["m_k"])) == m
    # A Capture with the inputs next to it gives the same baseline (same inputs, same seed).
    cap = pycx.capture(model, batches(x, y), progress=False)
    again = pycx.analyze(cap, x.numpy(), metrics="relevance", progress=False,
                         estimators={"kmeans": {"k_max_log2": 7}})
    assert again.curves["kmeans"]["h_s"] == km["h_s"]
    alone = pycx.analyze(cap, metrics="relevance", progress=False)
    assert "kmeans" not in alone.curves and alone.settings["kmeans"]["computed"] is False


def test_kmeans_curve_equals_one_kmeans_plusplus_run_per_k(digits):
    """The curve seeds every k from one k-means++ run to the largest k: the same centres,
    bit for bit, as a run per k (the sequential rule draws the same numbers at each step)."""
    from sklearn.cluster import KMeans, kmeans_plusplus

    from pycx.analysis.kmeans import kmeans_curve
    from pycx.reference.relevance import resolution_relevance

    x = digits[0].numpy().astype(np.float32)
    opts = {"k_min_log2": 2, "k_max_log2": 8, "k_cap": None, "pca_dims": None, "max_iter": 20}
    curve, _ = kmeans_curve(x, opts, seed=5)
    big = kmeans_plusplus(x, 256, n_local_trials=1, random_state=5)[0]
    for j, k in enumerate(curve["k"]):
        own = kmeans_plusplus(x, k, n_local_trials=1, random_state=5)[0]
        assert np.array_equal(own, big[:k]), k
        km = KMeans(n_clusters=k, init=own, n_init=1, max_iter=20, random_state=5).fit(x)
        counts = np.bincount(km.labels_, minlength=k)
        r = resolution_relevance(counts[counts > 0])
        assert (curve["h_s"][j], curve["h_k"][j]) == (r.h_s, r.h_k), k


# --- Tracker, persistence -----------------------------------------------------------------------

def test_tracker_rows_per_layer_per_epoch(digits, tmp_path):
    x, y = digits
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, 8), nn.ReLU(),
                          nn.Linear(8, 10))
    tracker = pycx.Tracker(model, batches(x, y), every=1, metrics=["janik", "relevance"],
                           estimators={"complexity": "plugin", "kmeans": {"k_max_log2": 4}},
                           progress=False, model_name="mlp",
                           blocks={"first": ["1"], "second": ["3"]})
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for epoch in range(3):
        for _ in range(20):
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
        tracker.step(epoch)
    rep = tracker.report
    df = rep.to_pandas()
    assert len(df) == 3 * 2
    assert sorted(df.groupby("epoch").size().to_dict().items()) == [(0, 2), (1, 2), (2, 2)]
    assert list(df["block"][:2]) == ["first", "second"] and (df["model"] == "mlp").all()
    assert [n["epoch"] for n in rep.network] == [0, 1, 2]
    assert rep.network[0]["block_avg"]["first"]["h_s"] == pytest.approx(df["h_s"][0])
    # training changes the states: the trajectory is not constant
    assert df[df.layer == "1"]["h_s"].nunique() > 1
    assert len(rep.settings["runs"]) == 3 and "capture" in rep.settings["timings"]
    assert rep.curves["kmeans"]["k"] == [4, 8, 16] and rep.curves["kmeans"]["epoch"] == 0
    assert "relevance.kmeans" not in rep.settings["runs"][1]["timings"]  # inputs only: once

    every2 = pycx.Tracker(model, batches(x, y), every=2, metrics="janik", estimators="plugin",
                          progress=False)
    got = [every2.step(e) is not None for e in range(5)]
    assert got == [True, False, True, False, True]
    assert sorted(set(every2.report.to_pandas()["epoch"])) == [0, 2, 4]

    path = tmp_path / "report.json"
    rep.to_json(path)
    json.loads(path.read_text())  # strict JSON (no NaN tokens)
    back = pycx.Report.load(path)
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(back.to_pandas(), df)
    assert back.network == rep.network and back.curves == json.loads(json.dumps(rep.curves))
    assert back.settings["timings"] == pytest.approx(rep.settings["timings"])
    csv_path = tmp_path / "report.csv"
    rep.to_csv(csv_path)
    from_csv = pd.read_csv(csv_path, keep_default_na=True)
    assert list(from_csv.columns) == COLUMNS
    np.testing.assert_allclose(from_csv["complexity"], df["complexity"])
    assert from_csv["kde_h"].isna().all()


def test_report_schema_and_concatenation(conv_capture):
    a = pycx.analyze(conv_capture, metrics="janik", estimators="plugin", progress=False,
                     model_name="a", epoch=0)
    b = pycx.analyze(conv_capture, metrics="janik", estimators="plugin", progress=False,
                     model_name="a", epoch=1, patch_rows=1000)
    both = a + b
    assert len(both) == 2 * len(a) and len(a) == len(conv_capture)
    assert list(both.to_pandas().columns) == COLUMNS
    assert "settings" in both.settings["runs"][1]  # patch_rows differed
    assert both.settings["runs"][1]["settings"]["patch_rows"] == 1000


# --- bad input ----------------------------------------------------------------------------------

def test_bad_input(conv_capture, convnet, digits):
    x, y = digits
    with pytest.raises(ValueError, match="unknown metric group 'entropy'.*'janik', 'relevance', 'kde'"):
        pycx.analyze(conv_capture, metrics=["janik", "entropy"])
    with pytest.raises(ValueError, match="empty"):
        pycx.analyze(conv_capture, metrics=[])
    unlabelled = pycx.capture(convnet, batches(x[:300]), progress=False)
    # Missing labels are handled alike for every metric spec: label-free values computed,
    # label values NaN, said in one warning and recorded in the settings.
    with pytest.warns(UserWarning, match="no labels.*'relevance': classification_error"):
        rep = pycx.analyze(unlabelled, metrics="relevance", progress=False, kmeans=False)
    assert rep.settings["skipped"] == ["classification_error"]
    assert all(math.isnan(r["classification_error"]) and r["h_s"] > 0 for r in rep.rows)
    with pytest.warns(UserWarning, match="'kde': kde_h_given_y, kde_i_xy"):
        pycx.analyze(unlabelled, metrics=["janik", "kde"], estimators="plugin", progress=False,
                     kde_rows=200)
    with pytest.warns(UserWarning, match="no labels"):
        rep = pycx.analyze(unlabelled, estimators="plugin", progress=False, kmeans=False,
                           kde_rows=200)
    assert rep.settings["labels"] is False
    assert set(rep.settings["skipped"]) == {"classification_error", "kde_h_given_y", "kde_i_xy"}
    assert all(math.isnan(r["classification_error"]) and math.isnan(r["kde_i_xy"]) for r in rep.rows)
    assert all(r["h_s"] > 0 and r["kde_h"] > 0 for r in rep.rows)
    # labels given separately make the label metrics work
    rep = pycx.analyze(unlabelled, metrics="relevance", labels=y[:300].numpy(), progress=False,
                       kmeans=False)
    assert all(0 <= r["classification_error"] <= 1 for r in rep.rows)
    empty = pycx.Capture({}, None)
    with pytest.raises(ValueError, match="no layers"):
        pycx.analyze(empty)
    with pytest.raises(ValueError, match="'data' is required"):
        pycx.analyze(convnet)
    with pytest.raises(ValueError, match="max_samples"):
        pycx.analyze(conv_capture, max_samples=10)
    with pytest.raises(TypeError, match="torch.nn.Module or a pycx.Capture"):
        pycx.analyze(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="unknown keys"):
        pycx.analyze(conv_capture, estimators={"complexitty": "xgb"})
    with pytest.raises(ValueError, match=r"\['method'\]' must be one of"):
        pycx.analyze(conv_capture, estimators="nsbx")
    with pytest.raises(ValueError, match="not in the capture"):
        pycx.analyze(conv_capture, layers=["fc9"])
    with pytest.raises(ValueError, match="unknown metric group"):
        pycx.Tracker(convnet, batches(x, y), metrics="everything")
    with pytest.raises(ValueError, match="not a pycx report"):
        import tempfile, os
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "x.json")
            with open(p, "w") as f:
                json.dump({"rows": []}, f)
            pycx.Report.load(p)


def test_undefined_critical_and_zipf_layers_and_bound_flags(digits, tmp_path):
    # Random ReLU layers of 40 units on 60 samples: every sample in its own state in every
    # layer, so H[k] = 0 and beta is undefined everywhere: both layers are undefined, with a
    # reason.
    _, y = digits
    torch.manual_seed(0)
    x = torch.randn(60, 64)
    model = nn.Sequential(nn.Linear(64, 40), nn.ReLU(), nn.Linear(40, 40), nn.ReLU()).eval()
    rep = pycx.analyze(model, batches(x, y[:60]), progress=False, kde_rows=60,
                       estimators={"complexity": {"method": "xgb", "n_estimators": 5}},
                       kmeans=False)
    assert all(r["n_states"] == 60 and r["h_k"] == 0.0 for r in rep.rows)
    assert all(math.isnan(r["beta_mle"]) and math.isnan(r["beta_ls"]) for r in rep.rows)
    net = rep.network[0]
    assert net["critical_layer"] is None and "own state" in net["critical_layer_why"]
    assert net["zipf_layer"] is None and "three distinct" in net["zipf_layer_why"]
    # 40 random units, 60 rows: the chain rule's bound exceeds log2(60) = 5.9 bits, flagged;
    # the saturation flag follows its definition.
    for r in rep.rows:
        assert r["complexity_bound_log2_rows"] == pytest.approx(math.log2(60), abs=1e-12)
        assert r["complexity_exceeds_log2_rows"] == (r["complexity"] > math.log2(60))
        assert r["kde_saturated"] == (r["kde_h"] >= math.log2(60) - 0.01)
    assert any(r["complexity_exceeds_log2_rows"] for r in rep.rows)
    xg = pycx.xgb_entropy((np.random.default_rng(0).random((60, 40)) < 0.5), n_estimators=5)
    assert xg.log2_rows == pytest.approx(math.log2(60)) and xg.exceeds_log2_rows == (
        xg.entropy > math.log2(60))
    # Round trip keeps the flags and the reasons.
    rep.to_json(tmp_path / "r.json")
    again = pycx.Report.load(tmp_path / "r.json")
    assert again.network[0]["critical_layer_why"] == net["critical_layer_why"]
    assert [r["kde_saturated"] for r in again.rows] == [r["kde_saturated"] for r in rep.rows]
