"""A small ResNet for small images (8 to 64 px): three stages of basic residual blocks.

Widths w, 2w, 4w; stages 2 and 3 halve the resolution; the stem has a stride of 2 for
inputs of 24 px and more (28 px Fashion-MNIST: 2,900 instead of 900 samples/s in bf16 on 2
cores, and 93.6% test accuracy in 10 epochs; benchmarks/DEFAULTS.md). BatchNorm everywhere, global average pooling, one linear output layer.
"""

from __future__ import annotations

import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.models.network import Network


DEFAULTS = {"width": 32, "depth": 1, "dropout": 0.0}  # first-stage channels, blocks per stage
# Batch 256 at lr 5e-3 instead of 128 at 3e-3: 1.06-1.14x the samples/s in bf16, same test accuracy on
# Fashion-MNIST (mean of seeds 0-2: 0.9339 vs 0.9346) and digits. Evaluation at 256 instead of 512: the same
# speed in bf16, 1.3-1.4x in fp32 (benchmarks/DEFAULTS.md).
TRAIN_DEFAULTS = {"batch_size": 256, "lr": 5e-3, "eval_batch_size": 256}
STEM_STRIDE_FROM = 24  # px: images this large or larger are halved by the stem


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """Two 3x3 conv-BN layers with an identity (or 1x1 projection) shortcut.

    A block that halves the resolution does it with a 2x2 average pool in front of both
    paths, then convolves at stride 1 (as ResNet-D does for its shortcut). Same FLOPs as a
    stride-2 convolution, but oneDNN's bf16 backward pass runs strided convolutions at about
    half the rate of stride-1 ones on AVX512-BF16: the whole training step is 1.10-1.19x
    faster in bf16 (benchmarks/DEFAULTS.md).
    """

    def __init__(self, cin: int, cout: int, stride: int):
        super().__init__()
        self.down = nn.AvgPool2d(2, ceil_mode=True, count_include_pad=False) if stride == 2 else nn.Identity()
        self.conv1 = conv_bn(cin, cout)
        self.conv2 = conv_bn(cout, cout)
        self.act = nn.ReLU(inplace=True)
        self.shortcut = nn.Identity()
        if cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, cin, H, W) -> (B, cout, ceil(H/s), ceil(W/s))
        x = self.down(x)
        return self.act(self.conv2(self.act(self.conv1(x))) + self.shortcut(x))


class ResNetSmall(Network):
    def __init__(self, channels: int, side: int, num_classes: int, width: int, depth: int, dropout: float):
        super().__init__()
        stem_stride = 2 if side >= STEM_STRIDE_FROM else 1
        self.stem = nn.Sequential(conv_bn(channels, width, stem_stride), nn.ReLU(inplace=True))
        blocks: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for i in range(depth):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(BasicBlock(cin, cout, stride))
                cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.fc = nn.Linear(cin, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        x = self.blocks(self.stem(x))
        return self.fc(self.dropout(torch.flatten(self.pool(x), 1)))


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int) -> nn.Module:
    channels, height, width = input_shape
    return ResNetSmall(channels, min(height, width), num_classes, cfg.width, cfg.depth, cfg.dropout)
