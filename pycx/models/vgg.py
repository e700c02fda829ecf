"""VGG-11/13/16/19 (Simonyan & Zisserman 2015), configurations A, B, D, E, optionally with
BatchNorm; the classifier is the usual 7x7x512 -> 4096 -> 4096 -> classes. Input (N, 3, 224, 224)."""
from __future__ import annotations

import torch
from torch import nn

_CONFIGS = {
    11: (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    13: (64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    16: (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
    19: (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
         512, 512, 512, 512, "M"),
}


class VGG(nn.Module):
    def __init__(self, config, batch_norm: bool, num_classes: int):
        super().__init__()
        layers = []
        in_channels = 3
        for item in config:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(in_channels, item, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(item))
            layers.append(nn.ReLU(inplace=True))
            in_channels = item
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            nn.Linear(512 * 7 * 7, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, 4096), nn.ReLU(True), nn.Dropout(),
            nn.Linear(4096, num_classes))

    def forward(self, x):
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


def vgg(depth: int, batch_norm: bool = False, num_classes: int = 1000) -> nn.Module:
    """VGG-`depth` for depth in 11, 13, 16, 19."""
    if depth not in _CONFIGS:
        raise ValueError(f"argument 'depth' must be one of {sorted(_CONFIGS)}, got {depth!r}")
    return VGG(_CONFIGS[depth], batch_norm, num_classes)
