"""Small architectures: a DenseNet block (concatenation merges) and a symmetric linear
autoencoder (layer algebra, section 7.2 of the paper: its cumulative power returns to 1)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class DenseLayer(nn.Module):
    """BN-ReLU-Conv1x1 (bn_size * growth channels) -> BN-ReLU-Conv3x3 (growth channels)."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, bn_size * growth_rate, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False)

    def forward(self, x):
        out = self.conv1(F.relu(self.norm1(x)))
        return self.conv2(F.relu(self.norm2(out)))


class DenseBlock(nn.Module):
    """Each layer sees the concatenation of the block input and every earlier layer's output;
    the block returns the concatenation of all of them."""

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int):
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size) for i in range(num_layers))

    def forward(self, x):
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


def densenet_block(num_layers: int = 4, in_channels: int = 64, growth_rate: int = 32,
                   bn_size: int = 4) -> nn.Module:
    """A DenseNet block; input (N, in_channels, H, W), output in_channels + num_layers * growth_rate
    channels."""
    for name, value in (("num_layers", num_layers), ("in_channels", in_channels),
                        ("growth_rate", growth_rate), ("bn_size", bn_size)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"argument '{name}' must be a positive int, got {value!r}")
    return DenseBlock(num_layers, in_channels, growth_rate, bn_size)


def linear_autoencoder(sizes=(784, 256, 64)) -> nn.Module:
    """Symmetric fully connected autoencoder with linear (identity) activations:
    sizes[0] -> ... -> sizes[-1] -> ... -> sizes[0]. Input (N, sizes[0])."""
    sizes = tuple(sizes)
    if len(sizes) < 2 or not all(isinstance(s, int) and s >= 1 for s in sizes):
        raise ValueError(f"argument 'sizes' must be at least two positive ints, got {sizes!r}")
    path = sizes + sizes[-2::-1]
    return nn.Sequential(*(nn.Linear(a, b) for a, b in zip(path[:-1], path[1:])))
