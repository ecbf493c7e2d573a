"""Pre-flight checks on decoded data: class balance, and leakage between splits.

Runs on what dataset preparation already has in memory (content hashes and decoded
pixels), so it costs one pass of numpy over the images: cheap enough to run before every
training, and the whole of `lamina validate` apart from decoding.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from lamina.common.listing import group, names, problem

IMBALANCE_RATIO = 10.0  # largest / smallest class in train above this: a warning
FEW_SAMPLES = 5  # a class with fewer training samples than this: a warning
NEAR_MIN_SIDE = 16  # px: smaller images are too coarse for a perceptual hash (8x8 digits collide by the dozen)


def average_hash(arr, chunk: int = 64) -> np.ndarray:
    """:func:`average_hash_rows` over ``arr`` in chunks of ``chunk`` images (a float copy of a whole split of photos
    would not fit in memory; ``arr`` may be a lazy cache view)."""
    if len(arr) <= chunk:
        return average_hash_rows(np.asarray(arr[:]))
    return np.concatenate([average_hash_rows(np.asarray(arr[i : i + chunk])) for i in range(0, len(arr), chunk)])


def average_hash_rows(arr: np.ndarray) -> np.ndarray:
    """A 64-bit perceptual hash per image: 8x8 block means of the grey image above their mean.

    Args:
        arr: (N, H, W, C) uint8; edges beyond a multiple of 8 are trimmed, sides under 8 repeated.
    Returns:
        (N,) uint64. Equal hashes = the same picture up to small changes of size, compression or noise.
    """
    n, h, w, _ = arr.shape
    if n == 0:
        return np.zeros(0, np.uint64)
    grey = arr.mean(axis=3, dtype=np.float32)  # (N, H, W)
    if h < 8 or w < 8:
        f = -(-8 // min(h, w))
        grey = np.repeat(np.repeat(grey, f, 1), f, 2)
    bh, bw = grey.shape[1] // 8, grey.shape[2] // 8
    grey = grey[:, : bh * 8, : bw * 8]
    blocks = grey.reshape(n, 8, bh, 8, bw).mean(axis=(2, 4)).reshape(n, 64)
    bits = (blocks > blocks.mean(axis=1, keepdims=True)).astype(np.uint64)
    return (bits << np.arange(64, dtype=np.uint64)).sum(axis=1, dtype=np.uint64)


def check_samples(
    keys: list[str],
    labels: list[str] | None,
    splits: list[str],
    hashes: list[str],
    arr: np.ndarray,
    what: str = "file contents",
) -> list[dict]:
    """Warnings about decoded samples (aligned lists; arr (N, H, W, C) uint8; ``labels`` None for regression targets,
    which have no classes to balance).

    - class imbalance in train (largest/smallest above 10) and classes with under 5 samples;
    - the same file content in two splits (leakage), or under two labels;
    - near duplicates across splits: different files, the same average hash.

    Each problem lists every item (lamina.common.listing bounds what is shown); a group of copies is one item.
    """
    problems = _balance(labels, splits)
    order = {"train": 0, "val": 1, "test": 2}
    by_hash: dict[str, list[int]] = defaultdict(list)
    for i in sorted(range(len(hashes)), key=lambda i: (order.get(splits[i], 3), i)):  # train first, then as read
        by_hash[hashes[i]].append(i)
    problems += _exact_duplicates(by_hash, keys, labels, splits, what)
    if len(arr) and min(arr.shape[1:3]) >= NEAR_MIN_SIDE:
        problems += _near_duplicates(by_hash, keys, splits, arr, order)
    return problems


def _balance(labels: list[str] | None, splits: list[str]) -> list[dict]:
    """Class imbalance in train, and classes with too few training samples."""
    problems: list[dict] = []
    train_counts = (
        Counter(label for label, split in zip(labels, splits) if split == "train") if labels is not None else Counter()
    )
    if train_counts:
        most, least = train_counts.most_common()[0], train_counts.most_common()[-1]
        if least[1] and most[1] / least[1] > IMBALANCE_RATIO:
            problems.append(
                problem(
                    "warning",
                    "imbalance",
                    f"classes are imbalanced in train: '{most[0]}' has {most[1]} samples, "
                    f"'{least[0]}' {least[1]} ({most[1] / least[1]:.0f}x); consider more data or class weights "
                    "(train.class_weights)",
                )
            )
        few = sorted(name for name, n in train_counts.items() if n < FEW_SAMPLES)
        if few:
            problems.append(
                problem(
                    "warning",
                    "few-samples",
                    f"{len(few)} classes have fewer than {FEW_SAMPLES} training samples: {names(few)}",
                    few,
                )
            )
    return problems


def _exact_duplicates(
    by_hash: dict, keys: list[str], labels: list[str] | None, splits: list[str], what: str
) -> list[dict]:
    """The same content in two splits (leakage) or under two labels."""
    problems: list[dict] = []
    cross, relabeled = [], []
    for idx in by_hash.values():
        if len(idx) < 2:
            continue
        if len({splits[i] for i in idx}) > 1:
            cross.append(group([f"{keys[i]} ({splits[i]})" for i in idx], " = "))
        if labels is not None and len({labels[i] for i in idx}) > 1:
            relabeled.append(group([f"{keys[i]} ({labels[i]})" for i in idx], " = "))
    if cross:
        problems.append(
            problem(
                "warning",
                "leakage",
                f"{len(cross)} {what} appear in more than one split (exact duplicates: test scores will be too high)",
                cross,
            )
        )
    if relabeled:
        problems.append(
            problem("warning", "conflicting-labels", f"{len(relabeled)} {what} carry more than one label", relabeled)
        )
    return problems


def _near_duplicates(by_hash: dict, keys: list[str], splits: list[str], arr: np.ndarray, order: dict) -> list[dict]:
    """Different files with the same average hash in different splits."""
    ahash = average_hash(arr)
    first_of: dict[str, int] = {h: idx[0] for h, idx in by_hash.items()}
    groups: dict[int, list[int]] = defaultdict(list)
    for i in sorted(first_of.values(), key=lambda i: (order.get(splits[i], 3), i)):  # one per exact content
        groups[int(ahash[i])].append(i)
    near = [
        group([f"{keys[i]} ({splits[i]})" for i in idx], " ~ ")
        for idx in groups.values()
        if len(idx) > 1 and len({splits[i] for i in idx}) > 1
    ]
    if not near:
        return []
    return [
        problem(
            "warning",
            "near-duplicates",
            f"{len(near)} groups of near-identical images span splits "
            "(same 64-bit average hash: resized, re-encoded or lightly edited copies)",
            near,
        )
    ]


def fingerprint(rows: Iterable[tuple[str, object, str]]) -> str:
    """sha256 over the sorted (split, label, content hash) of every sample: the same for the same samples in any order,
    different when a file's or text's content, its label or its split changes."""
    lines = sorted(f"{split}\t{label}\t{content}" for split, label, content in rows)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()
