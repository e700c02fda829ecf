"""One checkpoint loader (issue 29): `pycx.analyze_checkpoints` and ``pycx analyze --weights``
read checkpoints with `pycx.analysis.checkpoint.load_checkpoint`: the same keys unwrapped
("state_dict", "model_state_dict", "model"), ``weights_only=True``, the same refusals."""
import numpy as np
import pytest

import pycx
from pycx.analysis.checkpoint import CHECKPOINT_KEYS, CheckpointError, load_checkpoint

torch = pytest.importorskip("torch")


def factory():
    return torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))


def trained(seed):
    torch.manual_seed(seed)
    return factory().state_dict()


class Opaque:  # not loadable with weights_only=True
    pass


KW = dict(metrics="janik", estimators="plugin", progress=False)


@pytest.mark.parametrize("key", CHECKPOINT_KEYS)
def test_analyze_checkpoints_unwraps_every_key_the_cli_does(tmp_path, key, one_torch_thread):
    """Failed before for "model": analyze_checkpoints unwrapped two keys, the CLI three."""
    data = [torch.randn(40, 6)]
    path = tmp_path / "ckpt.pt"
    torch.save({"epoch": 4, key: trained(1)}, path)
    got = pycx.analyze_checkpoints(factory, {4: path}, data, **KW)
    model = factory()
    model.load_state_dict(trained(1))
    want = pycx.analyze(model.eval(), data, epoch=4, **KW)
    assert [r["complexity"] for r in got.rows] == [r["complexity"] for r in want.rows]
    assert [r["linearity"] for r in got.rows] == [r["linearity"] for r in want.rows]


def test_the_cli_uses_the_same_loader(tmp_path, monkeypatch):
    from pycx.analysis import checkpoint
    from pycx.cli._util import UserError, load_weights

    seen = []
    real = checkpoint.load_checkpoint
    monkeypatch.setattr(checkpoint, "load_checkpoint",
                        lambda *a, **k: seen.append(a[1]) or real(*a, **k))
    path = tmp_path / "w.pt"
    torch.save({"model_state_dict": trained(2)}, path)
    model = factory()
    load_weights(model, str(path))
    assert seen == [str(path)]
    assert torch.equal(model[0].weight, trained(2)["0.weight"])
    torch.save({"opaque": Opaque()}, tmp_path / "code.pt")
    with pytest.raises(UserError, match="--weights: cannot read .*code.pt"):
        load_weights(factory(), str(tmp_path / "code.pt"))  # weights_only=True refused it
    torch.save(trained(2), tmp_path / "w2.pt")
    small = torch.nn.Sequential(torch.nn.Linear(6, 4))
    with pytest.raises(UserError, match="does not fit the model"):
        load_weights(small, str(tmp_path / "w2.pt"))
    torch.save([1, 2], tmp_path / "list.pt")
    with pytest.raises(UserError, match="--weights: .*list.pt holds list, not a state dict"):
        load_weights(factory(), str(tmp_path / "list.pt"))


def test_load_checkpoint_refusals_name_the_checkpoint(tmp_path):
    torch.save({"opaque": Opaque()}, tmp_path / "code.pt")
    with pytest.raises(CheckpointError, match="epoch 2 cannot be read by torch.load") as info:
        load_checkpoint(factory(), tmp_path / "code.pt", "epoch 2")
    assert info.value.stage == "read" and isinstance(info.value, ValueError)
    with pytest.raises(CheckpointError, match="epoch 3 holds int, not a state dict"):
        load_checkpoint(factory(), 7, "epoch 3")
    with pytest.raises(CheckpointError, match="epoch 4 does not load into the Sequential made "
                                              "by f: ") as info:
        load_checkpoint(factory(), {"w": torch.zeros(1)}, "epoch 4", made_by="f")
    assert info.value.stage == "fit"
    # A state dict that is a plain mapping is loaded as it is.
    model = load_checkpoint(factory(), trained(3), "epoch 5")
    assert np.array_equal(model[2].bias.detach().numpy(), trained(3)["2.bias"].numpy())
