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


BUCKET_BATCHES = 32  # batches of similar length are formed within windows of this many batches


def _bucketed(order: torch.Tensor, lengths: torch.Tensor, size: int, gen: torch.Generator) -> torch.Tensor:
    """The shuffled ``order`` regrouped so each batch holds texts of similar length.

    Within windows of BUCKET_BATCHES batches the samples are sorted by length and cut into
    batches, and the batches are shuffled: every batch is still a random draw of the epoch,
    but its padding (and so its cost) follows its own longest text.
    """
    window = size * BUCKET_BATCHES
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[torch.argsort(lengths[chunk], stable=True)]
        batches += list(chunk.split(size))
    full = [b for b in batches if len(b) == size]  # the ragged ends go last, where steps_per_epoch drops them
    perm = torch.randperm(len(full), generator=gen)
    return torch.cat([full[i] for i in perm] + [b for b in batches if len(b) != size])


def train_batches(
    n: int, batch_size: int, seed: int, epoch: int, start_step: int = 0, lengths: torch.Tensor | None = None
):
    """Yield (step, index tensor) for the training batches of one epoch, from ``start_step``.

    With ``lengths`` (per-sample lengths, see lamina.models.modality.feed), batches group samples of similar length (see _bucketed); the
    order still depends only on (seed, epoch), so resuming replays it.
    """
    order = epoch_order(n, seed, epoch)
    size = min(batch_size, n)
    if lengths is not None:
        order = _bucketed(order, lengths, size, torch.Generator().manual_seed(seed * 1_000_003 + epoch + 7_777))
    for step in range(start_step, steps_per_epoch(n, batch_size)):
        yield step, order[step * size : (step + 1) * size]


def eval_batches(n: int, batch_size: int, lengths: torch.Tensor | None = None):
    """Yield index ranges (or, with ``lengths``, index tensors of similar lengths) covering all n samples."""
    order = torch.argsort(lengths, stable=True) if lengths is not None else None
    for start in range(0, n, batch_size):
        yield slice(start, min(n, start + batch_size)) if order is None else order[start : start + batch_size]
