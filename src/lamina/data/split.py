"""Seeded, stratified train/val/test assignment, recorded in the run so it can be replayed."""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from lamina.data.layout import Sample


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
