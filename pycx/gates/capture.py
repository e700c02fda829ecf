"""`pycx.capture`: runs a model over a dataset and returns its gate states as a `Capture`.

The loop around `Recorder` (`pycx.gates.recorder`): eval mode and no autograd for the pass,
inputs moved to the model's device, labels from the batches or given apart, a sample cap, a
progress bar.

This module imports torch; it is only loaded through `pycx.capture`.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any, Iterable, Optional

import numpy as np
import torch

from .._validate import check_int
from .batches import batch_size, first_rows, labels_array, model_device as device_of, split_batch, to_device
from .recorder import LayerSelection, Recorder
from .kinds import NEVER_GATES
from .result import Capture

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["capture"]

_MODULE_TRAIN = torch.nn.Module.train


def capture(model: torch.nn.Module, data: Iterable[Any], *, layers: LayerSelection = None,
            exclude: LayerSelection = None,
            labels: "npt.ArrayLike | Iterable[npt.ArrayLike] | None" = None,
            max_samples: Optional[int] = None, patch_rows: Optional[int] = None,
            covariance: bool = True, pixel_covariance: bool = False,
            covariance_positions: Optional[int] = 16,
            device: "str | torch.device | None" = None, train_mode: bool = False,
            progress: bool = True, seed: int = 0, channel_axis: "str | int | dict" = "auto",
            mask_padding: bool = True) -> Capture:
    """Runs `model` over `data` and captures the gate states of its gating layers.

    - `data`: a DataLoader or any iterable of input tensors (numpy arrays are accepted; integer
      token ids too), of mappings of keyword arguments (a dict or a ``transformers``
      ``BatchEncoding``: ``{"input_ids", "attention_mask", ...}``, called as ``model(**batch)``;
      its ``"labels"``, if any, are the labels and are not passed to the model) or of
      ``(x, y, ...)`` tuples whose second item is the batch's integer labels.
    - `layers`: None (every gating layer), a layer name or kind (``"relu"``, ``"maxpool"``,
      ``"sigmoid"``, ...), a list of them, or a predicate ``f(name, kind) -> bool``. A string
      that is the path of a module of the model is that layer's name, never a kind (ResNet's
      stem ``relu``); ``"kind:relu"`` always means the kind.
    - `exclude`: the same forms; these layers are left out (after `layers` selected).
    - `labels`: labels given separately: an array of one label per sample, or an iterator
      yielding one array per batch. Not both this and labelled batches.
    - `max_samples`: stop after this many samples (the last batch is cut).
    - `patch_rows`: keep at most this many per-patch rows per layer: a uniform sample without
      replacement, the rows with the smallest splitmix64 keys of ``(seed, global row index)``
      (so it does not depend on the batch size; layers of the same spatial size keep the same
      patches). Covariances and counts always use all rows.
    - `covariance` / `pixel_covariance`: streaming covariance of the per-patch float outputs
      (over patch rows) / per spatial position (over all samples). Memory per layer of C units:
      the covariance keeps its rows (float32) while there are at most 2C, then C x C float64
      moments (8 C^2 bytes: 128 MiB at C = 4,096); the pixel covariance keeps one C x C
      float64 matrix per position (8 C^2 H W bytes), refused with a MemoryError naming the
      layer when it does not fit. Without the covariance the effective dimension is not
      computed (NaN in `analyze`).
    - `covariance_positions`: the covariance over patch rows uses on average this many
      positions per sample (a fixed-rate Bernoulli subsample, rate ``covariance_positions /
      (H*W)``, keyed on (seed, global row index) like `patch_rows`: independent of batching);
      a layer with at most this many positions uses all rows; None = all rows always.
    - `device`: where inputs are sent (default: the device of the model's parameters; the
      model itself is never moved).
    - `train_mode`: run in train mode (dropout masks are gates only then); default eval. The
      model's own mode flags are restored afterwards. Runs under ``torch.no_grad()``.
    - `channel_axis`: ``"auto"`` (default: each layer's unit axis is traced from the op that
      made its input, see `pycx.gates.layout`), ``1`` (activations ``(N, C, ...)``), ``-1``
      (``(N, ..., C)``, units last), or a dict of layer names to 1 / -1 (the others: auto).
      Each `LayerRecord` says which axis it used and why (``unit_axis``, ``unit_axis_source``).
    - `mask_padding`: exclude padding (``attention_mask == 0`` of the model call) from the
      per-patch rows and the covariance, and clear its gates in the per-sample rows (see the
      module's notes). Every batch must then have the same sequence length.

    >>> import torch, pycx
    >>> model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.ReLU())
    >>> cap = pycx.capture(model, [torch.randn(4, 1, 5, 5)], progress=False)
    >>> cap["1"].shape, cap["1"].per_patch.shape
    ((2, 3, 3), (36, 2))
    """
    if max_samples is not None:
        max_samples = check_int("max_samples", max_samples, minimum=1)
    model_device = device_of(model) if isinstance(model, torch.nn.Module) else None
    device = model_device if device is None else torch.device(device)
    if model_device is not None and device != model_device and any(True for _ in model.parameters()):
        raise ValueError(f"argument 'device' is {device} but the model's parameters are on "
                         f"{model_device}; move the model first (capture never moves it)")
    whole_labels = label_iter = None
    if labels is not None:
        if isinstance(labels, (np.ndarray, torch.Tensor, list, tuple)):
            whole_labels = labels_array("labels", labels)
        else:
            label_iter = iter(labels)
    recorder = Recorder(model, layers, exclude=exclude, covariance=covariance, pixel_covariance=pixel_covariance,
                        patch_rows=patch_rows, covariance_positions=covariance_positions,
                        seed=seed, channel_axis=channel_axis, mask_padding=mask_padding)
    modes = [(m, m.training) for m in recorder._tracer.paths]  # the scan's modules: no second walk
    bar = _progress(data, progress)
    n_batches = 0
    truncated = False
    token_labels_seen = False
    try:
        # train() only when a flag changes, or where a module overrides it (it may do more
        # than set flags: keep a BatchNorm or a Dropout in eval, say).
        if any(flag != bool(train_mode) or type(m).train is not _MODULE_TRAIN
               for m, flag in modes):
            model.train(bool(train_mode))
        with torch.no_grad(), recorder:
            for item in bar:
                x, y = split_batch(item)
                x = to_device(x, device)
                if label_iter is not None:
                    if y is not None:
                        raise ValueError("labels were given twice: by argument 'labels' and by "
                                         "(x, y) batches of 'data'")
                    try:
                        y = next(label_iter)
                    except StopIteration:
                        raise ValueError(f"argument 'labels' ran out after {n_batches} batches") from None
                if y is not None and whole_labels is not None:
                    raise ValueError("labels were given twice: by argument 'labels' and by "
                                     "(x, y) batches of 'data'")
                n = batch_size(x)
                if _per_token(y, n):
                    if not token_labels_seen:
                        warnings.warn(
                            f"pycx.capture: the batches' labels have shape {tuple(np.shape(y))}: "
                            "one per token (a language model's targets), not one per sample; "
                            "they are not used (pycx's label metrics take one class label per "
                            "sample: pass labels=... for those)", stacklevel=2)
                    token_labels_seen = True
                    y = None
                if max_samples is not None and recorder.n_samples + n > max_samples:
                    keep = max_samples - recorder.n_samples
                    x = first_rows(x, keep, n)
                    y = None if y is None else labels_array("y", y)[:keep]
                    truncated = True
                if isinstance(x, dict):
                    model(**x)
                else:
                    model(x)
                if y is not None:
                    recorder.add_labels(y)
                n_batches += 1
                if max_samples is not None and recorder.n_samples >= max_samples:
                    truncated = True  # samples may remain in 'data'
                    break
    finally:
        for m, flag in modes:
            if m.training != flag:  # (nn.Module.__setattr__ is slow: only what changed)
                m.training = flag
        if hasattr(bar, "close"):
            bar.close()
    if n_batches == 0:
        raise ValueError("argument 'data' yielded no batches; nothing to capture")
    if whole_labels is not None:
        if truncated and len(whole_labels) >= recorder.n_samples:
            whole_labels = whole_labels[:recorder.n_samples]
        if len(whole_labels) != recorder.n_samples:
            raise ValueError(f"argument 'labels' has {len(whole_labels)} labels but 'data' gave "
                             f"{recorder.n_samples} samples")
        recorder.add_labels(whole_labels)
    result = recorder.result()
    _warn_skipped(recorder.skipped, recorder._skip_warned)
    return result


def _warn_skipped(skipped, warned):
    """One warning naming the activation-like ops that ran and were not captured, by kind
    (less the layers the recorder has warned about already)."""
    kinds = {}
    for name, (op, reason) in skipped.items():
        if name in warned or op in NEVER_GATES:
            continue
        n, _ = kinds.get(op, (0, reason))
        kinds[op] = (n + 1, reason)
    if not kinds:
        return
    listed = "; ".join(f"{op} x{n} ({reason})" for op, (n, reason) in kinds.items())
    warnings.warn(f"pycx.capture: not captured: {listed}. pycx.describe(model, example) lists "
                  "each op with its layer name", stacklevel=3)


def _per_token(y, n) -> bool:
    """Labels shaped (N, T) with T > 1: one per token, as a language model's ``labels``."""
    shape = np.shape(y) if y is not None and not isinstance(y, (str, bytes)) else ()
    return len(shape) == 2 and shape[0] == n and shape[1] > 1


def _progress(data, progress):
    if not progress:
        return data
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return data
    total = len(data) if hasattr(data, "__len__") else None
    return tqdm(data, total=total, desc="pycx.capture", unit="batch", leave=False)

