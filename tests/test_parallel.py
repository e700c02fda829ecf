"""Scale-out (issue 18): `analyze`, `Tracker` and `analyze_checkpoints` with `executor=` give
the serial report (a plain loop of `pycx.analyze`, the code path without executor) value for
value, on threads, processes and a dask LocalCluster; bad executors, failing units and
checkpoints that do not load are clear errors that keep the other results."""
import concurrent.futures as cf
import functools
import json
import math
import multiprocessing

import numpy as np
import pytest

import pycx
from pycx.analysis.analyze import AnalysisError
from pycx.analysis.group_janik import layer_values as _janik_layer
from pycx.analysis.parallel import analyze_checkpoints
from pycx.analysis.table import KDE_COLUMNS

torch = pytest.importorskip("torch")
pytest.importorskip("xgboost")

# KDE values may differ in the last bits between any two runs, serial ones included: the
# kde_sums kernel adds its OpenMP threads' per-tile partial sums in a schedule-dependent
# order (measured: 4 distinct bit patterns in 20 identical 2-thread calls). 1e-12 relative
# is far above that (~1e-16 per addition) and far below any real difference.
KDE_RTOL = 1e-12
KDE_VALUES = set(KDE_COLUMNS) | {"kde_h_concat"}


def factory():
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 6, 3, stride=2), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(6 * 3 * 3, 10), torch.nn.ReLU(), torch.nn.Linear(10, 3))


def states(n=3):
    out = []
    for k in range(n):
        torch.manual_seed(k)
        out.append(factory().state_dict())
    return out


def batches():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(240, 1, 8, 8, generator=g)
    y = torch.randint(0, 3, (240,), generator=g)
    return [(x[i:i + 80], y[i:i + 80]) for i in range(0, 240, 80)]


# Small caps: the equality, not the estimates, is under test.
KW = dict(estimators={"complexity": {"method": "xgb", "n_estimators": 4},
                      "kmeans": {"k_max_log2": 4}},
          patch_rows=1500, kde_rows=120, progress=False)


def serial_reference(ckpts, data):
    """What a user writes without this feature: load, analyze, extend, one after another."""
    ref = pycx.Report()
    for k, sd in enumerate(ckpts):
        model = factory()
        model.load_state_dict(sd)
        ref.extend(pycx.analyze(model, data, epoch=k, kmeans=(k == 0), **KW))
    return ref


def assert_same_report(got, want):
    a, b = got.to_dict(), want.to_dict()
    assert len(a["rows"]) == len(b["rows"]) > 0
    for ra, rb in zip(a["rows"], b["rows"]):
        assert ra.keys() == rb.keys()
        for key in ra:
            if key in KDE_VALUES and ra[key] is not None and rb[key] is not None:
                assert math.isclose(ra[key], rb[key], rel_tol=KDE_RTOL), (key, ra, rb)
            else:
                assert ra[key] == rb[key], (key, ra["layer"], ra["epoch"], ra[key], rb[key])
    assert a["network"] == b["network"]
    assert a["curves"] == b["curves"]
    assert list(a["curves"]) == list(b["curves"])  # same layout, key order included

    def plain(s):
        s = {k: v for k, v in s.items() if k not in ("timings", "runs")}
        return json.dumps(s, sort_keys=True)

    assert plain(a["settings"]) == plain(b["settings"])
    assert [{k: v for k, v in r.items() if k != "timings"} for r in a["settings"]["runs"]] == \
        [{k: v for k, v in r.items() if k != "timings"} for r in b["settings"]["runs"]]


# The modules a worker has imported. Built from builtins: a function of this test module
# would make the worker import the module (and with it torch) to unpickle it.
_modules_loaded = functools.partial(eval, "sorted(__import__('sys').modules)")


