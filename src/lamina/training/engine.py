"""Where and how training steps run: the device, the precision and the process group.

The shape of Lightning Fabric's setup / autocast / no_backward_sync / broadcast / print, for
lamina's one loop: the trainer asks the engine instead of branching on devices or ranks.
"""

from __future__ import annotations

import contextlib
import sys
from dataclasses import dataclass, field

import torch

from lamina.common.config import TrainConfig
from lamina.common.runtime import bf16_supported, resolve_device
from lamina.training.distributed import Dist


def autocast(device: str, precision: str):
    """bf16 autocast context for 'bf16', a no-op for 'fp32'."""
    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16)


def resolve_precision(requested: str, device: str) -> str:
    if requested == "auto":
        return "bf16" if bf16_supported(device) else "fp32"
    return requested


@dataclass(frozen=True)
class Engine:
    device: str
    precision: str  # "bf16" or "fp32", resolved
    dist: Dist = field(default_factory=Dist)
    quiet: bool = False  # no progress lines (they only ever come from rank 0)

    @classmethod
    def create(cls, tc: TrainConfig, dist: Dist = Dist(), quiet: bool = False) -> Engine:
        """The device and precision ``tc`` asks for, resolved on this machine (each torchrun rank on its own GPU)."""
        device = resolve_device(tc.device)
        if dist.active and device.startswith("cuda"):
            device = f"cuda:{dist.local_rank}"
        return cls(device, resolve_precision(tc.precision, device), dist, quiet)

    @property
    def main(self) -> bool:
        """Rank 0: the process that validates, logs and writes checkpoints."""
        return self.dist.main

    def setup(
        self, model: torch.nn.Module, memory_format: torch.memory_format = torch.contiguous_format
    ) -> torch.nn.Module:
        """``model`` on the device, in its modality's memory format (channels-last for images)."""
        return model.to(self.device, memory_format=memory_format)

    def wrap(self, module: torch.nn.Module) -> torch.nn.Module:
        """What a training forward runs: ``module`` itself, or wrapped in DistributedDataParallel under torchrun."""
        return torch.nn.parallel.DistributedDataParallel(module) if self.dist.active else module

    def autocast(self):
        """bf16 autocast where the precision is bf16, else nothing."""
        return autocast(self.device, self.precision)

    def backward(self, loss: torch.Tensor) -> None:
        """Gradients of ``loss``: the one place a loss scaler would go (bf16 needs none; fp16 on CUDA would)."""
        loss.backward()

    def no_backward_sync(self, net: torch.nn.Module, last: bool):
        """Skip DDP's gradient all-reduce on every micro-batch of a step but the ``last``."""
        return contextlib.nullcontext() if last or not self.dist.active else net.no_sync()

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        return self.dist.shard(t)

    def broadcast(self, obj):
        return self.dist.broadcast(obj)

    def sum(self, values: list[float]) -> list[float]:
        return self.dist.sum(values)

    def print(self, text: str) -> None:
        """A line on stderr from rank 0, unless quiet."""
        if self.main and not self.quiet:
            print(text, file=sys.stderr)
