"""The model registry: name -> ModelSpec (builder + its defaults). Explicit entries, duplicates raise.

A builder takes (cfg: ModelConfig, input_shape, num_classes) with every field resolved and
returns an nn.Module mapping normalised inputs to logits (B, num_classes). ``build_model``
wraps it with the input normalisation so the whole network (and its ONNX export) takes
raw pixel values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn

from lamina.common.config import ModelConfig
from lamina.common.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class ModelSpec:
    build: Callable[[ModelConfig, tuple, int], nn.Module]
    defaults: dict = field(default_factory=dict)  # values for ModelConfig fields left as None


MODELS: dict[str, ModelSpec] = {}


def register(name: str, spec: ModelSpec) -> None:
    """Add an architecture under ``name``; a name can be registered once."""
    if name in MODELS:
        raise ValueError(f"model '{name}' is already registered")
    MODELS[name] = spec


def registered() -> dict[str, ModelSpec]:
    """All registered architectures (the built-ins are registered on first call)."""
    if not MODELS:
        from lamina.models import mlp, resnet, sequential

        register("mlp", ModelSpec(mlp.build, mlp.DEFAULTS))
        register("resnet-small", ModelSpec(resnet.build, resnet.DEFAULTS))
        register("sequential", ModelSpec(sequential.build, {}))
    return MODELS


def resolve(cfg: ModelConfig) -> ModelConfig:
    """The config with its architecture named ('sequential' when layers are listed) and defaults filled.

    Raises:
        ConfigError: unknown model name.
    """
    models = registered()
    name = "sequential" if cfg.layers is not None and cfg.name == "resnet-small" else cfg.name
    if name not in models:
        raise ConfigError(f"config: model.name: unknown model '{name}'{did_you_mean(name, models)}; registered: {sorted(models)}")
    if name == "sequential" and not cfg.layers:
        raise ConfigError("config: model.layers: the 'sequential' model needs a list of layers, e.g. [{conv: 32}, relu, {dense: 64}]")
    filled = {k: v for k, v in models[name].defaults.items() if getattr(cfg, k) is None}
    return cfg.model_copy(update={"name": name, **filled})


class Normalize(nn.Module):
    """(x - mean) / std per channel, in pixel units, as the network's first layer."""

    def __init__(self, mean: list[float], std: list[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("inv_std", 1.0 / torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> same
        return (x - self.mean) * self.inv_std


class Classifier(nn.Module):
    """Input normalisation followed by a registered network. Input: raw pixels (B, C, H, W) as float."""

    def __init__(self, normalize: nn.Module, net: nn.Module):
        super().__init__()
        self.normalize = normalize
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, num_classes)
        return self.net(self.normalize(x))


def build_model(cfg: ModelConfig, input_shape: tuple, num_classes: int, mean: list[float], std: list[float]) -> Classifier:
    """Build the configured network for inputs of ``input_shape`` (C, H, W) and ``num_classes`` outputs.

    Raises:
        ConfigError: unknown model name or invalid layer list.
    """
    cfg = resolve(cfg)
    return Classifier(Normalize(mean, std), registered()[cfg.name].build(cfg, tuple(input_shape), num_classes))