@pytest.fixture(scope="module")
def ckpt_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpts")
    paths = []
    for k, sd in enumerate(states()):
        path = folder / f"epoch{k}.pt"
        torch.save(sd if k != 1 else {"model_state_dict": sd, "epoch": k}, path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def reference():
    return serial_reference(states(), batches())


def test_checkpoints_serial_and_threads_equal_the_plain_loop(ckpt_files, reference):
    data = batches()
    assert_same_report(analyze_checkpoints(factory, ckpt_files, data, **KW), reference)
    with cf.ThreadPoolExecutor(2) as pool:
        got = analyze_checkpoints(factory, ckpt_files, data, executor=pool, **KW)
    assert_same_report(got, reference)
    assert sorted({r["epoch"] for r in got.rows}) == [0, 1, 2]


@pytest.mark.slow
def test_checkpoints_process_pool_equals_the_plain_loop(ckpt_files, reference):
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no torch unless shipped
    with cf.ProcessPoolExecutor(2, mp_context=ctx) as pool:
        got = analyze_checkpoints(factory, ckpt_files, batches(), executor=pool, **KW)
        loaded = pool.submit(_modules_loaded).result()
    assert_same_report(got, reference)
    assert "torch" not in loaded and "pycx.estimators.xgb" in loaded




@pytest.mark.slow
def test_checkpoints_dask_local_cluster_equals_the_plain_loop(ckpt_files, reference):
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        got = analyze_checkpoints(factory, ckpt_files, batches(), executor=client, **KW)
        loaded = client.run(_modules_loaded)
        z = (np.random.default_rng(0).random((600, 12)) < 0.3).astype(np.uint8)
        xgb_dask = pycx.xgb_entropy(z, n_estimators=3, executor=client.get_executor())
    assert_same_report(got, reference)
    assert len(loaded) == 2
    for modules in loaded.values():  # units ship packed bits: the workers never need torch
        # Which groups' units a worker ran depends on the scheduling: any group module will do.
        assert "torch" not in modules
        assert any(m.startswith("pycx.analysis.group_") for m in modules), sorted(
            m for m in modules if m.startswith("pycx"))
    assert xgb_dask.entropy == pycx.xgb_entropy(z, n_estimators=3).entropy


def test_analyze_and_tracker_with_an_executor_equal_the_plain_call():
    data = batches()
    model = factory()
    model.load_state_dict(states(1)[0])
    want = pycx.analyze(model, data, **KW)
    assert_same_report(pycx.analyze(model, data, executor="threads", **KW), want)

    tracked = {}
    for ex in (None, "threads"):
        extra = {} if ex is None else {"executor": ex}
        tracker = pycx.Tracker(model, data, **KW, **extra)
        tracker.step(0)
        tracker.step(1)
        tracked[ex] = tracker.report
    assert_same_report(tracked["threads"], tracked[None])


def test_xgb_fits_are_submitted_largest_first():
    submitted = []

    class Recording(cf.ThreadPoolExecutor):
        def submit(self, fn, *args, **kwargs):
            unit_fn, unit_args = args
            train, i = unit_args[0], unit_args[2]
            submitted.append(int(train.column_points()[i]) * i)
            return super().submit(fn, *args, **kwargs)

    rng = np.random.default_rng(3)
    protos = (rng.random((5, 10)) < 0.5).astype(np.uint8)
    z = protos[rng.integers(0, 5, 800)] ^ (rng.random((800, 10)) < 0.1).astype(np.uint8)
    with Recording(2) as pool:
        got = pycx.xgb_entropy(z, n_estimators=3, executor=pool)
    assert len(submitted) == got.n_fits > 0
    assert submitted == sorted(submitted, reverse=True)  # cost = points x features (+ const)


# --- bad input ----------------------------------------------------------------------------

def test_not_an_executor():
    data = batches()
    for bad in (42, object(), cf.ThreadPoolExecutor):  # the class, not an instance
        with pytest.raises(TypeError, match="argument 'executor' must be"):
            pycx.xgb_entropy(np.zeros((10, 3), dtype=np.uint8), executor=bad)
        with pytest.raises(TypeError, match="argument 'executor' must be"):
            pycx.analyze(factory(), data, executor=bad, **KW)
        with pytest.raises(TypeError, match="argument 'executor' must be"):
            pycx.Tracker(factory(), data, executor=bad)
        with pytest.raises(TypeError, match="argument 'executor' must be"):
            analyze_checkpoints(factory, states(1), data, executor=bad, **KW)
    with pytest.raises(ValueError, match="argument 'executor' must be None, one of"):
        pycx.xgb_entropy(np.zeros((10, 3), dtype=np.uint8), executor="gpus")


class FailingLayer(cf.ThreadPoolExecutor):
    """Runs every unit, except that the Janik unit of the 6-channel layer raises."""

    def submit(self, fn, *args, **kwargs):
        unit_fn, unit_args = args
        if unit_fn is _janik_layer and unit_args[0].n_bits == 6:
            return super().submit(_raise, "worker lost its mind")
        return super().submit(fn, *args, **kwargs)


def _raise(message):
    raise RuntimeError(message)


def test_a_failing_unit_names_layer_and_checkpoint_and_keeps_the_rest(ckpt_files, reference,
                                                                      tmp_path):
    with FailingLayer(2) as pool:
        with pytest.raises(AnalysisError) as info:
            analyze_checkpoints(factory, ckpt_files, batches(), executor=pool, **KW)
    err = info.value
    assert len(err.failures) == 3  # the layer, once per checkpoint
    message = str(err)
    assert "layer '3'" in message and "epoch0.pt" in message and "worker lost its mind" in message
    assert all("janik, layer '3'" in where for where, _ in err.failures)
    assert isinstance(err.__cause__, RuntimeError)
    got, want = err.report.to_dict()["rows"], reference.to_dict()["rows"]
    assert len(got) == len(want)
    for r, w in zip(got, want):
        if r["layer"] == "3":
            assert r["complexity"] is None and r["linearity"] is None  # NaN: not computed
            assert r["h_s"] == w["h_s"]  # the other groups of that layer are kept
        else:
            assert r["complexity"] == w["complexity"]
    path = tmp_path / "partial.json"
    err.report.to_json(path)  # the partial report can be saved and read back
    assert len(pycx.Report.load(path)) == len(want)


def test_a_checkpoint_that_does_not_load(ckpt_files, tmp_path):
    wrong = torch.nn.Sequential(torch.nn.Conv2d(1, 5, 3)).state_dict()
    bad = tmp_path / "other_model.pt"
    torch.save(wrong, bad)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with cf.ThreadPoolExecutor(2) as pool:
        with pytest.raises(AnalysisError) as info:
            analyze_checkpoints(factory, {0: ckpt_files[0], 5: bad, 7: junk}, batches(),
                                executor=pool, **KW)
    err = info.value
    assert len(err.failures) == 2
    assert "other_model.pt" in str(err) and "does not load into the Sequential" in str(err)
    assert "junk.pt" in str(err) and "cannot be read by torch.load" in str(err)
    # The checkpoint that loads is analysed in full, as the plain call on it alone.
    assert {r["epoch"] for r in err.report.rows} == {0}
    assert_same_report(err.report, serial_reference(states(1), batches()))


def test_checkpoint_arguments(tmp_path):
    data = batches()
    with pytest.raises(FileNotFoundError, match="no file"):
        analyze_checkpoints(factory, [tmp_path / "missing.pt"], data, **KW)
    with pytest.raises(TypeError, match="argument 'checkpoints'"):
        analyze_checkpoints(factory, "epoch0.pt", data, **KW)
    with pytest.raises(ValueError, match="empty"):
        analyze_checkpoints(factory, [], data, **KW)
    with pytest.raises(TypeError, match="model_factory"):
        analyze_checkpoints(factory(), states(1), data, **KW)
    with pytest.raises(TypeError, match="state dict"):
        analyze_checkpoints(factory, [42], data, **KW)
    with pytest.raises(TypeError, match="int epochs"):
        analyze_checkpoints(factory, {"a": states(1)[0]}, data, **KW)
    with pytest.raises(ValueError, match="metric group"):
        analyze_checkpoints(factory, states(1), data, metrics="nope")
    with pytest.raises(TypeError, match="epoch"):
        analyze_checkpoints(factory, states(1), data, epoch=3)
