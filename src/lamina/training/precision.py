"""Numeric precision: bf16 autocast where the hardware has it (benchmarks/DEFAULTS.md), fp32 elsewhere."""

from __future__ import annotations

import contextlib

import torch

from lamina.common.runtime import bf16_supported


def autocast(device: str, precision: str):
    """bf16 autocast context for 'bf16', a no-op for 'fp32'."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def resolve_precision(requested: str, device: str) -> str:
    if requested == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return requested
