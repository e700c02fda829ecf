"""Input validation shared by every public function.

Validation happens once, here in Python, before any kernel runs; the compiled modules trust
what they are given. Messages name the argument and show the shape/dtype that was received.
Nothing here coerces a dtype silently: a wrong dtype is an error, not a cast.
"""
from __future__ import annotations

import numbers
from typing import Iterable, Optional, Sequence

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
INT_DTYPES = tuple(np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8))
GATE_DTYPES = FLOAT_DTYPES + INT_DTYPES + (np.dtype(np.bool_),)


def describe(x) -> str:
    """Short description of what was received, for error messages."""
    shape = getattr(x, "shape", None)
    dtype = getattr(x, "dtype", None)
    if shape is not None and dtype is not None:
        return f"shape {tuple(shape)} dtype {dtype}"
    return f"{type(x).__name__}"


def is_torch_tensor(x) -> bool:
    # Checked by module name so that validation never imports torch.
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def is_device_array(x) -> bool:
    """True for arrays living on a GPU (CUDA torch tensors, cupy arrays)."""
    if is_torch_tensor(x):
        return x.device.type == "cuda"
    return hasattr(x, "__cuda_array_interface__")


def as_host_array(name: str, x) -> np.ndarray:
    """Returns a numpy view of `x` without copying: numpy arrays as they are, CPU torch
    tensors through the shared buffer. Lists and scalars are turned into arrays (that is a
    construction, not a coercion of an existing array)."""
    if isinstance(x, np.ndarray):
        return x
    if is_torch_tensor(x):
        if x.device.type != "cpu":
            raise TypeError(f"argument '{name}' is a torch tensor on {x.device}; "
                            "this function needs a CPU array")
        if x.is_conj() or x.is_neg():
            raise TypeError(f"argument '{name}': conjugate/negative-bit tensors are not supported")
        try:
            return x.detach().numpy()
        except TypeError:  # dtypes numpy lacks (bfloat16, ...): torch's message names no argument
            raise TypeError(f"argument '{name}' has torch dtype {x.dtype}, which has no numpy "
                            f"equivalent (shape {tuple(x.shape)}); convert it, e.g. x.float()") from None
    if is_device_array(x):
        raise TypeError(f"argument '{name}' is a GPU array; this function needs a CPU array")
    if isinstance(x, (list, tuple)) or np.isscalar(x):
        return np.asarray(x)
    if hasattr(x, "__array__") or hasattr(x, "__array_interface__"):
        return np.asarray(x)
    raise TypeError(f"argument '{name}' must be an array, got {type(x).__name__}")


def check_ndim(name: str, x: np.ndarray, ndim) -> None:
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    if x.ndim not in allowed:
        want = " or ".join(f"{d}-D" for d in allowed)
        raise ValueError(f"argument '{name}' must be {want}, got {describe(x)}")


def check_dtype(name: str, x: np.ndarray, allowed: Sequence[np.dtype], what: str = "") -> None:
    if x.dtype not in allowed:
        names = ", ".join(str(d) for d in allowed)
        extra = f" ({what})" if what else ""
        raise TypeError(f"argument '{name}' must have dtype in [{names}]{extra}, got {describe(x)}")


def check_finite(name: str, x: np.ndarray) -> None:
    if x.dtype.kind in "fc" and x.size and not np.isfinite(x).all():
        bad = "NaN" if np.isnan(x).any() else "infinite values"
        raise ValueError(f"argument '{name}' contains {bad} ({describe(x)})")


def check_nonempty(name: str, x: np.ndarray, axis: int = 0, what: str = "rows") -> None:
    if x.shape[axis] == 0:
        raise ValueError(f"argument '{name}' has no {what}, got {describe(x)}")


def check_binary(name: str, x: np.ndarray) -> None:
    """Gate arrays given unpacked must hold only 0/1 (bool, integer or float)."""
    if x.dtype == np.bool_:
        return
    if x.size and not np.isin(x, (0, 1)).all():
        raise ValueError(f"argument '{name}' must hold only 0/1 gate values, got values "
                         f"{np.unique(x)[:5].tolist()}... ({describe(x)})")


def check_positive(name: str, value, *, allow_zero: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"argument '{name}' must be a real number, got {type(value).__name__}")
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(f"argument '{name}' must be a finite {kind} number, got {value!r}")
    return v


def check_int(name: str, value, *, minimum: Optional[int] = None) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"argument '{name}' must be an integer, got {type(value).__name__}")
    v = int(value)
    if minimum is not None and v < minimum:
        raise ValueError(f"argument '{name}' must be >= {minimum}, got {v}")
    return v


