"""`ComplexityTrainerCallback` on a tiny GPT-2: the Trainer's hooks in the order Trainer calls
them, and inside a real Trainer (which needs accelerate: in the test extras)."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from pycx.integrations.huggingface import ComplexityTrainerCallback  # noqa: E402


def _tiny_gpt2():
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(n_layer=2, n_embd=32, n_head=2, n_positions=16,
                                  vocab_size=64, bos_token_id=0, eos_token_id=0)
    return transformers.GPT2LMHeadModel(cfg)


def test_hooks_record_due_steps_and_log():
    model = _tiny_gpt2()
    cb = ComplexityTrainerCallback(every=2)
    state, control = transformers.TrainerState(), transformers.TrainerControl()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    ids = torch.randint(0, 64, (4, 16))
    for step in range(5):
        state.global_step = step
        cb.on_step_begin(None, state, control, model=model)
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        cb.on_step_end(None, state, control, model=model)
    assert cb.tracker.recorded_steps == [0, 2, 4]
    state.epoch = 1.0
    cb.on_epoch_end(None, state, control, model=model)
    frame = cb.report.to_pandas()
    assert (frame["rows_sample"] == 12).all()   # 3 recorded steps x 4 samples
    gelu = frame[frame["kind"] == "gelu"]       # and the dropout masks (train mode)
    assert len(gelu) == 2 and gelu["linearity"].between(0, 1).all()
    assert any(k.startswith("pycx/") for k in state.log_history[-1])
    assert cb.tracker.recorded_steps == []   # the window was reset


def test_with_trainer():
    pytest.importorskip("accelerate")
    model = _tiny_gpt2()
    ids = torch.randint(0, 64, (8, 16))
    ds = [{"input_ids": r, "labels": r} for r in ids]
    args = transformers.TrainingArguments(output_dir="/tmp/pycx-hf-test", max_steps=4,
                                          per_device_train_batch_size=4, report_to=[],
                                          use_cpu=True, save_strategy="no", logging_strategy="no")
    cb = ComplexityTrainerCallback(every=2)
    transformers.Trainer(model=model, args=args, train_dataset=ds, callbacks=[cb]).train()
    assert cb.report is not None
