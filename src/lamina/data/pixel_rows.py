"""A split's images as torch sees them, read from the cache file one batch at a time (lamina.data.cache.CachedRows).

Indexing (an int, a slice, a list or an index tensor) returns uint8 (B, C, H, W) channels-last
tensors, like indexing the tensor of a whole split did; only the rows asked for are read.
"""

from __future__ import annotations

import numpy as np
import torch

from lamina.data.cache import CachedRows


class PixelRows:
    """Lazy (N, C, H, W) uint8 images over CachedRows of (H, W, C)."""

    dtype = torch.uint8

    def __init__(self, rows: CachedRows):
        self.rows = rows
        n, h, w, c = rows.shape
        self.shape = torch.Size((n, c, h, w))

    def __len__(self) -> int:
        return len(self.rows)

    def dim(self) -> int:
        return 4

    def take(self, indices: np.ndarray) -> "PixelRows":
        """A view of the images at ``indices`` (nothing read)."""
        return PixelRows(self.rows.take(indices))

    @staticmethod
    def join(parts: list["PixelRows"]) -> "PixelRows":
        """The images of ``parts`` one after another: views of one cache file (the splits of one data set)."""
        return PixelRows(CachedRows.join([p.rows for p in parts]))

    def __getitem__(self, index) -> torch.Tensor:
        if torch.is_tensor(index):
            index = index.numpy()
        t = torch.from_numpy(np.ascontiguousarray(self.rows[index]))
        return t.permute(2, 0, 1) if t.dim() == 3 else t.permute(0, 3, 1, 2)  # (H, W, C) memory as (C, H, W)


def pixel_tensor(rows) -> "torch.Tensor | PixelRows":
    """uint8 rows (N, H, W, C), an array or a lazy view of the cache -> (N, C, H, W) in channels-last memory."""
    if isinstance(rows, CachedRows):
        return PixelRows(rows)
    return torch.from_numpy(rows).permute(0, 3, 1, 2)  # (N, H, W, C) memory viewed as (N, C, H, W)


def channel_mean_std(x, chunk: int = 32) -> tuple[list[float], list[float]]:
    """Per-channel mean and std of uint8 images (N, C, H, W), summed ``chunk`` images at a time: a float64 copy of
    a whole split would take 8 bytes per pixel (3.5 GB for 3,000 photos at 224 px; a chunk of 32 takes 40 MB)."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    squares = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, len(x), chunk):
        part = x[start : start + chunk].to(torch.float64)
        total += part.sum(dim=(0, 2, 3))
        squares += (part * part).sum(dim=(0, 2, 3))
    n = max(1, len(x) * x.shape[2] * x.shape[3])
    mean = total / n
    var = (squares - n * mean * mean) / max(1, n - 1)  # unbiased, as torch.std
    return mean.tolist(), var.clamp_min(0).sqrt().clamp_min(1.0).tolist()
