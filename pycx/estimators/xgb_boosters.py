"""The two boosters of the classifier chain rule (`pycx.xgb_entropy`, definitions §5.1), chosen
by `make_booster(backend, ...)`: XGBoost itself (``"xgboost"``) or pycx's native booster on
packed bits (``"native"``, `pycx.kernels.boost_fit`). Each is a small picklable object whose
``fit_predict`` fits one classifier of the chain on the training points of a row set's column
and returns P(z_i = 1) of the test points (the inputs are the ``n_features = i`` units before
it); ``packed_inputs`` says whether it takes the inputs
packed (`pycx.estimators.xgb_rows`'s ``packed_column``) or as 0/1 bytes (``column``).

May import: `pycx.kernels`, the base layer; xgboost lazily.
"""
from __future__ import annotations

import functools
from typing import Optional

import numpy as np

BACKENDS = ("xgboost", "native")


def import_xgboost():
    try:
        import xgboost
    except ImportError as err:
        raise ImportError('xgb_entropy needs the xgboost package; install it with '
                          '`pip install "pycx[xgboost]"` (or `pip install xgboost`)') from err
    return xgboost


@functools.lru_cache(maxsize=None)
def _cuda_problem(xgb, device: str):
    """Why XGBoost cannot run on ``device`` here (None if it can): a build without CUDA, or
    no visible GPU, where XGBoost itself would only warn and fit on the CPU. One tiny fit,
    once per process and device."""
    if not xgb.build_info().get("USE_CUDA", False):
        return "this XGBoost build has no CUDA support (e.g. the xgboost-cpu package)"
    import warnings

    data = xgb.DMatrix(np.array([[0.0], [1.0]]), label=np.array([0.0, 1.0]))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        xgb.train({"device": device, "objective": "binary:logistic", "verbosity": 1}, data, 1)
    moved = [str(w.message) for w in caught if "CPU" in str(w.message)]
    return f"XGBoost found no usable GPU ({moved[0].split(': ')[-1].strip()})" if moved else None


def check_cuda_device(xgb, device: str) -> None:
    """Refuses ``device="cuda"`` where XGBoost would silently fit on the CPU instead."""
    problem = _cuda_problem(xgb, device)
    if problem is not None:
        raise ValueError(f"argument 'device' is {device!r}, but {problem}; pass device='cpu' "
                         "(the same estimate, on the CPU)")


def fit(xgb, x, y, w, params, n_estimators, nthread):
    """One classifier of the chain: `n_estimators` boosting rounds on the (weighted) points.
    The rounds of ``xgb.train`` without its callback machinery (no evaluation sets, no early
    stopping here): the same model, byte for byte (tested), ~2 ms less per fit, which is a
    third of a small fit's time and the chain rule makes thousands of them."""
    dtrain = xgb.DMatrix(x, label=y, weight=w, nthread=nthread)
    booster = xgb.Booster({**params, "nthread": nthread}, [dtrain])
    for round_ in range(n_estimators):
        booster.update(dtrain, round_)
    return booster


def predict(xgb, booster, x, nthread, device):
    """P(z_i = 1) of the test rows. On the CPU straight from the array (``inplace_predict``:
    no DMatrix, about half the prediction time; the same trees walked, checked to give the
    same probabilities bit for bit); a CUDA booster keeps the DMatrix path (inplace
    prediction from host memory would fall back to it with a warning)."""
    if str(device).startswith("cuda"):
        return booster.predict(xgb.DMatrix(x, nthread=nthread))
    return booster.inplace_predict(x)


class XGBoostBooster:
    """XGBoost's ``hist`` trees with the booster parameters ``params`` (``device`` among them)."""

    packed_inputs = False

    def __init__(self, params: dict, n_estimators: int):
        self.params = dict(params)
        self.n_estimators = n_estimators

    def fit_predict(self, x_tr, y_tr, w_tr, x_te, n_features: int, nthread: int) -> np.ndarray:
        xgb = import_xgboost()
        booster = fit(xgb, x_tr, y_tr, w_tr, self.params, self.n_estimators, nthread)
        return predict(xgb, booster, x_te, nthread, self.params["device"])


class NativeBooster:
    """pycx's booster (`pycx.kernels.boost_fit`) on the packed inputs; one thread per fit
    (``nthread`` unused). The points are made by the chain rule (both classes present,
    weights >= 1), so its trusted core is called without the public checks."""

    packed_inputs = True

    def __init__(self, n_estimators: int, max_depth: int, eta: float):
        self.n_estimators, self.max_depth, self.eta = n_estimators, max_depth, eta

    def fit_predict(self, x_tr, y_tr, w_tr, x_te, n_features: int, nthread: int) -> np.ndarray:
        from ..kernels.boost_fit import _fit_predict_core

        weight = (np.ones(y_tr.shape[0], np.float32) if w_tr is None
                  else np.ascontiguousarray(w_tr, dtype=np.float32))  # XGBoost's float weights
        return _fit_predict_core(x_tr, n_features, np.ascontiguousarray(y_tr, dtype=np.float32),
                                 weight, x_te, rounds=self.n_estimators,
                                 max_depth=self.max_depth, eta=self.eta)


def make_booster(backend: str, *, n_estimators: int, max_depth: int, learning_rate: float,
                 seed: int, device: str, xgb_params: Optional[dict]):
    """The booster named by `backend` (`BACKENDS`), with the chain rule's settings (already
    checked by `pycx.xgb_entropy`)."""
    if backend == "native":
        return NativeBooster(n_estimators, max_depth, learning_rate)
    params = {"objective": "binary:logistic", "tree_method": "hist", "max_depth": max_depth,
              "eta": learning_rate, "seed": seed, "device": device, "verbosity": 0}
    params.update(xgb_params or {})
    return XGBoostBooster(params, n_estimators)
