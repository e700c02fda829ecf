"""`pycx.StreamingTracker`: gates of the training batch itself every N steps, inside a plain
training loop (autograd on, no extra forward), against `pycx.capture` of the same batches
with the same weights."""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import pycx  # noqa: E402


def _setup():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(6 * 36, 16), torch.nn.Tanh(),
                                torch.nn.Linear(16, 3))
    batches = [(torch.randn(16, 3, 8, 8), torch.randint(0, 3, (16,))) for _ in range(5)]
    return model, batches


def _train(model, batches, tracker=None, snapshots=None):
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    grads = []
    for step, (x, y) in enumerate(batches):
        if snapshots is not None and tracker.due(step):
            snapshots.append((copy.deepcopy(model), x))
        if tracker is None:
            loss = torch.nn.functional.cross_entropy(model(x), y)
        else:
            with tracker.record(step):
                loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        grads.append(model[0].weight.grad.clone())
        opt.step()
    return grads


def test_records_the_training_batches_every_n_steps():
    model, batches = _setup()
    tracker = pycx.StreamingTracker(model, every=2)
    snapshots = []
    grads = _train(model, batches, tracker, snapshots)
    assert tracker.recorded_steps == [0, 2, 4]
    report = tracker.compute(epoch=1)
    rows = {r["layer"]: r for r in report.rows}
    assert set(rows) == {"1", "4"} and all(r["rows_sample"] == 48 for r in rows.values())

    # the same batches through pycx.capture with the weights of each due step
    from pycx.metrics import EffectiveDimension, GateEntropy, Linearity, Relevance
    ms = [Linearity(), EffectiveDimension(), GateEntropy("plugin"), Relevance()]
    for snap, x in snapshots:
        cap = pycx.capture(snap, [x], progress=False)
        for m in ms:
            m.update(cap)
    for name, row in rows.items():
        assert row["linearity"] == ms[0].compute()[name]
        assert row["complexity"] == ms[2].compute()[name]
        assert row["h_s"] == ms[3].compute()[name]["h_s"]
        assert row["effective_dimension"] == ms[1].compute()[name]

    # recording changed neither the forward pass nor the gradients
    model2, _ = _setup()
    assert all(torch.equal(a, b) for a, b in zip(grads, _train(model2, batches)))


def test_reset_and_report():
    model, batches = _setup()
    tracker = pycx.StreamingTracker(model, every=1)
    _train(model, batches[:2], tracker)
    tracker.compute(0, reset=True)
    assert tracker.recorded_steps == [] and all(m.states == {} for m in tracker.metrics)
    _train(model, batches[2:3], tracker)
    tracker.compute(1)
    frame = tracker.report.to_pandas()
    assert frame["epoch"].tolist() == [0, 0, 1, 1]
    assert frame["rows_sample"].tolist() == [32, 32, 16, 16]


def test_not_due_attaches_nothing():
    model, _ = _setup()
    tracker = pycx.StreamingTracker(model, every=10)
    with tracker.record(3) as rec:
        model(torch.randn(2, 3, 8, 8))
    assert rec is None and tracker.recorded_steps == []
    with pytest.raises(TypeError, match="step"):
        with tracker.record("3"):
            pass
    with pytest.raises(TypeError, match="metrics"):
        pycx.StreamingTracker(model, metrics=[object()])
