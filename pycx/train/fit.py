"""`fit`: a plain training loop with paper 004's complexity loss (docs/definitions.md §8): on every
batch the EBMs take their step first, then the network takes one on
``loss_fn(model(x), y) + lam * complexity.penalty()``."""
from __future__ import annotations

import time
from typing import Optional

import torch

__all__ = ["fit"]


def _device(model):
    for t in list(model.parameters()) + list(model.buffers()):
        return t.device
    return torch.device("cpu")


def fit(model, loader, loss_fn, *, complexity=None, lam: float = 0.0, epochs: int = 1,
        optimizer: Optional[torch.optim.Optimizer] = None, lr: float = 1e-3,
        progress: bool = False) -> list:
    """Trains `model` on `loader` (yielding ``(x, y)``) for `epochs`; returns one dict per
    epoch: mean ``task_loss``, ``penalty`` (nats, summed over layers; NaN without a complexity
    loss), ``loss`` and ``time_s``.

    - `complexity`: a `ComplexityLoss` attached to `model`, or None; with ``lam > 0`` and None,
      one with default settings is created (and detached at the end).
    - `lam`: weight of the penalty, >= 0. With a `complexity` and ``lam == 0`` the EBMs are
      still trained (the penalty is measured, not applied).
    - `optimizer`: default Adam(`lr`) over the model's parameters.
    - Batches are moved to the model's device.

    >>> import torch.nn as nn
    >>> torch.manual_seed(0) is not None
    True
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    >>> data = [(torch.randn(16, 4), torch.randint(0, 3, (16,))) for _ in range(3)]
    >>> hist = fit(net, data, nn.functional.cross_entropy, lam=0.01, epochs=2)
    >>> len(hist), sorted(hist[0])
    (2, ['epoch', 'loss', 'penalty', 'task_loss', 'time_s'])
    """
    from .._validate import check_int, check_positive
    from .complexity_loss import ComplexityLoss

    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"argument 'model' must be a torch.nn.Module, got {type(model).__name__}")
    if not callable(loss_fn):
        raise TypeError(f"argument 'loss_fn' must be callable, got {type(loss_fn).__name__}")
    lam = check_positive("lam", lam, allow_zero=True)
    epochs = check_int("epochs", epochs, minimum=1)
    if complexity is not None and not isinstance(complexity, ComplexityLoss):
        raise TypeError("argument 'complexity' must be a pycx.ComplexityLoss or None, got "
                        f"{type(complexity).__name__}")
    if complexity is not None and complexity.model is not model:
        raise ValueError("argument 'complexity' is attached to another model")
    own = complexity is None and lam > 0
    if own:
        complexity = ComplexityLoss(model)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=check_positive("lr", lr))
    device = _device(model)
    history = []
    try:
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=epochs, desc="fit", unit="epoch")
        for epoch in range(epochs):
            model.train()
            start = time.perf_counter()
            sums = {"task_loss": 0.0, "penalty": 0.0, "loss": 0.0}
            n = 0
            for batch in loader:
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise TypeError("argument 'loader' must yield (x, y) pairs")
                x, y = batch[0].to(device), batch[1].to(device)
                if x.dim() and x.shape[0] == 0:
                    continue  # an empty batch has no loss to follow (and would make it NaN)
                task = loss_fn(model(x), y)
                loss = task
                if complexity is not None:
                    pen = complexity.penalty()
                    if lam > 0:
                        loss = task + lam * pen
                    sums["penalty"] += float(pen.detach())
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                sums["task_loss"] += float(task.detach())
                sums["loss"] += float(loss.detach())
                n += 1
            if n == 0:
                raise ValueError("argument 'loader' yielded no non-empty batches")
            row = {"epoch": epoch, **{k: v / n for k, v in sums.items()},
                   "time_s": time.perf_counter() - start}
            if complexity is None:
                row["penalty"] = float("nan")
            history.append(row)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(task=f"{row['task_loss']:.3f}")
        if bar is not None:
            bar.close()
    finally:
        if own:
            complexity.remove()
    return history
