"""A cache of decoded images: uint8 rows in one memory-mapped file, keyed by content hash.

One cache per preprocessing setting (size, channels, resample): a directory holding
``data.u8`` (rows of size*size*channels bytes, appended) and ``index.json`` (content hash
-> row). A file whose bytes are unchanged is never decoded again, by any run; a changed
file has a new hash and is decoded once more. Writers hold an exclusive lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lamina.common.files import atomic_write_text
from lamina.data.image import ImagePreprocess

CACHE_VERSION = 1


class ImageCache:
    """Rows of decoded images for one preprocessing setting."""

    def __init__(self, root: Path, prep: ImagePreprocess):
        self.prep = prep
        self.dir = Path(root) / "images" / f"v{CACHE_VERSION}-{prep.size}x{prep.size}x{prep.channels}-{prep.resample}"
        self.row_shape = (prep.size, prep.size, prep.channels)
        self.row_bytes = prep.size * prep.size * prep.channels

    @contextmanager
    def _locked(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / "lock", "a+") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def _index(self) -> dict[str, int]:
        try:
            index = json.loads((self.dir / "index.json").read_text())
        except (OSError, ValueError):
            return {}
        # Rows past the end of data.u8 (a crash between the two writes) are not trusted.
        size = (self.dir / "data.u8").stat().st_size if (self.dir / "data.u8").exists() else 0
        rows = size // self.row_bytes
        return {h: r for h, r in index.items() if r < rows}

    def lookup(self, hashes: list[str]) -> dict[str, int]:
        """Rows already cached, for those of ``hashes`` that are."""
        index = self._index()
        return {h: index[h] for h in hashes if h in index}

    def add(self, arrays: dict[str, np.ndarray]) -> dict[str, int]:
        """Append decoded images (hash -> uint8 (H, W, C)); returns the rows of all of them."""
        with self._locked():
            index = self._index()
            path = self.dir / "data.u8"
            with open(path, "ab") as f:
                # Truncate a torn tail left by a crashed writer, so rows stay aligned.
                start = f.tell() // self.row_bytes
                f.truncate(start * self.row_bytes)
                f.seek(start * self.row_bytes)
                row = start
                for h, arr in arrays.items():
                    if h in index:
                        continue
                    f.write(np.ascontiguousarray(arr, dtype=np.uint8).tobytes())
                    index[h] = row
                    row += 1
                f.flush()
                os.fsync(f.fileno())
            atomic_write_text(self.dir / "index.json", json.dumps(index))
        return {h: index[h] for h in arrays}

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The cached images at ``rows``: uint8 (N, H, W, C), copied out of the memory map."""
        if len(rows) == 0:
            return np.zeros((0, *self.row_shape), dtype=np.uint8)
        path = self.dir / "data.u8"
        n = path.stat().st_size // self.row_bytes
        mm = np.memmap(path, dtype=np.uint8, mode="r", shape=(n, *self.row_shape))
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.row_shape), dtype=np.uint8)
        out[order] = mm[np.asarray(rows)[order]]  # sorted reads are sequential on disk
        del mm
        return out
