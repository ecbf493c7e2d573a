"""A cache of decoded samples: fixed-size rows in one memory-mapped file, keyed by content hash.

One cache per preprocessing setting (images: size, channels, resample; audio: sample rate
and clip length): a directory holding the rows (``data.u8`` of uint8 pixels, ``data.i16``
of int16 audio samples, appended) and ``index.json`` (content hash -> row). A file whose
bytes are unchanged is never decoded again, by any run; a changed file has a new hash and
is decoded once more. Writers hold an exclusive lock.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from lamina.common.files import atomic_write_text

CACHE_VERSION = 1


class RowCache:
    """Rows of one shape and dtype, in ``directory``. A ``lazy`` cache hands a split its rows as a view of the file
    (``rows``: read per batch), others copy them into memory."""

    def __init__(self, directory: Path, row_shape: tuple, dtype, lazy: bool = False):
        self.dir = Path(directory)
        self.lazy = lazy
        self.row_shape = tuple(row_shape)
        self.dtype = np.dtype(dtype)
        self.row_bytes = int(np.prod(row_shape)) * self.dtype.itemsize
        self.file = f"data.{self.dtype.kind}{self.dtype.itemsize * 8}"  # data.u8, data.i16, data.f32

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
        size = (self.dir / self.file).stat().st_size if (self.dir / self.file).exists() else 0
        rows = size // self.row_bytes
        return {h: r for h, r in index.items() if r < rows}

    def lookup(self, hashes: list[str]) -> dict[str, int]:
        """Rows already cached, for those of ``hashes`` that are."""
        index = self._index()
        return {h: index[h] for h in hashes if h in index}

    def add(self, arrays: dict[str, np.ndarray]) -> dict[str, int]:
        """Append decoded rows (hash -> array of row_shape); returns the rows of all of them."""
        with self._locked():
            index = self._index()
            path = self.dir / self.file
            with open(path, "ab") as f:
                # Truncate a torn tail left by a crashed writer, so rows stay aligned.
                start = f.tell() // self.row_bytes
                f.truncate(start * self.row_bytes)
                f.seek(start * self.row_bytes)
                row = start
                for h, arr in arrays.items():
                    if h in index:
                        continue
                    f.write(np.ascontiguousarray(arr, dtype=self.dtype).tobytes())
                    index[h] = row
                    row += 1
                f.flush()
                os.fsync(f.fileno())
            atomic_write_text(self.dir / "index.json", json.dumps(index))
        return {h: index[h] for h in arrays}

    def view(self, rows: np.ndarray) -> "CachedRows":
        """The cached rows at ``rows`` as a lazy view of the cache file: nothing is read until it is indexed."""
        return CachedRows(self.dir / self.file, self.row_shape, self.dtype, np.asarray(rows, dtype=np.int64))

    def rows(self, rows: np.ndarray):
        """The cached rows at ``rows``: a view (lazy cache) or a copy."""
        return self.view(rows) if self.lazy else self.read(rows)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The cached rows at ``rows``: (N, *row_shape), copied out of the memory map."""
        if len(rows) == 0:
            return np.zeros((0, *self.row_shape), dtype=self.dtype)
        path = self.dir / self.file
        n = path.stat().st_size // self.row_bytes
        mm = np.memmap(path, dtype=self.dtype, mode="r", shape=(n, *self.row_shape))
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), *self.row_shape), dtype=self.dtype)
        out[order] = mm[np.asarray(rows)[order]]  # sorted reads are sequential on disk
        del mm
        return out


IMAGE_DECODE_VERSION = 3  # 2: EXIF orientation applied, 16-bit scaled (not clipped), the fit mode in the key; 3: squashed JPEGs decoded at a DCT scale


