"""Seeded batch order. The order of epoch e depends only on (seed, e), so a run resumed at
(epoch, step) sees exactly the batches it would have seen."""

from __future__ import annotations

import torch


def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """A permutation of range(n) for this epoch."""
    gen = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    return torch.randperm(n, generator=gen)


def steps_per_epoch(n: int, batch_size: int) -> int:
    """Full batches per epoch (the remainder is dropped, a different remainder each epoch)."""
    return max(1, n // batch_size)


def train_batches(n: int, batch_size: int, seed: int, epoch: int, start_step: int = 0):
    """Yield (step, index tensor) for the training batches of one epoch, from ``start_step``."""
    order = epoch_order(n, seed, epoch)
    size = min(batch_size, n)
    for step in range(start_step, steps_per_epoch(n, batch_size)):
        yield step, order[step * size : (step + 1) * size]


def eval_batches(n: int, batch_size: int):
    """Yield contiguous index ranges covering all n samples."""
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size))
