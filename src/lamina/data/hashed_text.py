"""A free-text cell of a table as a fixed-width vector: its words and word pairs hashed into buckets (the hashing
trick, Weinberger et al. 2009), counts sublinear and the vector L2-normalised: what TF-IDF sees of a short text,
computed the same way in training, batch scoring and a server, with no vocabulary to store."""

from __future__ import annotations

import re
import zlib

import numpy as np

TEXT_BUCKETS = 1024  # the width of a text column in a table row
WORD = re.compile(r"\w+")


def hashed_text(text: str, width: int = TEXT_BUCKETS) -> np.ndarray:
    """float32 (width,): log(1 + count) of each bucket's words and word pairs, L2-normalised (zeros for no words)."""
    words = WORD.findall(text.lower())
    terms = words + [f"{a} {b}" for a, b in zip(words, words[1:])]
    out = np.zeros(width, np.float32)
    if not terms:
        return out
    buckets = np.fromiter((zlib.crc32(t.encode()) % width for t in terms), np.int64, len(terms))
    out[:] = np.log1p(np.bincount(buckets, minlength=width))
    return out / np.linalg.norm(out)