def image_cache(root: Path, prep) -> RowCache:
    """The cache of uint8 (H, W, C) images decoded with ``prep`` (lamina.data.image.ImagePreprocess)."""
    key = f"v{CACHE_VERSION}.{IMAGE_DECODE_VERSION}-{prep.size}x{prep.size}x{prep.channels}-{prep.resample}-{prep.fit}"
    return RowCache(Path(root) / "images" / key, prep.row_shape, np.uint8, lazy=True)  # photos: read per batch


class _File:
    """A read-only file descriptor, closed with the last view that uses it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd = os.open(path, os.O_RDONLY)

    def __del__(self):
        os.close(self.fd)


class CachedRows:
    """Rows of a cache file, read only when indexed: a split of 100,000 photos stays on disk (and in the kernel's
    page cache, which it can drop) instead of in the process's memory. Rows are read with pread, not through a
    memory map, so the pages never count as this process's resident memory. Indexing copies the rows asked for."""

    def __init__(self, path: Path, row_shape: tuple, dtype, rows: np.ndarray):
        self.dtype = np.dtype(dtype)
        self.rows = rows
        self.row_bytes = int(np.prod(row_shape)) * self.dtype.itemsize
        self.shape = (len(rows), *row_shape)
        self.ndim = len(self.shape)
        self._file = _File(path)

    def __len__(self) -> int:
        return len(self.rows)

    def take(self, indices, axis: int = 0) -> "CachedRows":
        """A view of the rows at ``indices`` (numpy's ``take`` on the first axis, without reading anything)."""
        view = object.__new__(CachedRows)
        view.__dict__.update(self.__dict__, rows=self.rows[np.asarray(indices, dtype=np.int64)])
        view.shape = (len(view.rows), *self.shape[1:])
        return view

    @staticmethod
    def join(parts: list["CachedRows"]) -> "CachedRows":
        """The rows of ``parts`` one after another; they must be views of the same cache file."""
        files = {p._file.path for p in parts}
        if len(files) != 1:
            raise ValueError(f"cannot join rows of different cache files: {sorted(map(str, files))}")
        view = parts[0].take(np.arange(0))
        view.rows = np.concatenate([p.rows for p in parts])
        view.shape = (len(view.rows), *parts[0].shape[1:])
        return view

    def _read(self, rows: np.ndarray) -> np.ndarray:
        out = np.empty((len(rows), *self.shape[1:]), dtype=self.dtype)
        flat = out.reshape(len(rows), -1).view(np.uint8)
        for j, r in enumerate(rows.tolist()):
            if os.preadv(self._file.fd, [flat[j]], r * self.row_bytes) != self.row_bytes:
                raise OSError(f"{self.shape}: cache row {r} is cut short")
        return out

    def __getitem__(self, key):
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        picked = self.rows[first]
        out = self._read(np.atleast_1d(picked))
        if np.ndim(picked) == 0:
            out = out[0]
        if not rest:
            return out
        return out[rest] if np.ndim(picked) == 0 else out[(slice(None), *rest)]

    def __array__(self, dtype=None, copy=None):
        out = self[:]
        return out.astype(dtype) if dtype is not None else out


def feature_cache(root: Path, key: str, width: int, dtype=np.float32) -> RowCache:
    """The cache of (width,) features of a frozen backbone, float32 or as the network keeps them (float16: a folder
    of its own); ``key`` names the backbone's weights, the preprocessing and the precision, so features are reused
    only where they would come out the same."""
    kept = np.dtype(dtype)
    suffix = "" if kept == np.float32 else f"-{kept.kind}{kept.itemsize * 8}"
    return RowCache(Path(root) / "features" / f"v{CACHE_VERSION}-{key}{suffix}", (width,), kept)


def audio_cache(root: Path, prep) -> RowCache:
    """The cache of int16 (samples,) clips decoded with ``prep`` (lamina.data.audio.AudioPreprocess)."""
    key = f"v{CACHE_VERSION}-{prep.sample_rate}hz-{prep.samples}"
    return RowCache(Path(root) / "audio" / key, prep.row_shape, np.int16)
