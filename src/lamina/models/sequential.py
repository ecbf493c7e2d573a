"""Networks written as a list of hidden layers; input and output layers are inferred.

    layers: [{conv: 32}, relu, {pool: 2}, {dense: 128}, {dropout: 0.2}]

Vocabulary (a bare name, or a one-key mapping):
    {conv: N} or {conv: {filters: N, kernel: 3, stride: 1}}  3x3 'same' convolution by default
    {pool: K}  max pooling, {avgpool: K}  average pooling      kernel = stride = K
    globalpool                                                  average over H and W
    {dense: N}                                                  fully connected (flattens first)
    {dropout: P}, batchnorm, flatten
    relu, gelu, silu, tanh, sigmoid
The shape is tracked layer by layer, so a mistake names its position in the list.
"""

from __future__ import annotations

import math

from torch import nn

from lamina.common.config import ModelConfig
from lamina.common.errors import ConfigError, did_you_mean

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}
LAYER_NAMES = sorted(
    [*ACTIVATIONS, "conv", "pool", "avgpool", "globalpool", "dense", "dropout", "batchnorm", "flatten"]
)


def _fail(i: int, spec, why: str) -> ConfigError:
    return ConfigError(f"config: model.layers[{i}] {spec!r}: {why}")


def _int_arg(i: int, spec, value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise _fail(i, spec, f"expected a positive integer {what}, got {value!r}")
    return value


def build(cfg: ModelConfig, input_shape: tuple, num_classes: int) -> nn.Module:
    """(B, *input_shape) -> (B, num_classes), following ``cfg.layers``."""
    shape = tuple(input_shape)  # (C, H, W) while spatial, (F,) once flat
    layers: list[nn.Module] = []

    def flatten():
        nonlocal shape
        if len(shape) > 1:
            layers.append(nn.Flatten())
            shape = (math.prod(shape),)

    for i, spec in enumerate(cfg.layers or []):
        if isinstance(spec, str):
            name, arg = spec, None
        elif isinstance(spec, dict) and len(spec) == 1:
            name, arg = next(iter(spec.items()))
        else:
            raise _fail(i, spec, "expected a layer name or a mapping with one key, e.g. {dense: 128}")
        name = str(name).lower()
        if name in ACTIVATIONS:
            layers.append(ACTIVATIONS[name]())
        elif name == "conv":
            if len(shape) != 3:
                raise _fail(i, spec, "a conv layer needs an image-shaped input; it cannot follow dense/flatten")
            opts = arg if isinstance(arg, dict) else {"filters": arg}
            unknown = set(opts) - {"filters", "kernel", "stride"}
            if unknown:
                key = sorted(unknown)[0]
                raise _fail(i, spec, f"unknown option '{key}'{did_you_mean(key, ['filters', 'kernel', 'stride'])}")
            filters = _int_arg(i, spec, opts.get("filters"), "number of filters")
            kernel = _int_arg(i, spec, opts.get("kernel", 3), "kernel size")
            stride = _int_arg(i, spec, opts.get("stride", 1), "stride")
            layers.append(nn.Conv2d(shape[0], filters, kernel, stride, kernel // 2))
            h, w = ((s + 2 * (kernel // 2) - kernel) // stride + 1 for s in shape[1:])
            shape = (filters, h, w)
        elif name in ("pool", "avgpool"):
            if len(shape) != 3:
                raise _fail(i, spec, "pooling needs an image-shaped input; it cannot follow dense/flatten")
            k = _int_arg(i, spec, 2 if arg is None else arg, "pool size")
            if k > min(shape[1:]):
                raise _fail(
                    i, spec, f"pool size {k} is larger than the feature map {shape[1]}x{shape[2]} at this point"
                )
            layers.append(nn.MaxPool2d(k) if name == "pool" else nn.AvgPool2d(k))
            shape = (shape[0], shape[1] // k, shape[2] // k)
        elif name == "globalpool":
            if len(shape) != 3:
                raise _fail(i, spec, "globalpool needs an image-shaped input")
            layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            shape = (shape[0],)
        elif name == "dense":
            units = _int_arg(i, spec, arg, "number of units")
            flatten()
            layers.append(nn.Linear(shape[0], units))
            shape = (units,)
        elif name == "dropout":
            if not isinstance(arg, (int, float)) or isinstance(arg, bool) or not 0 <= arg < 1:
                raise _fail(i, spec, f"expected a dropout probability in [0, 1), got {arg!r}")
            layers.append(nn.Dropout(float(arg)))
        elif name == "batchnorm":
            layers.append(nn.BatchNorm2d(shape[0]) if len(shape) == 3 else nn.BatchNorm1d(shape[0]))
        elif name == "flatten":
            flatten()
        else:
            raise _fail(
                i, spec, f"unknown layer '{name}'{did_you_mean(name, LAYER_NAMES)}; known: {', '.join(LAYER_NAMES)}"
            )
    flatten()
    if cfg.dropout:
        layers.append(nn.Dropout(cfg.dropout))
    layers.append(nn.Linear(shape[0], num_classes))
    return nn.Sequential(*layers)
