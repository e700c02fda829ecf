"""Integrations against the real packages: TensorBoard (event files read back with
tensorboard's own reader) and Lightning (a two-epoch fit with a real logger)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import pycx  # noqa: E402


def _data(n=96, d=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, d, generator=g)
    y = (x[:, 0] > 0).long()
    return x, y


def _mlp(d=6, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Linear(d, 12), torch.nn.ReLU(), torch.nn.Linear(12, 8),
                               torch.nn.ReLU(), torch.nn.Linear(8, 2))


def _events(logdir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def test_tracker_writer_logs_every_numeric_column(tmp_path):
    pytest.importorskip("tensorboard")
    from torch.utils.tensorboard import SummaryWriter
    x, y = _data()
    writer = SummaryWriter(str(tmp_path))
    tracker = pycx.Tracker(_mlp(), [(x, y)], metrics=["relevance"], kmeans=False, writer=writer)
    tracker.step(0)
    tracker.step(1)
    writer.close()
    acc = _events(tmp_path)
    tags = set(acc.Tags()["scalars"])
    df = tracker.report.to_pandas()
    for layer in df["layer"].unique():
        for col in ("h_s", "h_k", "n_states"):
            tag = f"pycx/{layer}/{col}"
            assert tag in tags, tag
            events = acc.Scalars(tag)
            assert [e.step for e in events] == [0, 1]
            want = df[(df["layer"] == layer)][col].to_numpy(dtype=float)
            # float32 in the event file: compare at float32 precision
            np.testing.assert_allclose([e.value for e in events], want, rtol=1e-6)


def test_log_report_writes_figures_as_images(tmp_path):
    pytest.importorskip("tensorboard")
    pytest.importorskip("matplotlib")
    from torch.utils.tensorboard import SummaryWriter
    from pycx.integrations.tensorboard import log_report
    x, y = _data(seed=1)
    report = pycx.analyze(_mlp(), [(x, y)], metrics=["janik", "relevance"], kmeans=False,
                          progress=False, estimators={"complexity": {"method": "plugin"}})
    writer = SummaryWriter(str(tmp_path))
    out = log_report(writer, report, step=5)
    writer.close()
    acc = _events(tmp_path)
    assert out["scalars"] > 0 and len(acc.Tags()["scalars"]) == out["scalars"]
    assert set(out["images"]) == {"relevance", "ed_vs_complexity"}
    for name in out["images"]:
        (img,) = acc.Images(f"pycx/fig/{name}")
        assert img.step == 5 and img.width > 100 and img.height > 100


def test_writer_must_be_a_writer():
    with pytest.raises(TypeError, match="writer"):
        pycx.Tracker(_mlp(), [_data()], writer=object())


def test_tracker_progress_is_off_by_default(capsys):
    x, y = _data(seed=2)
    pycx.Tracker(_mlp(), [(x, y)], metrics=["relevance"], kmeans=False).step(0)
    assert "it/s" not in capsys.readouterr().err


def test_lightning_callback_logs_and_writes_report(tmp_path):
    L = pytest.importorskip("lightning")
    pytest.importorskip("matplotlib")
    from lightning.pytorch.loggers import CSVLogger
    from pycx.integrations.lightning import ComplexityCallback

    x, y = _data(n=128, seed=3)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = _mlp()

        def forward(self, x):
            return self.net(x)

        def training_step(self, batch, _):
            xb, yb = batch
            return torch.nn.functional.cross_entropy(self(xb), yb)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    train = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    cb = ComplexityCallback([(x[:64], y[:64])], metrics=["relevance"], kmeans=False,
                            out=str(tmp_path / "report"))
    logger = CSVLogger(str(tmp_path), name="run")
    trainer = L.Trainer(max_epochs=2, callbacks=[cb], logger=logger, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False, accelerator="cpu")
    trainer.fit(Module(), train)
    assert sorted(cb.logged) == [0, 1] and all(n > 0 for n in cb.logged.values())
    assert sorted(cb.report.to_pandas()["epoch"].unique()) == [0, 1]
    import pandas as pd
    metrics = pd.read_csv(f"{logger.log_dir}/metrics.csv")
    layer = cb.report.to_pandas()["layer"].iloc[0]
    logged = metrics[f"pycx/{layer}/h_s"].dropna().to_numpy()
    want = cb.report.to_pandas().query("layer == @layer")["h_s"].to_numpy()
    np.testing.assert_allclose(logged, want, rtol=1e-6)  # the CSV holds the logged floats
    assert (tmp_path / "report" / "report.html").exists()
