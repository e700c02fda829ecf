"""The training figure: loss and test accuracy per epoch.
"""
from __future__ import annotations

from typing import Optional

import numpy as np

from .base import _STYLE, Figure, _colors, _plt, _render


def _training(training: dict) -> Optional[Figure]:
    if not training:
        return None
    plt = _plt()
    colors = _colors(list(training))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        for m, t in training.items():
            axes[0].plot(t["epoch"], t["train_loss"], "o-", ms=3, color=colors[m], label=m)
            axes[1].plot(t["epoch"], 100 * np.asarray(t["test_accuracy"], float), "o-", ms=3,
                         color=colors[m], label=m)
        axes[0].set_ylabel("training loss (cross-entropy, nats)")
        axes[1].set_ylabel("test accuracy (%)")
        for ax in axes:
            ax.set_xlabel("epoch")
            ax.xaxis.get_major_locator().set_params(integer=True)
        axes[1].legend(loc="lower right")
        fig.tight_layout()
        png, svg = _render(fig)
    return Figure("training", "Training", "Mean training loss (cross-entropy over the epoch's "
                  "mini-batches) and accuracy on the held-out images, per epoch; epoch 0 is the "
                  "network at initialisation, before any update.", png, svg)
