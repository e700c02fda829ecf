"""Fuzzing the RBM and DBN (pycx.models.rbm) with bad arguments (issue 32: the fuzz suites
cover the newer surfaces).

Each case builds or trains a small machine, or calls one of its public methods, with one bad
argument (wrong type, negative, zero or out-of-range value, wrong shape or dtype of the data,
an unusable device or dtype, a flag that is not a bool), the other arguments valid and drawn
from a seeded generator; or with valid arguments only. A bad argument must raise one TypeError
or ValueError naming it; valid ones must work (tests/fuzzargs.py). Everything is small plain
torch on the CPU, which cannot crash the process, so the cases share it.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from fuzzargs import Case, report, run_cases  # noqa: E402
from pycx.models import DBN, RBM  # noqa: E402

NAN, INF = float("nan"), float("inf")
NOT_INT = [1.5, "3", None, True, np.float64(2.0), [3], NAN]
NOT_REAL = ["0.5", None, True, [0.5], 1j, NAN, INF, -INF]
NOT_BOOL = ["yes", 1, None, 0.5, "False"]
N_V = 6


def _data(n=24, width=N_V, seed=0, dtype=torch.float32):
    return torch.rand(n, width, generator=torch.Generator().manual_seed(seed), dtype=dtype)


BAD_DATA = [np.zeros((4, N_V), np.int64), [[0.5] * N_V] * 3, None, torch.rand(N_V),
            torch.rand(4, N_V + 1), torch.full((4, N_V), 1.5), torch.full((4, N_V), NAN),
            torch.rand(0, N_V), torch.ones(4, N_V, dtype=torch.int64),
            torch.ones(4, N_V, dtype=torch.bool), torch.ones(4, N_V, dtype=torch.complex64),
            -torch.rand(4, N_V)]
BAD_DEVICES = ["nope", 3.5, True, [0]] + ([] if torch.cuda.is_available() else ["cuda"])
BAD_DTYPES = [torch.int64, torch.bool, torch.complex64, "float32", np.float32, None]


def _cases(rng):
    cases = []
    pick = lambda pool: pool[int(rng.integers(len(pool)))]  # noqa: E731

    # ---- constructors (the machine is then used once, so a bad setting cannot hide)
    valid_rbm = {"n_visible": [N_V], "n_hidden": [1, 3, 5], "seed": [0, 9, 2 ** 63 - 1],
                 "init_std": [0.0, 0.01, 1.0], "device": [None, "cpu", torch.device("cpu")],
                 "dtype": [torch.float32, torch.float64]}
    bad_rbm = {"n_visible": NOT_INT + [0, -1], "n_hidden": NOT_INT + [0, -1],
               "seed": NOT_INT + [-1, 2 ** 64, 2 ** 70], "init_std": NOT_REAL + [-0.1],
               "device": BAD_DEVICES, "dtype": BAD_DTYPES}

    def use_rbm(kw):
        return RBM(**kw).p_h_given_v(_data(4, dtype=kw["dtype"]))

    for arg, pool in bad_rbm.items():
        for v in pool:
            kw = {k: pick(p) for k, p in valid_rbm.items()}
            kw[arg] = v
            cases.append(Case(f"RBM({kw})", lambda kw=kw: use_rbm(kw), arg))
    for _ in range(6):
        kw = {k: pick(p) for k, p in valid_rbm.items()}
        cases.append(Case(f"RBM({kw})", lambda kw=kw: use_rbm(kw), None))
    # Weights beyond float32's range (not float64's): refused, never returned as inf.
    cases.append(Case("RBM(6, 3, init_std=1e300)", lambda: RBM(N_V, 3, init_std=1e300), "init_std"))
    cases.append(Case("RBM(6, 3, init_std=1e300, float64)",
                      lambda: RBM(N_V, 3, init_std=1e300, dtype=torch.float64), None))

    def use_dbn(sizes, kw):
        return DBN(sizes, **kw).transform(_data(4, width=6, dtype=kw.get("dtype", torch.float32)), 1)

    for v in (5, "abc", [6], [], [6, 0], [6, -1], [6, 2.5], [6, True], None, [6, "3"]):
        cases.append(Case(f"DBN(sizes={v!r})", lambda v=v: use_dbn(v, {}), "sizes"))
    for arg in ("seed", "init_std", "device", "dtype"):
        for v in bad_rbm[arg]:
            kw = {arg: v}
            cases.append(Case(f"DBN([6, 4, 2], {kw})", lambda kw=kw: use_dbn([6, 4, 2], kw), arg))
    cases.append(Case("DBN([6, 4, 2], seed=2**63 - 1)",
                      lambda: use_dbn([6, 4, 2], {"seed": 2 ** 63 - 1}), None))
    for v in (5, [], "ab", None, [RBM(6, 4), RBM(5, 2)], [RBM(4, 2), "x"],
              [RBM(4, 3), RBM(3, 2, dtype=torch.float64)]):
        cases.append(Case(f"DBN.from_rbms({v!r})", lambda v=v: DBN.from_rbms(v), "rbms"))

    # ---- fit (RBM and DBN share the settings)
    valid_fit = {"epochs": [0, 1, 2], "batch_size": [1, 7, 100], "lr": [0.01, 0.1, 1.0],
                 "k": [1, 2], "persistent": [False, True], "momentum": [0.0, 0.5],
                 "weight_decay": [0.0, 1e-4], "sample_visible": [False, True], "seed": [0, 5],
                 "progress": [False]}
    bad_fit = {"epochs": [v for v in NOT_INT if v is not None] + [-1],
               "batch_size": NOT_INT + [0, -1], "lr": NOT_REAL + [0, -0.1],
               "k": NOT_INT + [0], "momentum": NOT_REAL + [-0.1, 1.0, 1.5],
               "weight_decay": NOT_REAL + [-0.1], "seed": NOT_INT + [-1, 2 ** 64],
               "persistent": NOT_BOOL, "sample_visible": NOT_BOOL, "progress": NOT_BOOL}
    for make, what in ((lambda: RBM(N_V, 3, seed=1), "RBM"), (lambda: DBN([N_V, 4, 2], seed=1), "DBN")):
        for arg, pool in bad_fit.items():
            for v in pool:
                kw = {k: pick(p) for k, p in valid_fit.items()}
                kw[arg] = v
                cases.append(Case(f"{what}.fit(data, {kw})",
                                  lambda kw=kw, m=make: m().fit(_data(), **kw), arg))
        for v in BAD_DATA:
            cases.append(Case(f"{what}.fit({_short(v)})",
                              lambda v=v, m=make: m().fit(v, epochs=1, progress=False), "data"))
        for _ in range(6):
            kw = {k: pick(p) for k, p in valid_fit.items()}
            cases.append(Case(f"{what}.fit(data, {kw})",
                              lambda kw=kw, m=make: m().fit(_data(), **kw), None))
        # A huge rate may diverge: then the error names it (never NaN weights returned).
        cases.append(Case(f"{what}.fit(data, lr=1e30)",
                          lambda m=make: _finite(m().fit(_data(), epochs=3, lr=1e30,
                                                         progress=False)), "lr", must_fail=False))
    cases.append(Case("RBM.fit(data) default epochs",
                      lambda: RBM(N_V, 3).fit(_data(), batch_size=100, progress=False), None))

    # ---- methods on a machine
    rbm = RBM(N_V, 3, seed=2)
    dbn = DBN([N_V, 4, 2], seed=2)
    for v in BAD_DATA:
        for name, method in (("p_h_given_v", rbm.p_h_given_v), ("free_energy", rbm.free_energy),
                             ("reconstruction_error", rbm.reconstruction_error)):
            cases.append(Case(f"RBM.{name}({_short(v)})", lambda v=v, f=method: f(v), "v"))
        cases.append(Case(f"RBM.gibbs({_short(v)}, 1)", lambda v=v: rbm.gibbs(v, 1), "v"))
        for name in ("transform", "probabilities"):
            cases.append(Case(f"DBN.{name}({_short(v)}, 1)",
                              lambda v=v, n=name: getattr(dbn, n)(v, 1), "x"))
    for v in (torch.rand(4, 4), torch.full((2, 3), 2.0), None, torch.ones(2, 3, dtype=torch.int64)):
        cases.append(Case(f"RBM.p_v_given_h({_short(v)})", lambda v=v: rbm.p_v_given_h(v), "h"))
    for arg, pool in (("steps", NOT_INT + [-1]), ("seed", NOT_INT + [-1, 2 ** 64]),
                      ("sample_visible", NOT_BOOL)):
        for v in pool:
            kw = {"steps": 2, "seed": 0, "sample_visible": True, arg: v}
            cases.append(Case(f"RBM.gibbs(v, {kw})", lambda kw=kw: rbm.gibbs(_data(4), **kw), arg))
    for v in NOT_INT + [0, -1, 3]:
        for name in ("transform", "probabilities"):
            cases.append(Case(f"DBN.{name}(x, layer={v!r})",
                              lambda v=v, n=name: getattr(dbn, n)(_data(4), v), "layer"))
    valid_gen = {"layer": [1, 2, np.int64(2)], "n": [1, 5], "steps": [0, 3], "seed": [0, 4],
                 "batch_size": [1, 3, 10000], "progress": [False]}
    bad_gen = {"layer": NOT_INT + [0, -1, 3], "n": NOT_INT + [0, -1],
               "steps": NOT_INT + [-1], "seed": NOT_INT + [-1, 2 ** 64],
               "batch_size": NOT_INT + [0, -1], "progress": NOT_BOOL}
    for arg, pool in bad_gen.items():
        for v in pool:
            kw = {k: pick(p) for k, p in valid_gen.items()}
            kw[arg] = v
            cases.append(Case(f"DBN.generate({kw})", lambda kw=kw: dbn.generate(**kw), arg))
    for _ in range(4):
        kw = {k: pick(p) for k, p in valid_gen.items()}
        cases.append(Case(f"DBN.generate({kw})", lambda kw=kw: dbn.generate(**kw), None))
    return cases


def _finite(model):
    for p in model.parameters():
        assert bool(torch.isfinite(p).all()), "non-finite weights returned"


def _short(v):
    if isinstance(v, (torch.Tensor, np.ndarray)):
        return f"{type(v).__name__}{tuple(v.shape)} {v.dtype}"
    return repr(v)[:60]


def test_bad_rbm_and_dbn_arguments_raise_one_clear_error_each(one_torch_thread):
    cases = _cases(np.random.default_rng(32))
    failures = run_cases(cases)
    assert not failures, report(failures, len(cases))
