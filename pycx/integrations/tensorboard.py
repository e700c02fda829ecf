"""TensorBoard: a `Report` as scalars (``pycx/<layer>/<column>``) and the report's figures as
images, at the epoch step.

>>> from torch.utils.tensorboard import SummaryWriter   # doctest: +SKIP
>>> log_report(SummaryWriter("runs/x"), report, step=3)  # doctest: +SKIP
"""
from __future__ import annotations

from typing import Iterable, Optional

from .._validate import check_int, describe
from ..analysis.tracker import log_scalars

# The figures logged as images: the resolution-relevance plane and the dimension-complexity
# plane (the report's own figure names).
DEFAULT_FIGURES = ("relevance", "ed_vs_complexity")


def log_report(writer, report, step: int, *, figures: Optional[Iterable[str]] = DEFAULT_FIGURES) -> dict:
    """Writes every numeric value of `report` as a scalar ``pycx/<layer>/<column>`` at `step`,
    and the named report figures (those that can be drawn from it) as images ``pycx/fig/<name>``.
    Returns ``{"scalars": n, "images": [names]}``."""
    if not callable(getattr(writer, "add_scalar", None)):
        raise TypeError(f"argument 'writer' must be a SummaryWriter (add_scalar/add_image), got {describe(writer)}")
    step = check_int("step", step, minimum=0)
    n = log_scalars(writer, report, step)
    images = []
    if figures:
        import io

        import numpy as np

        from ..report.figures import figures as draw
        wanted = tuple(figures)
        for fig in draw([report]):
            if fig.name not in wanted:
                continue
            from PIL import Image  # matplotlib depends on pillow
            img = np.asarray(Image.open(io.BytesIO(fig.png)).convert("RGB"))
            writer.add_image(f"pycx/fig/{fig.name}", img, step, dataformats="HWC")
            images.append(fig.name)
    if hasattr(writer, "flush"):
        writer.flush()
    return {"scalars": n, "images": images}
