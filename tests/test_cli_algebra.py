"""`pycx algebra --conv-kernel` and `--example`: the values are `pycx.layer_algebra`'s with the
same option or example, and every mistake is one line naming the option."""
import math

import numpy as np
import pytest

from pycx.cli import main

torch = pytest.importorskip("torch")

import pycx  # noqa: E402

NET = """
import torch
import torch.nn as nn


def depthwise():
    # groups == channels: the two readings of K differ (definitions section 6)
    return nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, groups=4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(4 * 8 * 8, 3))


class Tokens(nn.Module):
    # keyword inputs and integer ids: what --input-shape's float zeros cannot stand for
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, input_ids, attention_mask):
        h = self.emb(input_ids) * attention_mask.unsqueeze(-1)
        return self.fc(torch.relu(h).sum(1))


class Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(6, 4), nn.Linear(5, 4)

    def forward(self, x, y):
        return torch.relu(self.a(x) + self.b(y))
"""


@pytest.fixture
def net(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(NET)
    import importlib.util
    spec = importlib.util.spec_from_file_location("_algebra_test_net", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def _gcip(printed: str) -> float:
    return float(printed.split("log10 GCIP = ")[1].split(",")[0])


def _one_line_error(capsys, argv, *fragments):
    assert main(list(argv)) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def test_conv_kernel_choices_are_the_algebras():
    from pycx.analysis.layer_algebra import CONV_KERNELS
    from pycx.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    option = next(a for a in sub.choices["algebra"]._actions if a.dest == "conv_kernel")
    assert tuple(option.choices) == CONV_KERNELS and option.default == "per_group"


@pytest.mark.parametrize("reading", ["per_group", "all_inputs"])
def test_conv_kernel_gives_the_algebras_values(capsys, net, reading):
    path, module = net
    assert main(["algebra", "--model", f"{path}:depthwise", "--input-shape", "4,8,8",
                 "--conv-kernel", reading, "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    want = pycx.layer_algebra(module.depthwise(), (1, 4, 8, 8), conv_kernel=reading)
    # printed with 4 significant digits
    assert _gcip(line) == pytest.approx(want.gcip_log10, rel=5e-4)
    assert ("--conv-kernel all_inputs" in line) == (reading == "all_inputs")


def test_conv_kernel_readings_differ_on_a_depthwise_conv(capsys, net):
    path, _ = net
    values = {}
    for reading in ("per_group", "all_inputs"):
        assert main(["algebra", "--model", f"{path}:depthwise", "--input-shape", "4,8,8",
                     "--conv-kernel", reading, "--quiet"]) == 0
        values[reading] = _gcip(capsys.readouterr().out)
    # K = 9 per filter vs 36: the depthwise layer's power is 4x larger per group
    assert values["per_group"] - values["all_inputs"] == pytest.approx(math.log10(4), abs=1e-3)


def test_bad_conv_kernel_is_one_line(capsys, net):
    path, _ = net
    _one_line_error(capsys, ["algebra", "--model", f"{path}:depthwise", "--input-shape",
                             "4,8,8", "--conv-kernel", "groups"], "--conv-kernel", "groups")


def test_example_npy_matches_input_shape(capsys, net, tmp_path):
    path, module = net
    np.save(tmp_path / "x.npy", np.random.default_rng(0).normal(size=(2, 4, 8, 8))
            .astype(np.float32))
    assert main(["algebra", "--model", f"{path}:depthwise", "--example",
                 str(tmp_path / "x.npy"), "--quiet"]) == 0
    by_example = capsys.readouterr().out.strip()
    assert "x: 2x4x8x8 float32" in by_example
    assert main(["algebra", "--model", f"{path}:depthwise", "--input-shape", "4,8,8",
                 "--quiet"]) == 0
    # the algebra reads shapes only: the same values from an example batch
    assert _gcip(by_example) == _gcip(capsys.readouterr().out)


def test_example_npz_keyword_inputs(capsys, net, tmp_path):
    path, module = net
    ids = np.random.default_rng(1).integers(0, 50, size=(3, 7))
    mask = np.ones((3, 7), dtype=np.int64)
    np.savez(tmp_path / "enc.npz", input_ids=ids, attention_mask=mask)
    assert main(["algebra", "--model", f"{path}:Tokens", "--example",
                 str(tmp_path / "enc.npz"), "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    assert "input_ids: 3x7 int64" in line and "attention_mask: 3x7 int64" in line
    want = pycx.layer_algebra(module.Tokens(), example={"input_ids": torch.from_numpy(ids),
                                                        "attention_mask": torch.from_numpy(mask)})
    assert _gcip(line) == pytest.approx(want.gcip_log10, rel=5e-4)


def test_example_pt_tuple_of_positional_inputs(capsys, net, tmp_path):
    path, module = net
    x, y = torch.randn(2, 6), torch.randn(2, 5)
    torch.save((x, y), tmp_path / "xy.pt")
    assert main(["algebra", "--model", f"{path}:Two", "--example", str(tmp_path / "xy.pt"),
                 "--quiet"]) == 0
    line = capsys.readouterr().out.strip()
    want = pycx.layer_algebra(module.Two(), [(1, 6), (1, 5)])
    assert _gcip(line) == pytest.approx(want.gcip_log10, rel=5e-4)
    assert "#0: 2x6 float32, #1: 2x5 float32" in line


def _write(tmp_path, name, obj):
    p = tmp_path / name
    if name.endswith(".npy"):
        np.save(p, obj, allow_pickle=True)
    elif name.endswith(".npz"):
        np.savez(p, **obj)
    elif name.endswith(".pt"):
        torch.save(obj, p)
    else:
        p.write_text(str(obj))
    return str(p)


@pytest.mark.parametrize("name, obj, fragment", [
    ("scalar.npy", np.float32(1.0), "batch axis first"),
    ("empty_batch.npy", np.zeros((0, 4, 8, 8), np.float32), "shape (0, 4, 8, 8)"),
    ("strings.npy", np.array([["a", "b"]]), "numeric or bool"),
    ("pickled.npy", np.array([object()], dtype=object), "cannot read"),
    ("none.npz", {}, "holds no arrays"),
    ("x.csv", "1,2", "unsupported file type .csv"),
    ("list.pt", [], "expected a tensor"),
    ("complex.pt", torch.zeros(2, 3, dtype=torch.complex64), "must be real"),
    ("intkeys.pt", {1: torch.zeros(2, 3)}, "string keys"),
])
def test_bad_example_files_are_one_line(capsys, net, tmp_path, name, obj, fragment):
    path, _ = net
    _one_line_error(capsys, ["algebra", "--model", f"{path}:depthwise", "--example",
                             _write(tmp_path, name, obj)], "--example", fragment)


def test_example_that_does_not_fit_names_the_option(capsys, net, tmp_path):
    path, _ = net
    np.save(tmp_path / "x.npy", np.zeros((2, 5, 8, 8), np.float32))   # 5 channels, not 4
    _one_line_error(capsys, ["algebra", "--model", f"{path}:depthwise", "--example",
                             str(tmp_path / "x.npy")], "--example", "does not fit the model")


@pytest.mark.parametrize("extra", [[], ["--input-shape", "4,8,8", "--example", "x.npy"]])
def test_exactly_one_of_input_shape_and_example(capsys, net, extra):
    path, _ = net
    _one_line_error(capsys, ["algebra", "--model", f"{path}:depthwise", *extra],
                    "--input-shape / --example", "exactly one")


def test_missing_example_file(capsys, net, tmp_path):
    path, _ = net
    _one_line_error(capsys, ["algebra", "--model", f"{path}:depthwise", "--example",
                             str(tmp_path / "nope.npy")], "--example: file not found")
