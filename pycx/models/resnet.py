"""ResNets (He et al. 2016) and their PlainNet twins: the same layers without the shortcuts.

CIFAR variants (depth = 6n + 2: 20, 32, 44, 56, 110, ...): three stages of 16/32/64 channels,
activations written as functional ``F.relu`` calls, and parameter-free "option A" shortcuts
where the shape changes (subsample by 2, zero-pad the new channels).

ImageNet variants (18, 34, 50, 101, 152): the standard layout (basic blocks for 18/34,
bottlenecks for 50/101/152, stride on the 3x3 convolution, 1x1 convolution + BatchNorm
projection where the shape changes); parameter counts equal the usual published ones.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_CIFAR_DEPTHS = (20, 32, 44, 56, 110, 1202)
_IMAGENET_LAYOUT = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}


# ----------------------------------------------------------------------------------------------
# CIFAR


class ChannelPadShortcut(nn.Module):
    """Option-A shortcut: keep every second pixel, zero-pad the missing channels (no weights)."""

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        extra = out_channels - in_channels
        self.pad_front = extra // 2
        self.pad_back = extra - extra // 2

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.pad_front, self.pad_back))


class CifarBasicBlock(nn.Module):
    def __init__(self, in_channels: int, channels: int, stride: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        if residual and (stride != 1 or in_channels != channels):
            self.shortcut = ChannelPadShortcut(in_channels, channels)
        else:
            self.shortcut = nn.Identity()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:  # a constructor flag: fixed when the graph is traced
            out = out + self.shortcut(x)
        return F.relu(out)


class CifarResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int, residual: bool):
        super().__init__()
        blocks_per_stage = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        stages = []
        in_channels = 16
        for stage, channels in enumerate((16, 32, 64)):
            blocks = []
            for i in range(blocks_per_stage):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(CifarBasicBlock(in_channels, channels, stride, residual))
                in_channels = channels
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.linear = nn.Linear(64, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.adaptive_avg_pool2d(out, 1)
        return self.linear(torch.flatten(out, 1))


def cifar_resnet(depth: int, num_classes: int = 10, residual: bool = True) -> nn.Module:
    """CIFAR ResNet-`depth` (depth = 6n + 2, e.g. 20, 32, 44, 56, 110) with option-A shortcuts;
    ``residual=False`` gives the PlainNet twin (same layers, no shortcuts). Input (N, 3, 32, 32)."""
    if not isinstance(depth, int) or depth < 8 or (depth - 2) % 6 != 0:
        raise ValueError(f"argument 'depth' must be 6n + 2 with n >= 1 (e.g. {_CIFAR_DEPTHS}), "
                         f"got {depth!r}")
    return CifarResNet(depth, num_classes, residual)


# ----------------------------------------------------------------------------------------------
# ImageNet


def _projection(in_channels: int, out_channels: int, stride: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                         nn.BatchNorm2d(out_channels))


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_channels: int, channels: int, stride: int, residual: bool):
        super().__init__()
        self.residual = residual
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        needs_projection = stride != 1 or in_channels != channels
        self.downsample = _projection(in_channels, channels, stride) \
            if residual and needs_projection else None

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, channels: int, stride: int, residual: bool):
        super().__init__()
        self.residual = residual
        out_channels = channels * self.expansion
        self.conv1 = nn.Conv2d(in_channels, channels, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.conv3 = nn.Conv2d(channels, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        needs_projection = stride != 1 or in_channels != out_channels
        self.downsample = _projection(in_channels, out_channels, stride) \
            if residual and needs_projection else None

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.residual:
            out = out + (x if self.downsample is None else self.downsample(x))
        return self.relu(out)


class ImageNetResNet(nn.Module):
    def __init__(self, depth: int, num_classes: int, residual: bool):
        super().__init__()
        kind, counts = _IMAGENET_LAYOUT[depth]
        block = BasicBlock if kind == "basic" else Bottleneck
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        in_channels = 64
        stages = []
        for stage, (channels, count) in enumerate(zip((64, 128, 256, 512), counts)):
            blocks = []
            for i in range(count):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(block(in_channels, channels, stride, residual))
                in_channels = channels * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_channels, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def imagenet_resnet(depth: int, num_classes: int = 1000, residual: bool = True) -> nn.Module:
    """ImageNet ResNet-`depth` (18, 34, 50, 101, 152); ``residual=False`` gives the PlainNet twin
    (same layers, no shortcuts, hence no projection convolutions). Input (N, 3, 224, 224)."""
    if depth not in _IMAGENET_LAYOUT:
        raise ValueError(f"argument 'depth' must be one of {sorted(_IMAGENET_LAYOUT)}, got {depth!r}")
    return ImageNetResNet(depth, num_classes, residual)
