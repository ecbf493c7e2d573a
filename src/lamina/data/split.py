"""Splits: the names they go by, the seeded, stratified train/val/test assignment (recorded in the run so it can be
replayed) and the samples of one split for evaluation."""

from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np

from lamina.common.errors import DataError

if TYPE_CHECKING:
    from lamina.data.layout import Sample

SPLIT_ALIASES = {"train": "train", "val": "val", "valid": "val", "validation": "val", "test": "test"}


def canonical_split(name: str | None) -> str | None:
    """'valid' and 'validation' -> 'val' (any case); other names as given; None stays None. One table for the names
    a split may go by in folder names, split columns and --split."""
    if name is None:
        return None
    return SPLIT_ALIASES.get(name.lower(), name)


def _carve(
    keys_by_label: dict[str, list[str]], fractions: dict[str, float], rng: np.random.Generator
) -> dict[str, str]:
    """Per label: shuffle, give each named split round(n * fraction), the rest is train (at least 1)."""
    out: dict[str, str] = {}
    for label in sorted(keys_by_label):
        keys = sorted(keys_by_label[label])
        order = rng.permutation(len(keys))
        counts = {name: int(round(len(keys) * f)) for name, f in fractions.items()}
        while sum(counts.values()) > len(keys) - 1 and any(counts.values()):
            biggest = max(counts, key=lambda k: counts[k])
            counts[biggest] -= 1
        pos = 0
        for name in fractions:
            for i in order[pos : pos + counts[name]]:
                out[keys[i]] = name
            pos += counts[name]
        for i in order[pos:]:
            out[keys[i]] = "train"
    return out


def assign_splits(
    samples: list[Sample], val_fraction: float, test_fraction: float, seed: int, strata: list[str] | None = None
) -> dict[str, str]:
    """Map each sample key to "train" | "val" | "test".

    Split folders/columns are kept. When there is no val split, a stratified val set is
    carved from train; when there are no splits at all, val and test are both carved.
    ``strata`` (aligned with samples; default their labels) is what stays in proportion
    (lamina.data.task.strata: a multi-label sample's rarest label, a regression target's decile).
    """
    if strata is not None:
        from lamina.data.layout import Sample

        samples = [Sample(s.path, k, s.split, s.key) for s, k in zip(samples, strata)]
    rng = np.random.default_rng([seed, 0x5A1D])
    given = {s.key: s.split for s in samples if s.split is not None}
    if given:
        out = dict(given)
        if "val" not in given.values() and val_fraction > 0:
            by_label: dict[str, list[str]] = defaultdict(list)
            for s in samples:
                if s.split == "train":
                    by_label[s.label].append(s.key)
            out.update(_carve(by_label, {"val": val_fraction}, rng))
        return out
    by_label = defaultdict(list)
    for s in samples:
        by_label[s.label].append(s.key)
    fractions = {name: f for name, f in (("val", val_fraction), ("test", test_fraction)) if f > 0}
    return _carve(by_label, fractions, rng)


def select_split(
    samples: list[Sample], has_splits: bool, path, split: str | None, recorded: dict[str, list[str]] | None
) -> list[Sample]:
    """The samples of ``split``: from split folders/columns, or as recorded by the training run."""
    if split is None:
        return samples
    split = canonical_split(split)
    if has_splits and not (recorded and split in recorded and not any(s.split == split for s in samples)):
        chosen = [s for s in samples if s.split == split]
        if not chosen:
            found = sorted({s.split for s in samples})
            raise DataError(f"{path}: no '{split}' split in the data (found {found}).")
        return chosen
    # No such folder or column, or none at all: the split the run recorded (val carved out of a train folder).
    if not recorded or split not in recorded:
        raise DataError(
            f"{path}: the data has no split folders and the run records no '{split}' split. "
            "Evaluate without --split, or point at the run directory that trained on this data."
        )
    wanted = set(recorded[split])
    chosen = [s for s in samples if s.key in wanted]
    if not chosen:
        raise DataError(f"{path}: none of the {len(wanted)} files of the recorded '{split}' split are in this data.")
    return chosen