def check_row_vector(name: str, v, n_rows: int, kinds: str, holds: str, per: str) -> None:
    """A 1-D array (numpy, or anything with ``shape`` and a numpy ``dtype``, device arrays
    included) of dtype kind in `kinds`, with one entry per row: ``n_rows`` of them."""
    if len(v.shape) != 1:
        raise ValueError(f"argument '{name}' must be 1-D, got {describe(v)}")
    if v.dtype.kind not in kinds:
        raise TypeError(f"argument '{name}' must hold {holds}, got {describe(v)}")
    if v.shape[0] != n_rows:
        raise ValueError(f"argument '{name}' must have one {per} per row ({n_rows}), got {describe(v)}")


# The one label rule (issue 29): what a class label may be, everywhere labels enter
# (`pycx.analyze`, `pycx.capture` / `Recorder.add_labels`, the estimators, the kernels).
LABEL_KINDS = "iubUS"
LABEL_RULE = "integer class labels, bools or strings (one categorical value per sample)"


def check_label_values(name: str, y) -> None:
    """The label rule on an array of labels (any shape): numpy integers of any width, bools,
    strings (``str`` or ``bytes``), or an object array whose values are all of one hashable
    type other than float and None (e.g. a pandas column of ``str``). Only equality matters:
    labels are never cast; `label_codes` maps them to dense integer codes."""
    kind = y.dtype.kind
    if kind in LABEL_KINDS:
        return
    if kind == "O":
        if not y.size:
            return
        types = {type(v) for v in y.reshape(-1).tolist()}
        (t,) = types if len(types) == 1 else (None,)
        if t is not None and t.__hash__ is not None and not issubclass(t, (float, type(None))):
            return
        names = sorted(x.__name__ for x in types)
        raise TypeError(f"argument '{name}' must hold {LABEL_RULE}; an object array needs values "
                        f"of one hashable type other than float and None, got types {names} "
                        f"({describe(y)})")
    raise TypeError(f"argument '{name}' must hold {LABEL_RULE}, got {describe(y)}")


def check_labels(name: str, labels, n_rows: int) -> np.ndarray:
    """Class labels, one per row, by the label rule (`check_label_values`): integers (any
    width, signed or unsigned), bools, strings, or an object array of one hashable type.
    Only equality matters; consumers map them to dense codes with `label_codes` (or
    `dense_label_codes`), never by a cast (a cast to int64 would make uint64 ``2**64 - 1``
    and int64 ``-1`` one label)."""
    y = as_host_array(name, labels)
    check_row_vector(name, y, n_rows, LABEL_KINDS + "O", LABEL_RULE, "label")
    check_label_values(name, y)
    return y


def label_codes(y: np.ndarray) -> tuple:
    """``(classes, codes)`` of labels already checked (`check_labels`): the distinct labels
    and each row's int64 code ``0..K-1``, in ``np.unique`` order (sorted), so that string
    labels get exactly the codes of integer labels that sort alike. The one place where
    labels become integers. Object labels of a type without an order (e.g. enum members)
    are coded in first-seen order.

    >>> classes, codes = label_codes(np.array(["cat", "dog", "cat"]))
    >>> classes.tolist(), codes.tolist()
    (['cat', 'dog'], [0, 1, 0])
    """
    try:
        classes, inverse = np.unique(y, return_inverse=True)
    except TypeError:  # object values without an order: first seen, first coded
        table: dict = {}
        codes = np.array([table.setdefault(v, len(table)) for v in y.reshape(-1).tolist()],
                         dtype=np.int64)
        classes = np.empty(len(table), dtype=object)
        classes[:] = list(table)
        return classes, codes
    return classes, inverse.reshape(-1).astype(np.int64, copy=False)


def dense_label_codes(*labels: np.ndarray) -> tuple:
    """Exact dense int64 codes ``0..K-1`` shared by several label arrays: two labels get the
    same code iff they are equal as values (``np.uint64(2**64 - 1)`` and ``np.int64(-1)``
    differ; ``3`` as int8 and as uint64 agree). Each array is reduced by ``np.unique`` in its
    own dtype; the (few) distinct values of all arrays are then merged as Python objects, so
    no dtype promotion (to float64 for int64 with uint64) can merge or split labels.

    >>> a, b = dense_label_codes(np.array([2**64 - 1, 3], np.uint64), np.array([-1, 3], np.int64))
    >>> a.tolist(), b.tolist()
    ([1, 0], [2, 0])
    """
    uniques, inverses = [], []
    for y in labels:
        u, inv = label_codes(y)
        uniques.append(u)
        inverses.append(inv)
    if len(labels) == 1:
        return (inverses[0].astype(np.int64, copy=False),)
    code_of: dict = {}
    out = []
    for u, inv in zip(uniques, inverses):
        # .tolist() gives exact Python ints/strs/bools; first-seen order is irrelevant.
        table = np.array([code_of.setdefault(v, len(code_of)) for v in u.tolist()], dtype=np.int64)
        out.append(table[inv] if inv.size else np.zeros(0, np.int64))
    return tuple(out)


