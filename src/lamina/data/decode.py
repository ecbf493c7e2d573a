"""Files -> arrays through the decode cache: read, hashed, decoded on a thread pool, a chunk of files at a time.

Images and audio alike; what a file becomes is lamina.data.image / lamina.data.audio's business. With the cache,
images come back as a lazy view of the cache file (read per batch), so a split never has to fit in memory.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from lamina.common.errors import DataError, DecodeError
from lamina.common.runtime import cache_dir
from lamina.data.audio import AudioPreprocess, clip_seconds
from lamina.data.cache import audio_cache, image_cache
from lamina.data.image import ImagePreprocess
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
    prep: ImagePreprocess | AudioPreprocess,
    use_cache: bool,
    skip_bad: bool,
    skipped: list,
    cropped: list | None = None,
):
    """Decode samples (through the cache), DECODE_CHUNK files at a time.

    Returns (images: uint8 (N, H, W, C), a lazy view of the cache when it is on, else an array; clips: int16
    (N, samples); content hashes; kept samples). Audio clips longer than the window are cropped and appended to
    ``cropped`` as {"path", "seconds"} (also when the cache answered: the length comes from the header).
    """
    audio = isinstance(prep, AudioPreprocess)
    cache = (audio_cache if audio else image_cache)(cache_dir(), prep) if use_cache else None
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
                if audio and cropped is not None:
                    seconds = clip_seconds(blobs[j])
                    if seconds is not None and seconds * prep.sample_rate > prep.samples + 1:
                        cropped.append({"path": str(s.path), "seconds": round(seconds, 3)})
            if cache is not None:
                rows.update(known)
                rows.update(cache.add(fresh) if fresh else {})
            else:
                arrays.update(fresh)
    row_shape = (prep.samples,) if audio else (prep.size, prep.size, prep.channels)
    if cache is not None:
        picked = np.array([rows[hashes[i]] for i in keep], dtype=np.int64)
        arr = cache.read(picked) if audio else cache.view(picked)  # images stay in the cache, read per batch
    else:
        arr = (
            np.stack([arrays[hashes[i]] for i in keep])
            if keep
            else np.zeros((0, *row_shape), np.int16 if audio else np.uint8)
        )
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
