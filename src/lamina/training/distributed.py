"""Data-parallel training on PyTorch's own engine: torchrun starts the processes, DDP syncs
the gradients (gloo on CPU, nccl on GPU). This module only knows this process's place.

Each optimizer step takes the config's global batch; every rank augments that same batch
(the same draws as a single process) and trains on its slice ``rank::world``, so one
process and N processes see the same samples in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import torch

from lamina.common.runtime import dist_env, dist_restart_count, dist_store

COLLECTIVE_TIMEOUT = timedelta(minutes=5)  # a collective that waits longer than this fails instead of hanging
CLOSE_TIMEOUT = timedelta(minutes=30)  # how long the other ranks wait at the end for rank 0's evaluation and export


@dataclass
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    announced: bool = False  # rank 0 has sent the run's plan to the other ranks

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def shard(self, t: torch.Tensor) -> torch.Tensor:
        """This rank's slice of a global batch (dimension 0)."""
        return t[self.rank :: self.world] if self.active else t

    def broadcast(self, obj):
        """``obj`` from rank 0, on every rank."""
        if not self.active:
            return obj
        box = [obj]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sum over ranks."""
        if not self.active:
            return values
        t = torch.tensor(values, dtype=torch.float64)
        torch.distributed.all_reduce(t)
        return t.tolist()


def init(device_request: str) -> Dist:
    """Join the process group torchrun set up (no-op in a single process)."""
    rank, world, local_rank = dist_env()
    if world <= 1:
        return Dist()
    if not torch.distributed.is_initialized():
        cuda = device_request.startswith("cuda") or (device_request == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(local_rank)
        addr, port, agent_store = dist_store()
        store = torch.distributed.TCPStore(
            addr, port, world, is_master=not agent_store and rank == 0, timeout=COLLECTIVE_TIMEOUT
        )
        if agent_store:  # torchrun started directly: its agents' store outlives a round (see lamina.cli.launch)
            store = torch.distributed.PrefixStore(f"lamina/attempt_{dist_restart_count()}", store)
        torch.distributed.init_process_group(
            "nccl" if cuda else "gloo", store=store, rank=rank, world_size=world, timeout=COLLECTIVE_TIMEOUT
        )
    return Dist(rank, world, local_rank)


def close(dist: Dist) -> None:
    """Leave the process group together. A rank that tore its group down while rank 0 still evaluated and
    exported sometimes aborted at exit inside gloo's threads ("terminate called without an active exception",
    SIGABRT, which torchrun counts as a failed run): every rank now waits for the others first."""
    if dist.active and torch.distributed.is_initialized():
        try:
            if torch.distributed.get_backend() == "gloo":
                torch.distributed.monitored_barrier(timeout=CLOSE_TIMEOUT)  # names a rank that never came, then raises
            else:
                torch.distributed.barrier()
        except RuntimeError:
            pass  # a rank is gone (its failure is reported by torchrun): leave anyway
        torch.distributed.destroy_process_group()
