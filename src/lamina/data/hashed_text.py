"""A free-text cell of a table as a fixed-width vector of term ids: each distinct word and word pair hashed into one
of ``buckets`` (the hashing trick, Weinberger et al. 2009), 1 + its bucket, in the order the terms first appear,
0 after the last. The table network looks each id up in an embedding it learns (lamina.models.tabular): a bag of
terms as fastText reads one, computed the same way in training, batch scoring and a server, with no vocabulary to
store."""

from __future__ import annotations

import math
import re
import zlib

import numpy as np

TEXT_TERMS = 256  # most term slots of a text column in a table row: a text's first 256 distinct words and word pairs
FEWEST_TERMS = 16
TERM_BUCKETS = 1 << 16  # the embedding rows a text column's terms share
WORD = re.compile(r"\w+")


def term_ids(text: str, slots: int = TEXT_TERMS, buckets: int = TERM_BUCKETS) -> np.ndarray:
    """float32 (slots,): 1 + the bucket of each distinct word and word pair, first appearance first; 0 when unused
    (float32 holds the ids exactly: buckets stay below 2^24)."""
    words = WORD.findall(text.lower())
    terms = dict.fromkeys(words + [f"{a} {b}" for a, b in zip(words, words[1:])])
    ids = dict.fromkeys(1 + zlib.crc32(t.encode()) % buckets for t in terms)  # two terms may share a bucket
    out = np.zeros(slots, np.float32)
    kept = list(ids)[:slots]
    out[: len(kept)] = kept
    return out


def term_slots(texts: list[str]) -> int:
    """A text column's slots: room for the distinct terms of 99% of the train split's texts (the first 10,000 read),
    as a power of two within FEWEST_TERMS..TEXT_TERMS; a longer text keeps its first terms."""
    counts = [np.count_nonzero(term_ids(t)) for t in texts[:10_000]]
    most = float(np.percentile(counts, 99)) if counts else 0.0
    return int(min(TEXT_TERMS, max(FEWEST_TERMS, 2 ** math.ceil(math.log2(max(most, 1.0))))))
