"""`pycx.metrics`: the mergeable metric objects against `pycx.analyze` on the same gates,
merging halves against the whole, and two processes synced over torch.distributed (gloo)."""
from __future__ import annotations

import json
import os
import socket
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pycx  # noqa: E402
from pycx.metrics import EffectiveDimension, GateEntropy, Linearity, Relevance  # noqa: E402

# Chan's merge and the rows' two-pass covariance round differently: the effective dimension
# (an entropy of the normalised eigenvalues) agrees to float64 rounding of the moments.
EFFDIM_RTOL = 1e-9
# Two objects merged in one process: their reservoirs' rows tie on (stream, sequence), so the
# KDE sums the same rows in another order (float64 summation order only).
KDE_MERGE_RTOL = 1e-12


def _same(a, b):
    return a == b or (np.isnan(a) and np.isnan(b))


def _activations(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"conv": torch.randn(n, 4, 3, 3, generator=g),
            "fc": torch.randn(n, 10, generator=g) + 0.3,
            "gate": torch.randn(n, 6, generator=g) * 3}


KINDS = {"gate": "tanh"}


def _metrics():
    return {"lin": Linearity(), "ed": EffectiveDimension(), "plugin": GateEntropy("plugin"),
            "mm": GateEntropy("miller_madow"), "nsb": GateEntropy("nsb"),
            "kde": GateEntropy("kde", capacity=10_000), "rel": Relevance()}


def _values(ms):
    out = {}
    for key, m in ms.items():
        for layer, v in m.compute().items():
            if isinstance(v, dict):
                for col, x in v.items():
                    out[f"{key}/{layer}/{col}"] = float(x)
            else:
                out[f"{key}/{layer}"] = float(v)
    return out


def _assert_equal(a, b, rtol_effdim=0.0, rtol_kde=0.0):
    assert a.keys() == b.keys()
    for k in a:
        if k.startswith("ed/"):
            np.testing.assert_allclose(a[k], b[k], rtol=rtol_effdim, err_msg=k)
        elif k.startswith("kde/"):
            np.testing.assert_allclose(a[k], b[k], rtol=rtol_kde, err_msg=k)
        else:
            assert _same(a[k], b[k]), (k, a[k], b[k])


@pytest.mark.parametrize("covariance_positions", [None, 4])
def test_equal_to_analyze_on_the_same_gates(covariance_positions):
    labels = np.arange(96) % 3
    cap = pycx.from_activations(_activations(), labels, kinds=KINDS,
                                covariance_positions=covariance_positions)
    ms = _metrics()
    for m in ms.values():
        m.update(cap)
    got = _values(ms)
    opts = dict(metrics=["janik", "relevance", "kde"], progress=False, kmeans=False,
                patch_rows=None, kde_rows=None)
    rep = pycx.analyze(cap, estimators="plugin", **opts)
    for row in rep.rows:
        n = row["layer"]
        assert got[f"lin/{n}"] == row["linearity"]
        assert got[f"plugin/{n}"] == row["complexity"]
        assert got[f"kde/{n}"] == row["kde_h"]
        for col in ("h_s", "h_k", "h_s_norm", "h_k_norm", "beta_mle", "beta_ls", "n_states"):
            assert _same(got[f"rel/{n}/{col}"], row[col]), col
        np.testing.assert_allclose(got[f"ed/{n}"], row["effective_dimension"], rtol=EFFDIM_RTOL)
        assert ms["lin"].unit_entropy_mean()[n] == pytest.approx(row["unit_entropy_mean"],
                                                                 rel=1e-12)
    for method, key in (("miller_madow", "mm"), ("nsb", "nsb")):
        other = pycx.analyze(cap, metrics=["janik"], estimators=method, **{
            k: v for k, v in opts.items() if k != "metrics"})
        for row in other.rows:
            assert got[f"{key}/{row['layer']}"] == pytest.approx(row["complexity"], rel=1e-12)


def test_merging_halves_equals_the_whole():
    acts = _activations()
    whole = pycx.from_activations(acts, kinds=KINDS, covariance_positions=None)
    halves = [pycx.from_activations({k: v[s] for k, v in acts.items()}, kinds=KINDS,
                                    covariance_positions=None)
              for s in (slice(0, 40), slice(40, None))]
    one = _metrics()
    for m in one.values():
        m.update(whole)
    streamed = _metrics()      # one object, two updates
    merged_a, merged_b = _metrics(), _metrics()   # two objects, merged
    for key in one:
        streamed[key].update(halves[0])
        streamed[key].update(halves[1])
        merged_a[key].update(halves[0])
        merged_b[key].update(halves[1])
        merged_a[key].merge(merged_b[key])
    _assert_equal(_values(one), _values(streamed), EFFDIM_RTOL)
    _assert_equal(_values(one), _values(merged_a), EFFDIM_RTOL, KDE_MERGE_RTOL)


def test_reservoir_is_bounded_and_uniform():
    m = GateEntropy("kde", capacity=50, seed=3)
    for seed in range(6):
        m.update(pycx.from_activations(_activations(40, seed)))
    state = m.states["fc"]
    assert state.words.shape[0] == 50 and state.seen == 240
    # every update contributes: a uniform sample of 50 out of 6 x 40 rows
    assert len(np.unique(state.order[:, 1] // 40)) >= 4
    assert np.isfinite(m.compute()["fc"])


def test_reset_merge_checks_and_layers():
    cap = pycx.from_activations(_activations())
    m = Linearity(layers="fc")
    m.update(cap)
    assert list(m.compute()) == ["fc"]
    m.reset()
    assert m.compute() == {}
    with pytest.raises(ValueError, match="other"):
        GateEntropy("plugin").merge(GateEntropy("nsb"))
    with pytest.raises(TypeError, match="data"):
        m.update(np.zeros(3))
    with pytest.raises(ValueError, match="estimator"):
        GateEntropy("xgb")
    assert m.sync().compute() == {}  # no process group: a copy


# --------------------------------------------------------------------- two processes (gloo)

def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, out):
    import torch.distributed as dist

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        acts = _activations()
        part = slice(0, 40) if rank == 0 else slice(40, None)
        cap = pycx.from_activations({k: v[part] for k, v in acts.items()}, kinds=KINDS,
                                    covariance_positions=None)
        ms = _metrics()
        for m in ms.values():
            m.update(cap)
        values = _values(ms)          # compute() syncs: every rank gets the global values
        with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
            json.dump({"values": values, "local_rows": ms["lin"].states["fc"].rows}, f)
    finally:
        dist.destroy_process_group()


def test_two_processes_gloo(tmp_path):
    import torch.distributed as dist
    import torch.multiprocessing as mp

    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    ctx = mp.start_processes(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2,
                             join=False, start_method="spawn")
    deadline = time.monotonic() + 120
    try:
        while not ctx.join(timeout=5):
            if time.monotonic() > deadline:
                pytest.fail("the two gloo processes did not finish in 120 s")
    finally:
        for p in ctx.processes:
            if p.is_alive():
                p.terminate()
    results = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    whole = pycx.from_activations(_activations(), kinds=KINDS, covariance_positions=None)
    ms = _metrics()
    for m in ms.values():
        m.update(whole)
    want = _values(ms)
    for r in results:
        # the KDE reservoir holds every row (capacity 10,000): the same rows, in rank order
        _assert_equal(want, r["values"], EFFDIM_RTOL)
    assert results[0]["values"] == results[1]["values"]
    assert [r["local_rows"] for r in results] == [40, 56]  # sync left each local state alone
