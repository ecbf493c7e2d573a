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

    def __getitem__(self, index) -> torch.Tensor:
        if torch.is_tensor(index):
            index = index.numpy()
        t = torch.from_numpy(np.ascontiguousarray(self.rows[index]))
        return t.permute(2, 0, 1) if t.dim() == 3 else t.permute(0, 3, 1, 2)  # (H, W, C) memory as (C, H, W)
