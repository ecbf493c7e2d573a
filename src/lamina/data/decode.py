"""Files -> arrays through the decode cache: read, hashed, decoded on a thread pool, a chunk of files at a time.

Every modality of files alike: what a file becomes is its modality object's business (lamina.data.modality.FileModality).
With a lazy cache (images), rows come back as a view of the cache file (read per batch), so a split never has to
fit in memory.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lamina.common.errors import DataError, DecodeError
from lamina.common.runtime import cache_dir
from lamina.data.layout import Sample


def _hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


MAP_CHUNK = 64  # items per thread-pool task


def _map_chunked(pool: ThreadPoolExecutor, fn, items) -> list:
    """``list(pool.map(fn, items))`` with ``MAP_CHUNK`` items per task: a 300-byte PNG takes
    less time to read than one executor task costs to submit and collect."""
    items = list(items)
    runs = pool.map(lambda lo: [fn(x) for x in items[lo : lo + MAP_CHUNK]], range(0, len(items), MAP_CHUNK))
    return [r for run in runs for r in run]


DECODE_CHUNK = 2048  # files read, hashed and decoded at a time: memory holds one chunk of file bytes, not the whole set


def decode_samples(
    samples: list[Sample],
    prep,
    use_cache: bool,
    skip_bad: bool,
    skipped: list,
    notes: list | None = None,
):
    """Decode samples (through the cache), DECODE_CHUNK files at a time.

    Returns (decoded rows (N, *prep.row_shape): a lazy view of a lazy cache, else an array; content hashes; kept
    samples). What the modality notes of a file (``prep.decode_note``: a clip cropped to the window) is appended to
    ``notes`` with its "path" (also when the cache answered: notes come from the file's header).
    """
    cache = prep.row_cache(cache_dir()) if use_cache else None
    rows: dict[str, int] = {}  # hash -> cache row
    arrays: dict[str, np.ndarray] = {}  # hash -> decoded array, without the cache
    hashes: list[str] = []
    keep: list[int] = []
    workers = min(8, (os.cpu_count() or 2) * 2)
    with ThreadPoolExecutor(workers) as pool:
        for lo in range(0, len(samples), DECODE_CHUNK):
            part = samples[lo : lo + DECODE_CHUNK]
            part_hashes, decoded, blobs, known = _decode_chunk(pool, part, prep, cache)
            hashes += part_hashes
            fresh = {}
            for j, (s, d) in enumerate(zip(part, decoded)):
                if isinstance(d, str):
                    if not skip_bad:
                        raise DataError(f"{s.path}: {d}. Remove it or pass --skip-bad.")
                    skipped.append({"path": str(s.path), "reason": d})
                    continue
                if isinstance(d, np.ndarray):
                    fresh[part_hashes[j]] = d
                keep.append(lo + j)
                note = prep.decode_note(blobs[j]) if notes is not None else None
                if note is not None:
                    notes.append({"path": str(s.path), **note})
            if cache is not None:
                rows.update(known)
                rows.update(cache.add(fresh) if fresh else {})
            else:
                arrays.update(fresh)
    if cache is not None:
        arr = cache.rows(np.array([rows[hashes[i]] for i in keep], dtype=np.int64))
    else:
        arr = np.stack([arrays[hashes[i]] for i in keep]) if keep else np.zeros((0, *prep.row_shape), prep.dtype)
    return arr, [hashes[i] for i in keep], [samples[i] for i in keep]


def _decode_chunk(pool: ThreadPoolExecutor, part: list[Sample], prep, cache) -> tuple[list[str], list, list, dict]:
    """(content hashes, decoded arrays, file bytes, cache rows already there) of ``part``: an array for a file the
    cache lacks, None for one it has, a reason (str) for one that cannot be read or decoded."""

    def read(s: Sample):
        try:
            return s.path.read_bytes()
        except OSError as e:
            return e

    def decode(j: int):
        if isinstance(blobs[j], Exception):
            return f"cannot read file ({blobs[j].strerror or blobs[j]})"
        if hashes[j] in known:
            return None
        try:
            return prep.decode(blobs[j])
        except DecodeError as e:
            return f"cannot decode {prep.name} ({e})"

    blobs = _map_chunked(pool, read, part)
    hashes = [_hash_bytes(b) if isinstance(b, bytes) else "" for b in blobs]
    known = cache.lookup(hashes) if cache is not None else {}
    return hashes, _map_chunked(pool, decode, range(len(part))), blobs, known
