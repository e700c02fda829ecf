"""Issue 30 item 1: `pycx.metrics` objects logged by a LightningModule's ``self.log_dict``
(`Metric.as_log`, `pycx.integrations.lightning.log_metrics`) in a real Lightning Trainer on
the CPU, against `pycx.analyze` of the same batches' gates."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
L = pytest.importorskip("lightning")

import pycx  # noqa: E402
from pycx.metrics import EffectiveDimension, GateEntropy, Linearity, Relevance  # noqa: E402

# The metric merges the batches' covariance moments (Chan's formula); analyze decomposes the
# moments of all rows at once: float64 rounding of the moments only (as tests/test_metrics.py).
EFFDIM_RTOL = 1e-9
# The CSV logger writes the logged values as text, and Lightning logs float32 tensors.
LOGGED_RTOL = 1e-6


def test_as_log_names_values_and_leaves_out_nan():
    cap = pycx.from_activations({"fc": torch.tensor([[1.0, -1.0], [2.0, 3.0], [-1.0, 0.5]])})
    lin, rel, ed = Linearity(), Relevance(), EffectiveDimension()
    for m in (lin, rel, ed):
        m.update(cap)
    assert list(lin.as_log()) == ["linearity/fc"]
    assert lin.as_log("train")["train/fc"] == lin.compute()["fc"]
    values = rel.as_log()
    assert values["relevance/fc/h_s"] == rel.compute()["fc"]["h_s"]
    assert "relevance/fc/beta_mle" not in values  # NaN (< 3 distinct frequencies): left out
    with pytest.raises(TypeError, match="argument 'prefix'"):
        lin.as_log(3)


def test_logged_by_a_lightning_module_in_a_real_trainer(tmp_path):
    from lightning.pytorch.loggers import CSVLogger

    from pycx.integrations.lightning import log_metrics

    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(96, 6, generator=g), torch.randint(0, 3, (96,), generator=g)

    class Module(L.LightningModule):
        def __init__(self):
            super().__init__()
            self.net = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(),
                                           torch.nn.Linear(8, 3))
            self.metrics = [Linearity(), EffectiveDimension(), GateEntropy("plugin"),
                            Relevance()]
            self.tracker = pycx.StreamingTracker(self.net, self.metrics, every=1)
            self.logged = []

        def training_step(self, batch, i):
            xb, yb = batch
            with self.tracker.record(self.global_step):  # the training forward itself
                out = self.net(xb)
            return torch.nn.functional.cross_entropy(out, yb)

        def on_train_epoch_end(self):
            self.logged.append(log_metrics(self, self.metrics, prefix="pycx"))

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.0)  # weights fixed: a reference

    module = Module()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=32)
    logger = CSVLogger(str(tmp_path), name="run")
    trainer = L.Trainer(max_epochs=2, logger=logger, enable_progress_bar=False,
                        enable_model_summary=False, enable_checkpointing=False,
                        accelerator="cpu", log_every_n_steps=1)
    trainer.fit(module, loader)

    # Reference: analyze of the same three batches' gates (the weights never changed).
    cap = pycx.capture(module.net, [x[i:i + 32] for i in range(0, 96, 32)], progress=False)
    ref = pycx.analyze(cap, labels=y, metrics=["janik", "relevance"], kmeans=False, progress=False,
                       estimators="plugin", patch_rows=None).rows[0]
    layer = ref["layer"]
    assert len(module.logged) == 2  # one per epoch: reset after each
    for values in module.logged:
        assert values[f"pycx/linearity/{layer}"] == ref["linearity"]
        assert values[f"pycx/complexity_plugin/{layer}"] == ref["complexity"]
        assert values[f"pycx/relevance/{layer}/h_s"] == ref["h_s"]
        assert values[f"pycx/relevance/{layer}/h_k"] == ref["h_k"]
        assert values[f"pycx/effective_dimension/{layer}"] == pytest.approx(
            ref["effective_dimension"], rel=EFFDIM_RTOL)
    assert all(not m.states for m in module.metrics)  # reset after logging
    # Through Lightning: callback_metrics and the logger's CSV hold them.
    assert float(trainer.callback_metrics[f"pycx/relevance/{layer}/h_s"]) == pytest.approx(
        ref["h_s"], rel=LOGGED_RTOL)
    import pandas as pd
    csv = pd.read_csv(f"{logger.log_dir}/metrics.csv")
    logged = csv[f"pycx/complexity_plugin/{layer}"].dropna().to_numpy()
    np.testing.assert_allclose(logged, [ref["complexity"]] * 2, rtol=LOGGED_RTOL)


def test_log_metrics_checks_its_arguments():
    from pycx.integrations.lightning import log_metrics

    with pytest.raises(TypeError, match="argument 'metrics'"):
        log_metrics(object(), [object()])
    with pytest.raises(TypeError, match="argument 'prefix'"):
        log_metrics(object(), Linearity(), prefix=1)
    cap = pycx.from_activations({"fc": torch.tensor([[1.0, -1.0], [2.0, 3.0]])})
    a, b = Linearity(), Linearity()
    a.update(cap)
    b.update(cap)
    with pytest.raises(ValueError, match="both log 'linearity/fc'"):
        log_metrics(object(), [a, b])
    names = {GateEntropy(e)._log_name() for e in ("plugin", "miller_madow", "nsb", "kde")}
    assert names == {"complexity_plugin", "complexity_miller_madow", "complexity_nsb", "kde_h"}
