"""A multilayer perceptron: flatten, `depth` hidden layers of `width` units, output layer."""

from __future__ import annotations

import math

from torch import nn

from lamina.common.config import ModelConfig

DEFAULTS = {"width": 256, "depth": 2, "dropout": 0.0}  # hidden units, hidden layers


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int) -> nn.Module:
    """(B, *input_shape) -> (B, num_classes)."""
    width, depth = cfg.width, cfg.depth
    layers: list[nn.Module] = [nn.Flatten()]
    features = math.prod(input_shape)
    for _ in range(depth):
        layers += [nn.Linear(features, width), nn.BatchNorm1d(width), nn.GELU()]
        features = width
    if cfg.dropout:
        layers.append(nn.Dropout(cfg.dropout))
    layers.append(nn.Linear(features, num_classes))
    return nn.Sequential(*layers)
