"""The gate tracer's bookkeeping: hooks that come and go with the capture, layer names that do
not depend on how modules are hooked, and the tensor map of the unit-axis tracing."""
import gc
import threading
import weakref

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules.module import register_module_forward_pre_hook

import pycx
from pycx.gates.layout import _TensorMap
from pycx.gates.tracer import ModelScan, check_model
from test_capture import no_hooks_left  # (pytest puts tests/ on sys.path)


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


# --- cases found in review of the process-wide hooks and the weak client --------------------

def test_a_complexity_loss_dropped_without_remove_leaves_the_model_usable():
    # The tracer holds its client weakly: once the loss is freed, its hooks must go with it,
    # not call a dead client on the model's next pass (nor keep the model in torch's global
    # hook table).
    from pycx.train import ComplexityLoss

    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    cx = ComplexityLoss(net, hidden=4, steps=1)
    net(torch.randn(3, 4))
    assert cx.layers == ["1"]
    del cx  # (no remove())
    assert no_hooks_left(net)
    assert net(torch.randn(3, 4)).shape == (3, 2)
    assert pycx.capture(net, [torch.randn(3, 4)], progress=False).names == ["1"]
    assert no_hooks_left(net)


def test_a_recorder_dropped_while_attached_removes_its_hooks():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU())
    rec = pycx.Recorder(net)
    rec.__enter__()
    net(torch.randn(3, 4))
    del rec
    assert no_hooks_left(net)
    assert net(torch.randn(3, 4)).shape == (3, 8)


def test_ops_in_the_users_module_hooks_keep_their_names_and_order():
    # A forward hook's op belongs to the module it hooks (the tracer's own pop comes after the
    # user's hooks); a pre-hook's op runs before the module is entered: its parent's. The
    # user's module and global hooks run in their own order, with their results.
    log = []
    model = nn.Sequential(nn.Linear(3, 4), nn.Sequential(nn.Linear(4, 4), nn.Linear(4, 4)),
                          nn.Linear(4, 2))
    handles = [
        model[1].register_forward_hook(lambda m, i, o: (log.append("post 1"), torch.relu(o))[1]),
        model[1][0].register_forward_pre_hook(
            lambda m, i: (log.append("pre 1.0"), (torch.sigmoid(i[0]),))[1]),
        model[2].register_forward_hook(lambda m, i, o: log.append("post 2"), always_call=True),
        register_module_forward_pre_hook(lambda m, i: log.append("gpre " + type(m).__name__)),
    ]
    try:
        x = torch.randn(5, 3)
        expected = model(x)
        log.clear()
        with pycx.Recorder(model) as rec:
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    assert rec.capture.names == ["1.sigmoid", "1.relu"]
    assert torch.equal(out, expected)
    assert log == ["gpre Sequential", "gpre Linear", "gpre Sequential", "gpre Linear", "pre 1.0",
                   "gpre Linear", "post 1", "gpre Linear", "post 2"]
    assert no_hooks_left(model)


def test_the_model_run_by_another_thread_during_a_pass_is_not_traced():
    # Thread 2 runs one of the model's blocks and blocks inside it while the main thread's
    # traced pass goes on: its modules must not enter the main pass's module stack (which
    # would misname the main pass's gates and keep the pass from ending).
    inside, release = threading.Event(), threading.Event()

    class Hold(nn.Module):  # holds thread 2 inside the block
        def forward(self, x):
            if threading.current_thread() is not threading.main_thread():
                inside.set()
                release.wait(10)
            return x

    block = nn.Sequential(Hold(), nn.Tanh())
    worker = threading.Thread(target=lambda: block(torch.randn(2, 4)))

    class Kick(nn.Module):  # in the main pass: thread 2 enters the block, then we go on
        def forward(self, x):
            worker.start()
            assert inside.wait(10)
            return x

    model = nn.Sequential(nn.Linear(3, 4), Kick(), nn.ReLU(), block)
    try:
        with pycx.Recorder(model) as rec:
            model(torch.randn(5, 3))
    finally:
        release.set()
        worker.join()
    assert rec.capture.names == ["2", "3.1"] and rec.capture.n_samples == 5
    assert no_hooks_left(model)


def test_capture_calls_a_train_override_even_when_the_flags_match():
    # train() may do more than set flags (here: keep the dropout in eval). The flags being
    # already right is no reason to skip it.
    class KeepsDropoutOff(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.drop = nn.Linear(3, 4), nn.Dropout(0.5)

        def train(self, mode=True):
            super().train(mode)
            self.drop.eval()
            return self

        def forward(self, x):
            return F.relu(self.drop(self.fc(x)))

    model = KeepsDropoutOff()
    for m in model.modules():
        m.training = True  # set directly: no train() call
    cap = pycx.capture(model, [torch.randn(4, 3)], train_mode=True, progress=False)
    assert cap.names == ["relu"]  # the dropout ran in eval: not a gate
    assert all(m.training for m in model.modules())  # the flags as they were


def test_train_mode_capture_restores_every_flag_when_the_forward_raises():
    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    model = nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5), nn.ReLU(),
                          nn.Sequential(nn.BatchNorm1d(4), Boom()))
    model.eval()
    model[1].train()
    model[3][0].train()
    before = [m.training for m in model.modules()]
    with pytest.raises(RuntimeError, match="boom"):
        pycx.capture(model, [torch.randn(4, 3)], train_mode=True, progress=False)
    assert [m.training for m in model.modules()] == before
    assert no_hooks_left(model)


def test_nested_recorders_on_a_model_and_its_submodule():
    # B is a submodule of A with a Recorder of its own: each sees its gates under its own
    # paths, whichever Recorder is entered first.
    b = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.Tanh())

    class A(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.b = nn.Linear(3, 4), b
            self.out = nn.Sequential(nn.Linear(4, 4), nn.ReLU())

        def forward(self, x):
            return self.out(F.relu(self.b(self.fc(x))))

    a = A()
    x = torch.randn(5, 3)
    for b_first in (False, True):
        rb, ra = pycx.Recorder(b), pycx.Recorder(a)
        first, second = (rb, ra) if b_first else (ra, rb)
        with first, second:
            a(x)
        assert ra.capture.names == ["b.1", "b.3", "relu", "out.1"]
        assert rb.capture.names == ["1", "3"]
        assert ra.capture.n_samples == rb.capture.n_samples == 5
        assert np.array_equal(ra.capture["b.1"].per_sample.words, rb.capture["1"].per_sample.words)
    assert no_hooks_left(a)


def test_a_recurrent_module_is_skipped_with_its_reason():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm, self.fc = nn.LSTM(3, 4, batch_first=True), nn.Linear(4, 4)

        def forward(self, x):
            y, _ = self.lstm(x)
            return F.relu(self.fc(y))

    model = M()
    with pycx.Recorder(model) as rec:
        model(torch.randn(2, 5, 3))
    assert rec.capture.names == ["relu"]
    assert rec.skipped == {"lstm.LSTM": ("LSTM", "recurrent gates run inside a C++ kernel")}
    assert no_hooks_left(model)