# More OpenMP threads than this is refused: beyond the C int the bindings take it would be a
# binding error, and long before that libgomp aborts the process when thread creation fails.
MAX_THREADS = 1024


def check_threads(threads) -> int:
    """``threads`` argument of the kernels: None (0 returned: the default, all cores, or one
    thread for small inputs) or an integer in [1, MAX_THREADS]."""
    if threads is None:
        return 0
    t = check_int("threads", threads, minimum=1)
    if t > MAX_THREADS:
        raise ValueError(f"argument 'threads' must be <= {MAX_THREADS}, got {t}")
    return t


def check_choice(name: str, value, choices: Iterable[str]) -> str:
    choices = tuple(choices)
    if value not in choices:
        raise ValueError(f"argument '{name}' must be one of {choices}, got {value!r}")
    return value


def check_gate_matrix(name: str, x, *, min_rows: int = 1, min_units: int = 0) -> np.ndarray:
    """A 2-D ``(rows, units)`` array of 0/1 gates (bool, integer or float dtype), returned as
    a numpy view. NaN is reported as NaN rather than as a non-binary value."""
    x = as_host_array(name, x)
    check_ndim(name, x, 2)
    check_dtype(name, x, GATE_DTYPES, "0/1 gates")
    check_finite(name, x)
    if x.shape[0] < min_rows:
        raise ValueError(f"argument '{name}' must have at least {min_rows} row(s), got {describe(x)}")
    if x.shape[1] < min_units:
        raise ValueError(f"argument '{name}' must have at least {min_units} unit(s) (columns), "
                         f"got {describe(x)}")
    check_binary(name, x)
    return x


def check_counts(name: str, counts, *, positive: bool = False) -> np.ndarray:
    """A non-empty 1-D array of integer counts (>= 0, or >= 1 with ``positive``) with a
    positive total."""
    c = as_host_array(name, counts)
    check_ndim(name, c, 1)
    if c.dtype.kind not in "iu":
        raise TypeError(f"argument '{name}' must hold integer counts, got {describe(c)}")
    check_nonempty(name, c, what="counts")
    low = 1 if positive else 0
    if (c < low).any():
        what = "positive (counts of observed states)" if positive else "non-negative"
        raise ValueError(f"argument '{name}' must be {what}, got minimum {c.min()} ({describe(c)})")
    if c.sum() == 0:
        raise ValueError(f"argument '{name}' must have a positive total, got all zeros ({describe(c)})")
    return c

def check_weights(name: str, weights, n_rows: int) -> np.ndarray:
    """Non-negative integer multiplicities, one per row (e.g. counts of deduplicated rows)."""
    w = as_host_array(name, weights)
    check_row_vector(name, w, n_rows, "iu", "non-negative integers", "weight")
    if w.size and w.min() < 0:
        raise ValueError(f"argument '{name}' must be non-negative, got minimum {w.min()}")
    return w


def check_bool(name: str, value) -> bool:
    """A flag: ``True``/``False`` (numpy's bool too). Truthy stand-ins ("yes", 1, None) are
    refused rather than read: ``"False"`` is truthy.

    >>> check_bool("progress", np.bool_(True))
    True
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"argument '{name}' must be True or False, got {value!r}")
    return bool(value)


def check_device(name: str, device):
    """None, or what ``torch.device`` takes (a string like "cuda:0", a device, an index), as a
    ``torch.device``; a CUDA device this process cannot use is refused here, before any work.
    Only callers that already hold torch tensors use it, so the import below costs nothing.

    >>> check_device("device", "cpu").type
    'cpu'
    """
    import torch

    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(f"argument '{name}' must be a torch device, a string like 'cpu' or "
                        f"'cuda:0', or None, got {type(device).__name__}")
    try:
        dev = torch.device(device)
    except (RuntimeError, ValueError) as exc:
        raise ValueError(f"argument '{name}': {device!r} is not a torch device "
                         f"({str(exc).splitlines()[0][:120]})") from None
    if dev.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0 or (dev.index is not None and dev.index >= count):
            raise ValueError(f"argument '{name}': {device!r} is not available (this process "
                             f"sees {count} CUDA device(s))")
    return dev
