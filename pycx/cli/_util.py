"""Helpers of the command line: user errors, optional dependencies, loading models and data.

Every problem the user can fix (a bad argument, a missing file, a missing optional package)
raises `UserError`; the entry point prints its one-line message and exits with status 2.
"""
from __future__ import annotations

import ast
import importlib
import importlib.util
import os
import sys
from pathlib import Path

# Which extra of the package provides an optional module.
_EXTRA = {
    "torch": 'pip install "pycx[torch]"',
    "xgboost": 'pip install "pycx[xgboost]"',
    "mlxtend": "pip install mlxtend",
    "faiss": "pip install faiss-cpu",
}
_ANALYSIS = ("matplotlib", "pandas", "sklearn", "scipy", "tqdm")
for _name in _ANALYSIS:
    _EXTRA[_name] = 'pip install "pycx[analysis]"'

_PACKAGE = {"sklearn": "scikit-learn", "faiss": "faiss-cpu"}


class UserError(Exception):
    """A problem with the command's arguments or environment, reported in one line."""


def missing_dependency(module: str, purpose: str) -> UserError:
    top = module.split(".")[0]
    hint = _EXTRA.get(top, f"pip install {_PACKAGE.get(top, top)}")
    return UserError(f"{purpose} needs the optional package '{_PACKAGE.get(top, top)}', "
                     f"which is not installed: {hint}")


