"""`pycx.describe`: a dry run of the capture on one example batch, with no estimator: every
gating layer the capture would record (and how), and every activation-like op that ran and
would not be recorded, with the reason.

This module imports torch and pandas; it is only loaded through `pycx.describe`.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .batches import model_device, split_batch, to_device
from .recorder import Recorder
from .select import LayerSelection

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["describe"]

COLUMNS = ["layer", "kind", "module", "captured", "reason", "shape", "unit_axis",
           "unit_axis_source", "units", "bits_per_sample", "patch_rows_per_sample",
           "bytes_per_sample", "covariance_bytes"]


def describe(model: torch.nn.Module, example: Any, *, layers: LayerSelection = None,
             exclude: LayerSelection = None, channel_axis: "str | int | dict" = "auto",
             train_mode: bool = False) -> "pd.DataFrame":
    """One row per gating layer of `model` on `example` (a batch as `pycx.capture` takes one:
    a tensor, a dict / ``BatchEncoding`` of keyword arguments, or an ``(x, y)`` tuple), and one
    per activation-like op or module that ran and is not recorded, as a pandas DataFrame:

    - ``layer``, ``kind``, ``module`` (path of the module running it);
    - ``captured``: True, or False with the ``reason`` (not selected by `layers` / `exclude`,
      not a gate, rows that are not samples...);
    - ``shape`` (per sample, units first), ``unit_axis`` (1 or -1 of the op's activation) and
      ``unit_axis_source`` (how it was decided, see `pycx.gates.layout`), ``units`` (C),
      ``bits_per_sample``, ``patch_rows_per_sample`` (positions);
    - ``bytes_per_sample``: the packed bits a sample costs; ``covariance_bytes``: the float64
      moments the default covariance keeps for the layer, whatever the number of samples.

    The model runs once, in eval mode (``train_mode=False``) and without autograd; its mode
    flags are restored.

    >>> import torch, pycx
    >>> net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU(), torch.nn.Flatten(),
    ...                           torch.nn.Linear(8, 4), torch.nn.Softmax(dim=1))
    >>> df = pycx.describe(net, torch.randn(2, 1, 4, 4))
    >>> df[["layer", "kind", "captured", "shape", "unit_axis", "units"]].to_string(index=False)
    ... # doctest: +NORMALIZE_WHITESPACE
    '    layer    kind  captured     shape  unit_axis  units\\n        1    relu      True (2, 2, 2)        1.0    2.0\\n4.softmax softmax     False        ()        NaN    NaN'
    """
    try:
        import pandas as pd
    except ImportError:
        raise ImportError("pycx.describe returns a pandas DataFrame: pip install pandas "
                          "(or pycx[analysis])") from None
    rec = Recorder(model, covariance=False, channel_axis=channel_axis)
    rec._dry_run = True
    keep, _ = _selection(model, layers, exclude)
    x, _ = split_batch(example)
    x = to_device(x, model_device(model))
    modes = [(m, m.training) for m in model.modules()]
    try:
        model.train(bool(train_mode))
        with torch.no_grad(), rec, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # what is skipped is in the table, with its reason
            model(**x) if isinstance(x, dict) else model(x)
    finally:
        for m, flag in modes:
            m.training = flag
    rows = []
    for name, kind in rec._tracer.seen.items():
        meta = rec._meta.get(name)
        if name in rec._tracer.skipped:
            rows.append(_skipped_row(name, *rec._tracer.skipped[name]))
            continue
        row = {"layer": name, "kind": kind, "module": meta.module if meta else "",
               "captured": bool(keep(name, kind)),
               "reason": "" if keep(name, kind) else "not selected by 'layers' / 'exclude'"}
        if meta is not None:
            n_bits = meta.bits_per_unit * int(np.prod(meta.shape, dtype=np.int64))
            c = meta.output_shape[0]
            row.update(shape=meta.shape, unit_axis=-1 if meta.channels_last else 1,
                       unit_axis_source=meta.unit_source, units=meta.shape[0],
                       bits_per_sample=n_bits,
                       patch_rows_per_sample=int(np.prod(meta.shape[1:], dtype=np.int64)),
                       bytes_per_sample=(n_bits + 63) // 64 * 8,
                       covariance_bytes=8 * (c * c + c))
        rows.append(row)
    for name, (op, reason) in rec._tracer.skipped.items():
        if name not in rec._tracer.seen:
            rows.append(_skipped_row(name, op, reason))
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["shape"] = df["shape"].apply(lambda s: s if isinstance(s, tuple) else ())
    return df


def _skipped_row(name, op, reason):
    module = name.rsplit(".", 1)[0] if "." in name else ""
    return {"layer": name, "kind": op, "module": module, "captured": False, "reason": reason}


def _selection(model, layers, exclude):
    from .select import layer_selector

    paths = {path for path, _ in model.named_modules() if path}
    return layer_selector(layers, exclude, known=paths)
