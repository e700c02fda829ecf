"""The gate tracer's bookkeeping: hooks that come and go with the capture, layer names that do
not depend on how modules are hooked, and the tensor map of the unit-axis tracing."""
import gc
import weakref

import torch
from torch import nn

import pycx
from pycx.gates.layout import _TensorMap
from pycx.gates.tracer import ModelScan, check_model
from tests.test_capture import no_hooks_left


class _UsesOutsider(nn.Module):
    """Calls a module that is not one of its submodules (a helper kept outside the model)."""

    def __init__(self, outsider):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
        self._outsider = [outsider]  # a list: not registered as a submodule

    def forward(self, x):
        return self.block(self._outsider[0](self.fc(x)))


def test_a_module_outside_the_model_adds_no_name_and_keeps_no_hook():
    outsider = nn.Sequential(nn.ReLU())
    model = _UsesOutsider(outsider)
    cap = pycx.capture(model, [torch.randn(5, 3)], progress=False)
    # The outsider's ReLU runs in the root's forward: the root's functional name, as for
    # F.relu there; the model's own ReLU module keeps its path.
    assert cap.names == ["relu", "block.1"]
    assert no_hooks_left(model) and no_hooks_left(outsider)


def test_another_model_running_meanwhile_is_not_traced():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    other = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    with pycx.Recorder(model) as rec:
        other(torch.randn(2, 3))   # outside the model's pass: nothing recorded, no crash
        model(torch.randn(5, 3))
        other(torch.randn(2, 3))
    assert rec.capture.names == ["1"] and rec.capture.n_samples == 5
    assert no_hooks_left(model) and no_hooks_left(other)


def test_names_with_shared_and_nested_modules_are_stable_across_batches():
    relu = nn.ReLU()
    model = nn.Sequential(nn.Linear(3, 4), relu, nn.Sequential(nn.Linear(4, 4), relu))
    cap = pycx.capture(model, [torch.randn(2, 3), torch.randn(3, 3)], progress=False)
    # a module registered under two paths takes its first; its second call gets ":1"
    assert cap.names == ["1", "1:1"] and cap.n_samples == 5


def test_model_scan_finds_paths_once_and_refuses_compiled_submodules():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    scan = check_model(model)
    assert isinstance(scan, ModelScan)
    assert scan.names == {"0", "1"} and not scan.transformers
    assert scan.paths[model] == "" and not scan.gate_modules and not scan.experts


def test_tensor_map_never_answers_for_a_freed_tensor_whose_id_is_reused():
    marks = _TensorMap()
    t = torch.zeros(3)
    marks[t] = "mark"
    assert marks.get(t) == "mark" and marks
    u = torch.zeros(3)
    assert marks.get(u) is None
    # CPython reuses the id of a freed object. Stage that: t's entry moved to u's id, then t
    # freed. The entry's weak reference is dead, so it is not u's.
    marks._d[id(u)] = marks._d.pop(id(t))
    ref = weakref.ref(t)
    del t
    gc.collect()
    assert ref() is None
    assert marks.get(u) is None and marks.get(u, 7) == 7
    marks[u] = "new"
    assert marks.get(u) == "new"


def test_a_finished_recorder_is_freed_without_the_garbage_collector():
    # A reference cycle (recorder <-> tracer) would keep every capture's buffers alive until
    # a collection: captures in a loop over checkpoints then pile up in memory.
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU())
    gc.collect()
    gc.disable()
    try:
        rec = pycx.Recorder(model)
        with rec:
            model(torch.randn(5, 3))
        cap = rec.capture
        gone = weakref.ref(rec)
        del rec
        assert gone() is None
        assert cap.n_samples == 5
    finally:
        gc.enable()