def require(purpose: str, *modules: str) -> None:
    """Raises a `UserError` naming the extra to install when a module cannot be imported."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            raise missing_dependency(module, purpose)


def parse_shape(text: str) -> tuple:
    """``"3,224,224"`` (also ``3x224x224``) -> ``(3, 224, 224)``: positive integers."""
    parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p != ""]
    try:
        shape = tuple(int(p) for p in parts)
    except ValueError:
        shape = ()
    if not shape or any(s <= 0 for s in shape):
        raise UserError(f"--input-shape must be positive integers separated by commas, like "
                        f"3,224,224; got {text!r}")
    return shape


def parse_kwargs(text) -> dict:
    """``"depth=56,residual=False"`` -> ``{"depth": 56, "residual": False}`` (values are Python
    literals where they parse as one, strings otherwise)."""
    out = {}
    if not text:
        return out
    for item in text.split(","):
        item = item.strip()
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise UserError(f"--kwargs must be name=value pairs separated by commas, like "
                            f"depth=56,residual=False; got {item!r}")
        try:
            out[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            out[key.strip()] = value.strip()
    return out


def _import_module(spec: str):
    if spec.endswith(".py") or os.sep in spec or "/" in spec:
        path = Path(spec)
        if not path.is_file():
            raise UserError(f"--model: file not found: {spec}")
        name = f"pycx_user_{path.stem}"
        module_spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
        # The file's own folder is importable while it loads, as for `python file.py`.
        sys.path.insert(0, str(path.resolve().parent))
        try:
            module_spec.loader.exec_module(module)
        except ModuleNotFoundError as exc:
            sys.modules.pop(name, None)
            raise _import_failure(spec, exc) from exc
        except Exception as exc:
            sys.modules.pop(name, None)
            raise UserError(f"--model: importing {spec} failed: {type(exc).__name__}: {exc}") from exc
        finally:
            sys.path.remove(str(path.resolve().parent))
        return module
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        raise _import_failure(spec, exc) from exc
    except Exception as exc:
        raise UserError(f"--model: importing {spec} failed: {type(exc).__name__}: {exc}") from exc


def _import_failure(spec, exc) -> UserError:
    missing = exc.name or ""
    if missing and missing.split(".")[0] in _EXTRA:
        return missing_dependency(missing, f"--model {spec}")
    if missing and (spec == missing or spec.startswith(missing + ".")):
        return UserError(f"--model: no module named {spec!r} (give a dotted module on the "
                         "Python path or a path to a .py file)")
    return UserError(f"--model: importing {spec} failed: {exc}")


def load_model(spec: str, kwargs: dict | None = None):
    """``MODULE:FACTORY`` -> the model: FACTORY is called with ``kwargs`` when it is a class or
    function; an ``nn.Module`` instance is used as it is. MODULE: dotted name or .py path.

    Trust boundary: this runs code. A .py path is executed (its top level, then FACTORY) and a
    dotted module imported, with the caller's permissions, as ``python file.py`` would; weights
    and data are read without unpickling (`load_weights`, `load_arrays`)."""
    module_name, sep, attr = spec.rpartition(":")
    if not sep or not module_name or not attr or not all(p.isidentifier() for p in attr.split(".")):
        raise UserError(f"--model must be MODULE:FACTORY (like pycx.models:cifar_resnet or "
                        f"path/to/net.py:Net); got {spec!r}")
    require("--model", "torch")
    import torch

    module = _import_module(module_name)
    target = module
    for part in attr.split("."):
        if not hasattr(target, part):
            raise UserError(f"--model: {module_name} has no attribute {attr!r}")
        target = getattr(target, part)
    kwargs = kwargs or {}
    if isinstance(target, torch.nn.Module):
        if kwargs:
            raise UserError(f"--kwargs given, but {spec} is a module instance, not a factory")
        return target
    if not callable(target):
        raise UserError(f"--model: {spec} is neither a torch module nor callable")
    try:
        model = target(**kwargs)
    except TypeError as exc:
        raise UserError(f"--model: calling {attr}({_kw_text(kwargs)}) failed: {exc}") from exc
    except Exception as exc:
        raise UserError(f"--model: calling {attr}({_kw_text(kwargs)}) failed: "
                        f"{type(exc).__name__}: {exc}") from exc
    if not isinstance(model, torch.nn.Module):
        raise UserError(f"--model: {spec} returned a {type(model).__name__}, not a torch.nn.Module")
    return model


def _kw_text(kwargs) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def load_weights(model, path: str) -> None:
    """Loads a state dict (or a checkpoint dict holding one under 'state_dict',
    'model_state_dict' or 'model') into the model, by `pycx.analysis.checkpoint`: the loader
    of `pycx.analyze_checkpoints` too (``weights_only=True``)."""
    from ..analysis.checkpoint import CheckpointError, load_checkpoint

    if not Path(path).is_file():
        raise UserError(f"--weights: file not found: {path}")
    try:
        load_checkpoint(model, path, path)
    except CheckpointError as exc:
        cause = exc.__cause__
        if exc.stage == "read":
            raise UserError(f"--weights: cannot read {path}: {type(cause).__name__}: "
                            f"{str(cause).splitlines()[0] if str(cause) else ''}") from exc
        if exc.stage == "fit":
            detail = " ".join(line.strip() for line in str(cause).splitlines()[:3])
            raise UserError(f"--weights: {path} does not fit the model: {detail}") from exc
        raise UserError(f"--weights: {exc}") from exc


_INPUT_KEYS = ("x", "X", "data", "inputs", "images", "x_test", "X_test")


def load_arrays(path: str, key: str | None = None, labels: str | None = None):
    """Inputs (and optional labels) from a ``.npz``, ``.npy`` or ``.pt`` file.

    ``.npz`` / ``.pt`` dict: ``key`` names the inputs (default: the first of x, X, data,
    inputs, images..., or the only array), ``labels`` the label array. ``.npy`` or a ``.pt``
    tensor: the inputs; then ``labels`` may name a separate ``.npy`` file. A ``.pt`` tuple
    ``(x, y)`` gives both.
    """
    import numpy as np

    p = Path(path)
    if not p.is_file():
        raise UserError(f"--data: file not found: {path}")
    suffix = p.suffix.lower()
    container = None
    x = y = None
    try:
        if suffix == ".npz":
            with np.load(p, allow_pickle=False) as z:
                container = {k: z[k] for k in z.files}
        elif suffix == ".npy":
            x = np.load(p, allow_pickle=False)
        elif suffix in (".pt", ".pth"):
            require("--data .pt", "torch")
            import torch
            obj = torch.load(p, map_location="cpu", weights_only=True)
            if isinstance(obj, torch.Tensor):
                x = obj.numpy()
            elif isinstance(obj, dict):
                container = {k: (v.numpy() if isinstance(v, torch.Tensor) else np.asarray(v))
                             for k, v in obj.items()}
            elif isinstance(obj, (tuple, list)) and len(obj) == 2:
                x, y = (np.asarray(v.numpy() if isinstance(v, torch.Tensor) else v) for v in obj)
            else:
                raise UserError(f"--data: {path} holds a {type(obj).__name__}; expected a tensor, "
                                "a dict of tensors or an (inputs, labels) pair")
        else:
            raise UserError(f"--data: unsupported file type {suffix or '(none)'}: use .npz, .npy "
                            "or .pt")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"--data: cannot read {path}: {type(exc).__name__}: {exc}") from exc

    if container is not None:
        if not container:
            raise UserError(f"--data: {path} holds no arrays")
        if labels is not None:
            if labels not in container:
                raise UserError(f"--labels: no array {labels!r} in {path} (it has "
                                f"{', '.join(container)})")
            y = container[labels]
        if key is not None:
            if key not in container:
                raise UserError(f"--key: no array {key!r} in {path} (it has {', '.join(container)})")
            x = container[key]
        else:
            candidates = [k for k in _INPUT_KEYS if k in container]
            others = [k for k in container if k != labels]
            if candidates:
                x = container[candidates[0]]
            elif len(others) == 1:
                x = container[others[0]]
            else:
                raise UserError(f"--data: {path} has arrays {', '.join(container)}; name the "
                                "inputs with --key")
    elif labels is not None and y is None:
        if not Path(labels).is_file():
            raise UserError(f"--labels: with a single-array --data file, --labels must be a .npy "
                            f"file; not found: {labels}")
        try:
            y = np.load(labels, allow_pickle=False)
        except Exception as exc:
            # A pickled (object) array, a truncated or foreign file: never unpickled (that
            # would run code from the file), reported in one line.
            raise UserError(f"--labels: cannot read {labels} as a .npy array of labels: "
                            f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(y, np.ndarray):  # an .npz archive loads as a mapping of arrays
            y.close()
            raise UserError(f"--labels: {labels} holds several arrays ({type(y).__name__}); "
                            "give a .npy file with one label per sample, or put the labels in "
                            "the --data .npz and name them with --labels")
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[0] < 2:
        raise UserError(f"--data: inputs must have a sample axis first and at least 2 samples, "
                        f"got shape {x.shape}")
    if not np.issubdtype(x.dtype, np.number):
        raise UserError(f"--data: inputs must be numeric, got dtype {x.dtype}")
    if y is not None:
        y = np.asarray(y).reshape(-1) if np.asarray(y).ndim <= 1 else np.asarray(y)
        if y.ndim != 1 or y.shape[0] != x.shape[0]:
            raise UserError(f"--labels: need one label per sample ({x.shape[0]}), got shape "
                            f"{np.asarray(y).shape}")
        if y.dtype.kind not in "iubUS":
            # Not cast: 0.5 and 0.4 would silently become one class.
            raise UserError(f"--labels: class labels must be integers, bools or strings, got "
                            f"dtype {y.dtype}; convert them first (e.g. y.astype(int) if they "
                            "are whole numbers)")
    return x, y


def check_out_dir(path: str) -> str:
    """Checks, before any work, that a report can be written to the folder ``path``: it is
    new, empty or a previous report, its parent is writable and its filesystem is not full
    (`UserError` otherwise). Returns ``path``."""
    import shutil

    from ..report.html import check_report_dir

    try:
        out = check_report_dir(path)
    except ValueError as exc:
        raise UserError(str(exc).replace("argument 'out_dir'", "--out")) from None
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        free = shutil.disk_usage(existing).free
    except OSError:
        free = None
    # A report is at least a few hundred kB of figures; a filesystem with less room left
    # cannot hold one.
    if free is not None and free < _MIN_FREE_BYTES:
        raise UserError(f"--out: the filesystem of {path} is full ({free} bytes free)")
    return path


_MIN_FREE_BYTES = 1 << 20
